"""Durability (SPEC 8): after kill -9 and a restart every accepted message is
queued again and ETRN counts are exact."""

import threading

import pytest

import harness
from harness import RawSmtp, send_messages


def started(n, node):
    return "253 2.0.0 OK, %d pending messages for node %s started" % (n, node)


def test_kill_9_restart_counts_exact(server):
    n = 40
    tokens = send_messages(server.port, n)
    tokens += send_messages(server.port, 3, rcpts=("a@example.org",))
    server.kill()
    server.restart()
    assert server.etrn("example.com")[1] == started(n, "example.com")
    assert server.etrn("example.org")[1] == started(3, "example.org")
    assert server.etrn("#orgq")[1] == started(3, "#orgq")
    for token in tokens:
        assert server.spool_count(token) == 1


def test_unfinished_message_not_queued_after_crash(server):
    send_messages(server.port, 2)
    token = harness.unique_token()
    with RawSmtp(server.port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(harness.make_message(token))  # no final dot: never accepted
        server.kill()
    server.restart()
    assert server.etrn("example.com")[1] == started(2, "example.com")


@pytest.mark.time_limit(300)
def test_concurrent_senders_then_crash(server):
    per_thread, threads = 50, 6
    results, errors = [], []

    def worker(i):
        try:
            results.extend(send_messages(server.port, per_thread,
                                         rcpts=("u%d@s%d.example.com" % (i, i),)))
        except Exception as e:  # reported below; a thread cannot fail the test
            errors.append(repr(e))

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=240)
    assert not errors, errors
    assert len(results) == per_thread * threads
    server.kill()  # right after the last 250
    server.restart()
    assert server.etrn("@example.com")[1] == started(per_thread * threads, "@example.com")
    assert server.etrn("s3.example.com")[1] == started(per_thread, "s3.example.com")


def test_two_crashes_in_a_row(server):
    send_messages(server.port, 5)
    server.kill()
    server.restart()
    send_messages(server.port, 4)
    server.kill()
    server.restart()
    assert server.etrn("example.com")[1] == started(9, "example.com")


def test_restart_after_clean_stop_and_crash_mixed(server):
    send_messages(server.port, 7)
    assert server.stop() == 0
    server.restart()
    send_messages(server.port, 1)
    server.kill()
    server.restart()
    assert server.etrn("example.com")[1] == started(8, "example.com")
