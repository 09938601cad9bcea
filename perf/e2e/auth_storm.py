#!/usr/bin/env python3
"""SMTP AUTH cost and its effect on the reactors.

Starts etrnd (--threads=2) with one yescrypt user, then measures:
  1. sequential AUTH PLAIN latency (a fresh EHLO'd session each time), which
     is one crypt(3) on the verifier thread plus the round trips;
  2. NOOP round trips on one session, idle and while 8 clients loop AUTH
     PLAIN as fast as they can. crypt(3) runs on the single verifier thread,
     never on a reactor, so the NOOPs should stay near their idle time while
     AUTH throughput is bounded by one core's worth of yescrypt.

Usage: ETRND_BIN=build/etrnd perf/e2e/auth_storm.py
"""

import base64
import ctypes
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

ETRND = os.environ.get("ETRND_BIN", "build/etrnd")
PORT = int(os.environ.get("AUTH_STORM_PORT", "24567"))
STORM_CLIENTS = 8
NOOPS = 200


def yescrypt(password):
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    return crypt.crypt(password, libcrypt.crypt_gensalt(b"$y$", 0, None, 0).decode())


def session():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line
    reply()
    s.sendall(b"EHLO perf.test\r\n")
    reply()
    return s, reply


AUTH_LINE = b"AUTH PLAIN " + base64.b64encode(b"\0u\0pw") + b"\r\n"


def one_auth():
    s, reply = session()
    started = time.perf_counter()
    s.sendall(AUTH_LINE)
    line = reply()
    elapsed = time.perf_counter() - started
    s.close()
    assert line.startswith(b"235"), line
    return elapsed


def noop_rtts(n):
    s, reply = session()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        s.sendall(b"NOOP\r\n")
        reply()
        out.append(time.perf_counter() - started)
        time.sleep(0.005)
    s.close()
    return sorted(out)


def ms(sorted_values, fraction):
    return 1000 * sorted_values[int(fraction * (len(sorted_values) - 1))]


def main():
    work = tempfile.mkdtemp(prefix="auth_storm.")
    with open(os.path.join(work, "auth.conf"), "w") as f:
        f.write("u:%s\n" % yescrypt("pw"))
    with open(os.path.join(work, "domains.conf"), "w") as f:
        f.write("example.com 127.0.0.1:9 hold\n")
    proc = subprocess.Popen(
        [os.path.abspath(ETRND), "--listen=127.0.0.1:%d" % PORT, "--spool_dir=spool",
         "--domains_file=domains.conf", "--auth_file=auth.conf", "--threads=2",
         "--hostname=mx.test", "--log_level=warning"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                session()[0].close()
                break
            except OSError:
                time.sleep(0.05)
        sequential = sorted(one_auth() for _ in range(30))
        print("sequential AUTH PLAIN (yescrypt): p50 %.1f ms, max %.1f ms" %
              (1000 * statistics.median(sequential), 1000 * sequential[-1]))
        idle = noop_rtts(NOOPS)
        stop = threading.Event()
        done = [0]

        def storm():
            while not stop.is_set():
                one_auth()
                done[0] += 1
        threads = [threading.Thread(target=storm) for _ in range(STORM_CLIENTS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(0.5)
        loaded = noop_rtts(NOOPS)
        stop.set()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        print("NOOP round trip idle: p50 %.2f ms, p99 %.2f ms" % (ms(idle, .5), ms(idle, .99)))
        print("NOOP round trip during %d-client AUTH storm: p50 %.2f ms, p99 %.2f ms "
              "(%d AUTHs in %.1f s = %.0f/s)" %
              (STORM_CLIENTS, ms(loaded, .5), ms(loaded, .99), done[0], seconds,
               done[0] / seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
