"""etrnctl (SPEC 9) against a real etrnd: the real etrnctl binary on the
control socket. queue/list/show counts are exact, flush delivers, hold makes
ETRN answer 458 and survives a restart, delete and bounce survive kill -9,
exit codes 1 and 2, reload, and a 1e5-message queue listed in bounded time."""

import json
import os
import re
import subprocess
import time

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, sink_factory,  # noqa: F401
                              wait_until)

SENDER = "sender@src.test"
QUEUED_AS = re.compile(r"queued as ([0-9A-F]{16})")


def send(server, rcpts, sender=SENDER, token=None):
    """One message; returns its queue id (from the DATA reply)."""
    token = token or harness.unique_token()
    with server.smtp() as s:
        s.ehlo()
        code, resp = s.mail(sender)
        assert code == 250, resp
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, resp
        code, resp = s.data(build_message(token, rcpts[0], sender))
        assert code == 250, resp
    return QUEUED_AS.search(resp.decode()).group(1)


def ctl(server, *args):
    rc, out, err = server.etrnctl(*args, json_output=True)
    assert rc == 0, (args, rc, out, err)
    return out


def queue_of(server):
    return ctl(server, "queue")["domains"]


def test_etrnctl_queue_list_show(server):
    ids = [send(server, ["a@example.com"]) for _ in range(3)]
    both = send(server, ["b@example.com", "c@example.org", "d@example.org"])
    domains = queue_of(server)
    assert set(domains) == {"example.com", "example.org"}
    assert domains["example.com"]["messages"] == 4
    assert domains["example.com"]["recipients"] == 4
    assert domains["example.org"]["messages"] == 1
    assert domains["example.org"]["recipients"] == 2
    for d in domains.values():
        assert d["bytes"] > 0 and d["oldest_age_s"] >= 0 and sum(d["ages"]) == d["messages"]

    listed = ctl(server, "list", "example.com")
    assert sorted(m["id"] for m in listed["messages"]) == sorted(ids + [both])
    assert {m["sender"] for m in listed["messages"]} == {SENDER}

    shown = ctl(server, "show", both)
    assert shown["id"] == both and shown["sender"] == SENDER
    assert [r["address"] for r in shown["recipients"]] == ["b@example.com", "c@example.org",
                                                          "d@example.org"]
    assert all(r["state"] == "queued" for r in shown["recipients"])
    assert "Subject: delivery test" in shown["headers"]

    rc, text, _ = server.etrnctl("queue")
    assert rc == 0 and "example.com" in text and "1280m+" in text
    rc, text, _ = server.etrnctl("list", "example.com")
    assert rc == 0 and ids[0] in text


def test_etrnctl_flush_delivers_without_acl(etrnd_factory, sink_factory):
    sink = sink_factory("flushsink")
    table = "held.test %s hold etrn=10.9.9.9/32\n" % sink.next_hop
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    ids = [send(server, ["u@held.test"]) for _ in range(2)]
    assert server.etrn("held.test")[0] == 459  # not from 127.0.0.1
    out = ctl(server, "flush", "held.test")
    assert out == {"argument": "held.test", "messages": 2}
    sink.wait_for_messages(2, timeout_s=30)
    wait_until(lambda: queue_of(server) == {}, 30, "an empty queue")
    assert ids[0] in server.log_text()


def test_etrnctl_hold_survives_restart_and_release_delivers(etrnd_factory, sink_factory):
    sink = sink_factory("holdsink")
    # Not a `hold` domain: without the operator's hold it is delivered at once.
    table = "live.test %s\n" % sink.next_hop
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    assert ctl(server, "hold", "live.test") == {"domain": "live.test", "held": True}
    send(server, ["u@live.test"])
    assert server.etrn("live.test")[0] == 458
    time.sleep(1.5)
    assert sink.messages() == []
    assert queue_of(server)["live.test"]["state"] == "held"
    assert server.stop() == 0
    assert not os.path.exists(server.control_socket)  # removed at a clean exit
    server.restart()
    assert server.etrn("live.test")[0] == 458
    time.sleep(1.5)
    assert sink.messages() == []
    assert ctl(server, "release", "live.test") == {"domain": "live.test", "held": False}
    sink.wait_for_messages(1, timeout_s=30)
    wait_until(lambda: queue_of(server) == {}, 30, "an empty queue")
    rc, _, err = server.etrnctl("release", "live.test")
    assert rc == 1 and "not held" in err


