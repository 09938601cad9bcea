"""Shared helpers of the scale benchmarks (etrn_scale.py, big_flush.py):
spools made by spool-gen, etrnd started on them, loop-turn summaries."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from etrn_latency import free_port, percentile, wait_port  # noqa: E402,F401

BUILD = os.path.join(REPO, "build")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def generate(spool, messages, domains, big, cores=2, body_bytes=300):
    """Makes the spool unless a spool of the same parameters is there (the
    benchmarks never finish a recipient, so a spool can be reused)."""
    stamp = f"{messages} {domains} {big} {cores} {body_bytes}\n"
    marker = os.path.join(spool, ".spool-gen")
    if os.path.exists(marker) and open(marker).read() == stamp:
        return 0.0
    subprocess.run(["rm", "-rf", spool], check=True)
    start = time.monotonic()
    subprocess.run([os.path.join(BUILD, "spool-gen"), f"--spool_dir={spool}",
                    f"--messages={messages}", f"--domains={domains}", f"--big={big}",
                    f"--cores={cores}", f"--body_bytes={body_bytes}"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(marker, "w") as f:
        f.write(stamp)
    return time.monotonic() - start


class Server:
    """etrnd --threads=2 on a spool; logs turns over 1 ms."""

    def __init__(self, tmp, spool, table, flags=(), binary=None):
        self.tmp, self.spool = tmp, spool
        self.binary = binary or os.path.join(BUILD, "etrnd")
        self.domains_file = os.path.join(tmp, "domains.conf")
        with open(self.domains_file, "w") as f:
            f.write(table)
        self.flags = list(flags)
        self.log_path = os.path.join(tmp, "etrnd.log")

    def start(self):
        self.port = free_port()
        self.log = open(self.log_path, "w")
        t0 = time.monotonic()
        # SCALE_WRAP="perf record -g -o perf.data --" runs etrnd under a tool.
        wrap = os.environ.get("SCALE_WRAP", "").split()
        self.process = subprocess.Popen(
            wrap + [self.binary, f"--listen=127.0.0.1:{self.port}",
             f"--spool_dir={self.spool}", f"--domains_file={self.domains_file}", "--threads=2",
             "--hostname=scale.e2e.test", "--etrn_rate=1000000", "--etrn_burst=1000000",
             "--log_turns_over=1ms"] + self.flags,
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, limit_s=300)
        self.start_s = time.monotonic() - t0
        return self

    def etrnctl(self, *args):
        return subprocess.run([os.path.join(BUILD, "etrnctl"), "--spool_dir", self.spool]
                              + list(args), capture_output=True, text=True, timeout=120).stdout

    def stop(self):
        # The log limiter drops lines during a flood (a failed flush logs a
        # line per message): let it refill so the exit histogram gets out.
        time.sleep(2.5)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        # SCALE_KEEP_LOGS=<dir>: keep each server's log (its slow-turn lines
        # name the phase of every turn over 1 ms).
        keep = os.environ.get("SCALE_KEEP_LOGS")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(self.log_path, os.path.join(keep, f"etrnd-{self.port}.log"))
        return turn_summary(open(self.log_path).read())


def turn_summary(log):
    """{core: (turns, longest turn in ms)} from the exit histogram lines, and
    the count of slow-turn log lines (--log_turns_over=1ms)."""
    cores = {}
    for core, turns, longest in re.findall(r"core (\d+): (\d+) loop turns, longest (\S+);", log):
        cores[int(core)] = (int(turns), duration_ms(longest))
    slow = len(re.findall(r"loop turn of \S+ \(over", log))
    return cores, slow


def duration_ms(text):
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ns|us|ms|s|m|h)", text):
        total += float(number) * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4,
                                  "h": 3.6e6}[unit]
    return total


def turns_text(summary):
    cores, slow = summary
    return ", ".join(f"core {c}: max {ms:.2f} ms" for c, (_, ms) in sorted(cores.items())) + \
        f"; {slow} slow-turn lines"
