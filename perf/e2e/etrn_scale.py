#!/usr/bin/env python3
"""ETRN reply latency at 1e4, 1e6 and 1e7 queued messages, NOOP on the same
session as the baseline; etrnd started on a spool made by spool-gen.

Each spool: --big domains b<n>.test holding n messages for every n = 1, 10,
... up to 1e5 (fewer at small sizes), the rest spread round-robin over
d<k>.test (1e3 domains at 1e4, 1e5 domains above). Every domain is in the
table as `.test 127.0.0.1:<closed> hold`: ETRN answers from the counts and
starts a flush that fails to connect, so the queue keeps its size.

One SMTP session alternates NOOP and ETRN; each ETRN probes a size class
chosen uniformly (b1 ... b100000, or a random d<k>), the same seeded
sequence at every size. Prints per size: start-up time, NOOP and ETRN p50 /
p99, p99 per probe class, and the longest loop turn per core.

  perf/e2e/etrn_scale.py [--sizes 10000,1000000,10000000] [--etrns 4000]
      [--spools /work/p4data] [--json out.json]
"""

import argparse
import json
import random
import smtplib
import statistics
import tempfile
import time

from scale_lib import Server, generate, loadavg, percentile, turns_text


def big_domains(messages):
    sizes = [n for n in (1, 10, 100, 1000, 10000, 100000) if n * 2 <= messages]
    return sizes, ",".join(f"b{n}.test:{n}" for n in sizes)


def measure(port, probes, seed):
    rng = random.Random(seed)
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    client.ehlo("scale.e2e.test")
    noop_us, etrn_us, by_class, codes = [], [], {}, {}
    warmup = 100
    for i in range(len(probes) + warmup):
        t0 = time.perf_counter()
        client.docmd("NOOP")
        noop = (time.perf_counter() - t0) * 1e6
        cls, domain = probes[i % len(probes)] if i >= warmup else probes[rng.randrange(len(probes))]
        t0 = time.perf_counter()
        code, _ = client.docmd("ETRN", domain)
        etrn = (time.perf_counter() - t0) * 1e6
        if i < warmup:
            continue
        noop_us.append(noop)
        etrn_us.append(etrn)
        by_class.setdefault(cls, []).append(etrn)
        codes[code] = codes.get(code, 0) + 1
    client.quit()
    return noop_us, etrn_us, by_class, codes


def one_size(args, size, domains, spool, gen_s, probes, binary):
    with tempfile.TemporaryDirectory(prefix="etrn-scale-") as tmp:
        server = Server(tmp, spool, ".test 127.0.0.1:9 hold\n", args.flag, binary=binary).start()
        try:
            noop, etrn, by_class, codes = measure(server.port, probes, args.seed)
        finally:
            turns = server.stop()
    row = {"queued": size, "domains": domains, "generate_s": gen_s,
           "start_s": server.start_s, "noop_p50": percentile(noop, 0.5),
           "noop_p99": percentile(noop, 0.99), "etrn_p50": percentile(etrn, 0.5),
           "etrn_p99": percentile(etrn, 0.99),
           "etrn_p99_by_class": {c: percentile(v, 0.99) for c, v in by_class.items()},
           "codes": codes, "turns": turns, "load": loadavg(), "etrnd": binary}
    print(f"{size:>9} queued ({domains} domains): start {server.start_s:.1f} s; "
          f"NOOP p50 {row['noop_p50']:.0f} p99 {row['noop_p99']:.0f} us; "
          f"ETRN p50 {row['etrn_p50']:.0f} p99 {row['etrn_p99']:.0f} us; codes {codes}; "
          f"load {row['load']}", flush=True)
    print("    ETRN p99 by class: " + ", ".join(
        f"{c} {v:.0f}" for c, v in sorted(row["etrn_p99_by_class"].items())))
    print("    loop turns: " + turns_text(turns), flush=True)
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10000,1000000,10000000")
    p.add_argument("--etrns", type=int, default=4000)
    p.add_argument("--spools", default="/work/p4data")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--flag", action="append", default=[], help="extra etrnd flag")
    p.add_argument("--etrnd", action="append",
                   help="etrnd binary (repeat to compare, alternating; default build/etrnd)")
    p.add_argument("--runs", type=int, default=1,
                   help="runs per size and binary (the one session lands on either core)")
    p.add_argument("--json")
    args = p.parse_args()
    results = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        domains = 1000 if size <= 10000 else 100000
        sizes, big = big_domains(size)
        spool = f"{args.spools}/etrn-scale-{size}"
        gen_s = generate(spool, size, domains, big)
        rng = random.Random(args.seed)
        classes = [f"b{n}" for n in sizes] + ["d"]
        probes = []
        for _ in range(args.etrns):
            cls = rng.choice(classes)
            probes.append((cls, f"{cls}.test" if cls != "d" else f"d{rng.randrange(domains)}.test"))
        for run in range(args.runs):
            for binary in args.etrnd or [None]:
                row = one_size(args, size, domains, spool, gen_s, probes, binary)
                results.append(row)
                if args.etrnd:
                    print(f"    [run {run}, {binary}]")
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"growth {first['queued']} -> {last['queued']}: ETRN p99 x"
              f"{last['etrn_p99'] / first['etrn_p99']:.2f}, p50 x"
              f"{last['etrn_p50'] / first['etrn_p50']:.2f}; ETRN p99 - NOOP p99 at the largest: "
              f"{last['etrn_p99'] - last['noop_p99']:.0f} us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
