"""TLS (STARTTLS, RFC 3207) with real clients: swaks, openssl s_client and
Python's smtplib/ssl, against certificates made by `openssl` at test time.
Outbound TLS (a second etrnd as the next hop) is in test_tls_outbound.py."""

import os
import re
import shutil
import signal
import smtplib
import ssl

import pytest

import harness
from harness import unique_token, make_message
from delivery_helpers import wait_until
from tls_helpers import TestPki, tls_flags, s_client_starttls, served_certificate
from test_swaks import run_swaks

RELOAD_TIMEOUT_S = 20


@pytest.fixture
def pki(tmp_path):
    return TestPki(tmp_path / "pki")


@pytest.fixture
def tls_server(etrnd_factory, pki):
    cert = pki.issue("mx.test", sans=("DNS:mx.test", "IP:127.0.0.1"), stem="server")
    return etrnd_factory(flags=tls_flags(cert))


def client_context(pki):
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    return context


def received_header(server, token):
    """The Received: header etrnd wrote in front of the message with `token`."""
    data, offset = harness.spool_find(server.spool_dir, token.encode())
    start = data.rfind(b"Received: from", 0, offset)
    assert start >= 0
    end = data.find(b"\r\n", data.find(b"; ", start))
    return data[start:end].decode()


def test_swaks_tls_message_is_delivered_with_tls_in_received(tls_server):
    token = unique_token()
    rc, out = run_swaks(tls_server.port, "--tls", "--to", "a@example.com", "--body", token)
    assert rc == 0, out
    assert "<~  220 2.0.0 Ready to start TLS" in out or "220 2.0.0 Ready to start TLS" in out
    header = received_header(tls_server, token)
    assert re.search(r"\(using TLSv1\.3 with cipher TLS_[A-Z0-9_]+\)", header), header
    assert "with ESMTPS id" in header, header


def test_plain_session_says_esmtp_and_ehlo_offers_starttls(tls_server):
    with tls_server.raw() as c:
        reply = c.greet()
        assert "STARTTLS" in reply.lines[1:-1] or "250-STARTTLS" in reply.lines, reply
    token = unique_token()
    assert harness.send_raw_message(tls_server.port, make_message(token)).code == 250
    header = received_header(tls_server, token)
    assert "with ESMTP id" in header and "using" not in header, header


def test_openssl_s_client_starttls(tls_server, pki):
    rc, out = s_client_starttls(tls_server.port, b"EHLO client.test\r\nQUIT\r\n",
                                extra_args=["-CAfile", str(pki.ca_cert),
                                            "-verify_hostname", "mx.test", "-verify_return_error"])
    assert rc == 0, out
    assert "Verification: OK" in out or "Verify return code: 0 (ok)" in out, out
    assert "TLSv1.3" in out, out
    after = out[out.find("250-mx.test"):]
    assert "250-PIPELINING" in after, out
    assert "STARTTLS" not in after, out  # not offered again under TLS
    assert "221 2.0.0 Bye" in out, out


def test_smtplib_starttls_sends_mail_and_refuses_a_second_starttls(tls_server, pki):
    token = unique_token()
    with tls_server.smtp() as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_context(pki))  # verifies 127.0.0.1 against the IP SAN
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS") == (503, b"5.5.1 Error: TLS already active")
        s.sendmail("b@x.test", ["a@example.com"], make_message(token))
    assert "with ESMTPS" in received_header(tls_server, token)


def test_starttls_with_an_argument_and_without_tls_configured(tls_server, server):
    with tls_server.raw() as c:
        c.greet()
        assert c.cmd("STARTTLS now").last == "501 5.5.4 Syntax: STARTTLS"
    with server.raw() as c:
        reply = c.greet()
        assert "250-STARTTLS" not in reply.lines
        assert c.cmd("STARTTLS").last == "502 5.5.1 Error: command not implemented"


@pytest.mark.parametrize("injected,probe,refused", [
    # The MAIL sent in clear with STARTTLS must not open a transaction.
    ("MAIL FROM:<x@x.test>", "RCPT TO:<a@example.com>", "503 5.5.1 Error: need MAIL command"),
    # The RSET must not be answered: the first reply under TLS is EHLO's.
    ("RSET", "NOOP", None),
])
def test_commands_pipelined_behind_starttls_are_discarded(tls_server, pki, injected, probe,
                                                          refused):
    with tls_server.raw() as c:
        c.greet()
        c.send("STARTTLS\r\n%s\r\n" % injected)  # one write (CVE-2011-0411)
        assert c.read_reply().last == "220 2.0.0 Ready to start TLS"
        assert c.buf == b""  # nothing answered the injected command in clear
        tls = client_context(pki).wrap_socket(c.sock, server_hostname="mx.test")
        c.sock, c.buf = tls, b""
        ehlo = c.cmd("EHLO client.test")
        assert ehlo.lines[0] == "250-mx.test", ehlo  # not the injected command's reply
        reply = c.cmd(probe)
        if refused:
            assert reply.last == refused
        else:
            assert reply.last == "250 2.0.0 Ok"
        assert c.nothing_pending()
    assert "discarded" in tls_server.log_text()


