"""SMTP AUTH (RFC 4954, SPEC 5) and AUTH-gated ETRN (SPEC 4 auth=) against the
real etrnd, with real clients: swaks (PLAIN, LOGIN, CRAM-MD5) and Python's
smtplib. Hashes are made at test time: crypt(3) through libxcrypt (yescrypt),
`openssl passwd -6` (sha512-crypt) and `doveadm pw -s CRAM-MD5`."""

import base64
import ctypes
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still present on Debian 12
import signal
import smtplib
import subprocess
import time

import pytest

import harness
from harness import DEAD_NEXT_HOP, LOOPBACK, RawSmtp, wait_for_log, unique_token

SWAKS_TIMEOUT_S = 60

ALICE_PASSWORD = "alice pass phrase"   # sha512-crypt only
BOB_PASSWORD = "b0b-Secret"            # yescrypt and {CRAM-MD5}
CAROL_PASSWORD = "carol's cram"        # {CRAM-MD5} only

AUTH_DOMAINS = harness.DEFAULT_DOMAINS + f"""\
authd.test      {DEAD_NEXT_HOP}  hold etrn=10.9.9.0/24 auth=alice
onlyauth.test   {DEAD_NEXT_HOP}  hold auth=bob
"""


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                          stdout=subprocess.PIPE, check=True).stdout.decode().strip()


def yescrypt(password):
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    setting = libcrypt.crypt_gensalt(b"$y$", 0, None, 0)
    assert setting and setting.startswith(b"$y$")
    return crypt.crypt(password, setting.decode())


def doveadm_cram(password):
    out = subprocess.run(["doveadm", "pw", "-s", "CRAM-MD5", "-p", password],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    line = out.stdout.decode().strip()
    assert line.startswith("{CRAM-MD5}"), line
    return line


def auth_file_text():
    return "\n".join([
        "# etrnd test users",
        "alice:" + sha512_crypt(ALICE_PASSWORD),
        "bob:" + yescrypt(BOB_PASSWORD),
        "bob:" + doveadm_cram(BOB_PASSWORD),
        "carol:" + doveadm_cram(CAROL_PASSWORD),
        ""])


def start_auth_server(etrnd_factory, tmp_path, extra_flags=(), text=None):
    auth_file = tmp_path / "auth.conf"
    auth_file.write_text(text if text is not None else auth_file_text())
    srv = etrnd_factory(domains=AUTH_DOMAINS,
                        flags=["--auth_file=%s" % auth_file] + list(extra_flags))
    srv.auth_file = auth_file
    return srv


@pytest.fixture
def srv(etrnd_factory, tmp_path):
    return start_auth_server(etrnd_factory, tmp_path)


def run_swaks(port, *args):
    argv = ["swaks", "--server", LOOPBACK, "--port", str(port), "--helo", "client.test",
            "--from", "b@x.test", "--timeout", "10"] + list(args)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=SWAKS_TIMEOUT_S)
    return proc.returncode, proc.stdout.decode(errors="replace")


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def auth_plain(c, user, password):
    return c.cmd("AUTH PLAIN " + plain(user, password))


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", ALICE_PASSWORD),
    ("LOGIN", "alice", ALICE_PASSWORD),
    ("PLAIN", "bob", BOB_PASSWORD),
    ("CRAM-MD5", "bob", BOB_PASSWORD),
    ("CRAM-MD5", "carol", CAROL_PASSWORD),
])
def test_swaks_authenticates_and_received_says_esmtpa(srv, mechanism, user, password):
    token = unique_token()
    rc, out = run_swaks(srv.port, "--auth", mechanism, "--auth-user", user,
                        "--auth-password", password, "--to", "a@example.com",
                        "--body", "auth " + token)
    assert rc == 0, out
    assert "235 2.7.0 Authentication successful" in out, out
    assert srv.spool_count(token) == 1
    data, _ = harness.spool_find(srv.spool_dir, token.encode())
    assert b"with ESMTPA id" in data
    assert password.encode() not in data
    assert password not in srv.log_text()


@pytest.mark.parametrize("mechanism,user,password", [
    ("PLAIN", "alice", "wrong"),
    ("LOGIN", "alice", ALICE_PASSWORD + "x"),
    ("CRAM-MD5", "bob", "wrong"),
    ("CRAM-MD5", "alice", ALICE_PASSWORD),  # alice has no {CRAM-MD5} line
    ("PLAIN", "carol", CAROL_PASSWORD),     # carol has no crypt(3) line
    ("PLAIN", "nobody", "x"),
])
def test_swaks_bad_credentials_get_535(srv, mechanism, user, password):
    rc, out = run_swaks(srv.port, "--auth", mechanism, "--auth-user", user,
                        "--auth-password", password, "--to", "a@example.com")
    assert rc != 0, out
    assert "535 5.7.8 Authentication credentials invalid" in out, out
    # Failed attempts are logged with the user and the address.
    assert wait_for_log(srv, "failed for user %s" % user), srv.log_text()[-3000:]


