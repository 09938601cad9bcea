"""Protocol details of SPEC 5 and 6 with the real etrnd (issue 12 item 8):
a NUL in DATA refuses the message at the final dot; 8-bit bytes in an ETRN
argument get 501 5.5.4; RCPT TO:<postmaster> is accepted and reaches the
--postmaster address, routed like a bounce; a source route with no mailbox
is not the null path; a recipient given twice is delivered once."""

import time

import pytest

import harness
from delivery_helpers import TEST_FLAGS, build_message, dot_stuff, strip_received, token_of
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)
from test_mx_routing import dns_server  # noqa: F401 (a fixture)

SENDER = "sender@x.test"
# How long a sink is watched for a second copy that must not come.
EXTRA_DELIVERY_WATCH_S = 1.5


def live_table(sink, *domains):
    """Non-hold entries: mail goes to the sink on arrival."""
    return "".join("%s %s\n" % (domain, sink.next_hop) for domain in domains)


def send_raw_transaction(server, rcpts, body):
    """MAIL, the RCPTs (each must get 250), DATA and `body` (ending with
    CRLF; dot-stuffed here) then the final dot; returns the final reply and
    checks that the session goes on."""
    with server.raw() as c:
        c.greet()
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        for rcpt in rcpts:
            reply = c.cmd(b"RCPT TO:<" + rcpt.encode() + b">")
            assert reply.code == 250, (rcpt, reply)
        assert c.cmd("DATA").code == 354
        c.send(dot_stuff(body) + b".\r\n")
        final = c.read_reply()
        assert c.cmd("NOOP").code == 250
        assert c.cmd("QUIT").code == 221
        return final


def assert_delivered_once(sink, token, rcpts):
    got = sink.wait_for_messages(1, timeout_s=30)
    time.sleep(EXTRA_DELIVERY_WATCH_S)  # a second copy would show up now
    got = sink.messages()
    assert len(got) == 1, got
    assert token_of(got[0].data) == token
    assert got[0].mail_from == SENDER
    assert got[0].rcpts == rcpts
    return got[0]


# ------------------------------------------------------------------ NUL ----

@pytest.mark.parametrize("body", [
    b"Subject: nul\r\n\r\nbefore\x00after\r\n",
    b"\x00\r\n",
    b"Subject: nul\r\n\r\nend of line\x00\r\n",
    b"Subject: nul\r\n\r\n.\x00stuffed\r\n",
])
def test_nul_in_data_refused_at_final_dot_nothing_queued(server, body):
    token = harness.unique_token().encode()
    reply = send_raw_transaction(server, ["a@example.com"], body + b"tok " + token + b"\r\n")
    assert reply.code == 554, reply
    assert reply.last.startswith("554 5.6.0 "), reply
    assert "NUL" in reply.last
    assert server.spool_count(token) == 0
    # The next message of a fresh session is still accepted.
    clean = harness.unique_token()
    assert harness.send_raw_message(server.port, harness.make_message(clean)).code == 250
    assert server.spool_count(clean) == 1


# ----------------------------------------------------------------- ETRN ----

@pytest.mark.parametrize("argument", [
    "ex\u00e4mple.com".encode("utf-8"),
    "ex\u00e4mple.com".encode("latin-1"),
    b"@\xc3\xa4.example.com",
    b"#q\xff",
])
def test_etrn_with_eight_bit_argument_501(server, argument):
    with server.raw() as c:
        c.greet()
        reply = c.cmd(b"ETRN " + argument)
        assert reply.code == 501, reply
        assert reply.last.startswith("501 5.5.4 "), reply
        # A syntax error, not a refusal of the node: the session goes on.
        assert c.cmd("ETRN example.com").code in (251, 253)
        assert c.cmd("NOOP").code == 250


def test_eight_bit_etrn_counts_as_one_error(etrnd_factory):
    server = etrnd_factory(flags=("--max_errors=3",))
    with server.raw() as c:
        c.greet()
        for _ in range(3):
            assert c.cmd(b"ETRN ex\xc3\xa4mple.com").code == 501
        # Three errors so far, the limit is "more than 3": still open.
        assert c.cmd("NOOP").code == 250
        assert c.cmd(b"ETRN ex\xc3\xa4mple.com").code == 501
        assert c.read_reply().code == 421


