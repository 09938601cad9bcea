#!/usr/bin/python3
"""Spool size over time with and without compaction, for the same load.

Starts etrnd (--threads=2) twice, side by side in one run: with
--compaction_live_percent=25 (the default) and with 0 (off). Each gets the
same mail in steps of one --segment_bytes_max: one message in HELD_EVERY
for a `hold` domain (stays queued), the rest for a domain whose next hop is
a recording sink (delivered on arrival). After each step, once the step's
deliverable mail is at the sink and the compactor has had its turn, the
spool's segment + completion log bytes are sampled. Prints a table: data
pushed, held bytes, spool bytes with and without compaction.

Usage: ETRND_BIN=build/etrnd ETRNCTL_BIN=build/etrnctl /usr/bin/python3 perf/e2e/compaction_spool.py
Knobs (environment): SEGMENT_BYTES=1048576 STEPS=20 HELD_EVERY=63 BODY_BYTES=4096
"""

import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness  # noqa: E402
from delivery_helpers import RecordingSink, build_message, queue_messages  # noqa: E402

SEGMENT_BYTES = int(os.environ.get("SEGMENT_BYTES", 1 << 20))
STEPS = int(os.environ.get("STEPS", 20))
HELD_EVERY = int(os.environ.get("HELD_EVERY", 63))
BODY_BYTES = int(os.environ.get("BODY_BYTES", 4096))
# Compaction looks once a second at segments sealed 2 s ago or more.
SETTLE_S = 4
SENDER = "sender@x.test"


def spool_bytes(server):
    total = 0
    for name in os.listdir(server.spool_dir):
        if name.startswith(("seg-", "done-")):
            try:
                total += os.path.getsize(server.spool_dir / name)
            except FileNotFoundError:
                pass
    return total


def step_messages(step):
    padding = (b"y" * 78 + b"\r\n") * (BODY_BYTES // 80)
    one = len(build_message(harness.unique_token(), "u@live.test", SENDER, padding))
    batch, held = [], 0
    for i in range(SEGMENT_BYTES // one):
        domain = "held.test" if i % HELD_EVERY == 0 else "live.test"
        data = build_message(harness.unique_token(), "u%d.%d@%s" % (step, i, domain), SENDER,
                             padding)
        held += len(data) if domain == "held.test" else 0
        batch.append((SENDER, ["u%d.%d@%s" % (step, i, domain)], data))
    return batch, held


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="etrnd-compaction-"))
    sink = RecordingSink(work / "sink")
    sink.start()
    servers = {}
    try:
        for name, percent in (("on", 25), ("off", 0)):
            domains = "held.test %s hold\nlive.test %s\n" % (sink.next_hop, sink.next_hop)
            server = harness.Etrnd(work / name, domains=domains, flags=(
                "--segment_bytes_max=%d" % SEGMENT_BYTES, "--compaction_live_percent=%d" % percent,
                "--log_level=warning"), name=name)
            server.start()
            servers[name] = server
        print("load: %s" % open("/proc/loadavg").read().strip())
        print("segment_bytes_max=%d, %d steps, 1 message in %d held, ~%d B messages" %
              (SEGMENT_BYTES, STEPS, HELD_EVERY, BODY_BYTES))
        print("%8s %10s %14s %14s" % ("pushed", "held", "spool (on)", "spool (off)"))
        pushed = held_total = delivered = 0
        for step in range(STEPS):
            batch, held = step_messages(step)
            live = sum(1 for m in batch if "@live.test" in m[1][0])
            for server in servers.values():
                queue_messages(server.port, batch, connections=4)
            delivered += 2 * live
            sink.wait_for_messages(delivered, timeout_s=300)
            time.sleep(SETTLE_S)
            pushed += sum(len(m[2]) for m in batch)
            held_total += held
            print("%7.1fM %9.1fK %13.2fM %13.2fM" %
                  (pushed / 2**20, held_total / 2**10, spool_bytes(servers["on"]) / 2**20,
                   spool_bytes(servers["off"]) / 2**20), flush=True)
    finally:
        for server in servers.values():
            server.stop()
        sink.stop()


if __name__ == "__main__":
    main()