def test_ehlo_on_loopback_advertises_auth_with_cram_md5(srv):
    with RawSmtp(srv.port) as c:
        ehlo = c.greet()
        assert "250-AUTH PLAIN LOGIN CRAM-MD5" in ehlo.lines


def test_no_cram_line_no_cram_md5(etrnd_factory, tmp_path):
    srv = start_auth_server(etrnd_factory, tmp_path,
                            text="alice:%s\n" % sha512_crypt(ALICE_PASSWORD))
    with RawSmtp(srv.port) as c:
        ehlo = c.greet()
        assert "250-AUTH PLAIN LOGIN" in ehlo.lines
        assert not any("CRAM-MD5" in line for line in ehlo.lines)
        assert c.cmd("AUTH CRAM-MD5").code == 504


def test_smtplib_login(srv):
    # smtplib prefers CRAM-MD5, then PLAIN, then LOGIN.
    with srv.smtp() as s:
        s.ehlo()
        code, msg = s.login("bob", BOB_PASSWORD)
        assert code == 235, msg
        assert s.docmd("AUTH", "PLAIN " + plain("bob", BOB_PASSWORD))[0] == 503
    with srv.smtp() as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as error:
            s.login("bob", "not it")
        assert error.value.smtp_code == 535


def test_auth_dialogue_errors_leave_the_session_usable(srv):
    with RawSmtp(srv.port) as c:
        c.greet()
        assert c.cmd("AUTH LOGIN").lines == ["334 VXNlcm5hbWU6"]
        assert c.cmd("*").code == 501
        assert c.cmd("AUTH PLAIN").lines == ["334 "]
        assert c.cmd("%%% not base64").code == 501
        assert c.cmd("AUTH X-UNKNOWN").code == 504
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 503  # inside a transaction
        assert c.cmd("RSET").code == 250
        assert auth_plain(c, "alice", ALICE_PASSWORD).lines == [
            "235 2.7.0 Authentication successful"]
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 503
        assert c.cmd("NOOP").code == 250


def test_auth_not_offered_to_a_public_client_without_tls(etrnd_factory, tmp_path):
    """The loopback rule is about the client: behind a PROXY listener, a
    header naming a public address gets no AUTH, one naming loopback does."""
    proxy_port = harness.free_port()
    srv = start_auth_server(etrnd_factory, tmp_path, extra_flags=[
        "--proxy_protocol_listen=%s:%d" % (LOOPBACK, proxy_port),
        "--proxy_protocol_from=127.0.0.0/8"])
    for source, offered in (("203.0.113.5", False), ("127.0.0.5", True)):
        with RawSmtp(proxy_port) as c:
            c.send(("PROXY TCP4 %s 127.0.0.1 40000 25\r\n" % source).encode())
            ehlo = c.greet()
            assert any(line.startswith("250-AUTH ") for line in ehlo.lines) == offered, ehlo
            reply = auth_plain(c, "alice", ALICE_PASSWORD)
            assert reply.code == (235 if offered else 503), reply


