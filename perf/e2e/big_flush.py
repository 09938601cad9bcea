#!/usr/bin/env python3
"""A big customer's flush under load, and the cold-cache flush rate.

A spool made by spool-gen holds --big messages (2e5) for big.test plus
--others spread over d<k>.test. etrnd starts on a fresh copy of it; the
table sends big.test to Postfix's smtp-sink and holds every other .test
domain behind a closed port. Then, side by side in one invocation:

  baseline  smtp-blaster sends --rate msg/s of 1 KiB to o<k>.test for
            --duration s while a client alternates NOOP and ETRN d<k>.test
            on one session (every --etrn-interval s); no flush.
  cold      the same, plus: page cache dropped (sync; drop_caches) after
            etrnd started, then ETRN big.test (timed) at --flush-at s.
  warm      the same as cold, without dropping the page cache.
  hog       the same as baseline, plus: from --flush-at s, processes that
            only burn --hog-cpus CPUs (duty cycle per 1 ms) and do no I/O.
            Set it to a warm run's extra busy CPUs: if the clients' tail
            then grows as much as with the flush, it is the CPUs the flush
            takes, not how etrnd runs it.
  neighbor  the same as warm, but the flush runs in a second etrnd (its own
            copy of the spool, the same table and flags, its own NOOP/ETRN
            client so its deliveries are paced alike), not in the one the
            clients talk to: what the flush costs them through the machine
            (CPUs, next hop, disk) against what it costs inside the server.

Reported per run: ingest p99 (smtp-blaster), ETRN and NOOP p99, the big
domain's ETRN latency, the flush's duration and rate (ETRN to the last
delivery, polled from `etrnctl stats`), the longest loop turn per core. Root is needed for
drop_caches and smtp-sink (-u nobody).

  perf/e2e/big_flush.py [--runs 1] [--big 200000] [--rate 2000] [--duration 20]
      [--etrnd old/etrnd --etrnd build/etrnd | --variant LABEL=FLAGS ...] [--sink-nice 19]
"""

import argparse
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import multiprocessing
import threading
import time
import urllib.request

# Forked before the script starts any thread of its own.
PROCESSES = multiprocessing.get_context("fork")

from scale_lib import (BUILD, Server, drop_caches, free_port, generate, loadavg, percentile,
                       turns_text, wait_port)


def etrn_timer(port, domains, interval, stop, results):
    """In a process of its own: the script's other threads (the flush
    watcher, the big domain's ETRN) would otherwise hold the GIL while a
    reply waits to be timed, and show as the server's latency."""
    samples = {"noop": [], "etrn": []}
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    client.ehlo("timer.e2e.test")
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        client.docmd("NOOP")
        samples["noop"].append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        client.docmd("ETRN", domains[i % len(domains)])
        samples["etrn"].append((time.perf_counter() - t0) * 1e6)
        i += 1
        time.sleep(interval)
    client.quit()
    results.put(samples)


def start_etrn_timer(port, domains, interval, stop):
    results = PROCESSES.Queue()
    process = PROCESSES.Process(target=etrn_timer, args=(port, domains, interval, stop, results))
    process.start()
    return process, results


def big_etrn(port, results):
    """The big domain's ETRN, timed in a process of its own (see etrn_timer)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
        c.ehlo("big.e2e.test")
        t0 = time.perf_counter()
        code, reply = c.docmd("ETRN", "big.test")
        results.put(((time.perf_counter() - t0) * 1e6, code, reply.decode()))


def metrics_lines(metrics_port):
    """The server's metrics endpoint, a line per sample."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()
    return text.decode().splitlines()


def delivered_by_metrics(metrics_port):
    for line in metrics_lines(metrics_port):
        if line.startswith('etrnd_deliveries_total{outcome="delivered"}'):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def watch_flush(server, metrics_port, how, big, started, out):
    """From the ETRN to the last delivery, by the server's counter (the "flush
    done" log line may be dropped by the log rate bound): from the metrics
    endpoint, read here, or from `etrnctl stats`, a process started every
    poll (--watch etrnctl: rounds 4 to 6 measured that way; the starts cost
    the clients' tail what a flush costs, see docs/PERFORMANCE.md)."""
    deadline = started + 600
    while time.monotonic() < deadline:
        if how == "etrnctl":
            delivered = json.loads(server.etrnctl("--json", "stats"))["total"]["deliveries_delivered"]
        else:
            delivered = delivered_by_metrics(metrics_port)
        if delivered >= big:
            out["s"], out["delivered"] = time.monotonic() - started, delivered
            return
        time.sleep(0.1)  # etrnctl costs ~2 % of the CPU at this rate


