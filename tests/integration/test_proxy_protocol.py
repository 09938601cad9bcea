"""PROXY protocol listeners (SPEC 3, --proxy_protocol_listen/_from): the
address in a v1/v2 header is the client for ETRN ACLs, per-address limits,
the Received: header and the logs; untrusted peers, malformed and missing
headers are closed without a greeting and logged; a real HAProxy in front."""

import socket
import struct
import time

import pytest

import harness
from harness import DEAD_NEXT_HOP, LOOPBACK, RawSmtp, wait_for_log, spool_find
from haproxy_helpers import requires_haproxy, start_haproxy, stop_process

PROXIED_SOURCE = "192.0.2.55"
PROXY_DOMAINS = harness.DEFAULT_DOMAINS + f"""\
proxied.test      {DEAD_NEXT_HOP}  hold etrn=192.0.2.0/24
haproxied.test    {DEAD_NEXT_HOP}  hold etrn=127.0.0.7/32
"""
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1_header(source, source_port=40000, dest="127.0.0.1", dest_port=25):
    return ("PROXY TCP4 %s %s %d %d\r\n" % (source, dest, source_port, dest_port)).encode()


def v2_header(source, source_port=40000, dest="127.0.0.1", dest_port=25, tlvs=b""):
    block = (socket.inet_aton(source) + socket.inet_aton(dest) +
             struct.pack("!HH", source_port, dest_port) + tlvs)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


HEADERS = {"v1": v1_header, "v2": v2_header}


def proxied(srv, header, source=None):
    """A raw client on srv's PROXY listener that has sent `header`."""
    c = RawSmtp(srv.proxy_port, source=source)
    c.send(header)
    return c


def start_proxy_server(etrnd_factory, proxy_from="127.0.0.0/8", extra_flags=()):
    proxy_port = harness.free_port()
    srv = etrnd_factory(domains=PROXY_DOMAINS, flags=[
        "--proxy_protocol_listen=%s:%d" % (LOOPBACK, proxy_port),
        "--proxy_protocol_from=%s" % proxy_from] + list(extra_flags))
    srv.proxy_port = proxy_port
    return srv


def received_header_of(srv, message):
    data, at = spool_find(srv.spool_dir, message)
    header = data[:at][data[:at].rfind(b"Received:"):]
    assert header.startswith(b"Received:"), "no Received: header before the message"
    return header


def send_mail(c, token, rcpt="a@proxied.test"):
    """One transaction on an already greeted (EHLO'd) raw client."""
    message = harness.make_message(token, rcpt)
    assert c.cmd("MAIL FROM:<b@x.test>").code == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
    assert c.cmd("DATA").code == 354
    c.send(message + b".\r\n")
    reply = c.read_reply()
    assert reply.code == 250, reply
    return message


@pytest.fixture
def srv(etrnd_factory):
    return start_proxy_server(etrnd_factory)


# ------------------------------------------------ the header's address ----

@pytest.mark.parametrize("version", sorted(HEADERS))
def test_header_source_is_the_client_for_etrn_and_received(srv, version):
    token = harness.unique_token()
    with proxied(srv, HEADERS[version](PROXIED_SOURCE)) as c:
        c.greet()
        assert c.cmd("ETRN proxied.test").last == \
            "251 2.0.0 OK, no messages waiting for node proxied.test"
        message = send_mail(c, token)
        assert c.cmd("ETRN proxied.test").last == \
            "253 2.0.0 OK, 1 pending messages for node proxied.test started"
        c.cmd("QUIT")
    assert b"([192.0.2.55])" in received_header_of(srv, message)
    # The same domain from the proxy's own address, directly: not allowed.
    code, line = srv.etrn("proxied.test")
    assert code == 459, line
    # And a direct client's Received: header names 127.0.0.1 as before.
    with srv.raw() as c:
        c.greet()
        direct = send_mail(c, harness.unique_token())
    assert b"([127.0.0.1])" in received_header_of(srv, direct)


@pytest.mark.parametrize("version", sorted(HEADERS))
def test_smtp_bytes_in_the_same_read_as_the_header_are_kept(srv, version):
    with proxied(srv, HEADERS[version](PROXIED_SOURCE) + b"EHLO early.test\r\nNOOP\r\n") as c:
        assert c.read_reply().code == 220
        ehlo = c.read_reply()
        assert ehlo.code == 250 and "ETRN" in ehlo.text, ehlo
        assert c.read_reply().code == 250  # NOOP
        assert c.cmd("ETRN proxied.test").code == 251


def test_v2_local_and_v1_unknown_keep_the_real_peer(srv):
    local = V2_SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00])
    for header in (local, b"PROXY UNKNOWN\r\n"):
        with proxied(srv, header) as c:
            c.greet()
            # The proxy itself (127.0.0.1) is the client: restricted.test
            # allows 127.0.0.1, proxied.test does not.
            assert c.cmd("ETRN restricted.test").code == 251
            assert c.cmd("ETRN proxied.test").code == 459


def test_greeting_waits_for_the_header(srv):
    with RawSmtp(srv.proxy_port) as c:
        assert c.nothing_pending(wait_s=0.5), "greeted before the PROXY header"
        header = v2_header(PROXIED_SOURCE)
        c.send(header[:7])
        assert c.nothing_pending(wait_s=0.3), "greeted on half a header"
        c.send(header[7:])
        assert c.read_reply().code == 220


