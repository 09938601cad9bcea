"""Delivery and ETRN flushing with the real etrnd (SPEC 4, 6, 8): mail queued
for `hold` domains reaches the customer's host (a recording sink) only on
ETRN, exactly once and byte-exact; non-hold domains get it on arrival; 4xx
keeps mail queued, 5xx bounces it to the sender; a flush delivers only the
flushed domain's recipients."""

import collections
import subprocess
import threading
import time

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, etrn_many, nothing_waiting,
                              queue_messages, send_one, started, strip_received, token_of,
                              wait_flushes_done, wait_queue_empty, wait_until)
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

BULK_MESSAGES = 10_000
BULK_DOMAINS = 100
BULK_CONNECTIONS = 16
SENDER = "sender@x.test"
# How long a hold domain is watched for mail that must not come before ETRN.
HOLD_WATCH_S = 1.5


def bulk_domain(i):
    return "d%d.bulk.test" % i


@pytest.mark.time_limit(240)
def test_ten_thousand_messages_flushed_exactly_once_byte_exact(etrnd_factory, sink_factory):
    sink = sink_factory("bulk")
    table = "".join("%s %s hold\n" % (bulk_domain(i), sink.next_hop)
                    for i in range(BULK_DOMAINS))
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    sent = {}  # token -> (rcpt, data)
    batch = []
    for i in range(BULK_MESSAGES):
        token = harness.unique_token()
        rcpt = "u%d@%s" % (i, bulk_domain(i % BULK_DOMAINS))
        # Some carry 8-bit text and a line of 998 octets (+ CRLF, the limit).
        extra = b""
        if i % 10 == 0:
            extra = b"8bit: caf\xc3\xa9 \xe2\x82\xac\r\n" + b"x" * 998 + b"\r\n"
        data = build_message(token, rcpt, SENDER, extra)
        sent[token] = (rcpt, data)
        batch.append((SENDER, [rcpt], data))
    seconds = queue_messages(server.port, batch, connections=BULK_CONNECTIONS)
    print("queued %d messages in %.1f s" % (BULK_MESSAGES, seconds))

    per_domain = BULK_MESSAGES // BULK_DOMAINS
    domains = [bulk_domain(i) for i in range(BULK_DOMAINS)]
    assert sink.messages() == []  # hold: nothing before ETRN
    assert etrn_many(server, domains) == [started(per_domain, d) for d in domains]
    received = sink.wait_for_messages(BULK_MESSAGES, timeout_s=120)

    by_token = collections.defaultdict(list)
    for message in received:
        by_token[token_of(message.data)].append(message)
    assert set(by_token) == set(sent)
    for token, copies in by_token.items():
        assert len(copies) == 1, "%s delivered %d times" % (token, len(copies))
        rcpt, data = sent[token]
        delivered = copies[0]
        assert delivered.mail_from == SENDER
        assert delivered.rcpts == [rcpt]
        received_header, rest = strip_received(delivered.data)
        assert rest == data, "message %s changed in transit" % token
        assert b"mx.test" in received_header
    for domain in domains:
        wait_queue_empty(server, domain)
    assert len(sink.messages()) == BULK_MESSAGES  # the empty-queue checks sent nothing