def metric(port, name, labels):
    import urllib.request
    with urllib.request.urlopen("http://%s:%d/metrics" % (LOOPBACK, port), timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_lockout_after_five_failures_from_one_address(etrnd_factory, tmp_path):
    metrics_port = harness.free_port()
    srv = start_auth_server(etrnd_factory, tmp_path,
                            extra_flags=["--metrics_listen=%s:%d" % (LOOPBACK, metrics_port)])
    attacker = "127.0.0.7"
    # Separate connections: they land on both cores, which must share the count.
    for _ in range(5):
        with RawSmtp(srv.port, source=attacker) as c:
            c.greet()
            assert auth_plain(c, "alice", "guess").code == 535
    for _ in range(3):
        with RawSmtp(srv.port, source=attacker) as c:
            c.greet()
            reply = auth_plain(c, "alice", ALICE_PASSWORD)
            assert reply.lines == ["454 4.7.0 Too many authentication failures"], reply
    # Another address is not affected.
    with RawSmtp(srv.port, source="127.0.0.8") as c:
        c.greet()
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 235
    assert metric(metrics_port, "etrnd_auth_total", 'result="failed"') == 5
    assert metric(metrics_port, "etrnd_auth_total", 'result="locked_out"') == 3
    assert metric(metrics_port, "etrnd_auth_total", 'result="ok"') == 1


def etrn(c, arg):
    return c.cmd("ETRN " + arg)


def test_etrn_gated_by_auth(srv):
    token = unique_token()
    harness.send_raw_message(srv.port, harness.make_message(token, rcpt="x@authd.test"),
                             rcpts=("x@authd.test",))
    assert srv.spool_count(token) == 1
    # 127.0.0.1 is not in etrn=10.9.9.0/24: refused without AUTH.
    with RawSmtp(srv.port) as c:
        c.greet()
        assert etrn(c, "authd.test").lines == [
            "459 4.7.1 Node authd.test not allowed: ETRN not permitted from this address"]
        assert etrn(c, "onlyauth.test").code == 459
        # bob is not in authd.test's auth=.
        assert auth_plain(c, "bob", BOB_PASSWORD).code == 235
        assert etrn(c, "authd.test").code == 459
        assert etrn(c, "onlyauth.test").code == 251
    with RawSmtp(srv.port) as c:
        c.greet()
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 235
        assert etrn(c, "authd.test").lines == [
            "253 2.0.0 OK, 1 pending messages for node authd.test started"]
        assert etrn(c, "@authd.test").code in (251, 253)
        assert etrn(c, "onlyauth.test").code == 459


def test_sighup_rereads_the_auth_file(srv):
    new_password = "rotated-" + unique_token()
    srv.auth_file.write_text("alice:%s\n" % sha512_crypt(new_password))
    srv.send_signal(signal.SIGHUP)
    assert wait_for_log(srv, "auth file reloaded: 1 users"), srv.log_text()[-3000:]
    with RawSmtp(srv.port) as c:
        c.greet()
        assert auth_plain(c, "alice", ALICE_PASSWORD).code == 535
    with RawSmtp(srv.port, source="127.0.0.9") as c:
        ehlo = c.greet()
        assert not any("CRAM-MD5" in line for line in ehlo.lines)  # no {CRAM-MD5} line now
        assert auth_plain(c, "alice", new_password).code == 235
    # A broken file is refused and the previous users stay.
    srv.auth_file.write_text("alice:plaintext\n")
    srv.send_signal(signal.SIGHUP)
    assert wait_for_log(srv, "auth file reload failed"), srv.log_text()[-3000:]
    assert "auth.conf:1:" in srv.log_text()
    with RawSmtp(srv.port, source="127.0.0.10") as c:
        c.greet()
        assert auth_plain(c, "alice", new_password).code == 235


@pytest.mark.parametrize("text,reason", [
    ("# users\nalice:hunter2\n", "auth.conf:2:"),
    ("alice:{PLAIN}hunter2\n", "auth.conf:1:"),
    ("alice:$1$abc$defghijklmnopqrstuvwx\n", "auth.conf:1:"),
])
def test_bad_auth_file_stops_start_up(tmp_path, text, reason):
    auth_file = tmp_path / "auth.conf"
    auth_file.write_text(text)
    rc, out = harness.run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--auth_file=%s" % auth_file], cwd=tmp_path)
    assert rc != 0
    assert reason in out, out
    assert "hunter2" not in out or "plaintext" in out


def test_public_client_gets_auth_only_after_starttls(etrnd_factory, tmp_path):
    """swaks speaks PROXY v1 for a public client address: without TLS no AUTH
    is offered; after STARTTLS it authenticates, and Received: says ESMTPSA."""
    from tls_helpers import TestPki, tls_flags
    cert = TestPki(tmp_path / "pki").issue("mx.test", sans=("DNS:mx.test",), stem="server")
    proxy_port = harness.free_port()
    srv = start_auth_server(etrnd_factory, tmp_path, extra_flags=tls_flags(cert) + [
        "--proxy_protocol_listen=%s:%d" % (LOOPBACK, proxy_port),
        "--proxy_protocol_from=127.0.0.0/8"])
    proxy = ["--proxy-version", "1", "--proxy-family", "TCP4", "--proxy-source", "203.0.113.9",
             "--proxy-source-port", "40000", "--proxy-dest", "127.0.0.1",
             "--proxy-dest-port", "25"]
    auth = ["--auth", "PLAIN", "--auth-user", "alice", "--auth-password", ALICE_PASSWORD]
    rc, out = run_swaks(proxy_port, *(proxy + auth + ["--to", "a@example.com"]))
    assert rc != 0, out
    assert "250-AUTH" not in out, out
    token = unique_token()
    rc, out = run_swaks(proxy_port, *(proxy + auth + ["--tls", "--to", "a@example.com",
                                                     "--body", "tls auth " + token]))
    assert rc == 0, out
    assert "235 2.7.0 Authentication successful" in out, out
    data, at = harness.spool_find(srv.spool_dir, token.encode())
    header = data[data.rfind(b"Received: from", 0, at):at]
    assert b"[203.0.113.9]" in header, header
    assert b"(using TLSv1.3 with cipher " in header, header
    assert b"with ESMTPSA id" in header, header