# ------------------------------------------------------------- limits ----

def test_per_address_limit_applies_to_the_proxied_address(etrnd_factory):
    srv = start_proxy_server(etrnd_factory, extra_flags=["--max_connections_per_ip=2"])
    clients = []
    try:
        for _ in range(2):
            c = proxied(srv, v2_header(PROXIED_SOURCE))
            clients.append(c)
            assert c.read_reply().code == 220
        # Third session of 192.0.2.55, although through a fresh TCP source.
        c = proxied(srv, v1_header(PROXIED_SOURCE), source=harness.OTHER_SOURCES[0])
        clients.append(c)
        reply = c.read_reply()
        assert reply.code == 421 and "your address" in reply.last, reply
        # Another proxied address over the same proxy is admitted.
        c = proxied(srv, v2_header("192.0.2.56"))
        clients.append(c)
        assert c.read_reply().code == 220
        # So is the proxy itself on the plain listener: it holds no session.
        with srv.raw() as direct:
            assert direct.read_reply().code == 220
    finally:
        for c in clients:
            c.close()
    assert wait_for_log(srv, "refused connection from 192.0.2.55")


# ---------------------------------------------------------- refusals ----

@pytest.mark.parametrize("garbage,reason", [
    (b"EHLO client.test\r\n", "not a PROXY header"),
    (b"PROXY TCP4 192.0.2.999 127.0.0.1 1 25\r\n", "v1 bad address"),
    (b"PROXY TCP4 " + b"1" * 200, "v1 header longer than 107 octets"),
    (V2_SIGNATURE + bytes([0x21, 0x11, 0x00, 0x04]) + b"\x00" * 4, "v2 address block too short"),
    (V2_SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF]), "v2 header longer than 536 octets"),
])
def test_malformed_header_closed_without_greeting_and_logged(srv, garbage, reason):
    with RawSmtp(srv.proxy_port) as c:
        c.send(garbage)
        assert c.read_until_closed() == b""
    assert wait_for_log(srv, "without greeting: bad PROXY header: " + reason), srv.log_text()[-2000:]
    # The listener goes on serving well-formed headers.
    with proxied(srv, v1_header(PROXIED_SOURCE)) as c:
        c.greet()


def test_untrusted_peer_closed_without_greeting_and_logged(etrnd_factory):
    srv = start_proxy_server(etrnd_factory, proxy_from="10.0.0.0/8")
    with proxied(srv, v1_header(PROXIED_SOURCE), source=harness.OTHER_SOURCES[1]) as c:
        assert c.read_until_closed() == b""
    assert wait_for_log(srv, "closed connection from %s:" % harness.OTHER_SOURCES[1])
    assert wait_for_log(srv, "without greeting: peer not in --proxy_protocol_from")
    # The plain listener is unaffected.
    with srv.raw() as c:
        c.greet()


def test_missing_header_times_out_without_greeting(etrnd_factory):
    # The header deadline is the smaller of 5 s and --idle_timeout.
    srv = start_proxy_server(etrnd_factory, extra_flags=["--idle_timeout=2s"])
    started = time.monotonic()
    with RawSmtp(srv.proxy_port, source=harness.OTHER_SOURCES[2]) as c:
        c.send(b"PROXY TCP4 ")  # an incomplete header, then silence
        assert c.read_until_closed(timeout=10) == b""
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 5, elapsed
    assert wait_for_log(srv, "closed connection from %s:" % harness.OTHER_SOURCES[2])
    assert wait_for_log(srv, "no complete PROXY header within 2s")


def test_same_address_in_listen_and_proxy_listen_is_an_error(tmp_path):
    port = harness.free_port()
    rc, out = harness.run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % port, "--proxy_protocol_listen=127.0.0.1:%d" % port,
         "--proxy_protocol_from=127.0.0.0/8", "--spool_dir=%s" % (tmp_path / "spool")],
        cwd=tmp_path)
    assert rc != 0 and "also in --listen" in out, out
    rc, out = harness.run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % port, "--proxy_protocol_listen=127.0.0.1:%d" % (port + 1),
         "--spool_dir=%s" % (tmp_path / "spool")], cwd=tmp_path)
    assert rc != 0 and "needs --proxy_protocol_from" in out, out


# ----------------------------------------------------------- HAProxy ----

@requires_haproxy
def test_haproxy_send_proxy_v2_end_to_end(etrnd_factory, tmp_path, processes):
    srv = start_proxy_server(etrnd_factory, extra_flags=["--log_level=debug"])
    haproxy, haproxy_port = start_haproxy(tmp_path, processes, [srv.proxy_port])
    client_source = "127.0.0.7"
    token = harness.unique_token()
    try:
        with RawSmtp(haproxy_port, source=client_source) as c:
            c.greet()
            assert c.cmd("ETRN haproxied.test").code == 251
            message = send_mail(c, token, rcpt="a@haproxied.test")
            assert c.cmd("ETRN haproxied.test").last == \
                "253 2.0.0 OK, 1 pending messages for node haproxied.test started"
            assert c.cmd("QUIT").code == 221
    finally:
        stop_process(haproxy)
    assert b"([127.0.0.7])" in received_header_of(srv, message)
    assert wait_for_log(srv, "client 127.0.0.7:")
    # From HAProxy's own address directly, the ACL refuses the same ETRN.
    assert srv.etrn("haproxied.test")[0] == 459
