"""ETRN (SPEC 6, RFC 1985): every reply row, the three forms, access lists,
fetchmail as a real ETRN client, and SIGHUP reloads of the domains table."""

import os
import subprocess
import time

import pytest

import harness
from harness import DEAD_NEXT_HOP, DEFAULT_DOMAINS, RawSmtp, send_messages

SYNTAX_501 = "501 5.5.4 Syntax: ETRN [@|#]node"


def started(n, node):
    return "253 2.0.0 OK, %d pending messages for node %s started" % (n, node)


def nothing(node):
    return "251 2.0.0 OK, no messages waiting for node %s" % node


def not_allowed_prefix(node):
    return "459 4.7.1 Node %s not allowed: " % node


# ------------------------------------------------------------- syntax ----

def test_no_argument_501(server):
    assert server.etrn(None)[1] == SYNTAX_501


@pytest.mark.parametrize("arg", [
    "localhost",                          # no dot: not fully qualified
    "exa$mple.com",                       # bad character
    "a..example.com",                     # empty label
    "@",                                  # @ without a domain
    "example.com extra",                  # two arguments
    ".".join(["a" * 60] * 5) + ".com",    # 308 octets
])
def test_bad_syntax_501(server, arg):
    code, line = server.etrn(arg)
    assert line.startswith("501 5.5.4"), line


# ----------------------------------------------------------- sequence ----

def test_before_ehlo_503(server):
    with server.raw() as c:
        assert c.read_reply().code == 220
        reply = c.cmd("ETRN example.com")
        assert reply.code == 503 and reply.last.startswith("503 5.5.1"), reply
        c.cmd("EHLO client.test")
        assert c.cmd("ETRN example.com").last == nothing("example.com")


def test_inside_mail_transaction_503_then_allowed_after_data(server):
    token = harness.unique_token()
    with server.raw() as c:
        c.greet()
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("ETRN example.com").last.startswith("503 5.5.1")
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("ETRN example.com").last.startswith("503 5.5.1")
        # ETRN did not disturb the transaction.
        assert c.cmd("DATA").code == 354
        c.send(harness.make_message(token) + b".\r\n")
        assert c.read_reply().code == 250
        assert c.cmd("ETRN example.com").last == started(1, "example.com")


def test_after_rset_allowed(server):
    with server.raw() as c:
        c.greet()
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RSET").code == 250
        assert c.cmd("ETRN example.com").last == nothing("example.com")


def test_works_after_helo_too(server):
    with server.raw() as c:
        assert c.read_reply().code == 220
        assert c.cmd("HELO client.test").code == 250
        assert c.cmd("ETRN example.com").last == nothing("example.com")


# ------------------------------------------------------------ refusals ----

@pytest.mark.parametrize("arg", [
    "unknown.test",      # no entry
    "@com",              # wider than any customer
    "@test",             # parent of several customers' entries
    "#nosuchqueue",      # a queue name no entry uses
    "cust.test",         # `.cust.test` covers subdomains only
])
def test_not_served_459(server, arg):
    code, line = server.etrn(arg)
    assert line.startswith(not_allowed_prefix(arg)), line


def test_etrn_cidr_restricts_client_address(server):
    # restricted.test has etrn=127.0.0.1/32.
    code, line = server.etrn("restricted.test", source="127.0.0.2")
    assert line.startswith(not_allowed_prefix("restricted.test")), line
    code, line = server.etrn("@restricted.test", source="127.0.0.2")
    assert line.startswith(not_allowed_prefix("@restricted.test")), line
    assert server.etrn("restricted.test", source="127.0.0.1")[1] == nothing("restricted.test")
    send_messages(server.port, 2, rcpts=("u@restricted.test",))
    assert server.etrn("restricted.test", source="127.0.0.1")[1] == \
        started(2, "restricted.test")
    assert server.etrn("restricted.test", source="127.0.0.2")[1].startswith(
        not_allowed_prefix("restricted.test"))


# ------------------------------------------------------------- counts ----

def test_nothing_queued_251(server):
    assert server.etrn("example.com")[1] == nothing("example.com")
    assert server.etrn("@example.com")[1] == nothing("@example.com")
    assert server.etrn("#orgq")[1] == nothing("#orgq")
    assert server.etrn("sub.example.com")[1] == nothing("sub.example.com")


