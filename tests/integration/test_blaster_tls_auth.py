"""smtp-blaster --starttls and --auth (the one SMTP client's STARTTLS and AUTH
PLAIN) against real servers: the blaster's own sink with --sink_tls_cert /
--sink_auth (checked first with openssl s_client and swaks, clients nobody
here wrote), and etrnd itself once it has --tls_cert / --auth_file."""

import socket
import subprocess
import threading

import pytest

import harness
from harness import BLASTER_BIN, ETRND_BIN
from test_blaster import (last_json_object, require_blaster, run_client, stop_and_collect,
                          wait_greeting)

USER, PASSWORD = "alice", "s3cret"
# base64("\0alice\0s3cret"): must never cross the wire in clear under TLS.
PLAIN_CREDENTIALS = b"AGFsaWNlAHMzY3JldA=="
TLS_HANDSHAKE_RECORD = 0x16


@pytest.fixture
def cert(tmp_path):
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return crt, key


def start_sink(processes, *flags):
    require_blaster()
    port = harness.free_port()
    proc = subprocess.Popen([BLASTER_BIN, "--sink", "--listen=127.0.0.1:%d" % port, "--json",
                             "--progress=false"] + list(flags),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    processes.append(proc)
    wait_greeting(port, proc)
    return port, proc


class RecordingRelay:
    """A TCP relay on loopback that keeps every byte the client sent."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind((harness.LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.client_streams = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection((harness.LOOPBACK, self.target_port))
            record = bytearray()
            with self.lock:
                self.client_streams.append(record)
            threading.Thread(target=self._pump, args=(client, server, record),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _pump(source, sink, record):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if record is not None:
                    record.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (sink, source):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def test_sink_starttls_and_auth_work_with_swaks(processes, cert):
    crt, key = cert
    port, sink = start_sink(processes, "--sink_tls_cert=%s" % crt, "--sink_tls_key=%s" % key,
                            "--sink_auth=%s:%s" % (USER, PASSWORD))
    base = ["swaks", "--server", "127.0.0.1:%d" % port, "--to", "u@d1.test",
            "--from", "s@x.test", "--tls", "--auth", "PLAIN", "--auth-user", USER]
    good = subprocess.run(base + ["--auth-password", PASSWORD], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)
    out = good.stdout.decode(errors="replace")
    assert good.returncode == 0, out
    assert "<-  220 2.0.0 Ready to start TLS" in out, out  # in clear, then TLS
    assert "TLS started" in out, out
    assert "~> AUTH PLAIN" in out and "<~  235 2.7.0 Authentication successful" in out, out
    bad = subprocess.run(base + ["--auth-password", "wrong"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=60)
    assert "535 5.7.8 Authentication credentials invalid" in bad.stdout.decode(errors="replace")
    report = last_json_object(stop_and_collect(sink)[0])
    assert report["messages"] == 1, report


def test_sink_starttls_with_openssl_s_client(processes, cert):
    crt, key = cert
    port, sink = start_sink(processes, "--sink_tls_cert=%s" % crt, "--sink_tls_key=%s" % key)
    proc = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
         "-CAfile", str(crt), "-verify_return_error", "-quiet"],
        input=b"EHLO c.test\r\nQUIT\r\n", capture_output=True, timeout=60)
    out = proc.stdout.decode(errors="replace")
    # The EHLO reply after TLS no longer offers STARTTLS.
    assert "250-blaster-sink.invalid" in out and "221 2.0.0 Bye" in out, (out, proc.stderr)
    assert "STARTTLS" not in out, out


def test_blaster_starttls_and_auth_encrypt_everything_after_starttls(processes, cert):
    crt, key = cert
    port, sink = start_sink(processes, "--sink_tls_cert=%s" % crt, "--sink_tls_key=%s" % key,
                            "--sink_auth=%s:%s" % (USER, PASSWORD))
    relay = RecordingRelay(port)
    try:
        n = 300
        rc, summary, context = run_client(relay.port, n, "--starttls",
                                          "--auth=%s:%s" % (USER, PASSWORD), connections=4)
    finally:
        relay.close()
    assert rc == 0, context
    assert (summary["messages_ok"], summary["messages_failed"]) == (n, 0), context
    assert summary["errors"] == {}, context
    assert last_json_object(stop_and_collect(sink)[0])["messages"] == n
    with relay.lock:
        streams = [bytes(s) for s in relay.client_streams]
    assert len(streams) == 4, [s[:80] for s in streams]
    for stream in streams:
        clear, marker, rest = stream.partition(b"STARTTLS\r\n")
        assert marker, stream[:200]
        assert clear.startswith(b"EHLO ") and clear.count(b"\r\n") == 1, clear
        assert rest[0] == TLS_HANDSHAKE_RECORD, rest[:16]  # a ClientHello, no plaintext
        for secret in (PLAIN_CREDENTIALS, b"MAIL FROM", b"RCPT TO", b"Subject:"):
            assert secret not in stream, secret


def test_blaster_starttls_against_a_server_without_tls_fails_as_tls(processes):
    port, sink = start_sink(processes)
    rc, summary, context = run_client(port, 5, "--starttls", connections=1)
    assert rc == 1, context
    assert summary["messages_ok"] == 0, context
    assert set(summary["errors"]) == {"tls"}, context
    assert last_json_object(stop_and_collect(sink)[0])["messages"] == 0


def test_blaster_auth_refused_is_counted_under_535(processes):
    port, sink = start_sink(processes, "--sink_auth=%s:%s" % (USER, PASSWORD))
    rc, summary, context = run_client(port, 5, "--auth=%s:nope" % USER, connections=1)
    assert rc == 1, context
    assert summary["messages_ok"] == 0 and set(summary["errors"]) == {"535"}, context
    rc, summary, context = run_client(port, 20, "--auth=%s:%s" % (USER, PASSWORD))
    assert rc == 0 and summary["messages_ok"] == 20, context
    assert last_json_object(stop_and_collect(sink)[0])["messages"] == 20


def test_blaster_rejects_a_malformed_auth_flag():
    require_blaster()
    proc = subprocess.run([BLASTER_BIN, "--auth=nocolon", "--messages=1"],
                          capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert b"--auth must be user:pass" in proc.stderr


def etrnd_has_flag(flag):
    proc = subprocess.run([ETRND_BIN, "--helpfull"], capture_output=True, timeout=30)
    return ("--%s " % flag).encode() in proc.stdout + proc.stderr


def test_blaster_auth_against_etrnd(etrnd_factory, tmp_path):
    if not etrnd_has_flag("auth_file"):
        pytest.skip("etrnd has no --auth_file yet (AUTH is another helper's part of issue 14)")
    hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True,
                            check=True, timeout=30).stdout.decode().strip()
    auth_file = tmp_path / "users"
    auth_file.write_text("%s:%s\n" % (USER, hashed))
    auth_file.chmod(0o600)
    server = etrnd_factory(flags=["--auth_file=%s" % auth_file])
    n = 50
    rc, summary, context = run_client(server.port, n, "--auth=%s:%s" % (USER, PASSWORD),
                                      domain_pattern="d%d.example.com")
    assert rc == 0 and summary["messages_ok"] == n, context
    rc, summary, context = run_client(server.port, 3, "--auth=%s:wrong" % USER,
                                      domain_pattern="d%d.example.com", connections=1)
    assert summary["messages_ok"] == 0 and set(summary["errors"]) == {"535"}, context


def test_blaster_starttls_against_etrnd(etrnd_factory, cert):
    if not etrnd_has_flag("tls_cert"):
        pytest.skip("etrnd has no --tls_cert yet (inbound STARTTLS is another helper's part)")
    crt, key = cert
    server = etrnd_factory(flags=["--tls_cert=%s" % crt, "--tls_key=%s" % key])
    n = 100
    rc, summary, context = run_client(server.port, n, "--starttls",
                                      domain_pattern="d%d.example.com")
    assert rc == 0 and summary["messages_ok"] == n, context
    # Received under TLS, as etrnd's Received: header says (SPEC 5).
    assert server.spool_count("with ESMTPS") >= n
    assert server.spool_count("(using TLSv1.") >= n
