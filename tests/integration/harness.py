"""Helpers for the integration tests: run the real etrnd, talk SMTP, read the spool.

Everything here is bounded in time (socket and process timeouts) and stays on
127.0.0.0/8. The conftest.py fixtures make sure every process started here is
stopped at the end of its test.
"""

import os
import pathlib
import random
import signal
import socket
import subprocess
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]
ETRND_BIN = os.environ.get("ETRND_BIN", str(REPO / "build" / "etrnd"))
BLASTER_BIN = os.environ.get("BLASTER_BIN", str(REPO / "build" / "smtp-blaster"))
ETRNCTL_BIN = os.environ.get("ETRNCTL_BIN", str(REPO / "build" / "etrnctl"))
ETRNCTL_TIMEOUT_S = 120

LOOPBACK = "127.0.0.1"
# The readiness probe comes from LOOPBACK; tests that count sessions per client
# address use these other loopback sources so the probe never counts.
OTHER_SOURCES = ["127.0.0.%d" % i for i in range(2, 40)]

SOCKET_TIMEOUT_S = 10
START_TIMEOUT_S = 60          # includes spool recovery before the greeting
STOP_TIMEOUT_S = 10           # SPEC 3: exit within 10 s of SIGTERM
PORT_PICK_ATTEMPTS = 5
# Never delivered to: nothing listens on the discard port of loopback, and
# every test domain is `hold` so delivery only starts on ETRN.
DEAD_NEXT_HOP = "127.0.0.1:9"

DEFAULT_DOMAINS = f"""\
# etrnd integration test table
example.com       {DEAD_NEXT_HOP}  hold
.example.com      {DEAD_NEXT_HOP}  hold
example.org       {DEAD_NEXT_HOP}  hold queue=orgq
example.net       {DEAD_NEXT_HOP}  hold queue=orgq
restricted.test   {DEAD_NEXT_HOP}  hold etrn=127.0.0.1/32
.cust.test        {DEAD_NEXT_HOP}  hold
"""


def unique_token():
    """A token that appears nowhere else: each test message carries one."""
    return "tok" + uuid.uuid4().hex


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


_ports_handed_out = set()


def free_port(host=LOOPBACK):
    """A port that was free a moment ago, chosen BELOW the kernel's ephemeral
    range: a server restarted on its port after kill -9 must not find it
    taken as the source port of some client's connection meanwhile (a
    TIME-WAIT of such a connection blocks the bind despite SO_REUSEADDR).
    Never the same port twice in one run: two ports asked for before either
    is bound (a node and its peers) must differ."""
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        if port in _ports_handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            _ports_handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def connect(port, source=None, timeout=SOCKET_TIMEOUT_S):
    return socket.create_connection(
        (LOOPBACK, port), timeout=timeout,
        source_address=(source, 0) if source else None)


