"""Outbound TLS: etrnd relays to a second etrnd (the next hop) through the
domains table. STARTTLS is used whenever the hop offers it; tls=require
never sends in clear; tls=verify checks the certificate against
--tls_ca_file and the hop's host as written in the table (here an IP
literal against an IP SAN)."""

import pytest

import harness
from delivery_helpers import TEST_FLAGS, wait_until
from fake_listener import FakeListener
from tls_helpers import TestPki, tls_flags

DELIVERY_TIMEOUT_S = 30
SENDER = "b@x.test"
# The hop accepts relay.test and keeps it (hold: never delivered further).
HOP_DOMAINS = "relay.test %s hold\n" % harness.DEAD_NEXT_HOP


@pytest.fixture
def pki(tmp_path):
    return TestPki(tmp_path / "pki")


def hop_with_tls(etrnd_factory, pki, sans=("DNS:mx.test", "IP:127.0.0.1")):
    cert = pki.issue("hop.test", sans=sans, stem="hop")
    return etrnd_factory(domains=HOP_DOMAINS, flags=tls_flags(cert), name="hop")


def relay_to(etrnd_factory, hop, option="", flags=()):
    table = "relay.test 127.0.0.1:%d %s\n" % (hop.port, option)
    return etrnd_factory(domains=table, flags=list(TEST_FLAGS) + list(flags), name="front")


def send(front):
    token = harness.unique_token()
    reply = harness.send_raw_message(front.port, harness.make_message(token, "u@relay.test"),
                                     rcpts=("u@relay.test",), sender=SENDER)
    assert reply.code == 250, reply
    return token


def received_at_hop(hop, token):
    """The hop's own Received: header (the front greets it as mx.test)."""
    data, offset = harness.spool_find(hop.spool_dir, token.encode())
    start = data.rfind(b"Received: from mx.test", 0, offset)
    assert start >= 0
    return data[start:data.find(b"\r\n\t", data.find(b"\tby ", start))].decode()


def wait_delivered(front, hop, token):
    wait_until(lambda: hop.spool_count(token) == 1, DELIVERY_TIMEOUT_S, "delivery to the hop")
    wait_until(lambda: "status=sent" in front.log_text(), DELIVERY_TIMEOUT_S, "the sent line")


def wait_deferred(front, why):
    """The front logged a deferral whose reason contains `why` (after a retry)."""
    wait_until(lambda: front.log_text().count("status=deferred") >= 2, DELIVERY_TIMEOUT_S,
               "two deferred attempts")
    log = front.log_text()
    assert why in log, log[-3000:]


def test_starttls_is_used_whenever_the_hop_offers_it(etrnd_factory, pki):
    hop = hop_with_tls(etrnd_factory, pki)
    front = relay_to(etrnd_factory, hop)  # no --tls_cert of its own
    token = send(front)
    wait_delivered(front, hop, token)
    header = received_at_hop(hop, token)
    assert "(using TLSv1.3 with cipher " in header, header
    assert "with ESMTPS" in header, header


def test_without_an_offer_opportunistic_goes_in_clear(etrnd_factory):
    hop = etrnd_factory(domains=HOP_DOMAINS, name="hop")
    front = relay_to(etrnd_factory, hop)
    token = send(front)
    wait_delivered(front, hop, token)
    assert "with ESMTP id" in received_at_hop(hop, token)


def test_tls_require_to_a_hop_without_tls_stays_deferred(etrnd_factory):
    hop = etrnd_factory(domains=HOP_DOMAINS, name="hop")
    front = relay_to(etrnd_factory, hop, "tls=require")
    token = send(front)
    wait_deferred(front, "TLS is required")
    assert hop.spool_count(token) == 0  # never sent in clear
    assert front.spool_count("token " + token) == 1 or front.spool_count(token) == 1
    rc, out, _ = front.etrnctl("queue")
    assert rc == 0 and "relay.test" in out, out


def test_tls_require_to_a_hop_with_tls_is_delivered(etrnd_factory, pki):
    hop = hop_with_tls(etrnd_factory, pki)
    front = relay_to(etrnd_factory, hop, "tls=require")
    token = send(front)
    wait_delivered(front, hop, token)
    assert "with ESMTPS" in received_at_hop(hop, token)


def test_tls_verify_with_a_wrong_name_is_deferred(etrnd_factory, pki):
    # The certificate names another host: 127.0.0.1 is not among its SANs.
    hop = hop_with_tls(etrnd_factory, pki, sans=("DNS:other.test",))
    front = relay_to(etrnd_factory, hop, "tls=verify", flags=["--tls_ca_file=%s" % pki.ca_cert])
    token = send(front)
    wait_deferred(front, "certificate verify failed")
    assert hop.spool_count(token) == 0


