"""SIGHUP and the domains table (SPEC 3, 4): mail for a domain removed from
the table stays queued, with no delivery attempt, no DNS route and no bounce,
until the domain returns; a table with a public-suffix pattern is refused at
start-up and on reload, naming file and line."""

import time

import harness
from delivery_helpers import (TEST_FLAGS, build_message, send_one, started, wait_flushes_done,
                              wait_until)
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

SENDER = "sender@x.test"
# Several --retry_max=2s periods: long enough for any retry to have fired.
REMOVED_WATCH_S = 5


def rcpt_events(sink):
    return [e for e in sink.events() if e["kind"] == "rcpt"]


def wait_reloaded(server, count):
    wait_until(lambda: server.log_text().count("SIGHUP: domains table reloaded") >= count, 10,
               "reload %d applied" % count)


def test_removed_domain_keeps_mail_queued_until_it_returns(etrnd_factory, sink_factory):
    deferring = sink_factory("deferring", rcpt_reply="451 4.3.0 Try again later")
    table = f"d.test {deferring.next_hop}\ne.test {deferring.next_hop}\n"
    server = etrnd_factory(domains=table, flags=TEST_FLAGS)
    tokens = {}
    for domain in ("d.test", "e.test"):
        token = harness.unique_token()
        rcpt = "u@" + domain
        assert send_one(server.port, SENDER, [rcpt], build_message(token, rcpt))[0] == 250
        tokens[domain] = token
    wait_flushes_done(server, "d.test", 1)
    wait_flushes_done(server, "e.test", 1)

    # A table mistake: both customers gone (and the table not empty).
    server.reload(f"other.test {deferring.next_hop} hold\n")
    wait_reloaded(server, 1)
    attempts = len(rcpt_events(deferring))
    log_before = len(server.log_text())
    time.sleep(REMOVED_WATCH_S)
    log = server.log_text()[log_before:]
    assert len(rcpt_events(deferring)) == attempts, "delivery tried for a removed domain"
    for domain in ("d.test", "e.test"):
        assert "flush %s done" % domain not in log, log  # never routed (no DNS, no MX)
        assert server.spool_count("token " + tokens[domain]) == 1
    assert "Host or domain name not found" not in log, log
    assert "status=bounced" not in log and "bounce queued" not in log, log
    assert "not in the domains table" in log, log
    # Still refused at RCPT and at ETRN: the domain is not served.
    assert server.etrn("d.test")[0] == 459

    # Back in the table: d.test (not hold) is delivered at once, e.test
    # (now hold) is counted and delivered on ETRN.
    sink = sink_factory("customer")
    server.reload(f"d.test {sink.next_hop}\ne.test {sink.next_hop} hold\n")
    wait_reloaded(server, 2)
    delivered = sink.wait_for_messages(1, timeout_s=30)
    assert [m.rcpts for m in delivered] == [["u@d.test"]]
    assert tokens["d.test"].encode() in delivered[0].data
    assert server.etrn("e.test")[1] == started(1, "e.test")
    delivered = sink.wait_for_messages(2, timeout_s=30)
    assert sorted(m.rcpts[0] for m in delivered) == ["u@d.test", "u@e.test"]
    assert "bounce queued" not in server.log_text()


PUBLIC_SUFFIX_TABLE = "example.com 127.0.0.1:9 hold\n.com mx\n"


def test_public_suffix_pattern_refused_at_start(tmp_path):
    domains = tmp_path / "domains.conf"
    domains.write_text(PUBLIC_SUFFIX_TABLE)
    rc, output = harness.run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--domains_file=%s" % domains, "--threads=1"], cwd=tmp_path)
    assert rc != 0, output
    assert "%s:2:" % domains in output, output
    assert "public suffix" in output, output


def test_public_suffix_pattern_refused_on_reload(server):
    server.reload(harness.DEFAULT_DOMAINS + PUBLIC_SUFFIX_TABLE.splitlines()[1] + "\n")
    location = "%s:%d" % (server.domains_file, len(harness.DEFAULT_DOMAINS.splitlines()) + 1)
    wait_until(lambda: location in server.log_text(), 10, "reload error naming " + location)
    assert "public suffix" in server.log_text()
    assert server.alive()
    # The previous table stays in force: served domains still accepted,
    # .com's domains still refused.
    with server.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        assert s.rcpt("u@example.com")[0] == 250
        assert s.rcpt("u@anything.com")[0] == 554


def test_cidr_with_host_bits_refused_at_start(tmp_path):
    domains = tmp_path / "domains.conf"
    domains.write_text("# customers\nexample.com 127.0.0.1:9 hold etrn=10.0.0.1/8\n")
    rc, output = harness.run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--domains_file=%s" % domains, "--threads=1"], cwd=tmp_path)
    assert rc != 0, output
    assert "%s:2:" % domains in output and "host bits set" in output, output