def test_subtree_queue_hold_and_non_hold(etrnd_factory, sink_factory):
    sink = sink_factory("customers")
    live = sink_factory("live")
    hop = sink.next_hop
    table = (f"par.test {hop} hold\n"
             f".par.test {hop} hold\n"
             f"other.test {hop} hold\n"
             f"q1.test {hop} hold queue=grp\n"
             f"q2.test {hop} hold queue=grp\n"
             f"q3.test {hop} hold\n"
             f"live.test {live.next_hop}\n")
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    rcpts = ["a@par.test", "b@one.par.test", "c@two.par.test", "d@deep.three.par.test",
             "e@other.test", "f@q1.test", "g@q2.test", "h@q3.test"]
    tokens = {}
    for rcpt in rcpts:
        token = harness.unique_token()
        assert send_one(server.port, SENDER, [rcpt], build_message(token, rcpt))[0] == 250
        tokens[rcpt] = token
    live_token = harness.unique_token()
    assert send_one(server.port, SENDER, ["z@live.test"],
                    build_message(live_token, "z@live.test"))[0] == 250

    # Non-hold: delivered on arrival, no ETRN needed.
    delivered_live = live.wait_for_messages(1, timeout_s=30)
    assert [token_of(m.data) for m in delivered_live] == [live_token]
    assert delivered_live[0].rcpts == ["z@live.test"]
    # Hold: nothing delivered without ETRN.
    time.sleep(HOLD_WATCH_S)
    assert sink.messages() == []

    assert server.etrn("@par.test")[1] == started(4, "@par.test")
    got = sink.wait_for_messages(4)
    time.sleep(0.3)  # a wrong fifth delivery would show up now
    got = sink.messages()
    assert sorted(r for m in got for r in m.rcpts) == sorted(rcpts[:4])
    assert sorted(token_of(m.data) for m in got) == sorted(tokens[r] for r in rcpts[:4])
    assert server.etrn("other.test")[1] == started(1, "other.test")
    sink.wait_for_messages(5)

    assert server.etrn("#grp")[1] == started(2, "#grp")
    got = sink.wait_for_messages(7)
    time.sleep(0.3)
    got = sink.messages()
    assert sorted(r for m in got[5:] for r in m.rcpts) == ["f@q1.test", "g@q2.test"]
    assert server.etrn("q3.test")[1] == started(1, "q3.test")  # not in the queue: still there
    got = sink.wait_for_messages(8)
    assert got[7].rcpts == ["h@q3.test"]
    for node in ["@par.test", "other.test", "#grp", "q3.test"]:
        wait_queue_empty(server, node)
    assert len(sink.messages()) == 8


def test_451_at_rcpt_keeps_mail_queued(etrnd_factory, sink_factory):
    sink = sink_factory("deferring", rcpt_reply="451 4.3.0 Try again later")
    server = etrnd_factory(domains=f"defer.test {sink.next_hop} hold\n", flags=TEST_FLAGS)
    token = harness.unique_token()
    assert send_one(server.port, SENDER, ["u@defer.test"],
                    build_message(token, "u@defer.test"))[0] == 250
    assert server.etrn("defer.test")[1] == started(1, "defer.test")
    wait_flushes_done(server, "defer.test", 1)
    assert [e["rcpt"] for e in sink.events() if e["kind"] == "rcpt"] == ["u@defer.test"]
    assert sink.messages() == []
    # Still queued, still counted (and tried again on this ETRN).
    assert server.etrn("defer.test")[1] == started(1, "defer.test")
    wait_flushes_done(server, "defer.test", 2)
    assert len([e for e in sink.events() if e["kind"] == "rcpt"]) == 2
    assert server.spool_count("token " + token) == 1  # stored once, not re-queued


def test_451_at_rcpt_for_non_hold_domain_is_retried(etrnd_factory, sink_factory):
    sink = sink_factory("deferring", rcpt_reply="451 4.3.0 Try again later")
    server = etrnd_factory(domains=f"retry.test {sink.next_hop}\n", flags=TEST_FLAGS)
    token = harness.unique_token()
    assert send_one(server.port, SENDER, ["u@retry.test"],
                    build_message(token, "u@retry.test"))[0] == 250
    # On arrival, then again after --retry_initial=1s, without any ETRN.
    wait_until(lambda: len([e for e in sink.events() if e["kind"] == "rcpt"]) >= 2, 30,
               "a retry of the deferred recipient")
    assert sink.messages() == []
    assert server.spool_count("token " + token) == 1