def test_tls_verify_with_an_unknown_ca_is_deferred(etrnd_factory, pki, tmp_path):
    hop = hop_with_tls(etrnd_factory, pki)
    other = TestPki(tmp_path / "other-pki", ca_name="another CA")
    front = relay_to(etrnd_factory, hop, "tls=verify", flags=["--tls_ca_file=%s" % other.ca_cert])
    token = send(front)
    wait_deferred(front, "certificate verify failed")
    assert hop.spool_count(token) == 0


def test_tls_verify_with_the_right_ca_and_name_is_delivered(etrnd_factory, pki):
    hop = hop_with_tls(etrnd_factory, pki)
    front = relay_to(etrnd_factory, hop, "tls=verify", flags=["--tls_ca_file=%s" % pki.ca_cert])
    token = send(front)
    wait_delivered(front, hop, token)
    assert "(using TLSv1.3 with cipher " in received_at_hop(hop, token)


# Next hop `mx`: tls=verify checks the MX host's name (dnsmasq serves
# mxdom.test MX mail.mxdom.test -> 127.0.0.1; see test_mx_routing.py).
from test_mx_routing import dns_server  # noqa: E402,F401 (a fixture)


@pytest.mark.parametrize("sans,delivered", [
    (("DNS:mail.mxdom.test",), True),
    (("DNS:other.test", "IP:127.0.0.1"), False),  # the address is not the name
])
def test_tls_verify_checks_the_mx_host_name(etrnd_factory, pki, dns_server, sans, delivered):
    cert = pki.issue("mail.mxdom.test", sans=sans, stem="hop")
    hop = etrnd_factory(domains="mxdom.test %s hold\n" % harness.DEAD_NEXT_HOP,
                        flags=tls_flags(cert), name="hop")
    front = etrnd_factory(domains="mxdom.test mx tls=verify\n", name="front",
                          flags=list(TEST_FLAGS) + ["--dns_server=" + dns_server,
                                                    "--mx_port=%d" % hop.port,
                                                    "--tls_ca_file=%s" % pki.ca_cert])
    token = harness.unique_token()
    reply = harness.send_raw_message(front.port, harness.make_message(token, "u@mxdom.test"),
                                     rcpts=("u@mxdom.test",), sender=SENDER)
    assert reply.code == 250, reply
    if delivered:
        wait_delivered(front, hop, token)
        assert "with ESMTPS" in received_at_hop(hop, token)
    else:
        wait_deferred(front, "hostname mismatch")
        assert hop.spool_count(token) == 0


class BrokenTlsHop(FakeListener):
    """An SMTP server that offers STARTTLS but answers the ClientHello with
    junk (a broken TLS set-up, as found on the Internet); in clear it takes
    the mail. Threads, bounded by socket timeouts."""

    def __init__(self):
        self.starttls_seen = 0
        self.messages = []
        super().__init__(self.session)

    def session(self, conn):
        conn.settimeout(harness.SOCKET_TIMEOUT_S)
        reader = conn.makefile("rb")
        try:
            conn.sendall(b"220 broken.test ESMTP\r\n")
            for line in reader:
                verb = line.split(b" ")[0].strip().upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-broken.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
                elif verb == b"STARTTLS":
                    self.starttls_seen += 1
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    conn.recv(4096)  # the ClientHello
                    conn.sendall(b"this is no ServerHello\r\n" * 4)
                    return
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = b""
                    for body_line in reader:
                        if body_line == b".\r\n":
                            break
                        data += body_line
                    self.messages.append(data)
                    conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()


def test_failed_opportunistic_handshake_is_retried_in_clear(etrnd_factory):
    hop = BrokenTlsHop()
    try:
        front = etrnd_factory(domains="relay.test 127.0.0.1:%d\n" % hop.port, name="front",
                              flags=list(TEST_FLAGS))
        token = send(front)
        wait_until(lambda: any(token.encode() in m for m in hop.messages), DELIVERY_TIMEOUT_S,
                   "the message to arrive in clear")
        assert hop.starttls_seen >= 1
        log = front.log_text()
        assert "TLS handshake failed" in log and "trying again without TLS" in log, log[-3000:]
    finally:
        hop.close()


def test_failed_handshake_with_tls_require_is_not_retried_in_clear(etrnd_factory):
    hop = BrokenTlsHop()
    try:
        front = etrnd_factory(domains="relay.test 127.0.0.1:%d tls=require\n" % hop.port,
                              name="front", flags=list(TEST_FLAGS))
        send(front)
        wait_deferred(front, "TLS handshake failed")
        assert hop.messages == []
        assert "trying again without TLS" not in front.log_text()
    finally:
        hop.close()
