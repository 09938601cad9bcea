#!/usr/bin/env python3
"""Many failing flushes at once (issue 13), old and new etrnd side by side.

A spool made by spool-gen --parent holds --domains held subdomains
c<k>.parent.test (--per-domain messages each); the table sends
.parent.test to a port where nothing listens. etrnd (--threads=2) starts on
a fresh copy; one session sends NOOP every 2 ms, another sends
`ETRN @parent.test`. The storm lasts from the ETRN to the last "flush ...
done" line (--log_rate_max=0, so none is dropped). Reported per run: NOOP
p50/p99/max during the storm, the storm's length, the longest loop turn of
each core (exit histogram). Runs alternate between the binaries; medians of
--runs per binary.

  perf/e2e/failing_flushes.py --bin old=/path/to/old/etrnd --bin new=build/etrnd \\
      [--runs 3] [--domains 20000] [--per-domain 3] [--next-hop refusing|sink]

With --next-hop sink the subdomains' mail goes to Postfix's smtp-sink
instead (many flushes at once that all deliver; root needed for -u nobody).
"""

import argparse
import os
import re
import shutil
import smtplib
import statistics
import sys
import tempfile
import threading
import time

from scale_lib import BUILD, Server, duration_ms, free_port, loadavg, percentile, wait_port

DONE = re.compile(r"^(\S+) INFO \[t\d\] flush c\d+\.parent\.test done in", re.M)


def generate(spool, domains, per_domain):
    import subprocess
    marker = os.path.join(spool, ".spool-gen")
    stamp = f"parent {domains} {per_domain}\n"
    if os.path.exists(marker) and open(marker).read() == stamp:
        return
    shutil.rmtree(spool, ignore_errors=True)
    subprocess.run([os.path.join(BUILD, "spool-gen"), f"--spool_dir={spool}",
                    f"--messages={domains * per_domain}", f"--domains={domains}",
                    "--parent=parent.test", "--cores=2"], check=True, stdout=subprocess.DEVNULL)
    with open(marker, "w") as f:
        f.write(stamp)


def turns_over_1ms(log):
    """Turns over 1 ms on all cores, from the exit histograms' buckets."""
    over = 0
    for line in re.findall(r"core \d+: \d+ loop turns, longest \S+; (.*)", log):
        for bound, count in re.findall(r"<=(\S+?): (\d+)", line):
            if duration_ms(bound) > 1.0:
                over += int(count)
        over += sum(int(c) for c in re.findall(r"more: (\d+)", line))
    return over


def log_time(stamp):
    # 2026-12-04T21:15:15.775Z -> seconds since the epoch
    import calendar
    date, clock = stamp.rstrip("Z").split("T")
    whole, frac = clock.split(".")
    t = calendar.timegm(time.strptime(f"{date} {whole}", "%Y-%m-%d %H:%M:%S"))
    return t + float("0." + frac)


def one_run(binary, pristine, domains, next_hop):
    tmp = tempfile.mkdtemp(prefix="failing-flushes-")
    sink = None
    try:
        spool = os.path.join(tmp, "spool")
        shutil.copytree(pristine, spool)
        port = free_port()
        if next_hop == "sink":
            import subprocess
            sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody", "-c",
                                     f"127.0.0.1:{port}", "1000"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port)
        table = f".parent.test 127.0.0.1:{port} hold\n"
        server = Server(tmp, spool, table, flags=["--log_rate_max=0"], binary=binary).start()
        samples, stop = [], threading.Event()

        def timer():
            client = smtplib.SMTP("127.0.0.1", server.port, timeout=120)
            client.ehlo("timer.e2e.test")
            while not stop.is_set():
                t0 = time.time()
                client.docmd("NOOP")
                samples.append((t0, (time.time() - t0) * 1e3))
                time.sleep(0.002)
            client.quit()

        thread = threading.Thread(target=timer)
        thread.start()
        time.sleep(1.0)
        client = smtplib.SMTP("127.0.0.1", server.port, timeout=120)
        client.ehlo("customer.e2e.test")
        etrn_at = time.time()
        code, _ = client.docmd("ETRN", "@parent.test")
        assert code == 253, code
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if len(DONE.findall(open(server.log_path).read())) >= domains:
                break
            time.sleep(0.2)
        stop.set()
        thread.join()
        client.quit()
        done_times = [log_time(s) for s in DONE.findall(open(server.log_path).read())]
        assert len(done_times) >= domains, len(done_times)
        storm_end = max(done_times)
        storm = [ms for t, ms in samples if etrn_at <= t <= storm_end]
        idle = [ms for t, ms in samples if t < etrn_at]
        cores, slow = server.stop()
        over_1ms = turns_over_1ms(open(server.log_path).read())
        return {"storm_s": storm_end - etrn_at, "n": len(storm),
                "idle_p50": percentile(idle, 0.5),
                "p50": percentile(storm, 0.5), "p99": percentile(storm, 0.99),
                "max": max(storm) if storm else float("nan"),
                "turn_max": max(ms for _, ms in cores.values()), "slow": slow, "over_1ms": over_1ms}
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append", required=True, help="NAME=PATH of an etrnd")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--domains", type=int, default=20000)
    parser.add_argument("--per-domain", type=int, default=3)
    parser.add_argument("--spool-cache", default="/tmp/failing-flushes-spool")
    parser.add_argument("--next-hop", choices=["refusing", "sink"], default="refusing")
    args = parser.parse_args()
    bins = [b.split("=", 1) for b in args.bin]
    generate(args.spool_cache, args.domains, args.per_domain)
    print(f"load before: {loadavg()}", flush=True)
    results = {name: [] for name, _ in bins}
    for run in range(args.runs):
        for name, path in bins:
            r = one_run(path, args.spool_cache, args.domains, args.next_hop)
            results[name].append(r)
            print(f"run {run + 1} {name}: storm {r['storm_s']:.2f} s, NOOP n={r['n']} "
                  f"idle p50 {r['idle_p50']:.2f} ms, storm p50 {r['p50']:.2f} ms "
                  f"p99 {r['p99']:.2f} ms max {r['max']:.2f} ms; longest turn "
                  f"{r['turn_max']:.2f} ms, {r['over_1ms']} turns over 1 ms; load {loadavg()}",
                  flush=True)
    print(f"\nmedians of {args.runs} ({args.domains} subdomains x {args.per_domain} messages, "
          f"next hop {args.next_hop}); load after: {loadavg()}")
    print("| binary | storm (s) | NOOP p50 (ms) | NOOP p99 (ms) | NOOP max (ms) | longest turn (ms) | turns > 1 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in bins:
        rs = results[name]
        med = lambda key: statistics.median(r[key] for r in rs)  # noqa: E731
        print(f"| {name} | {med('storm_s'):.2f} | {med('p50'):.2f} | {med('p99'):.2f} | "
              f"{med('max'):.2f} | {med('turn_max'):.2f} | {med('over_1ms'):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