def test_failed_handshake_closes_and_is_logged(tls_server):
    with tls_server.raw() as c:
        c.greet()
        assert c.cmd("STARTTLS").code == 220
        c.send(b"this is not a TLS ClientHello\r\n")
        c.read_until_closed()
    wait_until(lambda: "TLS handshake failed" in tls_server.log_text(), 10, "the log line")
    with tls_server.raw() as c:  # the server goes on
        c.greet()


def test_sighup_rereads_a_replaced_certificate(tls_server, pki):
    first = served_certificate(tls_server.port)
    flags = dict(f[2:].split("=", 1) for f in tls_server.flags)
    replacement = pki.issue("mx2.test", sans=("DNS:mx2.test",), stem="replacement")
    assert first[0] != replacement.serial
    for source, target in ((replacement.cert, flags["tls_cert"]),
                           (replacement.key, flags["tls_key"])):
        shutil.copy(source, target + ".new")
        os.replace(target + ".new", target)
    tls_server.send_signal(signal.SIGHUP)
    serial, subject = wait_until(
        lambda: (lambda c: c if c[0] == replacement.serial else None)(
            served_certificate(tls_server.port)),
        RELOAD_TIMEOUT_S, "the replaced certificate to be served")
    assert "mx2.test" in subject

    # A broken file on reload: logged, the previous certificate stays.
    with open(flags["tls_cert"], "w") as f:
        f.write("garbage\n")
    tls_server.send_signal(signal.SIGHUP)
    wait_until(lambda: "TLS reload failed" in tls_server.log_text(), RELOAD_TIMEOUT_S,
               "the failed reload to be logged")
    assert served_certificate(tls_server.port)[0] == replacement.serial


def test_etrnctl_reload_rereads_the_certificate_too(tls_server, pki):
    # An operator's `etrnctl reload` re-reads every file SIGHUP does.
    flags = dict(f[2:].split("=", 1) for f in tls_server.flags)
    replacement = pki.issue("mx3.test", sans=("DNS:mx3.test",), stem="by-etrnctl")
    for source, target in ((replacement.cert, flags["tls_cert"]),
                           (replacement.key, flags["tls_key"])):
        shutil.copy(source, target + ".new")
        os.replace(target + ".new", target)
    rc, out, err = tls_server.etrnctl("reload")
    assert rc == 0, (out, err)
    serial, subject = wait_until(
        lambda: (lambda c: c if c[0] == replacement.serial else None)(
            served_certificate(tls_server.port)),
        RELOAD_TIMEOUT_S, "the replaced certificate to be served")
    assert "mx3.test" in subject


def test_bad_certificate_at_start_is_a_one_line_error(tmp_path, pki):
    cert = pki.issue("mx.test", stem="server")
    (tmp_path / "domains.conf").write_text(harness.DEFAULT_DOMAINS)
    common = ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "s"),
              "--domains_file=%s" % (tmp_path / "domains.conf")]
    rc, out = harness.run_etrnd_expect_exit(
        common + ["--tls_cert=%s/missing.pem" % tmp_path, "--tls_key=%s" % cert.key], tmp_path)
    assert rc != 0
    assert "missing.pem" in out and len(out.strip().splitlines()) == 1, out
    other = pki.issue("other.test", stem="other")
    rc, out = harness.run_etrnd_expect_exit(
        common + ["--tls_cert=%s" % cert.cert, "--tls_key=%s" % other.key], tmp_path)
    assert rc != 0 and "key" in out, out
    rc, out = harness.run_etrnd_expect_exit(common + ["--tls_cert=%s" % cert.cert], tmp_path)
    assert rc != 0 and "--tls_key" in out, out