class Reply:
    """One SMTP reply: its code and its lines (without CRLF)."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        """The text after the code of every line, joined with newlines."""
        return "\n".join(line[4:] for line in self.lines)

    @property
    def last(self):
        return self.lines[-1]

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class RawSmtp:
    """An SMTP client over a plain socket, for byte-level tests."""

    def __init__(self, port, source=None, timeout=SOCKET_TIMEOUT_S):
        self.sock = connect(port, source=source, timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self):
        """One line without its CRLF; raises EOFError when the server closed."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_reply(self):
        lines = []
        while True:
            line = self.read_line()
            lines.append(line)
            if len(line) < 4 or not line[:3].isdigit():
                raise AssertionError("malformed reply line %r" % line)
            if line[3] == " " or len(lines) > 100:
                return Reply(int(line[:3]), lines)
            if line[3] != "-":
                raise AssertionError("malformed reply line %r" % line)

    def cmd(self, line):
        """Sends one command line (CRLF added) and returns its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.read_reply()

    def greet(self, helo="client.test"):
        """Reads the greeting and sends EHLO; returns the EHLO reply."""
        greeting = self.read_reply()
        assert greeting.code == 220, greeting
        reply = self.cmd("EHLO " + helo)
        assert reply.code == 250, reply
        return reply

    def read_until_closed(self, timeout=SOCKET_TIMEOUT_S):
        """Everything the server sends until it closes (bounded)."""
        self.sock.settimeout(timeout)
        data, self.buf = self.buf, b""
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("server did not close within %d s; got %r" % (timeout, data))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            except socket.timeout:
                continue
            if not chunk:
                return data
            data += chunk

    def nothing_pending(self, wait_s=0.3):
        """True when no more bytes arrive within wait_s (no stray replies)."""
        if self.buf:
            return False
        self.sock.settimeout(wait_s)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(SOCKET_TIMEOUT_S)
        self.buf += chunk
        return not chunk


def send_raw_message(port, message, rcpts=("a@example.com",), sender="b@x.test",
                     source=None):
    """One transaction over a raw socket; `message` must be already dot-stuffed
    and end with CRLF. Returns the reply to the end of DATA."""
    with RawSmtp(port, source=source) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
        for r in rcpts:
            reply = c.cmd("RCPT TO:<%s>" % r)
            assert reply.code == 250, reply
        assert c.cmd("DATA").code == 354
        c.send(message + b".\r\n")
        reply = c.read_reply()
        c.cmd("QUIT")
        return reply


def make_message(token, rcpt="a@example.com", extra_body=b""):
    """A small RFC 5322 message (CRLF lines) carrying `token` exactly once."""
    return (b"From: <b@x.test>\r\nTo: <" + rcpt.encode() + b">\r\n"
            b"Subject: integration test\r\n\r\n"
            b"body " + token.encode() + b"\r\n" + extra_body)


def send_messages(port, count, rcpts=("a@example.com",)):
    """`count` messages over one smtplib session; returns their tokens."""
    import smtplib
    tokens = []
    with smtplib.SMTP(LOOPBACK, port, local_hostname="client.test",
                      timeout=SOCKET_TIMEOUT_S) as s:
        for _ in range(count):
            token = unique_token()
            code, resp = s.mail("b@x.test")
            assert code == 250, (code, resp)
            for r in rcpts:
                code, resp = s.rcpt(r)
                assert code == 250, (code, resp)
            code, resp = s.data(make_message(token, rcpts[0]))
            assert code == 250, (code, resp)
            tokens.append(token)
    return tokens


# ---------------------------------------------------------------- spool ----

def spool_files(spool_dir):
    for root, _, files in os.walk(spool_dir):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                yield path


def spool_count(spool_dir, needle):
    """Occurrences of `needle` (bytes or str) in all files under the spool."""
    if isinstance(needle, str):
        needle = needle.encode()
    total = 0
    for path in spool_files(spool_dir):
        with open(path, "rb") as f:
            total += f.read().count(needle)
    return total


def spool_find(spool_dir, needle):
    """(file bytes, offset) of the only occurrence of `needle` in the spool."""
    hits = []
    for path in spool_files(spool_dir):
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        while True:
            i = data.find(needle, start)
            if i < 0:
                break
            hits.append((data, i))
            start = i + 1
    assert len(hits) == 1, "expected the message exactly once in the spool, found %d" % len(hits)
    return hits[0]


# --------------------------------------------------------------- server ----

class StartError(Exception):
    pass


class Etrnd:
    """One etrnd process on a loopback port with its own spool and table."""

    def __init__(self, workdir, domains=DEFAULT_DOMAINS, flags=(), name="etrnd"):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.spool_dir = self.workdir / "spool"
        self.domains_file = self.workdir / "domains.conf"
        self.log_path = self.workdir / (name + ".log")
        self.flags = list(flags)
        self.port = None
        self.proc = None
        self._log_file = None
        if domains is not None:
            self.write_domains(domains)

    # -- configuration --

    def write_domains(self, text):
        tmp = self.domains_file.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.domains_file)  # atomic: a reload never sees half

    def argv(self, port):
        return [ETRND_BIN,
                "--listen=%s:%d" % (LOOPBACK, port),
                "--spool_dir=%s" % self.spool_dir,
                "--domains_file=%s" % self.domains_file,
                "--threads=2",
                "--hostname=mx.test"] + self.flags

    # -- process control --

    def start(self, port=None):
        """Starts etrnd and waits for its 220 greeting. With no port, picks a
        free one (retrying if it was taken meanwhile); with a port, uses it."""
        if not os.access(ETRND_BIN, os.X_OK):
            raise StartError("ETRND_BIN %s is not an executable (build it first)" % ETRND_BIN)
        attempts = 1 if port is not None else PORT_PICK_ATTEMPTS
        last_error = None
        for _ in range(attempts):
            chosen = port if port is not None else free_port()
            try:
                self._spawn(chosen)
                self._wait_ready()
                self.port = chosen
                return self
            except StartError as e:
                last_error = e
                self.kill()
                if "in use" not in self.log_text().lower():
                    break
        raise StartError("%s did not start: %s\n--- log ---\n%s" %
                         (self.name, last_error, self.log_text()[-5000:]))

    def _spawn(self, port):
        self.port = port
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(("=== start %s\n" % " ".join(self.argv(port))).encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.argv(port), cwd=self.workdir, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError("exited with %d before greeting" % self.proc.returncode)
            try:
                with RawSmtp(self.port, timeout=5) as c:
                    reply = c.read_reply()
                    if reply.code != 220:
                        raise StartError("greeting was %r" % reply)
                    c.cmd("QUIT")
                return
            except (ConnectionRefusedError, ConnectionResetError, EOFError):
                time.sleep(0.05)
            except socket.timeout:
                continue
        raise StartError("no 220 greeting within %d s" % START_TIMEOUT_S)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Signals and waits; SIGKILL after `timeout`. Returns the exit code
        (negative when killed by a signal), or None if it was not running."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close_log()
        return self.proc.returncode

    def kill(self):
        """kill -9 (a crash): returns once the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._close_log()

    def restart(self):
        """Starts again on the same port, spool and table."""
        assert not self.alive()
        return self.start(port=self.port)

    def reload(self, text):
        self.write_domains(text)
        self.proc.send_signal(signal.SIGHUP)

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self):
        """The log so far. A running etrnd's reactor threads hand their lines to
        a writer thread that writes them every 10 ms (kLogWriterInterval)
        while lines keep coming: read once the file stopped growing for
        longer than that, so lines of what the test just did are in."""
        def read():
            try:
                return self.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return ""
        text = read()
        if self.proc is None or self.proc.poll() is not None:
            return text
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.025)
            later = read()
            if later == text:
                break
            text = later
        return text

    # -- conveniences --

    def smtp(self, source=None):
        import smtplib
        return smtplib.SMTP(LOOPBACK, self.port, local_hostname="client.test",
                            timeout=SOCKET_TIMEOUT_S,
                            source_address=(source, 0) if source else None)

    def raw(self, source=None):
        return RawSmtp(self.port, source=source)

    def etrn(self, arg, source=None):
        """(code, full reply line) for one ETRN in a fresh EHLO'd session."""
        with self.smtp(source=source) as s:
            s.ehlo()
            code, msg = s.docmd("ETRN", arg) if arg is not None else s.docmd("ETRN")
            return code, "%d %s" % (code, msg.decode())

    def spool_count(self, needle):
        return spool_count(self.spool_dir, needle)

    @property
    def control_socket(self):
        return self.spool_dir / "control.sock"

    def etrnctl(self, *args, json_output=False):
        """Runs the real etrnctl against this server: (exit code, stdout,
        stderr); with json_output, stdout parsed as JSON (when it is)."""
        argv = [ETRNCTL_BIN, "--socket", str(self.control_socket)]
        if json_output:
            argv.append("--json")
        proc = subprocess.run(argv + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=ETRNCTL_TIMEOUT_S)
        out = proc.stdout.decode(errors="replace")
        if json_output and proc.returncode in (0, 1) and out.strip():
            import json
            out = json.loads(out)
        return proc.returncode, out, proc.stderr.decode(errors="replace")


def run_etrnd_expect_exit(args, cwd, timeout=20):
    """Runs etrnd with `args` that must make it exit; returns (rc, output)."""
    proc = subprocess.run([ETRND_BIN] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return proc.returncode, (proc.stderr + proc.stdout).decode(errors="replace")


def wait_for_log(srv, needle, timeout=10):
    """True once `needle` shows up in the server's log within `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in srv.log_text():
            return True
        time.sleep(0.05)
    return False