def test_exact_count_253(server):
    send_messages(server.port, 3)
    assert server.etrn("example.com")[1] == started(3, "example.com")
    # A second ETRN while the first flush may still run: same count.
    assert server.etrn("example.com")[1] == started(3, "example.com")


def test_reply_echoes_argument_as_sent(server):
    send_messages(server.port, 1)
    assert server.etrn("Example.COM")[1] == started(1, "Example.COM")
    assert server.etrn("@EXAMPLE.com")[1] == started(1, "@EXAMPLE.com")


def test_message_counted_once_per_domain(server):
    # Two recipients in example.com: one message for node example.com.
    send_messages(server.port, 2, rcpts=("a@example.com", "b@example.com"))
    # One message with recipients in example.com and in a subdomain.
    send_messages(server.port, 1, rcpts=("c@example.com", "d@a.example.com"))
    send_messages(server.port, 1, rcpts=("e@b.example.com",))
    assert server.etrn("example.com")[1] == started(3, "example.com")
    assert server.etrn("a.example.com")[1] == started(1, "a.example.com")
    assert server.etrn("b.example.com")[1] == started(1, "b.example.com")
    assert server.etrn("c.example.com")[1] == nothing("c.example.com")
    # @: summed over the matched domains (example.com 3, a. 1, b. 1).
    assert server.etrn("@example.com")[1] == started(5, "@example.com")


def test_other_domains_not_counted(server):
    send_messages(server.port, 2, rcpts=("a@example.org",))
    assert server.etrn("example.com")[1] == nothing("example.com")
    assert server.etrn("example.org")[1] == started(2, "example.org")


def test_named_queue(server):
    # example.org and example.net both have queue=orgq.
    send_messages(server.port, 2, rcpts=("a@example.org",))
    send_messages(server.port, 1, rcpts=("a@example.net",))
    send_messages(server.port, 4, rcpts=("a@example.com",))
    assert server.etrn("#orgq")[1] == started(3, "#orgq")
    assert server.etrn("example.net")[1] == started(1, "example.net")


def test_at_form_skips_subdomains_the_client_may_not_etrn(etrnd_factory):
    domains = DEFAULT_DOMAINS + "secret.cust.test %s hold etrn=10.0.0.0/8\n" % DEAD_NEXT_HOP
    srv = etrnd_factory(domains=domains)
    send_messages(srv.port, 1, rcpts=("u@a.cust.test",))
    send_messages(srv.port, 2, rcpts=("u@b.cust.test",))
    send_messages(srv.port, 4, rcpts=("u@secret.cust.test",))
    assert srv.etrn("@cust.test")[1] == started(3, "@cust.test")
    assert srv.etrn("secret.cust.test")[1].startswith(not_allowed_prefix("secret.cust.test"))
    assert srv.etrn("b.cust.test")[1] == started(2, "b.cust.test")


def test_etrn_flood_gets_25x_or_458_and_session_stays(server):
    send_messages(server.port, 1)
    n = 2000
    with server.raw() as c:
        c.greet()
        c.send(b"ETRN example.com\r\n" * n)
        lines = [c.read_reply().last for _ in range(n)]
        allowed = {started(1, "example.com"), "458 4.3.0 Unable to queue messages for node example.com"}
        assert set(lines) <= allowed, set(lines) - allowed
        assert c.cmd("NOOP").code == 250


def test_rate_limit_is_exact_across_sessions_on_both_cores(etrnd_factory):
    """The client's bucket lives on one core; sessions on the other core count
    while it answers. Either way a refused ETRN starts nothing and the
    burst is exact: 12 sessions (spread over both cores), 3 allowed."""
    server = etrnd_factory(flags=["--threads=2", "--etrn_burst=3", "--etrn_rate=0.001"])
    send_messages(server.port, 2)
    replies = [server.etrn("example.com")[1] for _ in range(12)]
    rate_limited = "458 4.3.0 Unable to queue messages for node example.com"
    assert replies.count(started(2, "example.com")) == 3, replies
    assert replies.count(rate_limited) == 9, replies
    log = server.log_text()
    assert log.count("ETRN example.com from 127.0.0.1: 253 count=2") == 3, log[-4000:]
    # Only the allowed ETRNs start the flush (it is not started twice while
    # it runs, and the next hop refuses, so between 1 and 3 starts).
    assert 1 <= log.count("flush example.com: 2 messages") <= 3, log[-4000:]


