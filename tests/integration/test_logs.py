"""Structured logs (operations issue, item 4): with --log_format=json every
stderr line is one JSON object; a message's queued, delivered and ETRN events
carry its queue id and the reply code; client-controlled text (a hostile HELO
name) cannot break a line; a bad --log_format is refused at start."""

import json
import re

import harness
from delivery_helpers import TEST_FLAGS, build_message, started, wait_until
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

SENDER = "sender@x.test"
# A quote, a backslash and a control byte (tab: the only one the command
# parser lets through, the rest get 500): into the queued event's "helo".
HOSTILE_HELO = b'evil"na\\me\t}{x'
QUEUED_AS = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)")
HARNESS_MARKER = "=== start "
RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def json_events(server):
    """Every log line parsed; fails on the first line that is not an object."""
    events = []
    for number, line in enumerate(server.log_text().splitlines(), 1):
        if line.startswith(HARNESS_MARKER):
            continue  # written by harness.Etrnd, not by etrnd
        try:
            event = json.loads(line)
        except ValueError as error:
            raise AssertionError("log line %d is not JSON (%s): %r" % (number, error, line))
        assert isinstance(event, dict), line
        for key in ("ts", "level", "thread", "msg"):
            assert key in event, line
        assert RFC3339_MS_UTC.match(event["ts"]), line
        events.append(event)
    return events


def send_with_helo(port, helo, rcpt, data):
    """One message from a session greeted with raw `helo` bytes; its queue id."""
    with harness.RawSmtp(port) as c:
        assert c.read_reply().code == 220
        c.send(b"EHLO " + helo + b"\r\n")
        assert c.read_reply().code == 250
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
        assert c.cmd("DATA").code == 354
        c.send(data + b".\r\n")
        reply = c.read_reply()
        assert reply.code == 250, reply
        match = QUEUED_AS.search(reply.last)
        assert match, reply
        return match.group(1)


def find(events, **fields):
    return [e for e in events if all(e.get(k) == v for k, v in fields.items())]


def test_json_log_traces_a_message_from_queued_to_delivered(etrnd_factory, sink_factory):
    sink = sink_factory("customer")
    server = etrnd_factory(domains="logs.test %s hold\n" % sink.next_hop,
                           flags=list(TEST_FLAGS) + ["--log_format=json"])
    rcpt = "user@logs.test"
    token = harness.unique_token()
    queue_id = send_with_helo(server.port, HOSTILE_HELO, rcpt, build_message(token, rcpt, SENDER))

    assert server.etrn("logs.test")[1] == started(1, "logs.test")
    sink.wait_for_messages(1, timeout_s=30)
    wait_until(lambda: find(json_events(server), event="delivered", id=queue_id), 10,
               "the delivered event of %s" % queue_id)

    events = json_events(server)  # every line parses
    queued = find(events, event="queued", id=queue_id)
    assert len(queued) == 1, events
    assert queued[0]["from"] == SENDER
    assert queued[0]["nrcpt"] == 1
    assert queued[0]["client"].startswith("127.0.0.1:")
    assert queued[0]["helo"] == HOSTILE_HELO.decode()  # round trip intact
    assert queued[0]["level"] == "info" and queued[0]["msg"].startswith(queue_id + ": ")

    delivered = find(events, event="delivered", id=queue_id)
    assert len(delivered) == 1, events
    assert delivered[0]["to"] == rcpt
    assert delivered[0]["status"] == "sent" and delivered[0]["code"] == 250
    assert delivered[0]["domain"] == "logs.test"
    assert delivered[0]["relay"]
    assert "status=sent" in delivered[0]["msg"]

    etrn = find(events, event="etrn", argument="logs.test")
    assert len(etrn) == 1, events
    assert etrn[0]["code"] == 253 and etrn[0]["count"] == 1
    assert etrn[0]["client"].startswith("127.0.0.1")

    # Lines without an event of their own are still objects (startup lines).
    assert any("listening on" in e["msg"] and "event" not in e for e in events)


def test_text_log_keeps_lines_and_escapes_control_bytes(etrnd_factory, sink_factory):
    sink = sink_factory("customer")
    server = etrnd_factory(domains="logs.test %s hold\n" % sink.next_hop, flags=TEST_FLAGS)
    rcpt = "user@logs.test"
    queue_id = send_with_helo(server.port, b"bad\tname", rcpt,
                              build_message(harness.unique_token(), rcpt, SENDER))
    assert server.etrn("logs.test")[1] == started(1, "logs.test")
    sink.wait_for_messages(1, timeout_s=30)
    wait_until(lambda: "%s: to=<%s>, relay=" % (queue_id, rcpt) in server.log_text(), 10,
               "the delivery line of %s" % queue_id)
    log = server.log_text()
    assert re.search(r"INFO \[t\d+\] %s: from=<%s>, size=\d+, nrcpt=1, queued, "
                     r"client=127\.0\.0\.1:\d+, helo=<bad\\x09name>" % (queue_id, SENDER),
                     log), log
    assert re.search(r"%s: to=<%s>, relay=\S+, status=sent \(250 " % (queue_id, rcpt), log), log
    assert "ETRN logs.test from 127.0.0.1: 253 count=1" in log
    assert "\t" not in log


def test_json_summaries_and_suppression_reports_are_events(etrnd_factory):
    server = etrnd_factory(flags=["--log_format=json", "--log_rate_max=20"])
    with server.raw() as c:
        c.greet()
        c.send(b"ETRN example.com\r\n" * 300)  # default --etrn_rate: mostly 458
        replies = [c.read_reply().code for _ in range(300)]
    assert replies.count(458) > 250
    wait_until(lambda: find(json_events(server), event="summary"), 10, "a summary event")
    events = json_events(server)
    summaries = find(events, event="summary", repeated="ETRN rate limited (458)")
    assert summaries and all(s["count"] > 0 and s["client"] == "127.0.0.1" for s in summaries)
    logged = find(events, event="etrn", code=458)
    assert logged and all(e["argument"] == "example.com" for e in logged)
    # Repeats held back are counted once: in "more" of a line or in a summary.
    counted = len(logged) + sum(e.get("more", 0) for e in logged) + \
        sum(s["count"] for s in summaries)
    assert counted <= replies.count(458)


def test_bad_log_format_is_refused(tmp_path):
    rc, output = harness.run_etrnd_expect_exit(["--log_format=xml"], cwd=tmp_path)
    assert rc != 0
    assert "--log_format must be text or json" in output
    assert len(output.strip().splitlines()) == 1, output
