"""Hostile clients against the real etrnd: non-reading, slow (slowloris),
half-open and pipelining floods (issue: hostile clients and damaged disks).

SPEC 5: a session's unsent replies are bounded by --max_output_bytes (the
session is not read until they drain; not drained within --idle_timeout ->
closed), a command line must be complete within --idle_timeout of its first
byte, DATA must keep --min_data_rate, and memory stays below a fixed base
plus a fixed amount per session. SPEC 3: SIGTERM ends the process within
10 s whatever the clients do.

Memory is read from /proc/<pid>/status (VmRSS), sampled while the attack
runs; the bound checked is the issue's: baseline + sessions x (bound + 64 KiB).
"""

import os
import socket
import threading
import time

import pytest

import harness

MAX_OUTPUT_BYTES = 256 * 1024
PER_SESSION_ALLOWANCE = MAX_OUTPUT_BYTES + 64 * 1024
# Allocator and page granularity: what a process's RSS moves by on its own.
RSS_SLACK = 2 * 1024 * 1024
# Under AddressSanitizer (tools/test.sh sets ETRND_SANITIZER=1) freed memory
# sits in ASan's quarantine and every block has redzones: RSS says nothing
# about etrnd's own bounds there, so the attacks run but RSS is not asserted.
MEASURE_RSS = os.environ.get("ETRND_SANITIZER") != "1"


def assert_rss_within(peak, bound, what):
    if MEASURE_RSS:
        assert peak <= bound, what
HELP_BLOCK = b"HELP\r\n" * 4096


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


class RssSampler:
    """Samples a process's RSS every 20 ms in the background; keeps the peak."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, AssertionError):
                return
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def small_window_socket(port, source=None):
    """A client socket with a tiny receive buffer (set before connect, so the
    window stays small): the server's replies back up after a few KiB."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if source:
        s.bind((source, 0))
    s.settimeout(harness.SOCKET_TIMEOUT_S)
    s.connect((harness.LOOPBACK, port))
    return s


def send_for(sock, block, seconds):
    """Sends `block` repeatedly for `seconds`, never reading. Returns the
    bytes the kernel took (the server stops reading: sends then time out)."""
    sock.settimeout(0.2)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sent += sock.send(block)
        except socket.timeout:
            continue
        except OSError:
            break
    return sent


