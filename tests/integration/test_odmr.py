"""ODMR (RFC 2645, SPEC 6) against the real etrnd: fetchmail in ODMR mode
collects a customer's queued mail through --odmr_listen and relays it to a
local SMTP sink; refusals (530, 450, 453, 502) with smtplib; a kill -9 in the
middle of a turn loses nothing.

The sink is a plain-socket SMTP server (below): it keeps each DATA exactly as
received (dot-unstuffed), so bodies are compared byte for byte.
"""

import os
import re
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

import harness
from fake_listener import FakeListener

USER = "alice"
PASSWORD = "s3cret-odmr"
FETCHMAIL_TIMEOUT_S = 90


def cram_md5_line(user, password):
    out = subprocess.run(["doveadm", "pw", "-s", "CRAM-MD5", "-p", password],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out.startswith("{CRAM-MD5}"), out
    return "%s:%s\n" % (user, out)


def domains_table():
    dead = harness.DEAD_NEXT_HOP
    return (f"hold.test      {dead} hold auth={USER}\n"
            f"second.test    {dead} hold auth={USER}\n"
            f".alice.test    {dead} hold auth={USER}\n"
            f"bob.test       {dead} hold auth=bob\n"
            f"open.test      {dead} hold\n")


@pytest.fixture
def odmr_server(etrnd_factory, tmp_path):
    auth_file = tmp_path / "passwd"
    auth_file.write_text(cram_md5_line(USER, PASSWORD) + cram_md5_line("bob", "bobs-password"))
    odmr_port = harness.free_port()
    metrics_port = harness.free_port()
    server = etrnd_factory(domains=domains_table(),
                           flags=["--odmr_listen=%s:%d" % (harness.LOOPBACK, odmr_port),
                                  "--auth_file=%s" % auth_file,
                                  "--metrics_listen=%s:%d" % (harness.LOOPBACK, metrics_port),
                                  # Many small batches: each job has several
                                  # on their way to the turn at once.
                                  "--messages_per_connection=4"])
    server.metrics_port = metrics_port
    server.odmr_port = odmr_port
    return server


def queue(server, rcpt, bodies, sender="sender@x.test"):
    """Queues one message per body to `rcpt` over smtplib; returns the bodies."""
    rcpts = rcpt if isinstance(rcpt, list) else [rcpt]
    with smtplib.SMTP(harness.LOOPBACK, server.port, local_hostname="client.test",
                      timeout=harness.SOCKET_TIMEOUT_S) as s:
        for body in bodies:
            s.sendmail(sender, rcpts, body)
    return bodies


def make_bodies(count, tag="m"):
    bodies = []
    for i in range(count):
        token = harness.unique_token()
        # Lines that need dot-stuffing and a longer body now and then.
        extra = b".leading dot\r\n..two dots\r\n" + (b"x" * 900 + b"\r\n") * (i % 5)
        bodies.append(b"Subject: odmr %s %d\r\nX-Token: " % (tag.encode(), i) + token.encode()
                      + b"\r\n\r\nbody " + token.encode() + b"\r\n" + extra)
    return bodies


def token_of(data):
    m = re.search(rb"X-Token: (tok[0-9a-f]+)", data)
    return m.group(1) if m else None


class Sink(FakeListener):
    """A minimal SMTP server on a thread: 250 to everything, every DATA kept.

    `accept_max`: after that many messages, the next DATA's end gets no reply
    at all (a customer that stalls mid-turn)."""

    def __init__(self, accept_max=None, refuse_rcpt=None):
        self.messages = []  # (recipients, data)
        self.accept_max = accept_max
        self.refuse_rcpt = refuse_rcpt  # RCPT of this address gets 550
        self.stalled = threading.Event()
        super().__init__(self.session, backlog=8)

    def session(self, conn):
        """One SMTP server dialogue on `conn` (also used on a reversed ODMR
        connection directly)."""
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rb")
        try:
            conn.sendall(b"220 sink.test ESMTP\r\n")
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-sink.test\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    rcpts = []
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpt = line[8:].strip().strip(b"<>").decode()
                    if rcpt == self.refuse_rcpt:
                        conn.sendall(b"550 5.1.1 <%s>: no such user\r\n" % rcpt.encode())
                        continue
                    rcpts.append(rcpt)
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    data = b""
                    while True:
                        chunk = f.readline()
                        if not chunk:
                            return
                        if chunk == b".\r\n":
                            break
                        data += chunk[1:] if chunk.startswith(b".") else chunk
                    if self.accept_max is not None and len(self.messages) >= self.accept_max:
                        self.stalled.set()
                        self.closing.wait(120)  # never answers
                        return
                    self.messages.append((rcpts, data))
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 Ok\r\n")
        finally:
            f.close()
            conn.close()


@pytest.fixture
def sinks():
    made = []

    def make(**kwargs):
        sink = Sink(**kwargs)
        made.append(sink)
        return sink
    yield make
    for sink in made:
        sink.close()


def run_fetchmail(server, sink, tmp_path, domains="hold.test"):
    home = tmp_path / "fetchmail-home"
    home.mkdir(exist_ok=True)
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        "poll %s service %d protocol ODMR auth cram-md5\n"
        "  user \"%s\" password \"%s\" fetchdomains %s\n"
        "  smtphost \"%s/%d\"\n"
        % (harness.LOOPBACK, server.odmr_port, USER, PASSWORD, domains, harness.LOOPBACK,
           sink.port))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(home))
    proc = subprocess.run(
        ["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog", "-v",
         "--pidfile", str(home / "pid"), "--idfile", str(home / "ids")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=FETCHMAIL_TIMEOUT_S)
    return proc.returncode, proc.stdout + proc.stderr


def odmr_client(server):
    """smtplib on the ODMR port, logged in with CRAM-MD5."""
    s = smtplib.SMTP(harness.LOOPBACK, server.odmr_port, local_hostname="customer.test",
                     timeout=harness.SOCKET_TIMEOUT_S)
    s.ehlo()
    s.login(USER, PASSWORD)
    return s


def queued_messages(server, domain):
    rc, out, err = server.etrnctl("queue", json_output=True)
    assert rc == 0, (out, err)
    return out["domains"].get(domain, {}).get("messages", 0)


def test_ehlo_and_refusals(odmr_server):
    server = odmr_server
    queue(server, "u@bob.test", make_bodies(1))
    with smtplib.SMTP(harness.LOOPBACK, server.odmr_port, local_hostname="customer.test",
                      timeout=harness.SOCKET_TIMEOUT_S) as s:
        code, text = s.ehlo()
        assert code == 250
        assert s.has_extn("atrn")
        assert "CRAM-MD5" in s.esmtp_features["auth"].upper()
        assert s.docmd("ATRN") == (530, b"5.7.0 Authentication required")
        assert s.docmd("MAIL FROM:<a@x.test>")[0] == 502
        assert s.docmd("ETRN hold.test")[0] == 502
        s.login(USER, PASSWORD)
        # 450 wins over 453: bob.test has mail but is not alice's; hold.test has none.
        assert s.docmd("ATRN bob.test") == (450, b"4.7.1 ATRN request refused")
        assert s.docmd("ATRN hold.test,bob.test") == (450, b"4.7.1 ATRN request refused")
        assert s.docmd("ATRN open.test")[0] == 450
        assert s.docmd("ATRN nowhere.test")[0] == 450
        assert s.docmd("ATRN hold.test") == (453, b"4.3.0 You have no mail")
        assert s.docmd("ATRN") == (453, b"4.3.0 You have no mail")
        assert s.docmd("RCPT TO:<a@hold.test>")[0] == 502
        assert s.docmd("AUTH CRAM-MD5")[0] == 503
    # bob's mail was not touched.
    assert queued_messages(server, "bob.test") == 1
    metrics = urllib.request.urlopen("http://%s:%d/metrics" % (harness.LOOPBACK, server.metrics_port),
                                     timeout=harness.SOCKET_TIMEOUT_S).read().decode()
    assert 'etrnd_atrn_total{code="450"} 4' in metrics
    assert 'etrnd_atrn_total{code="453"} 2' in metrics
    log = server.log_text()
    assert "ATRN bob.test by alice from 127.0.0.1" in log


def test_wrong_password_is_not_authenticated(odmr_server):
    with smtplib.SMTP(harness.LOOPBACK, odmr_server.odmr_port, local_hostname="customer.test",
                      timeout=harness.SOCKET_TIMEOUT_S) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(USER, "wrong")
        assert s.docmd("ATRN")[0] == 530


@pytest.mark.time_limit(240)
def test_fetchmail_collects_every_message_once_byte_exact(odmr_server, sinks, tmp_path):
    server = odmr_server
    bodies = queue(server, "user@hold.test", make_bodies(30, "hold"))
    bodies += queue(server, "other@second.test", make_bodies(5, "second"))
    kept = queue(server, "u@bob.test", make_bodies(2, "bob"))
    sink = sinks()
    rc, out = run_fetchmail(server, sink, tmp_path, domains="hold.test,second.test")
    assert rc == 0, out
    by_token = {}
    for rcpts, data in sink.messages:
        token = token_of(data)
        assert token is not None
        assert token not in by_token, "delivered twice: %s" % token
        by_token[token] = (rcpts, data)
    assert len(by_token) == len(bodies), out
    for body in bodies:
        rcpts, data = by_token[token_of(body)]
        # etrnd's Received: line first, then the message exactly as queued.
        assert data.startswith(b"Received: ")
        assert data.endswith(body)
        assert rcpts in (["user@hold.test"], ["other@second.test"])
    assert queued_messages(server, "hold.test") == 0
    assert queued_messages(server, "second.test") == 0
    assert queued_messages(server, "bob.test") == len(kept)
    # The queue is empty for alice now: a second ATRN has no mail.
    with odmr_client(server) as s:
        assert s.docmd("ATRN hold.test,second.test") == (453, b"4.3.0 You have no mail")
        assert s.docmd("ATRN")[0] == 453
    assert '"atrn_done"' in server.log_text() or "done in" in server.log_text()


def reverse(server, argument=""):
    """Logs in, says ATRN, and returns the socket once the 250 came."""
    s = odmr_client(server)
    code, text = s.docmd("ATRN" + (" " + argument if argument else ""))
    assert (code, text) == (250, b"2.0.0 OK now reversing the connection"), (code, text)
    conn = s.sock
    s.sock = None  # smtplib lets go; the socket is ours (the turn's) now
    s.file = None
    return conn


@pytest.mark.time_limit(240)
def test_kill9_during_a_turn_loses_nothing(odmr_server, sinks):
    server = odmr_server
    bodies = queue(server, "user@hold.test", make_bodies(12, "crash"))
    wanted = {token_of(b) for b in bodies}
    stalling = sinks(accept_max=3)
    conn = reverse(server, "hold.test")
    worker = threading.Thread(target=stalling.session, args=(conn,), daemon=True)
    worker.start()
    assert stalling.stalled.wait(60), "the turn never reached the fourth message"
    acknowledged = {token_of(data) for _, data in stalling.messages}
    assert len(acknowledged) == 3
    server.kill()
    conn.close()
    server.restart()
    # Everything not acknowledged is still queued; acknowledged mail may be
    # queued again too (at least once), but nothing is lost.
    left = queued_messages(server, "hold.test")
    assert len(wanted) - len(acknowledged) <= left <= len(wanted)
    second = sinks()
    conn = reverse(server)
    second.session(conn)
    again = [token_of(data) for _, data in second.messages]
    assert len(again) == len(set(again)) == left
    assert wanted - acknowledged <= set(again)
    assert acknowledged | set(again) == wanted
    assert queued_messages(server, "hold.test") == 0


def test_connection_lost_after_250_keeps_the_mail(odmr_server, sinks):
    server = odmr_server
    bodies = queue(server, "user@hold.test", make_bodies(4, "lost"))
    conn = reverse(server, "hold.test")
    conn.close()  # the customer vanishes before its greeting
    assert queued_messages(server, "hold.test") == len(bodies)
    # Once the first turn has wound down, a second one gets everything.
    for _ in range(200):
        s = odmr_client(server)
        code, _ = s.docmd("ATRN hold.test")
        if code == 250:
            break
        assert code == 453  # the first turn's job is still finishing
        s.quit()
        time.sleep(0.05)
    assert code == 250
    conn, s.sock, s.file = s.sock, None, None
    sink = sinks()
    sink.session(conn)
    assert sorted(token_of(d) for _, d in sink.messages) == sorted(token_of(b) for b in bodies)
    assert queued_messages(server, "hold.test") == 0


def test_customer_5xx_bounces_and_4xx_stays(odmr_server, sinks):
    """A flush's guarantees: a recipient the customer refuses with 5xx is
    bounced to the sender (a DSN is queued), the others are delivered."""
    server = odmr_server
    # The sender is in a served hold domain, so its bounce stays queued there.
    bodies = queue(server, ["good@hold.test", "gone@hold.test"], make_bodies(3, "bounce"),
                   sender="owner@open.test")
    sink = sinks(refuse_rcpt="gone@hold.test")
    conn = reverse(server, "hold.test")
    sink.session(conn)
    assert sorted(token_of(d) for _, d in sink.messages) == sorted(token_of(b) for b in bodies)
    assert all(rcpts == ["good@hold.test"] for rcpts, _ in sink.messages)
    assert queued_messages(server, "hold.test") == 0
    # One DSN per message, to the sender.
    assert queued_messages(server, "open.test") == len(bodies)
    log = server.log_text()
    assert log.count("to=<gone@hold.test>, relay=odmr 127.0.0.1") == len(bodies)
    assert "status=bounced (550 5.1.1 <gone@hold.test>: no such user)" in log


def test_sigterm_with_odmr_sessions_open_exits_cleanly(odmr_server, sinks):
    server = odmr_server
    queue(server, "user@hold.test", make_bodies(2, "term"))
    idle = odmr_client(server)  # a session before ATRN
    conn = reverse(server, "hold.test")  # a turn waiting for the customer's greeting
    assert server.stop() == 0
    assert idle.getreply()[0] == 421  # the session was told, not just cut
    idle.close()
    conn.close()
    server.restart()
    # Nothing was delivered: both messages are still there.
    assert queued_messages(server, "hold.test") == 2


@pytest.mark.time_limit(240)
def test_atrn_without_domains_turns_every_domain_of_the_user(odmr_server, sinks):
    """Many domains (a subtree entry too) spread over both cores' queues and
    many small batches: every message arrives exactly once."""
    server = odmr_server
    expected = {}
    for rcpt, count in [("a@hold.test", 120), ("b@second.test", 60), ("c@one.alice.test", 50),
                        ("d@two.alice.test", 50), ("e@three.alice.test", 20)]:
        for body in queue(server, rcpt, make_bodies(count, rcpt)):
            expected[token_of(body)] = rcpt
    queue(server, "u@bob.test", make_bodies(3, "bob"))
    sink = sinks()
    conn = reverse(server)
    sink.session(conn)
    got = {}
    for rcpts, data in sink.messages:
        token = token_of(data)
        assert token not in got, "delivered twice"
        got[token] = rcpts
    assert got == {token: [rcpt] for token, rcpt in expected.items()}
    for domain in ("hold.test", "second.test", "one.alice.test", "two.alice.test"):
        assert queued_messages(server, domain) == 0
    assert queued_messages(server, "bob.test") == 3


@pytest.mark.time_limit(240)
def test_starttls_then_auth_plain_and_a_turn_inside_tls(etrnd_factory, sinks, tmp_path):
    """With --tls_cert, the ODMR port offers STARTTLS; under TLS, AUTH PLAIN
    works and the turn's SMTP dialogue stays inside the same TLS session."""
    import ssl
    from tls_helpers import TestPki, tls_flags
    pki = TestPki(tmp_path / "pki")
    cert = pki.issue("mx.test", sans=("DNS:mx.test", "IP:127.0.0.1"), stem="server")
    auth_file = tmp_path / "passwd"
    crypt = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                           capture_output=True, text=True).stdout.strip()
    auth_file.write_text("%s:%s\n" % (USER, crypt))
    odmr_port = harness.free_port()
    server = etrnd_factory(domains=domains_table(),
                           flags=["--odmr_listen=%s:%d" % (harness.LOOPBACK, odmr_port),
                                  "--auth_file=%s" % auth_file] + tls_flags(cert))
    server.odmr_port = odmr_port
    bodies = queue(server, "user@hold.test", make_bodies(6, "tls"))
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    s = smtplib.SMTP(harness.LOOPBACK, odmr_port, local_hostname="customer.test",
                     timeout=harness.SOCKET_TIMEOUT_S)
    s.ehlo()
    assert s.has_extn("starttls")
    assert s.starttls(context=context)[0] == 220
    s.ehlo()
    assert not s.has_extn("starttls")
    assert "PLAIN" in s.esmtp_features["auth"].upper()
    assert s.docmd("ATRN")[0] == 530  # TLS reset the session: not logged in
    s.login(USER, PASSWORD)
    code, text = s.docmd("ATRN hold.test")
    assert (code, text) == (250, b"2.0.0 OK now reversing the connection")
    conn, s.sock, s.file = s.sock, None, None
    assert isinstance(conn, ssl.SSLSocket)
    sink = sinks()
    sink.session(conn)  # the customer's SMTP server, over the same TLS session
    assert sorted(token_of(d) for _, d in sink.messages) == sorted(token_of(b) for b in bodies)
    assert queued_messages(server, "hold.test") == 0
