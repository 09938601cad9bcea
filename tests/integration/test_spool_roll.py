"""Segment rolls onto spare files made through the ring (issue 13, docs/
ARCHITECTURE.md "group commit"): with a small --segment_bytes_max the spool
spreads over many segments, a clean stop leaves no unused (empty) spare, and
after kill -9 the spares left behind are dropped quietly by recovery (no
damage, nothing moved aside) with every acknowledged message still queued."""

import os
import re

import pytest

import harness
from delivery_helpers import TEST_FLAGS, build_message, queue_messages
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

SEGMENT_BYTES = 16 * 1024
MESSAGES = 120
BODY = b"x" * 76 + b"\r\n"
BODY_LINES = 24  # about 2 KiB a message: several segments' worth in all
SENDER = "sender@x.test"
CORES = 2  # harness: --threads=2


def spool_files(server):
    return {name: os.path.getsize(server.spool_dir / name)
            for name in os.listdir(server.spool_dir) if name.startswith(("seg-", "done-"))}


def queued_held(server):
    rc, out, err = server.etrnctl("queue", json_output=True)
    assert rc == 0, (rc, out, err)
    return out["domains"].get("held.test", {}).get("messages", 0)


def push(server):
    batch = []
    for i in range(MESSAGES):
        rcpt = "u%d@held.test" % i
        batch.append((SENDER, [rcpt],
                      build_message(harness.unique_token(), rcpt, SENDER, BODY * BODY_LINES)))
    queue_messages(server.port, batch, connections=4)


@pytest.mark.time_limit(120)
@pytest.mark.parametrize("stop", ["clean", "kill"])
def test_segments_roll_onto_spares_and_none_is_left_as_damage(etrnd_factory, sink_factory, stop):
    sink = sink_factory("sink")
    server = etrnd_factory(domains="held.test %s hold\n" % sink.next_hop,
                           flags=TEST_FLAGS + ("--segment_bytes_max=%d" % SEGMENT_BYTES,))
    push(server)
    assert queued_held(server) == MESSAGES
    segments = [n for n in spool_files(server) if n.startswith("seg-")]
    # ~240 KiB of mail over 16 KiB segments: it rolled many times.
    assert len(segments) >= 4, segments
    if stop == "clean":
        server.stop()
        files = spool_files(server)
        # A core that stored nothing (all four connections can land on the
        # other core) keeps its first segment, never written: not a spare.
        def never_written_first(name):
            core = name.split("-")[1]
            return name == "seg-%s-0000000000.log" % core and not any(
                n.startswith("seg-%s-" % core) and n != name for n in files)
        empty = [n for n, size in files.items()
                 if size == 0 and n.startswith("seg-") and not never_written_first(n)]
        assert empty == [], "unused spares left after a clean stop: %s" % empty
        # Nothing completed: each core's first (empty) completion log only.
        assert len([n for n in files if n.startswith("done-")]) == CORES, files
    else:
        server.kill()
    server.restart()
    assert queued_held(server) == MESSAGES
    log = server.log_text()
    # The recovery summary: no corrupt file, nothing moved aside (after
    # kill -9 the zero fill past the last record is a torn tail of zeros,
    # as before spares).
    assert re.findall(r"in (\d+) files, (\d+) files moved aside", log)[-1] == ("0", "0")
    assert "copied to" not in log
    if stop == "clean":
        assert re.findall(r"(\d+) torn tails dropped", log)[-1] == "0"
    assert not (server.spool_dir / "damaged").exists()