# ----------------------------------------------------------- postmaster ----

def test_postmaster_accepted_and_delivered_once_to_the_postmaster_address(
        etrnd_factory, sink_factory):
    sink = sink_factory("pm")
    table = harness.DEFAULT_DOMAINS + live_table(sink, "pm.test")
    server = etrnd_factory(domains=table, flags=TEST_FLAGS + ("--postmaster=pm@pm.test",))
    token = harness.unique_token()
    data = build_message(token, "postmaster", SENDER)
    # Domainless in any case, and at our own --hostname (mx.test, not in the
    # table): all the same mailbox, so one delivery.
    reply = send_raw_transaction(server, ["postmaster", "PostMaster", "postmaster@MX.test"], data)
    assert reply.code == 250, reply
    delivered = assert_delivered_once(sink, token, ["pm@pm.test"])
    received, rest = strip_received(delivered.data)
    assert rest == data
    assert b"for <pm@pm.test>" in received


def test_postmaster_default_is_postmaster_at_hostname(etrnd_factory):
    server = etrnd_factory()  # --hostname=mx.test, mx.test not in the table
    token = harness.unique_token()
    with server.smtp() as s:
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt("postmaster") == (250, b"2.1.5 Ok")
        assert s.data(harness.make_message(token, "postmaster"))[0] == 250
    assert server.spool_count(token) == 1
    assert server.spool_count(b"postmaster@mx.test") >= 1


def test_postmaster_outside_the_table_is_routed_by_mx_like_a_bounce(
        etrnd_factory, sink_factory, dns_server):
    sink = sink_factory("mx")
    # mxdom.test is not in the table: its MX (from dnsmasq) is the sink.
    flags = TEST_FLAGS + ("--dns_server=" + dns_server, "--mx_port=%d" % sink.port,
                          "--postmaster=hostmaster@mxdom.test")
    server = etrnd_factory(flags=flags)
    with server.smtp() as s:
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt("u@mxdom.test")[0] == 554  # not a customer domain
    token = harness.unique_token()
    data = build_message(token, "postmaster", SENDER)
    assert send_raw_transaction(server, ["postmaster"], data).code == 250
    assert_delivered_once(sink, token, ["hostmaster@mxdom.test"])


# ---------------------------------------------------------------- paths ----

@pytest.mark.parametrize("path", ["<@a.b:>", "<@a.b,@c.d:>", "<@a.b:> SIZE=10"])
def test_source_route_without_mailbox_501(server, path):
    with server.raw() as c:
        c.greet()
        reply = c.cmd("MAIL FROM:" + path)
        assert reply.code == 501, reply
        # Not taken as the null sender: no transaction was opened.
        assert c.cmd("RCPT TO:<a@example.com>").code == 503


def test_source_route_is_accepted_and_ignored(server):
    token = harness.unique_token()
    with server.raw() as c:
        c.greet()
        assert c.cmd("MAIL FROM:<@a.b:user@c.d>").code == 250
        assert c.cmd("RCPT TO:<@r1.example,@r2.example:a@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(harness.make_message(token) + b".\r\n")
        assert c.read_reply().code == 250
    assert server.spool_count(token) == 1
    assert server.spool_count(b"@a.b:") == 0


# ----------------------------------------------------------- duplicates ----

def test_duplicate_recipient_250_twice_delivered_once(etrnd_factory, sink_factory):
    sink = sink_factory("dup")
    server = etrnd_factory(domains=live_table(sink, "dup.test"), flags=TEST_FLAGS)
    token = harness.unique_token()
    data = build_message(token, "bob@dup.test", SENDER)
    # Domain compared case-insensitively; the local part exactly.
    reply = send_raw_transaction(
        server, ["bob@dup.test", "bob@DUP.test", "bob@dup.test", "Bob@dup.test"], data)
    assert reply.code == 250, reply
    delivered = assert_delivered_once(sink, token, ["bob@dup.test", "Bob@dup.test"])
    assert strip_received(delivered.data)[1] == data
