#!/usr/bin/env python3
"""Memory per hostile session, measured from /proc (issue: hostile clients).

Starts build/etrnd (or $ETRND_BIN), then for each N given on the command line
(default 1 8 32): N clients send EHLO then HELP in a loop for 3 s without
ever reading; prints the RSS before, the peak while they push, the peak
per session over the base, and the RSS after they closed. Then one client
that does read floods pipelined ETRNs for 3 s. A warm-up round of the same
attack runs first so the allocator's arenas exist before the base is read.

    python3 perf/e2e/hostile_memory.py 1 8 32
"""

import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
import harness  # noqa: E402
from test_hostile_clients import (RssSampler, close_all, non_reading_flood,  # noqa: E402
                                  rss_bytes, send_for)


def etrn_flood(port, seconds):
    sock = harness.connect(port, source=harness.OTHER_SOURCES[1])
    sock.sendall(b"EHLO flood.test\r\n")
    stop = threading.Event()

    def reader():
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                if not sock.recv(1 << 16):
                    return
            except OSError:
                if stop.is_set():
                    return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    send_for(sock, b"ETRN example.com\r\n" * 2048, seconds)
    stop.set()
    t.join(5)
    sock.close()


def main():
    counts = [int(x) for x in sys.argv[1:]] or [1, 8, 32]
    server = harness.Etrnd(tempfile.mkdtemp(), flags=["--max_connections_per_ip=1000",
                                                      "--log_level=warning"])
    server.start()
    pid = server.proc.pid
    try:
        for n in counts:
            socks, _ = non_reading_flood(server.port, n, 2)
            close_all(socks)
            time.sleep(1.5)
            base = rss_bytes(pid)
            with RssSampler(pid) as sampler:
                socks, totals = non_reading_flood(server.port, n, 3)
                time.sleep(0.3)
            close_all(socks)
            time.sleep(1.5)
            print("non-reading HELP x%-3d base %6.1f MiB  peak %6.1f MiB  per session %4.0f KiB"
                  "  after close %6.1f MiB  (clients pushed %d MB)" %
                  (n, base / 2**20, sampler.peak / 2**20, (sampler.peak - base) / n / 1024,
                   rss_bytes(pid) / 2**20, sum(totals) // 10**6))
        etrn_flood(server.port, 2)
        time.sleep(1.5)
        base = rss_bytes(pid)
        with RssSampler(pid) as sampler:
            etrn_flood(server.port, 3)
        time.sleep(1.5)
        print("pipelined ETRN (reading) base %6.1f MiB  peak %6.1f MiB  (+%.0f KiB)  after %6.1f MiB" %
              (base / 2**20, sampler.peak / 2**20, (sampler.peak - base) / 1024,
               rss_bytes(pid) / 2**20))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