def test_auth_is_offered_to_a_public_client_under_tls_and_says_esmtpsa(etrnd_factory, pki,
                                                                      tmp_path):
    """Behind a PROXY listener naming a public client: no AUTH in clear, AUTH
    after STARTTLS; AUTH done before STARTTLS (loopback) is forgotten."""
    from test_auth import auth_file_text, auth_plain, AUTH_DOMAINS, ALICE_PASSWORD
    cert = pki.issue("mx.test", sans=("DNS:mx.test",), stem="server")
    auth_file = tmp_path / "auth.conf"
    auth_file.write_text(auth_file_text())
    proxy_port = harness.free_port()
    srv = etrnd_factory(domains=AUTH_DOMAINS, flags=tls_flags(cert) + [
        "--auth_file=%s" % auth_file,
        "--proxy_protocol_listen=127.0.0.1:%d" % proxy_port,
        "--proxy_protocol_from=127.0.0.0/8"])
    token = unique_token()
    with harness.RawSmtp(proxy_port) as c:
        c.send(b"PROXY TCP4 203.0.113.5 127.0.0.1 40000 25\r\n")
        ehlo = c.greet()
        assert not any(line.startswith("250-AUTH") for line in ehlo.lines), ehlo
        assert c.cmd("STARTTLS").code == 220
        c.sock = client_context(pki).wrap_socket(c.sock, server_hostname="mx.test")
        ehlo = c.cmd("EHLO client.test")
        assert any(line.startswith("250-AUTH ") for line in ehlo.lines), ehlo
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 235
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(make_message(token) + b".\r\n")
        assert c.read_reply().code == 250
    assert "with ESMTPSA id" in received_header(srv, token)
    with srv.raw() as c:  # loopback: AUTH in clear, then STARTTLS resets it
        c.greet()
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 235
        assert c.cmd("STARTTLS").code == 220
        c.sock = client_context(pki).wrap_socket(c.sock, server_hostname="mx.test")
        c.cmd("EHLO client.test")
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 235  # not "503 already"


def tls_session(server, pki):
    """A RawSmtp after STARTTLS and a second EHLO."""
    c = server.raw()
    c.greet()
    assert c.cmd("STARTTLS").code == 220
    c.sock = client_context(pki).wrap_socket(c.sock, server_hostname="mx.test")
    assert c.cmd("EHLO client.test").code == 250
    return c


def test_idle_timeout_under_tls_and_during_the_handshake(etrnd_factory, pki):
    cert = pki.issue("mx.test", sans=("DNS:mx.test",), stem="server")
    srv = etrnd_factory(flags=tls_flags(cert) + ["--idle_timeout=2s"])
    with tls_session(srv, pki) as c:
        reply = c.read_reply()  # no command: the 421 comes under TLS
        assert reply.last == "421 4.4.2 mx.test Error: timeout exceeded", reply
        c.read_until_closed()
    with srv.raw() as c:  # STARTTLS and never a ClientHello: closed too
        c.greet()
        assert c.cmd("STARTTLS").code == 220
        c.read_until_closed(timeout=20)


def test_sigterm_with_a_tls_session_open_sends_421_under_tls(tls_server, pki):
    with tls_session(tls_server, pki) as c:
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        tls_server.send_signal(signal.SIGTERM)
        reply = c.read_reply()
        assert reply.last == "421 4.3.2 mx.test Service shutting down", reply
        c.read_until_closed()
    assert tls_server.stop() == 0


@pytest.mark.time_limit(120)
def test_non_reading_flood_under_tls_is_held_by_back_pressure(tls_server, pki):
    """HELP pipelined under TLS by clients that never read: the session's
    unsent replies (TLS-buffered bytes included) stop its input, so each
    client gets only a bounded amount taken, and others are still served."""
    import socket
    import threading
    import time
    from test_hostile_clients import HELP_BLOCK, small_window_socket
    sessions, seconds = 4, 3.0
    socks = []
    for i in range(sessions):
        raw = small_window_socket(tls_server.port, harness.OTHER_SOURCES[i])
        c = harness.RawSmtp.__new__(harness.RawSmtp)
        c.sock, c.buf = raw, b""
        c.greet()
        assert c.cmd("STARTTLS").code == 220
        socks.append(client_context(pki).wrap_socket(raw, server_hostname="mx.test"))
    totals = [0] * sessions

    def flood(i):
        s = socks[i]
        s.settimeout(0.2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                totals[i] += s.send(HELP_BLOCK)
            except (socket.timeout, ssl.SSLWantWriteError):
                continue
            except OSError:
                break

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert 0 < max(totals) < 8 * 2**20, totals
        with tls_server.raw(source=harness.OTHER_SOURCES[35]) as c:
            c.greet()
    finally:
        for s in socks:
            s.close()
