#!/usr/bin/env python3
"""Restart recovery at scale: wall time from exec to the 220 greeting and
peak RSS (VmHWM) of etrnd on a spool made by spool-gen.

  perf/e2e/recovery_time.py --spool DIR [--etrnd build/etrnd] [--threads 2]
      [--drop-caches] [--runs 3] [--expect N]

The spool must be a copy you can lose: recovery deletes and compacts (with
no completions it changes nothing). With --drop-caches (root) the page cache
is dropped before each run (cold start). --expect N: checks that
`etrnctl stats` counts N queued messages after the start.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def greeting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            return c.recv(512).startswith(b"220")
    except OSError:
        return False


def vm_hwm_mib(pid, field="VmHWM:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def one_run(args, tmp):
    if args.drop_caches:
        drop_caches()
    port = free_port()
    domains = os.path.join(tmp, "domains.conf")
    with open(domains, "w") as f:
        f.write(".test 127.0.0.1:9 hold\n")
    log_path = os.path.join(tmp, "etrnd.log")
    log = open(log_path, "w")
    start = time.monotonic()
    proc = subprocess.Popen(
        [args.etrnd, f"--listen=127.0.0.1:{port}", f"--spool_dir={args.spool}",
         f"--domains_file={domains}", f"--threads={args.threads}", "--hostname=r.test"]
        + args.flag, stdout=log, stderr=subprocess.STDOUT)
    try:
        while not greeting(port):
            if proc.poll() is not None:
                raise RuntimeError("etrnd exited: " + open(log_path).read()[-2000:])
            time.sleep(0.02)
        wall = time.monotonic() - start
        hwm = vm_hwm_mib(proc.pid)
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        time.sleep(2)  # the recovery result is given back once every core has its shard
        rss = vm_hwm_mib(proc.pid, "VmRSS:")
        counted = None
        if args.expect is not None:
            out = subprocess.run([args.etrnctl, "--spool_dir", args.spool, "--json", "stats"],
                                 capture_output=True, text=True, timeout=600).stdout
            counted = json.loads(out)["total"]["queued_messages"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    recovered = [l for l in open(log_path) if "spool: recovered" in l]
    return {"wall_s": wall, "cpu_s": cpu, "vm_hwm_mib": hwm, "vm_rss_mib": rss, "counted": counted,
            "recovery_log": recovered[0].strip() if recovered else ""}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spool", required=True)
    p.add_argument("--etrnd", default=os.path.join(REPO, "build", "etrnd"))
    p.add_argument("--etrnctl", default=os.path.join(REPO, "build", "etrnctl"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--drop-caches", action="store_true")
    p.add_argument("--expect", type=int)
    p.add_argument("--flag", action="append", default=[], help="extra etrnd flag")
    args = p.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="recovery-") as tmp:
        for i in range(args.runs):
            r = one_run(args, tmp)
            print(f"run {i}: {r['wall_s']:.2f} s to greeting ({r['cpu_s']:.1f} s CPU), VmHWM {r['vm_hwm_mib']:.0f} MiB, "
              f"VmRSS {r['vm_rss_mib']:.0f} MiB 2 s later"
                  + (f", {r['counted']} messages queued" if r["counted"] is not None else ""),
                  flush=True)
            print("   ", r["recovery_log"])
            if args.expect is not None and r["counted"] != args.expect:
                print(f"  ! expected {args.expect} messages", file=sys.stderr)
            runs.append(r)
    print(f"median: {statistics.median(r['wall_s'] for r in runs):.2f} s "
          f"({statistics.median(r['cpu_s'] for r in runs):.1f} s CPU), "
          f"VmHWM {statistics.median(r['vm_hwm_mib'] for r in runs):.0f} MiB "
          f"({'cold' if args.drop_caches else 'warm'} page cache); "
          f"load {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