def commit_shares(metrics_port):
    """Server side: the share of DATA commits (final dot to reply) over 1 ms
    and over 2.5 ms, from etrnd_data_commit_seconds. Set against the client's
    ingest p99, it tells the server's own waiting from the machine's."""
    buckets = {}
    for line in metrics_lines(metrics_port):
        if line.startswith("etrnd_data_commit_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    total = buckets.get("+Inf", 0)
    if not total:
        return None, None
    return ((total - buckets.get("0.001", 0)) / total * 100,
            (total - buckets.get("0.0025", 0)) / total * 100)


HOG = """
import sys, time
duty = float(sys.argv[1])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < duty * 1e-3:
        pass
    time.sleep((1 - duty) * 1e-3)
"""


def start_hogs(cpus):
    """Processes that burn CPUS CPUs in total (each at most one), 1 ms periods."""
    hogs = []
    while cpus > 0.01:
        duty = min(cpus, 1.0)
        hogs.append(subprocess.Popen([sys.executable, "-c", HOG, str(duty)]))
        cpus -= duty
    return hogs


def busy_ticks():
    """(busy, total) clock ticks of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def runqueue_wait_s(pid):
    """Seconds the process's threads have waited on a run queue (ready to run,
    no CPU free): /proc/<pid>/task/*/schedstat, second field, in ns."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except OSError:
        pass
    return total / 1e9


def one_run(args, pristine, mode, binary, extra_flags):
    tmp = tempfile.mkdtemp(prefix="big-flush-")
    try:
        spool = os.path.join(tmp, "spool")
        shutil.copytree(pristine, spool)
        sink_port = free_port()
        sink = subprocess.Popen(["nice", "-n", str(args.sink_nice),
                                 "/usr/sbin/smtp-sink", "-u", "nobody", "-c",
                                 f"127.0.0.1:{sink_port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(sink_port)
        table = f"big.test 127.0.0.1:{sink_port} hold\n.test 127.0.0.1:9 hold\n"
        metrics_port = free_port()
        # The copies' dirty pages are written back now, not during the run.
        os.sync()
        server = Server(tmp, spool, table, binary=binary,
                        flags=args.flag + extra_flags + [f"--metrics_listen=127.0.0.1:{metrics_port}"]).start()
        if mode == "cold":
            drop_caches()
        stop = PROCESSES.Event()
        probes = [f"d{k}.test" for k in range(0, args.domains, max(1, args.domains // 500))]
        flusher, flusher_metrics_port, neighbor_timers = server, metrics_port, []
        if mode == "neighbor":
            neighbor_tmp = os.path.join(tmp, "neighbor")
            os.makedirs(neighbor_tmp)
            neighbor_spool = os.path.join(neighbor_tmp, "spool")
            shutil.copytree(pristine, neighbor_spool)
            os.sync()
            flusher_metrics_port = free_port()
            flusher = Server(neighbor_tmp, neighbor_spool, table, binary=binary,
                             flags=args.flag + extra_flags +
                             [f"--metrics_listen=127.0.0.1:{flusher_metrics_port}"]).start()
            # Sessions on every core, as the blaster's are on the other
            # server: delivery is paced per core, while its clients talk.
            neighbor_timers = [start_etrn_timer(flusher.port, probes, args.etrn_interval, stop)
                               for _ in range(4)]
        blaster = subprocess.Popen(
            [os.path.join(BUILD, "smtp-blaster"), f"--target=127.0.0.1:{server.port}",
             f"--connections={args.connections}", f"--rate={args.rate}",
             f"--duration={args.duration}s", "--size=1024", "--domains=1000",
             "--domain_pattern=o%d.test", "--json", "--progress=false"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        timer = start_etrn_timer(server.port, probes, args.etrn_interval, stop)
        waits_before = (runqueue_wait_s(blaster.pid), runqueue_wait_s(server.process.pid))
        started = time.monotonic()
        busy_before = busy_ticks()
        big_etrn_us, watcher, flush, hogs = None, None, {}, []
        if mode == "hog":
            time.sleep(args.flush_at)
            hogs = start_hogs(args.hog_cpus)
        elif mode != "baseline":
            time.sleep(args.flush_at)
            etrn_results = PROCESSES.Queue()
            etrn_process = PROCESSES.Process(target=big_etrn, args=(flusher.port, etrn_results))
            etrn_process.start()
            big_etrn_us, code, reply = etrn_results.get(timeout=60)
            etrn_process.join()
            watcher = threading.Thread(target=watch_flush,
                                       args=(flusher, flusher_metrics_port, args.watch,
                                             args.big, time.monotonic(), flush))
            watcher.start()
            print(f"    [{mode}] ETRN big.test: {code} {reply} in {big_etrn_us:.0f} us",
                  flush=True)
        # Sampled just before the blaster exits (its /proc entry goes with it).
        while blaster.poll() is None and time.monotonic() - started < args.duration - 0.5:
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        busy_after = busy_ticks()
        busy_cpus = ((busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
                     * os.cpu_count())
        for hog in hogs:
            hog.kill()
            hog.wait()
        waits = [(after - before) / elapsed * 1000 for before, after in zip(
            waits_before, (runqueue_wait_s(blaster.pid), runqueue_wait_s(server.process.pid)))]
        out, err = blaster.communicate(timeout=args.duration + 120)
        stop.set()
        samples = timer[1].get(timeout=60)
        timer[0].join()
        for process, results in neighbor_timers:
            results.get(timeout=60)
            process.join()
        if watcher is not None:
            watcher.join(timeout=600)
        flush_s, delivered = flush.get("s"), flush.get("delivered", 0)
        commits_over_1ms, commits_over_2500us = commit_shares(metrics_port)
        turns = server.stop()
        if flusher is not server:
            flusher.stop()
        sink.terminate()
        sink.wait()
        summary = [json.loads(l) for l in out.decode().splitlines() if l.startswith("{")][-1]
        row = {"mode": mode, "ingest_p50_us": summary["latency_us"]["p50"],
               "ingest_p99_us": summary["latency_us"]["p99"],
               "ingest_p90_us": summary["latency_us"]["p90"],
               "ingest_p999_us": summary["latency_us"]["p999"],
               "ingest_max_us": summary["latency_us"]["max"],
               "ingested": summary["messages_ok"], "ingest_failed": summary["messages_failed"],
               "etrn_p50_us": percentile(samples["etrn"], 0.5),
               "etrn_p99_us": percentile(samples["etrn"], 0.99),
               "noop_p99_us": percentile(samples["noop"], 0.99), "etrns": len(samples["etrn"]),
               "big_etrn_us": big_etrn_us, "flush_s": flush_s,
               "flush_rate": (delivered / flush_s) if flush_s else None,
               "commits_over_1ms_pct": commits_over_1ms,
               "runqueue_ms_per_s_blaster": waits[0], "runqueue_ms_per_s_etrnd": waits[1],
               "commits_over_2500us_pct": commits_over_2500us,
               "busy_cpus": busy_cpus, "turns": turns, "load": loadavg()}
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--big", type=int, default=200000)
    p.add_argument("--others", type=int, default=100000)
    p.add_argument("--domains", type=int, default=10000)
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--flush-at", type=float, default=3)
    p.add_argument("--etrn-interval", type=float, default=0.005)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--modes", default="baseline,cold,warm")
    p.add_argument("--spools", default="/work/p4data")
    p.add_argument("--flag", action="append", default=[], help="extra etrnd flag")
    p.add_argument("--etrnd", action="append",
                   help="etrnd binary (repeat to compare, alternating; default build/etrnd)")
    p.add_argument("--variant", action="append", default=[],
                   help="LABEL=FLAG[,FLAG...]: compare flag sets on one binary, alternating "
                        "(e.g. --variant half=--delivery_cpu_share_while_busy=50)")
    p.add_argument("--sink-nice", type=int, default=0,
                   help="run the next hop (smtp-sink) at this nice value; 19 approximates a "
                        "next hop on another machine (its CPU is not the clients')")
    p.add_argument("--hog-cpus", type=float, default=0.5,
                   help="mode hog: CPUs to burn from --flush-at on (e.g. 0.6)")
    p.add_argument("--watch", choices=["metrics", "etrnctl"], default="metrics",
                   help="how the flush's end is polled (every 100 ms)")
    p.add_argument("--json")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("root needed (drop_caches, smtp-sink -u nobody)")
    pristine = os.path.join(args.spools, f"big-flush-{args.big}")
    generate(pristine, args.big + args.others, args.domains, f"big.test:{args.big}")
    rows = []
    variants = [(b or "build/etrnd", b, []) for b in (args.etrnd or [None])]
    if args.variant:
        variants = [(v.split("=", 1)[0], variants[0][1], v.split("=", 1)[1].split(","))
                    for v in args.variant]
    for run in range(args.runs):
        for (label, binary, flags), mode in [(v, m) for v in variants
                                             for m in args.modes.split(",")]:
            row = one_run(args, pristine, mode, binary, flags)
            row["etrnd"] = label
            rows.append(row)
            if len(variants) > 1:
                print(f"[{label}]")
            flush = (f"flush {row['flush_s']:.2f} s = {row['flush_rate']:.0f} msg/s; "
                     if row["flush_s"] else "")
            big = f"big ETRN {row['big_etrn_us']:.0f} us; " if row["big_etrn_us"] else ""
            print(f"run {run} {mode:>8}: ingest p50 {row['ingest_p50_us']:.0f} p90 "
                  f"{row['ingest_p90_us']:.0f} p99 {row['ingest_p99_us']:.0f} p99.9 "
                  f"{row['ingest_p999_us']:.0f} max {row['ingest_max_us']:.0f} us "
                  f"({row['ingested']} ok, "
                  f"{row['ingest_failed']} failed); ETRN p50 {row['etrn_p50_us']:.0f} p99 "
                  f"{row['etrn_p99_us']:.0f} us, NOOP p99 {row['noop_p99_us']:.0f} us "
                  f"({row['etrns']}); {big}{flush}busy CPUs {row['busy_cpus']:.2f}; "
                  f"load {row['load']}", flush=True)
            print("    loop turns: " + turns_text(row["turns"]), flush=True)
            if row["commits_over_1ms_pct"] is not None:
                print(f"    server side: DATA commits over 1 ms {row['commits_over_1ms_pct']:.2f} %,"
                      f" over 2.5 ms {row['commits_over_2500us_pct']:.2f} %; waiting for a CPU:"
                      f" smtp-blaster {row['runqueue_ms_per_s_blaster']:.0f} ms/s, etrnd"
                      f" {row['runqueue_ms_per_s_etrnd']:.0f} ms/s (all threads)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
