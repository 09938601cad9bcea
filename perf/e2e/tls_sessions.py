#!/usr/bin/env python3
"""Memory and set-up time of TLS sessions against plain ones.

Starts etrnd (--threads=1) with a certificate made by `openssl` (EC P-256),
opens N sessions in clear (greeting + EHLO), measures etrnd's RSS growth,
closes them, then N sessions after STARTTLS (handshake + second EHLO,
Python's ssl as the client), and prints KiB per session and ms per set-up
(client side included, sequential).

Usage: ETRND_BIN=build/etrnd perf/e2e/tls_sessions.py [N=500]
"""

import pathlib
import shutil
import ssl
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "integration"))
import harness  # noqa: E402
import tls_helpers  # noqa: E402

SETTLE_S = 0.5


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    work = pathlib.Path(tempfile.mkdtemp(prefix="etrnd-tls-perf-"))
    pki = tls_helpers.TestPki(work / "pki")
    cert = pki.issue("mx.test", sans=("DNS:mx.test",), stem="server")
    srv = harness.Etrnd(work / "srv", flags=tls_helpers.tls_flags(cert) + [
        "--threads=1", "--max_connections_per_ip=%d" % (count + 10)])
    srv.start()
    context = ssl.create_default_context(cafile=str(pki.ca_cert))

    def session(tls):
        c = harness.RawSmtp(srv.port)
        c.greet()
        if tls:
            assert c.cmd("STARTTLS").code == 220
            c.sock = context.wrap_socket(c.sock, server_hostname="mx.test")
            assert c.cmd("EHLO client.test").code == 250
        return c

    try:
        for tls in (False, True):
            time.sleep(SETTLE_S)
            base = rss_kib(srv.proc.pid)
            started = time.monotonic()
            sessions = [session(tls) for _ in range(count)]
            elapsed = time.monotonic() - started
            time.sleep(SETTLE_S)
            grown = rss_kib(srv.proc.pid) - base
            print("%-5s %d sessions: RSS +%d KiB (%.1f KiB/session), %.2f ms/session set-up" %
                  ("TLS" if tls else "plain", count, grown, grown / count,
                   elapsed * 1000 / count))
            for c in sessions:
                c.close()
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