# ----------------------------------------------------------- fetchmail ----

def run_fetchmail(port, domain, home):
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home), LC_ALL="C")
    proc = subprocess.run(
        ["fetchmail", "--protocol", "ETRN", "--fetchdomains", domain, "-v",
         "--port", str(port), "127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, timeout=60)
    return proc.returncode, proc.stdout.decode(errors="replace")


def test_fetchmail_etrn_mode(server, tmp_path):
    # fetchmail exits 0 (started) or 1 (nothing waiting) on success, 3 on 459.
    rc, out = run_fetchmail(server.port, "example.com", tmp_path / "fm1")
    assert rc in (0, 1), out
    assert "ETRN< " + nothing("example.com") in out, out

    send_messages(server.port, 2)
    rc, out = run_fetchmail(server.port, "example.com", tmp_path / "fm2")
    assert rc in (0, 1), out
    assert "ETRN< " + started(2, "example.com") in out, out

    rc, out = run_fetchmail(server.port, "unknown.test", tmp_path / "fm3")
    assert rc == 3, out
    assert "ETRN< " + not_allowed_prefix("unknown.test") in out, out


# -------------------------------------------------------------- reload ----

def wait_for(predicate, timeout_s=10, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("%s not reached within %d s" % (what, timeout_s))


def rcpt_code(srv, address):
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        return s.rcpt(address)[0]


def test_sighup_reload_adds_domain_without_dropping_sessions(server):
    send_messages(server.port, 2)
    assert rcpt_code(server, "u@newcustomer.test") == 554
    held = RawSmtp(server.port)
    try:
        held.greet()
        assert held.cmd("MAIL FROM:<b@x.test>").code == 250
        assert held.cmd("RCPT TO:<a@example.com>").code == 250
        server.reload(DEFAULT_DOMAINS + "newcustomer.test %s hold\n" % DEAD_NEXT_HOP)
        wait_for(lambda: rcpt_code(server, "u@newcustomer.test") == 250,
                 what="RCPT to the added domain accepted")
        # The open session survived the reload and its transaction goes on.
        assert held.cmd("RCPT TO:<u@newcustomer.test>").code == 250
        assert held.cmd("DATA").code == 354
        held.send(harness.make_message(harness.unique_token()) + b".\r\n")
        assert held.read_reply().code == 250
    finally:
        held.close()
    assert server.alive()
    # Queued mail is still there and counted.
    assert server.etrn("example.com")[1] == started(3, "example.com")
    assert server.etrn("newcustomer.test")[1] == started(1, "newcustomer.test")


def test_sighup_reload_removes_domain(server):
    assert rcpt_code(server, "u@example.net") == 250
    server.reload(DEFAULT_DOMAINS.replace("example.net", "example.invalid"))
    wait_for(lambda: rcpt_code(server, "u@example.net") == 554,
             what="RCPT to the removed domain refused")


def test_malformed_reload_keeps_previous_table(server):
    bad = DEFAULT_DOMAINS + "brandnew.test %s hold\nexample.biz 127.0.0.1:25 frobnicate\n" % \
        DEAD_NEXT_HOP
    bad_line = len(DEFAULT_DOMAINS.splitlines()) + 2
    server.reload(bad)
    location = "%s:%d" % (server.domains_file, bad_line)
    wait_for(lambda: location in server.log_text(), what="reload error naming %s" % location)
    assert server.alive()
    assert rcpt_code(server, "u@example.com") == 250
    assert rcpt_code(server, "u@brandnew.test") == 554
    # A later good reload still works.
    server.reload(DEFAULT_DOMAINS + "brandnew.test %s hold\n" % DEAD_NEXT_HOP)
    wait_for(lambda: rcpt_code(server, "u@brandnew.test") == 250, what="good reload applied")
