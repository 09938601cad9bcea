#!/usr/bin/env python3
"""ETRN with several nodes (--peers): what a customer's reply costs, and how
soon every node's flush starts.

For each layout, starts the nodes (etrnd, --threads=1 each, all on
127.0.0.1, each naming the others in --peers) and measures, from a customer
address (127.0.0.9) that is not a peer:
  1. ETRN reply time at node 0 over one session, ETRNS_PER_LAYOUT times
     (median, p99, max). The reply waits for the peers whose link is up, at
     most --peer_timeout (50 ms); a dead peer adds nothing.
  2. The time from sending one ETRN at node 0 until the last node logs the
     start of its flush ("flush cust.test: N messages"), over FLUSH_TRIALS
     trials with one fresh message queued at every live node each time
     (log timestamps have millisecond resolution).

Layouts: 0 peers; 2 live peers; 4 peers of which 1 is dead (a port nobody
listens on); 4 peers of which 1 is a black hole (accepts, never answers).

Usage: ETRND_BIN=build/etrnd BLASTER_BIN=build/smtp-blaster perf/e2e/peer_etrn.py
"""

import datetime
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ETRND = os.environ.get("ETRND_BIN", "build/etrnd")
BLASTER = os.environ.get("BLASTER_BIN", "build/smtp-blaster")
ETRNS_PER_LAYOUT = int(os.environ.get("PEER_ETRN_COUNT", "400"))
FLUSH_TRIALS = int(os.environ.get("PEER_FLUSH_TRIALS", "20"))
CUSTOMER = "127.0.0.9"
START_TIMEOUT_S = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    def __init__(self, port, source=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0) if source else None)
        self.file = self.sock.makefile("rb")
        self.reply()
        self.cmd("EHLO perf.test")

    def reply(self):
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("closed")
            if line[3:4] != b"-":
                return line.decode().rstrip()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.sock.close()


def wait_greeting(port, proc):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("etrnd exited")
        try:
            Session(port).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("no greeting on %d" % port)


def queue_one(port):
    s = Session(port)
    assert s.cmd("MAIL FROM:<s@x.test>").startswith("250")
    assert s.cmd("RCPT TO:<u@cust.test>").startswith("250")
    assert s.cmd("DATA").startswith("354")
    assert s.cmd("Subject: peer perf\r\n\r\nbody\r\n.").startswith("250")
    s.close()


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*flush cust\.test: \d+ messages")


def flush_starts(log_path):
    """Wall-clock times (s) of the flush-start lines in a node's log."""
    out = []
    for line in pathlib.Path(log_path).read_text(errors="replace").splitlines():
        m = LOG_TS.match(line)
        if m:
            ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            out.append(ts.replace(tzinfo=datetime.timezone.utc).timestamp())
    return out


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def run_layout(workdir, live_peers, extra_peer):
    """extra_peer: None, "dead" or "blackhole"."""
    sink_port = free_port()
    sink = subprocess.Popen([BLASTER, "--sink", "--listen=127.0.0.1:%d" % sink_port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hole = None
    extra = []
    if extra_peer == "dead":
        extra = ["127.0.0.1:%d" % free_port()]
    elif extra_peer == "blackhole":
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        extra = ["127.0.0.1:%d" % hole.getsockname()[1]]
    ports = []
    while len(ports) < live_peers + 1:
        p = free_port()
        if p not in ports:
            ports.append(p)
    procs, logs = [], []
    try:
        for i, port in enumerate(ports):
            d = pathlib.Path(workdir) / ("node%d" % i)
            d.mkdir(parents=True)
            (d / "domains.conf").write_text("cust.test 127.0.0.1:%d hold\n" % sink_port)
            peers = ["127.0.0.1:%d" % p for p in ports if p != port] + (extra if i == 0 else [])
            argv = [ETRND, "--listen=127.0.0.1:%d" % port, "--spool_dir=%s" % (d / "spool"),
                    "--domains_file=%s" % (d / "domains.conf"), "--threads=1",
                    "--hostname=node%d.test" % i, "--etrn_rate=1000000", "--etrn_burst=1000000",
                    "--peer_from=127.0.0.1/32", "--fsync=false"]
            if peers:
                argv.append("--peers=" + ",".join(peers))
            log = d / "etrnd.log"
            logs.append(log)
            procs.append(subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT))
        for port, proc in zip(ports, procs):
            wait_greeting(port, proc)
        time.sleep(1.5)  # links up (first retries are 100-400 ms apart)

        s = Session(ports[0], source=CUSTOMER)
        times = []
        for _ in range(ETRNS_PER_LAYOUT):
            began = time.perf_counter()
            reply = s.cmd("ETRN cust.test")
            times.append((time.perf_counter() - began) * 1000)
            assert reply[:3] in ("250", "251", "253"), reply
        s.close()

        lags = []
        s = Session(ports[0], source=CUSTOMER)
        for _ in range(FLUSH_TRIALS):
            for port in ports:
                queue_one(port)
            before = [len(flush_starts(log)) for log in logs]
            sent_at = time.time()
            reply = s.cmd("ETRN cust.test")
            assert reply.startswith("253 2.0.0 OK, %d pending" % len(ports)), reply
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                starts = [flush_starts(log) for log in logs]
                if all(len(st) > b for st, b in zip(starts, before)):
                    break
                time.sleep(0.02)
            last = max(st[b] for st, b in zip(starts, before))
            lags.append(max(0.0, (last - sent_at) * 1000))
            time.sleep(0.2)  # the flushes finish (sink accepts at once)
        s.close()
        return times, lags
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
        sink.terminate()
        sink.wait(timeout=10)
        if hole is not None:
            hole.close()


def main():
    layouts = [("0 peers", 0, None), ("2 peers", 2, None),
               ("4 peers (1 dead port)", 3, "dead"), ("4 peers (1 black hole)", 3, "blackhole")]
    print("%-24s %8s %8s %8s %8s | %s" % ("layout", "median", "p99", "max", "n",
                                           "last node's flush starts after (ms): median / max"))
    for name, live, extra in layouts:
        workdir = tempfile.mkdtemp(prefix="peer_etrn_")
        try:
            times, lags = run_layout(workdir, live, extra)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("%-24s %6.3fms %6.3fms %6.3fms %8d | %.0f / %.0f" % (
            name, statistics.median(times), percentile(times, 99), max(times), len(times),
            statistics.median(lags), max(lags)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