def non_reading_flood(port, sessions, seconds, source_base=0):
    """`sessions` clients: EHLO, then HELP in a loop, never reading."""
    socks = []
    for i in range(sessions):
        s = small_window_socket(port, harness.OTHER_SOURCES[(source_base + i) % 30])
        s.sendall(b"EHLO flood.test\r\n")
        socks.append(s)
    totals = [0] * sessions

    def run(i):
        totals[i] = send_for(socks[i], HELP_BLOCK, seconds)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return socks, totals


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def wait_for_rss_below(pid, limit, timeout_s=5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = rss_bytes(pid)
        if value <= limit:
            return value
        time.sleep(0.1)
    return rss_bytes(pid)


def greeting_code(port, source):
    with harness.RawSmtp(port, source=source, timeout=5) as c:
        return c.read_reply().code


@pytest.mark.time_limit(120)
def test_non_reading_help_flood_is_bounded(etrnd_factory):
    """Before: one such client took etrnd from 7 MiB to 1.2 GiB in 4 s."""
    server = etrnd_factory(flags=["--max_connections_per_ip=1000"])
    pid = server.proc.pid
    sessions = 8
    # Warm-up: the same attack once, so the provided receive buffers and the
    # allocator's arenas are touched; what stays after it is the baseline.
    socks, _ = non_reading_flood(server.port, sessions, 2)
    close_all(socks)
    time.sleep(1.0)
    baseline = rss_bytes(pid)

    with RssSampler(pid) as sampler:
        socks, totals = non_reading_flood(server.port, sessions, 3)
        time.sleep(0.3)
    bound = baseline + sessions * PER_SESSION_ALLOWANCE + RSS_SLACK
    try:
        assert_rss_within(sampler.peak, bound, (
            "RSS peaked at %.1f MiB, baseline %.1f MiB, bound %.1f MiB (%d sessions sent %d bytes)"
            % (sampler.peak / 2**20, baseline / 2**20, bound / 2**20, sessions, sum(totals))))
        # Back-pressure, not a bottomless buffer: each client got far less of
        # its input taken than it offered in 3 s (the kernel's buffers plus
        # one bound's worth of replies).
        assert max(totals) < 8 * 2**20, totals
        # Still serving everyone else.
        assert greeting_code(server.port, harness.OTHER_SOURCES[35]) == 220
    finally:
        close_all(socks)
    # Memory comes back (or is reused) after close: no growth per attack.
    after = wait_for_rss_below(pid, baseline + RSS_SLACK)
    assert_rss_within(after, baseline + RSS_SLACK, (after, baseline))


@pytest.mark.time_limit(120)
def test_pipelined_etrn_flood_from_a_reading_client_is_bounded(etrnd_factory):
    """Before: a client that does read pushed etrnd to 250 MiB with pipelined ETRNs."""
    server = etrnd_factory()
    pid = server.proc.pid
    block = b"ETRN example.com\r\n" * 2048
    received = [0]
    saw_rate_limit = [False]

    def flood(seconds):
        sock = harness.connect(server.port, source=harness.OTHER_SOURCES[1])
        sock.sendall(b"EHLO flood.test\r\n")
        stop = threading.Event()

        def reader():
            sock.settimeout(0.5)
            while not stop.is_set():
                try:
                    chunk = sock.recv(1 << 16)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                received[0] += len(chunk)
                saw_rate_limit[0] = saw_rate_limit[0] or b"458 4.3.0" in chunk

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        send_for(sock, block, seconds)
        stop.set()
        t.join(timeout=5)
        sock.close()

    flood(2)  # warm-up
    time.sleep(1.0)
    baseline = rss_bytes(pid)
    received[0] = 0
    with RssSampler(pid) as sampler:
        flood(3)
    assert received[0] > 0, "the flooding client got no replies at all"
    bound = baseline + PER_SESSION_ALLOWANCE + RSS_SLACK
    assert_rss_within(sampler.peak, bound, (sampler.peak / 2**20, baseline / 2**20))
    # The rate limiter answered 458, the session stayed open, and others
    # are still served.
    assert saw_rate_limit[0]
    code, _ = server.etrn("example.com", source=harness.OTHER_SOURCES[2])
    assert code in (251, 253)


@pytest.mark.time_limit(60)
def test_non_reading_client_is_closed_after_idle_timeout_and_frees_its_slot(etrnd_factory):
    """Before: such a connection stayed ESTABLISHED with megabytes queued,
    holding its slot for ever. Now: not drained within --idle_timeout ->
    closed (reset), and the slot is free again."""
    server = etrnd_factory(flags=["--idle_timeout=2s", "--max_connections_per_ip=1"])
    source = harness.OTHER_SOURCES[3]
    sock = small_window_socket(server.port, source)
    sock.sendall(b"EHLO flood.test\r\n")
    send_for(sock, HELP_BLOCK, 1.0)
    # Its one slot is taken: a second session from that address is refused.
    assert greeting_code(server.port, source) == 421
    deadline = time.monotonic() + 12
    freed = False
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if greeting_code(server.port, source) == 220:
            freed = True
            break
    sock.close()
    assert freed, "the non-reading session still holds its slot\n" + server.log_text()[-3000:]
    assert "not taken within" in server.log_text()


@pytest.mark.time_limit(60)
def test_slowloris_command_line_gets_421(etrnd_factory):
    """A command line trickled one byte a second must be complete within
    --idle_timeout of its first byte; before, every byte reset the timer."""
    server = etrnd_factory(flags=["--idle_timeout=2s", "--max_connections=4",
                                  "--max_connections_per_ip=100"])
    clients = []
    for i in range(3):
        c = harness.RawSmtp(server.port, source=harness.OTHER_SOURCES[4 + i])
        assert c.read_reply().code == 220
        clients.append(c)
    started = time.monotonic()
    closed = [None] * len(clients)
    while time.monotonic() - started < 10 and None in closed:
        for i, c in enumerate(clients):
            if closed[i] is not None:
                continue
            try:
                c.send(b"O" if time.monotonic() - started > 0.1 else b"N")
                c.sock.settimeout(0.01)
                data = c.sock.recv(4096)
                if data:
                    closed[i] = (time.monotonic() - started, data)
            except socket.timeout:
                pass
            except OSError as e:
                closed[i] = (time.monotonic() - started, repr(e))
        time.sleep(0.5)
    for c in clients:
        c.close()
    for i, result in enumerate(closed):
        assert result is not None, "slowloris session %d still open after 10 s" % i
        elapsed, data = result
        assert b"421 4.4.2" in data, data
        assert elapsed < 6, elapsed


@pytest.mark.time_limit(60)
def test_slowloris_data_is_held_to_min_data_rate(etrnd_factory):
    server = etrnd_factory(flags=["--idle_timeout=2s", "--min_data_rate=500"])
    token = harness.unique_token()
    with server.raw(source=harness.OTHER_SOURCES[8]) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send("Subject: %s\r\n\r\n" % token)
        started = time.monotonic()
        reply = None
        c.sock.settimeout(0.2)
        # 20 bytes a second: every byte in time, the average far too low.
        while time.monotonic() - started < 10:
            try:
                c.send(b"x" * 20)
                data = c.sock.recv(4096)
                if data:
                    reply = data
                    break
            except socket.timeout:
                time.sleep(0.8)
            except OSError as e:
                reply = repr(e).encode()
                break
        assert reply is not None, "slow DATA not cut off within 10 s"
        assert b"421 4.4.2" in reply and b"data rate" in reply, reply
        assert time.monotonic() - started < 6
    assert server.spool_count(token) == 0


@pytest.mark.time_limit(60)
def test_data_at_a_normal_rate_is_not_cut(etrnd_factory):
    """The rate is averaged after a grace period: a message sent at an honest
    pace over longer than the grace period goes through."""
    server = etrnd_factory(flags=["--idle_timeout=1s", "--min_data_rate=500"])
    token = harness.unique_token()
    with server.raw(source=harness.OTHER_SOURCES[9]) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<a@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send("Subject: %s\r\n\r\n" % token)
        for _ in range(6):  # 2 KiB every 0.4 s = 5 KiB/s for 2.4 s
            c.send((b"y" * 998 + b"\r\n") * 2)
            time.sleep(0.4)
        reply = c.cmd(".")
        assert reply.code == 250, reply
    assert server.spool_count(token) == 1


def attack_non_reading(port, socks):
    flood, _ = non_reading_flood(port, 2, 1.0, source_base=10)
    socks.extend(flood)


def attack_slow_command(port, socks):
    slow = harness.RawSmtp(port, source=harness.OTHER_SOURCES[13])
    slow.send(b"NOO")
    socks.append(slow.sock)


def attack_slow_data(port, socks):
    data = harness.RawSmtp(port, source=harness.OTHER_SOURCES[14])
    data.greet()
    data.cmd("MAIL FROM:<a@x.test>")
    data.cmd("RCPT TO:<a@example.com>")
    data.cmd("DATA")
    data.send(b"Subject: slow\r\n")
    socks.append(data.sock)


def attack_half_open(port, socks):
    socks.append(harness.connect(port, source=harness.OTHER_SOURCES[15]))


def attack_pipelining_flood(port, socks):
    sock = small_window_socket(port, harness.OTHER_SOURCES[16])
    sock.sendall(b"EHLO flood.test\r\n")
    send_for(sock, b"ETRN example.com\r\n" * 2048, 1.0)
    socks.append(sock)


def attack_all(port, socks):
    for attack in ATTACKS[:-1]:
        attack(port, socks)


ATTACKS = [attack_non_reading, attack_slow_command, attack_slow_data, attack_half_open,
           attack_pipelining_flood, attack_all]


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__[len("attack_"):])
def test_sigterm_ends_the_process_within_10_s_under_attack(etrnd_factory, attack):
    """Before: a client that never read held etrnd 25 s after SIGTERM."""
    server = etrnd_factory()
    socks = []
    try:
        attack(server.port, socks)
        time.sleep(0.5)
        started = time.monotonic()
        rc = server.stop(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        close_all(socks)
    assert rc == 0, server.log_text()[-3000:]
    assert elapsed < 10, elapsed
    assert "stopped cleanly" in server.log_text()


@pytest.mark.time_limit(90)
def test_slow_and_half_open_sessions_cost_a_bounded_amount_each(etrnd_factory):
    """Slowloris command lines, slow DATA and silent (half-open) clients hold
    sessions; each costs at most the per-session allowance."""
    server = etrnd_factory(flags=["--max_connections_per_ip=1000", "--idle_timeout=30s"])
    pid = server.proc.pid
    baseline = rss_bytes(pid)
    socks = []
    per_kind = 20
    try:
        with RssSampler(pid) as sampler:
            for i in range(per_kind):
                silent = harness.connect(server.port, source=harness.OTHER_SOURCES[16 + i % 10])
                socks.append(silent)
                slow = harness.RawSmtp(server.port, source=harness.OTHER_SOURCES[16 + i % 10])
                slow.send(b"NOOP")  # never finished
                socks.append(slow.sock)
                data = harness.RawSmtp(server.port, source=harness.OTHER_SOURCES[16 + i % 10])
                data.greet()
                data.cmd("MAIL FROM:<a@x.test>")
                data.cmd("RCPT TO:<a@example.com>")
                assert data.cmd("DATA").code == 354
                data.send(b"Subject: slow\r\n" + b"x" * 900 + b"\r\n")
                socks.append(data.sock)
            for _ in range(10):  # keep trickling for a while
                for s in socks[2::3]:
                    s.sendall(b"y")
                time.sleep(0.1)
        sessions = len(socks)
        bound = baseline + sessions * PER_SESSION_ALLOWANCE + RSS_SLACK
        assert_rss_within(sampler.peak, bound, (sampler.peak / 2**20, baseline / 2**20, sessions))
        assert greeting_code(server.port, harness.OTHER_SOURCES[35]) == 220
    finally:
        close_all(socks)
