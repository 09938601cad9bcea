"""`etrnctl delete` racing a compaction move (issue 13): the compactor copies
a held message to a new segment, then the owner core swaps its index entry
to the copy. A delete of that message in between must win: the copy never
ends up queued, neither while running nor after a kill -9 and a restart.

Two test hooks (off unless set) make the race land every time:
ETRND_TEST_COMPACTION_SWAP_DELAY_MS holds each core's first move's swap after its
copy is durable, and ETRND_TEST_DELETE_PAUSE_MS holds a delete between
finding the message and finishing it."""

import collections
import re

import pytest

import harness
from delivery_helpers import TEST_FLAGS, build_message, started, token_of, wait_until
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)
from test_compaction import (BODY_LINES, BODY_PADDING, LIVE_PERCENT, SEGMENT_BYTES, SENDER, push,
                             queued_held, table)

COPY_DURABLE = re.compile(r"copy of (\S+) durable at \S+, swap in")


def start_moving(etrnd_factory, sink, monkeypatch, swap_delay_ms, delete_pause_ms):
    """A server whose first compaction move is waiting for its swap: returns
    (server, held, live, the moving message's queue id)."""
    monkeypatch.setenv("ETRND_TEST_COMPACTION_SWAP_DELAY_MS", str(swap_delay_ms))
    if delete_pause_ms:
        monkeypatch.setenv("ETRND_TEST_DELETE_PAUSE_MS", str(delete_pause_ms))
    flags = TEST_FLAGS + ("--segment_bytes_max=%d" % SEGMENT_BYTES,
                          "--compaction_live_percent=%d" % LIVE_PERCENT)
    server = etrnd_factory(domains=table(sink), flags=flags)
    message_bytes = len(build_message(harness.unique_token(), "u0@live.test", SENDER,
                                      BODY_PADDING * BODY_LINES))
    held, live, _ = push(server, 4 * SEGMENT_BYTES // message_bytes)
    sink.wait_for_messages(len(live), timeout_s=120)
    match = wait_until(lambda: COPY_DURABLE.search(server.log_text()), 60,
                       "the first move's copy")
    monkeypatch.delenv("ETRND_TEST_COMPACTION_SWAP_DELAY_MS")
    monkeypatch.delenv("ETRND_TEST_DELETE_PAUSE_MS", raising=False)
    return server, held, live, match.group(1)


def assert_deleted(server, queue_id, held_count):
    rc, out, err = server.etrnctl("show", queue_id)
    assert rc != 0 and "no queued message" in out + err, (rc, out, err)
    assert queued_held(server) == held_count - 1


def assert_rest_delivered_once(server, sink, held, live_count):
    """ETRN held.test: every held message but the deleted one, once."""
    assert server.etrn("held.test")[1] == started(len(held) - 1, "held.test")
    received = sink.wait_for_messages(live_count + len(held) - 1, timeout_s=120)
    copies = collections.Counter(token_of(m.data) for m in received)
    delivered_held = [token for token in held if copies[token] > 0]
    assert len(delivered_held) == len(held) - 1
    assert all(copies[token] <= 1 for token in held)


@pytest.mark.time_limit(240)
def test_swap_between_the_deletes_find_and_finish_is_refused(etrnd_factory, sink_factory,
                                                            monkeypatch):
    """The delete finds the original, the swap comes (after 2.5 s), the
    delete finishes (after 5 s): without the delete holding compaction
    still, the swap would move the index to the copy and the delete would
    finish the old copy: the mail would come back."""
    sink = sink_factory("sink")
    server, held, live, queue_id = start_moving(etrnd_factory, sink, monkeypatch,
                                                swap_delay_ms=2500, delete_pause_ms=5000)
    rc, out, err = server.etrnctl("delete", queue_id)
    assert rc == 0 and "1 recipients deleted" in out, (rc, out, err)
    # The race happened: the delete found the message before the swap was
    # asked for, and finished it after.
    log = server.log_text()
    found = log.index("etrnctl delete %s: ETRND_TEST_DELETE_PAUSE_MS: found" % queue_id)
    swap = log.index("asking for the swap of %s" % queue_id)
    finished = log.index("etrnctl delete %s: 1 recipients deleted" % queue_id)
    assert found < swap < finished
    assert_deleted(server, queue_id, len(held))
    # The compactor is done with its victim: the refused copy is finished.
    wait_until(lambda: "compaction: seg-" in server.log_text(), 60, "the victim's end")
    assert_deleted(server, queue_id, len(held))

    server.kill()
    server.restart()
    assert_deleted(server, queue_id, len(held))
    assert_rest_delivered_once(server, sink, held, len(live))


@pytest.mark.time_limit(240)
def test_kill_after_the_delete_before_the_swap_keeps_it_deleted(etrnd_factory, sink_factory,
                                                               monkeypatch):
    """The delete is acknowledged while the copy waits for its swap; kill
    -9 then: recovery finds a live copy and a deleted original, and keeps
    neither."""
    sink = sink_factory("sink")
    server, held, live, queue_id = start_moving(etrnd_factory, sink, monkeypatch,
                                                swap_delay_ms=30000, delete_pause_ms=0)
    rc, out, err = server.etrnctl("delete", queue_id)
    assert rc == 0 and "1 recipients deleted" in out, (rc, out, err)
    server.kill()
    server.restart()
    assert harness.wait_for_log(server, "queued in two places")  # both copies were there
    assert_deleted(server, queue_id, len(held))
    assert_rest_delivered_once(server, sink, held, len(live))