def test_etrnctl_delete_and_bounce_survive_kill9(etrnd_factory, sink_factory):
    bounces = sink_factory("bouncesink")
    table = harness.DEFAULT_DOMAINS + "src.test %s hold\n" % bounces.next_hop
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    gone = send(server, ["a@example.com", "b@example.org"])
    kept = send(server, ["a@example.com"])
    bounced = send(server, ["c@example.com"])
    for i in range(3):
        send(server, ["x%d@cust1.cust.test" % i])
    assert ctl(server, "delete", gone) == {"id": gone, "deleted_recipients": 2}
    assert ctl(server, "delete", "--domain", "cust1.cust.test") == {
        "domain": "cust1.cust.test", "deleted_recipients": 3}
    assert ctl(server, "bounce", bounced) == {"id": bounced, "bounced_recipients": 1}
    server.kill()
    server.restart()
    domains = queue_of(server)
    assert set(domains) == {"example.com", "src.test"}, domains
    assert [m["id"] for m in ctl(server, "list", "example.com")["messages"]] == [kept]
    # The DSN waits for the sender's (hold) domain; ETRN hands it over.
    assert domains["src.test"]["messages"] == 1
    assert server.etrn("src.test")[0] == 253
    dsn = bounces.wait_for_messages(1, timeout_s=30)[0]
    assert dsn.mail_from == "" and dsn.rcpts == [SENDER]
    assert bounced.encode() in dsn.data
    for verb in ("show", "delete", "bounce"):
        rc, _, err = server.etrnctl(verb, gone)
        assert rc == 1 and "no queued message" in err
    for line in ("etrnctl delete %s" % gone, "etrnctl bounce %s" % bounced,
                 "etrnctl delete --domain cust1.cust.test"):
        assert line in server.log_text()


def test_etrnctl_exit_codes_and_reload(server):
    rc, out, err = server.etrnctl("frobnicate")
    assert rc == 1 and "unknown command" in err
    rc, out, err = server.etrnctl("show", "not-an-id", json_output=True)
    assert rc == 1 and "error" in out
    rc, _, err = server.etrnctl("list", "nowhere.invalid-tld")
    assert rc == 1
    rc, _, _ = server.etrnctl("flush", "unknown.test")
    assert rc == 1
    rc = subprocess.run(
        [harness.ETRNCTL_BIN, "--socket", str(server.workdir / "nope.sock"), "queue"],
        capture_output=True, timeout=30).returncode
    assert rc == 2
    # reload: a new domain is accepted afterwards.
    with server.smtp() as s:
        s.ehlo()
        s.mail(SENDER)
        assert s.rcpt("u@new.test")[0] == 554
    server.write_domains(harness.DEFAULT_DOMAINS + "new.test 127.0.0.1:9 hold\n")
    out = ctl(server, "reload")
    assert out["reloaded"] is True and out["entries"] == 7
    send(server, ["u@new.test"])
    assert queue_of(server)["new.test"]["messages"] == 1
    server.write_domains("garbage line here\n")
    rc, _, err = server.etrnctl("reload")
    assert rc == 1 and "previous table" in err
    stats = ctl(server, "stats")
    assert stats["total"]["queued_messages"] == 1 and len(stats["cores"]) == 2
    server.stop()
    rc, _, _ = server.etrnctl("stats")
    assert rc == 2


BIG_MESSAGES = 100000
BIG_DOMAINS = 4


@pytest.mark.time_limit(600)
def test_etrnctl_queue_of_1e5_messages(etrnd_factory):
    if not os.access(harness.BLASTER_BIN, os.X_OK):
        pytest.fail("BLASTER_BIN %s is not an executable" % harness.BLASTER_BIN)
    table = "".join("d%d.test 127.0.0.1:9 hold\n" % i for i in range(BIG_DOMAINS))
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    proc = subprocess.run(
        [harness.BLASTER_BIN, "--target=127.0.0.1:%d" % server.port, "--connections=32",
         "--messages=%d" % BIG_MESSAGES, "--size=512", "--recipients=1",
         "--domains=%d" % BIG_DOMAINS, "--domain_pattern=d%d.test", "--json"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    summary = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert summary["messages_ok"] == BIG_MESSAGES, summary

    began = time.monotonic()
    domains = queue_of(server)
    queue_s = time.monotonic() - began
    assert len(domains) == BIG_DOMAINS
    assert sum(d["messages"] for d in domains.values()) == BIG_MESSAGES
    assert all(d["state"] == "etrn" for d in domains.values())

    biggest = max(domains, key=lambda d: domains[d]["messages"])
    began = time.monotonic()
    listed = ctl(server, "list", biggest)
    list_s = time.monotonic() - began
    assert len(listed["messages"]) == domains[biggest]["messages"]
    assert len({m["id"] for m in listed["messages"]}) == len(listed["messages"])

    # etrnd keeps serving SMTP meanwhile (the scans run in slices).
    began = time.monotonic()
    assert server.etrn(biggest)[0] == 253
    etrn_s = time.monotonic() - began
    print("\netrnctl --json queue (%d messages, %d domains): %.3f s" %
          (BIG_MESSAGES, BIG_DOMAINS, queue_s))
    print("etrnctl --json list %s (%d messages): %.3f s" %
          (biggest, len(listed["messages"]), list_s))
    print("ETRN reply: %.3f s" % etrn_s)
