#!/usr/bin/env python3
"""Loop turns of the owner core while one domain's big flush runs.

spool-gen writes --messages messages for big.test (and nothing else); etrnd
(--threads=2 --fsync=false --log_turns_over=1ms) starts on a fresh copy, one
smtplib session sends ETRN big.test and then NOOPs every 5 ms. Two cases:

  sink    big.test goes to Postfix's smtp-sink: the whole flush is timed
          (ETRN to the last delivery, polled with etrnctl) and NOOPs run
          until it is over.
  refuse  big.test's next hop refuses connections: --etrns ETRNs 200 ms
          apart, each starting a flush that sets up, fails and defers.

Per run: ETRN and NOOP latency, each core's loop-turn histogram (printed by
etrnd at exit), its longest turn and the turns over 1 ms with their phase
breakdown. Several binaries run side by side, alternating (--etrnd A --etrnd
B), so old and new code meet the same machine load.

  perf/e2e/flush_turns.py [--case sink|refuse] [--messages 100000] [--runs 2]
      [--etrnd build/etrnd ...]
"""

import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time

from scale_lib import BUILD, free_port, loadavg, percentile, wait_port


def start_etrnd(binary, tmp, spool, table):
    domains = os.path.join(tmp, "domains.conf")
    with open(domains, "w") as f:
        f.write(table)
    port = free_port()
    log_path = os.path.join(tmp, "etrnd.log")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [binary, f"--listen=127.0.0.1:{port}", f"--spool_dir={spool}",
         f"--domains_file={domains}", "--threads=2", "--fsync=false",
         "--hostname=turns.e2e.test", "--etrn_rate=1000", "--etrn_burst=1000",
         "--log_turns_over=1ms"],
        stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, limit_s=120)
    return process, port, log, log_path


def delivered(spool):
    out = subprocess.run([os.path.join(BUILD, "etrnctl"), "--spool_dir", spool, "--json",
                          "stats"], capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)["total"]["deliveries_delivered"]


def one_run(binary, pristine, case, args):
    tmp = tempfile.mkdtemp(prefix="flush-turns-")
    sink = None
    try:
        spool = os.path.join(tmp, "spool")
        shutil.copytree(pristine, spool)
        if case == "sink":
            sink_port = free_port()
            sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody", "-c",
                                     f"127.0.0.1:{sink_port}", "1000"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(sink_port)
        else:
            sink_port = free_port()  # nothing listens there
        table = f"big.test 127.0.0.1:{sink_port} hold\n"
        process, port, log, log_path = start_etrnd(binary, tmp, spool, table)
        client = smtplib.SMTP("127.0.0.1", port, timeout=60)
        client.ehlo("turns.e2e.test")
        etrn_us, noop_us = [], []
        started = time.monotonic()
        flush_s = None
        rounds = 1 if case == "sink" else args.etrns
        for _ in range(rounds):
            t0 = time.perf_counter()
            client.docmd("ETRN", "big.test")
            etrn_us.append((time.perf_counter() - t0) * 1e6)
            until = time.monotonic() + (args.limit if case == "sink" else 0.2)
            next_poll = time.monotonic() + 0.5
            while time.monotonic() < until:
                t0 = time.perf_counter()
                client.docmd("NOOP")
                noop_us.append((time.perf_counter() - t0) * 1e6)
                time.sleep(0.005)
                if case == "sink" and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + 0.5
                    if delivered(spool) >= args.messages:
                        flush_s = time.monotonic() - started
                        break
        client.quit()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
        text = open(log_path).read()
        cores = {int(c): (int(n), ms(longest), rest) for c, n, longest, rest in re.findall(
            r"core (\d+): (\d+) loop turns, longest (\S+); (.*)", text)}
        slow = re.findall(r"core (\d+): loop turn of (\S+) \(over [^)]*\): (.*)", text)
        return {"etrn_us": etrn_us, "noop_us": noop_us, "cores": cores, "slow": slow,
                "flush_s": flush_s}
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def ms(text):
    value = float(re.match(r"[0-9.]+", text).group(0))
    unit = text[len(re.match(r"[0-9.]+", text).group(0)):]
    return value * {"s": 1e3, "ms": 1.0, "us": 1e-3, "ns": 1e-6}.get(unit, 1.0)


def over_1ms(histogram):
    """Turns counted in the buckets above 1 ms of an exit histogram line."""
    total = 0
    for bound, count in re.findall(r"(<=\S+|more): (\d+)", histogram):
        if bound == "more" or ms(bound[2:]) > 1.0:
            total += int(count)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", choices=["sink", "refuse"], default="sink")
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--etrns", type=int, default=30, help="refuse case: ETRNs sent")
    p.add_argument("--limit", type=float, default=120, help="sink case: longest wait (s)")
    p.add_argument("--etrnd", action="append", help="binary (repeat to compare)")
    p.add_argument("--spools", default=tempfile.gettempdir())
    args = p.parse_args()
    binaries = args.etrnd or [os.path.join(BUILD, "etrnd")]
    pristine = os.path.join(args.spools, f"flush-turns-{args.messages}")
    if not os.path.exists(os.path.join(pristine, ".done")):
        shutil.rmtree(pristine, ignore_errors=True)
        subprocess.run([os.path.join(BUILD, "spool-gen"), f"--spool_dir={pristine}",
                        f"--messages={args.messages}", "--domains=1",
                        f"--big=big.test:{args.messages}", "--cores=2"],
                       check=True, stdout=subprocess.DEVNULL)
        open(os.path.join(pristine, ".done"), "w").close()
    for run in range(args.runs):
        for binary in binaries:
            r = one_run(binary, pristine, args.case, args)
            flush = f"; flush {r['flush_s']:.1f} s" if r["flush_s"] else ""
            cores = "; ".join(
                f"core {c}: {turns} turns, longest {longest:.2f} ms, {over_1ms(hist)} over 1 ms"
                for c, (turns, longest, hist) in sorted(r["cores"].items()))
            print(f"run {run} {binary}: ETRN p50 {percentile(r['etrn_us'], 0.5):.0f} us; "
                  f"NOOP p50 {percentile(r['noop_us'], 0.5):.0f} "
                  f"p99 {percentile(r['noop_us'], 0.99):.0f} us{flush}; {cores}; "
                  f"load {loadavg()}", flush=True)
            for slow_core, length, phases in r["slow"][:5]:
                print(f"    core {slow_core} turn {length}: {phases}")


if __name__ == "__main__":
    main()
