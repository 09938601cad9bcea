"""Compaction while running (issue 13, docs/ARCHITECTURE.md "Compaction"):
a few held messages in every segment must not pin the segments (and the
completion logs pointing into them) for ever. 10x --segment_bytes_max of
mail goes through a running etrnd while one message in every 63 waits for a
`hold` domain; the spool stays bounded by what is queued, every held message
is still queued (also after kill -9 and a restart) and is delivered exactly
once on ETRN."""

import collections
import os

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, queue_messages, started, strip_received,
                              token_of, wait_until)
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

SEGMENT_BYTES = 256 * 1024
PUSHED_SEGMENTS = 10
# Not a multiple of the 4 client connections (messages go round-robin over
# them, and each connection to one core): held mail reaches every core.
HELD_EVERY = 63
BODY_PADDING = b"x" * 76 + b"\r\n"
BODY_LINES = 24  # about 2 KiB a message
SENDER = "sender@x.test"
# Every sealed segment under this much live mail is compacted.
LIVE_PERCENT = 25
# Each core's current segment (which rolls only after the group-commit batch
# that crosses --segment_bytes_max: up to twice that, zero fill included) and
# completion log, one segment of slack, and the held mail itself, which may
# sit in sealed segments that are up to 100/LIVE_PERCENT times its size.
# Without compaction the spool holds all PUSHED_SEGMENTS segments.
CORES = 2


def spool_bytes(server):
    total = 0
    for name in os.listdir(server.spool_dir):
        if name.startswith(("seg-", "done-")):
            try:
                total += os.path.getsize(server.spool_dir / name)
            except FileNotFoundError:
                pass  # removed while listed
    return total


def table(sink):
    return "held.test %s hold\nlive.test %s\n" % (sink.next_hop, sink.next_hop)


def push(server, count):
    """`count` messages, one in HELD_EVERY for held.test; returns
    ({token: data} held, [tokens] live, bytes sent)."""
    held, live, batch, sent = {}, [], [], 0
    for i in range(count):
        token = harness.unique_token()
        domain = "held.test" if i % HELD_EVERY == 0 else "live.test"
        rcpt = "u%d@%s" % (i, domain)
        data = build_message(token, rcpt, SENDER, BODY_PADDING * BODY_LINES)
        sent += len(data)
        (held.__setitem__(token, data) if domain == "held.test" else live.append(token))
        batch.append((SENDER, [rcpt], data))
    queue_messages(server.port, batch, connections=4)
    return held, live, sent


def queued_held(server):
    rc, out, err = server.etrnctl("queue", json_output=True)
    assert rc == 0, (rc, out, err)
    return out["domains"].get("held.test", {}).get("messages", 0)


def bound(held):
    held_bytes = sum(len(d) for d in held.values())
    return (2 * CORES + 1) * SEGMENT_BYTES + (100 // LIVE_PERCENT) * held_bytes


def assert_held_delivered_once(server, sink, held, live_count):
    assert server.etrn("held.test")[1] == started(len(held), "held.test")
    received = sink.wait_for_messages(live_count + len(held), timeout_s=120)
    copies = collections.defaultdict(list)
    for message in received:
        copies[token_of(message.data)].append(message)
    for token, data in held.items():
        assert len(copies[token]) == 1, "%s delivered %d times" % (token, len(copies[token]))
        assert strip_received(copies[token][0].data)[1] == data


@pytest.mark.time_limit(240)
def test_spool_stays_bounded_while_held_mail_pins_every_segment(etrnd_factory, sink_factory):
    sink = sink_factory("sink")
    flags = TEST_FLAGS + ("--segment_bytes_max=%d" % SEGMENT_BYTES,
                          "--compaction_live_percent=%d" % LIVE_PERCENT)
    server = etrnd_factory(domains=table(sink), flags=flags)
    message_bytes = len(build_message(harness.unique_token(), "u0@live.test", SENDER,
                                      BODY_PADDING * BODY_LINES))
    count = PUSHED_SEGMENTS * SEGMENT_BYTES // message_bytes
    held, live, sent = push(server, count)
    assert sent >= PUSHED_SEGMENTS * SEGMENT_BYTES * 0.95
    sink.wait_for_messages(len(live), timeout_s=120)
    assert queued_held(server) == len(held)

    limit = bound(held)
    wait_until(lambda: spool_bytes(server) <= limit, 60,
               "the spool (%d bytes) to shrink under %d bytes" % (spool_bytes(server), limit))
    log = server.log_text()
    assert "compaction: seg-" in log and "messages moved" in log
    # Still every held message, with its body readable where it went.
    assert queued_held(server) == len(held)
    rc, listed, _ = server.etrnctl("list", "held.test", json_output=True)
    assert rc == 0 and len(listed["messages"]) == len(held)
    some_id = listed["messages"][0]["id"]
    rc, shown, _ = server.etrnctl("show", some_id, json_output=True)
    assert rc == 0 and shown["recipients"][0]["state"] == "queued", shown

    # A crash now: the moved copies are what recovery finds, each once.
    server.kill()
    server.restart()
    assert queued_held(server) == len(held)
    assert spool_bytes(server) <= limit
    assert_held_delivered_once(server, sink, held, len(live))
    # Every recovered segment is delivered now: the completion log recovery
    # wrote points into none left, and goes too.
    harness.wait_for_log(server, "points into no segment left: removed", timeout=30)


@pytest.mark.time_limit(240)
@pytest.mark.parametrize("point", ["copy", "swap", "completion"])
def test_crash_at_each_step_of_a_move_loses_and_duplicates_nothing(etrnd_factory, sink_factory,
                                                                   monkeypatch, point):
    """etrnd aborts (like kill -9) at one step of its first move: after the
    copy is durable, after the owner swapped its index entry, or after the
    first kMoved completion. Every held message comes back queued once and
    is delivered once."""
    sink = sink_factory("sink")
    flags = TEST_FLAGS + ("--segment_bytes_max=%d" % SEGMENT_BYTES,
                          "--compaction_live_percent=%d" % LIVE_PERCENT)
    monkeypatch.setenv("ETRND_TEST_COMPACTION_ABORT", point)
    server = etrnd_factory(domains=table(sink), flags=flags)
    message_bytes = len(build_message(harness.unique_token(), "u0@live.test", SENDER,
                                      BODY_PADDING * BODY_LINES))
    # Enough for a sealed segment with held mail on either core.
    held, live, _ = push(server, 4 * SEGMENT_BYTES // message_bytes)
    sink.wait_for_messages(len(live), timeout_s=120)
    wait_until(lambda: not server.alive(), 60, "the abort at %s" % point)
    assert "ETRND_TEST_COMPACTION_ABORT: aborting" in server.log_text()
    server.kill()  # gone already; closes the log

    monkeypatch.delenv("ETRND_TEST_COMPACTION_ABORT")
    server.restart()
    if point in ("copy", "swap"):
        # Both copies were live on disk: recovery kept one.
        harness.wait_for_log(server, "queued in two places")
    assert queued_held(server) == len(held)
    assert_held_delivered_once(server, sink, held, len(live))
