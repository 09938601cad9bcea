#!/usr/bin/env python3
"""ETRN reply latency against queue size, etrnd and Postfix side by side.

For each queue size N: start the system with an empty queue, fill it with N
messages (built-in pipelining client, or smtp-blaster; --size bytes, recipients spread uniformly over
min(N, --domains) held domains d<k>.test), wait until the queue is quiet, then
send --etrns ETRN commands for random domains of that range (same sequence for
every system) on one SMTP session, timing each docmd() with
time.perf_counter(). NOOPs on the same session give the protocol round-trip
baseline. Both systems' next hop is a closed port, so an ETRN starts a
delivery attempt that fails and the queue keeps its size.

etrnd: `.test 127.0.0.1:<closed> hold`, --etrn_rate/--etrn_burst raised so
the per-client ETRN limiter does not answer 458 during the measurement.
Postfix: private instance (perf/e2e/lib.sh), defer_transports = hold,
fast_flush_domains = test, smtpd_junk_command_limit raised (ETRN counts as a
junk command; the default would slow the session down after 100).

Usage (root, for Postfix): perf/e2e/etrn_latency.py [--sizes 1000,10000,100000]
Prints one line per measurement and a summary table; --json FILE writes all.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIB = os.path.join(HERE, "lib.sh")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


class Lib:
    """Calls the shell helpers of lib.sh (no EXIT trap: we clean up here)."""

    def __init__(self, tmp):
        self.env = dict(os.environ, E2E_TMP=tmp)

    def run(self, *args, capture=False):
        command = ["bash", "-c", 'source "$0"; "$@"', LIB] + [str(a) for a in args]
        result = subprocess.run(command, env=self.env, check=True, text=True,
                                stdout=subprocess.PIPE if capture else None)
        return result.stdout.strip() if capture else None


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit_s=60):
    import socket
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening after {limit_s}s")


class Etrnd:
    name = "etrnd"

    def __init__(self, args, tmp, nexthop_port):
        self.args, self.tmp = args, tmp
        self.domains_file = os.path.join(tmp, "domains.conf")
        with open(self.domains_file, "w") as f:
            f.write(f".test 127.0.0.1:{nexthop_port} hold\n")
        self.process = None

    def start(self):
        spool = os.path.join(self.tmp, "etrnd-spool")
        shutil.rmtree(spool, ignore_errors=True)
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, "etrnd.log"), "w")
        self.process = subprocess.Popen(
            [self.args.etrnd, f"--listen=127.0.0.1:{self.port}", f"--spool_dir={spool}",
             f"--domains_file={self.domains_file}", f"--fsync={self.args.etrnd_fsync}",
             "--hostname=etrnd.e2e.test", "--log_level=warning",
             "--etrn_rate=1000000", "--etrn_burst=1000000"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)

    def settle(self):
        pass

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.log.close()


class Postfix:
    name = "postfix"

    def __init__(self, args, tmp, nexthop_port):
        self.args, self.tmp = args, tmp
        self.lib = Lib(tmp)
        self.port = free_port()
        self.conf = self.lib.run("e2e_postfix_create", "postfix", self.port, nexthop_port,
                                 capture=True)
        self.queue = os.path.join(tmp, "postfix", "queue")
        self.running = False

    def start(self):
        self.lib.run("e2e_postfix_empty", self.conf)
        self.lib.run("e2e_postfix_start", self.conf)
        self.running = True

    def busy_files(self):
        count = 0
        for d in ("incoming", "active", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, d)):
                count += len(files)
        return count

    def settle(self):
        # The queue manager moves accepted mail to the deferred queue after
        # the 250; wait for it so the ETRNs do not compete with that work.
        deadline = time.monotonic() + self.args.settle_timeout
        while time.monotonic() < deadline:
            if self.busy_files() == 0:
                return
            time.sleep(0.25)
        print(f"  ! postfix still has {self.busy_files()} busy queue files", file=sys.stderr)

    def rss_mib(self):
        return float("nan")

    def stop(self):
        if self.running:
            self.lib.run("e2e_postfix_stop", self.conf)
            self.running = False


async def _fill_session(port, jobs, body, counters):
    import asyncio
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply():
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("server closed the session")
            if line[3:4] != b"-":
                return int(line[:3])

    await reply()
    writer.write(b"EHLO filler.e2e.test\r\n")
    await reply()
    while jobs:
        domain = jobs.pop()
        # RFC 2920 pipelining: MAIL, RCPT and DATA in one write.
        writer.write(b"MAIL FROM:<s@x.test>\r\nRCPT TO:<r@" + domain + b">\r\nDATA\r\n")
        codes = [await reply() for _ in range(3)]
        if codes[2] != 354:
            counters["failed"] += 1
            if codes[0] == 250:
                writer.write(b"RSET\r\n")
                await reply()
            continue
        writer.write(body)
        counters["ok" if await reply() == 250 else "failed"] += 1
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


def python_fill(port, messages, domains, size, connections, seed):
    """A small pipelining SMTP client, used when smtp-blaster is not usable."""
    import asyncio
    rng = random.Random(seed)
    jobs = [b"d%d.test" % rng.randrange(domains) for _ in range(messages)]
    line = b"x" * 70 + b"\r\n"
    header = b"From: s@x.test\r\nTo: r@example.test\r\nSubject: fill\r\n\r\n"
    body = header + line * max(1, (size - len(header)) // len(line)) + b".\r\n"
    counters = {"ok": 0, "failed": 0}

    async def run():
        await asyncio.gather(*[_fill_session(port, jobs, body, counters)
                               for _ in range(connections)])

    asyncio.run(run())
    return counters["ok"]


def fill(args, port, messages, domains):
    start = time.perf_counter()
    if args.filler == "python":
        ok = python_fill(port, messages, domains, args.size, args.fill_connections, seed=7)
        return ok, time.perf_counter() - start
    result = subprocess.run(
        [args.blaster, f"--target=127.0.0.1:{port}", f"--connections={args.fill_connections}",
         f"--messages={messages}", f"--size={args.size}", f"--domains={domains}",
         "--domain_pattern=d%d.test", "--progress=false", "--json", "--seed=7"],
        check=True, text=True, stdout=subprocess.PIPE, timeout=args.fill_timeout)
    seconds = time.perf_counter() - start
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report.get("messages_ok", 0), seconds


def measure_session(port, etrn_domains, noops):
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    client.ehlo("latency.e2e.test")
    noop_us, etrn_us, codes = [], [], {}
    for _ in range(noops):
        t0 = time.perf_counter()
        client.docmd("NOOP")
        noop_us.append((time.perf_counter() - t0) * 1e6)
    for domain in etrn_domains:
        t0 = time.perf_counter()
        code, _ = client.docmd("ETRN", domain)
        etrn_us.append((time.perf_counter() - t0) * 1e6)
        codes[code] = codes.get(code, 0) + 1
    client.quit()
    return noop_us, etrn_us, codes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="queue sizes (messages), comma-separated")
    parser.add_argument("--postfix_max", type=int, default=10000,
                        help="largest queue size for Postfix (its fill is slow)")
    parser.add_argument("--systems", default="etrnd,postfix")
    parser.add_argument("--domains", type=int, default=100000,
                        help="held domains d0.test..; min(N, this) used per size")
    parser.add_argument("--etrns", type=int, default=500)
    parser.add_argument("--noops", type=int, default=200)
    parser.add_argument("--size", type=int, default=512, help="message bytes")
    parser.add_argument("--fill_connections", type=int, default=32)
    parser.add_argument("--filler", choices=("python", "blaster"), default="python",
                        help="python: built-in pipelining client; blaster: smtp-blaster")
    parser.add_argument("--fill_timeout", type=float, default=900)
    parser.add_argument("--settle_timeout", type=float, default=300)
    parser.add_argument("--etrnd_fsync", default="true")
    parser.add_argument("--etrnd", default=os.path.join(REPO, "build-perf", "etrnd"))
    parser.add_argument("--blaster", default=os.path.join(REPO, "build-perf", "smtp-blaster"))
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="etrnd-e2e-latency.")
    os.chmod(tmp, 0o755)
    nexthop_port = free_port()  # nothing listens there: the queue keeps its size
    systems = []
    results = []
    try:
        for name in args.systems.split(","):
            systems.append({"etrnd": Etrnd, "postfix": Postfix}[name](args, tmp, nexthop_port))
        with open("/proc/loadavg") as f:
            print(f"# nproc={os.cpu_count()} kernel={os.uname().release} "
                  f"loadavg={' '.join(f.read().split()[:3])}")
        sizes = [int(float(s)) for s in args.sizes.split(",")]
        for round_index, size in enumerate(sizes):
            domains = min(size, args.domains)
            rng = random.Random(size)
            etrn_domains = [f"d{rng.randrange(domains)}.test" for _ in range(args.etrns)]
            # Alternate which system goes first from one size to the next.
            order = systems[round_index % len(systems):] + systems[:round_index % len(systems)]
            for system in order:
                if system.name == "postfix" and size > args.postfix_max:
                    continue
                system.start()
                try:
                    queued, fill_s = fill(args, system.port, size, domains)
                    system.settle()
                    rss = system.rss_mib()
                    with open("/proc/loadavg") as f:
                        load = float(f.read().split()[0])
                    noop_us, etrn_us, codes = measure_session(system.port, etrn_domains,
                                                              args.noops)
                finally:
                    system.stop()
                row = {
                    "system": system.name, "queued": queued, "domains": domains,
                    "fill_msgs_per_s": round(queued / fill_s),
                    "etrn_p50_us": round(statistics.median(etrn_us)),
                    "etrn_p99_us": round(percentile(etrn_us, 0.99)),
                    "etrn_max_us": round(max(etrn_us)),
                    "noop_p50_us": round(statistics.median(noop_us)),
                    "noop_p99_us": round(percentile(noop_us, 0.99)),
                    "etrn_codes": {str(k): v for k, v in sorted(codes.items())},
                    "rss_mib": None if rss != rss else round(rss, 1),
                    "loadavg1": load,
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for system in systems:
            system.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("system\tqueued\tdomains\tetrn_p50_us\tetrn_p99_us\tnoop_p50_us\tnoop_p99_us"
          "\tetrn_codes\tfill_msgs_per_s\trss_mib")
    for r in results:
        print(f"{r['system']}\t{r['queued']}\t{r['domains']}\t{r['etrn_p50_us']}"
              f"\t{r['etrn_p99_us']}\t{r['noop_p50_us']}\t{r['noop_p99_us']}"
              f"\t{r['etrn_codes']}\t{r['fill_msgs_per_s']}\t{r['rss_mib']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