def test_550_at_rcpt_bounces_to_sender(etrnd_factory, sink_factory):
    # bob is refused, carol accepted: only bob's part bounces.
    rejecting = sink_factory("rejecting", rcpt_reply="550 5.1.1 No such user here",
                             rcpt_match="bob@")
    home = sink_factory("home")  # the sender's own mail host
    table = (f"reject.test {rejecting.next_hop} hold\n"
             f"home.test {home.next_hop}\n")
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    token = harness.unique_token()
    sender = "alice@home.test"
    data = build_message(token, "bob@reject.test", sender)
    assert send_one(server.port, sender, ["bob@reject.test", "carol@reject.test"], data)[0] == 250
    assert server.etrn("reject.test")[1] == started(1, "reject.test")
    accepted = rejecting.wait_for_messages(1)
    assert accepted[0].rcpts == ["carol@reject.test"]
    assert strip_received(accepted[0].data)[1] == data

    bounce = home.wait_for_messages(1, timeout_s=30)[0]
    assert bounce.mail_from == ""
    assert bounce.rcpts == [sender]
    dsn = bounce.data  # made by etrnd itself: no Received: header
    headers = dsn.split(b"\r\n\r\n", 1)[0].decode()
    unfolded = " ".join(headers.replace("\r\n", "\n").replace("\n\t", " ")
                        .replace("\n ", " ").split())
    assert "multipart/report" in unfolded.lower()
    assert "report-type=delivery-status" in unfolded.lower().replace('"', "")
    assert b"message/delivery-status" in dsn
    assert b"Final-Recipient: rfc822; bob@reject.test" in dsn or \
        b"Final-Recipient: rfc822;bob@reject.test" in dsn
    assert b"Action: failed" in dsn
    assert b"5.1.1" in dsn
    assert token.encode() in dsn  # the original (or its header) comes back
    assert b"carol@reject.test" not in dsn.split(b"message/delivery-status", 1)[1].split(
        b"\r\n--", 1)[0]  # the delivered recipient is not reported as failed
    assert len(home.messages()) == 1
    assert len(rejecting.messages()) == 1
    wait_queue_empty(server, "reject.test")


def test_flush_delivers_only_the_flushed_domain(etrnd_factory, sink_factory):
    sink_a = sink_factory("a")
    sink_b = sink_factory("b")
    table = f"a.test {sink_a.next_hop} hold\nb.test {sink_b.next_hop} hold\n"
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    token = harness.unique_token()
    rcpts = ["x1@a.test", "y@b.test", "x2@a.test"]
    data = build_message(token, rcpts[0])
    assert send_one(server.port, SENDER, rcpts, data)[0] == 250

    assert server.etrn("a.test")[1] == started(1, "a.test")
    got = sink_a.wait_for_messages(1)
    assert sorted(got[0].rcpts) == ["x1@a.test", "x2@a.test"]
    assert strip_received(got[0].data)[1] == data
    wait_flushes_done(server, "a.test", 1)
    assert sink_b.messages() == []
    assert server.etrn("a.test")[1] == nothing_waiting("a.test")

    assert server.etrn("b.test")[1] == started(1, "b.test")
    got = sink_b.wait_for_messages(1)
    assert got[0].rcpts == ["y@b.test"]
    assert strip_received(got[0].data)[1] == data
    wait_queue_empty(server, "b.test")
    assert len(sink_a.messages()) == 1


def test_flush_to_postfix_smtp_sink(etrnd_factory, processes, tmp_path):
    smtp_sink = "/usr/sbin/smtp-sink"
    if not harness.os.access(smtp_sink, harness.os.X_OK):
        pytest.skip("Postfix smtp-sink is not installed (%s)" % smtp_sink)
    dump_dir = tmp_path / "postfix-sink"
    dump_dir.mkdir()
    port = harness.free_port()
    proc = subprocess.Popen(
        [smtp_sink, "-u", "root", "-d", str(dump_dir) + "/%M.", "127.0.0.1:%d" % port, "100"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(proc)
    wait_until(lambda: _accepts(port), 10, "smtp-sink to listen")
    assert proc.poll() is None, "smtp-sink exited (port %d taken meanwhile?)" % port
    server = etrnd_factory(domains="pf.test 127.0.0.1:%d hold\n" % port, flags=TEST_FLAGS)
    tokens = [harness.unique_token() for _ in range(20)]
    batch = [(SENDER, ["u%d@pf.test" % i], build_message(t, "u%d@pf.test" % i))
             for i, t in enumerate(tokens)]
    queue_messages(server.port, batch, connections=2)
    assert server.etrn("pf.test")[1] == started(20, "pf.test")

    def dumped():
        found = collections.Counter()
        for path in dump_dir.iterdir():
            found[token_of(path.read_bytes())] += 1
        return found if sum(found.values()) >= len(tokens) else None

    found = wait_until(dumped, 30, "smtp-sink to dump 20 messages")
    wait_queue_empty(server, "pf.test")
    found = dumped()
    assert found == collections.Counter(tokens)


def _accepts(port):
    try:
        harness.connect(port, timeout=1).close()
        return True
    except OSError:
        return False


def test_null_sender_refused_is_dropped_without_bounce(etrnd_factory, sink_factory):
    rejecting = sink_factory("rejecting", rcpt_reply="550 5.1.1 No such user here")
    home = sink_factory("home")
    table = f"reject.test {rejecting.next_hop} hold\nhome.test {home.next_hop}\n"
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    assert send_one(server.port, "", ["bob@reject.test"],
                    build_message(harness.unique_token(), "bob@reject.test"))[0] == 250
    assert server.etrn("reject.test")[1] == started(1, "reject.test")
    wait_flushes_done(server, "reject.test", 1)
    assert server.etrn("reject.test")[1] == nothing_waiting("reject.test")
    time.sleep(0.5)  # a bounce would be delivered on arrival by now
    assert home.messages() == []


def test_many_recipients_and_a_large_message_byte_exact(etrnd_factory, sink_factory):
    sink = sink_factory("big")
    server = etrnd_factory(domains=f"big.test {sink.next_hop} hold\n", flags=TEST_FLAGS)
    token = harness.unique_token()
    rcpts = ["r%d@big.test" % i for i in range(60)]
    # About 4 MB of 998-octet lines, some starting with a dot.
    lines = b"".join((b"." if i % 7 == 0 else b"y") + (b"%09d" % i) * 109 + b"\r\n"
                     for i in range(4000))
    data = build_message(token, rcpts[0], SENDER, lines)
    assert send_one(server.port, SENDER, rcpts, data)[0] == 250
    assert server.etrn("big.test")[1] == started(1, "big.test")
    wait_until(lambda: sorted(r for m in sink.messages() for r in m.rcpts) == sorted(rcpts), 60,
               "60 recipients at the sink")
    for m in sink.messages():
        assert strip_received(m.data)[1] == data
    wait_queue_empty(server, "big.test")


def test_next_hop_that_never_greets_times_out_and_keeps_mail(etrnd_factory, sink_factory):
    mute = sink_factory("mute", greeting_delay_s=30)
    flags = TEST_FLAGS + ("--delivery_timeout=1s",)
    server = etrnd_factory(domains=f"mute.test {mute.next_hop} hold\n", flags=flags)
    token = harness.unique_token()
    assert send_one(server.port, SENDER, ["u@mute.test"],
                    build_message(token, "u@mute.test"))[0] == 250
    assert server.etrn("mute.test")[1] == started(1, "mute.test")
    wait_flushes_done(server, "mute.test", 1, timeout_s=20)
    assert [e["kind"] for e in mute.events()] == ["connect"]
    assert server.etrn("mute.test")[1] == started(1, "mute.test")


def test_flush_at_the_smallest_cpu_share_finishes_while_a_client_keeps_talking(
        etrnd_factory, sink_factory):
    """--delivery_cpu_share_while_busy budgets deliveries while clients are
    active; at its smallest (1 %) a flush still finishes, exactly once, and
    the busy client is answered throughout. One core, so the client is
    active on the core that flushes."""
    sink = sink_factory("share")
    server = etrnd_factory(domains="share.test %s hold\n" % sink.next_hop,
                           flags=list(TEST_FLAGS) + ["--threads=1",
                                                     "--delivery_cpu_share_while_busy=1"])
    count = 300
    batch = [(SENDER, ["u%d@share.test" % i], build_message(harness.unique_token(),
                                                            "u%d@share.test" % i, SENDER))
             for i in range(count)]
    queue_messages(server.port, batch, connections=4)
    stop = threading.Event()
    noops = []

    def keep_talking():
        with server.smtp() as client:
            while not stop.is_set():
                noops.append(client.noop()[0])
                time.sleep(0.001)

    talker = threading.Thread(target=keep_talking)
    talker.start()
    try:
        time.sleep(0.2)
        assert server.etrn("share.test")[1] == started(count, "share.test")
        received = sink.wait_for_messages(count, timeout_s=120)
    finally:
        stop.set()
        talker.join(timeout=30)
    assert len({token_of(m.data) for m in received}) == count
    assert len(noops) > 50 and set(noops) == {250}, noops[-5:]
    wait_queue_empty(server, "share.test")
    assert len(sink.messages()) == count
