"""SMTP service (SPEC 5) with Python's smtplib and a raw socket client."""

import smtplib

import pytest

import harness
from harness import make_message, spool_find, unique_token

MAX_RECIPIENTS = 5


@pytest.fixture
def srv(etrnd_factory):
    return etrnd_factory(flags=["--max_recipients=%d" % MAX_RECIPIENTS])


def test_ehlo_advertises_required_extensions(srv):
    with srv.smtp() as s:
        code, _ = s.ehlo()
        assert code == 250
        features = s.esmtp_features
        for ext in ("pipelining", "8bitmime", "enhancedstatuscodes", "etrn"):
            assert ext in features, features
        assert features["size"].strip() == "10485760"


def test_greeting_and_ehlo_name_the_host(srv):
    with srv.raw() as c:
        greeting = c.read_reply()
        assert greeting.code == 220 and "mx.test" in greeting.last
        ehlo = c.cmd("EHLO client.test")
        assert ehlo.code == 250 and "mx.test" in ehlo.lines[0]


def test_helo_works(srv):
    with srv.smtp() as s:
        code, _ = s.helo()
        assert code == 250
        assert s.mail("b@x.test")[0] == 250


def test_message_stored_byte_exact_with_one_received_header(srv):
    token = unique_token()
    # Lines starting with a dot travel dot-stuffed (smtplib does it) and must
    # be stored unstuffed; a lone "." line inside the body must not end DATA.
    message = (b"From: <b@x.test>\r\nTo: <a@example.com>\r\nSubject: exact\r\n\r\n"
               b"first line " + token.encode() + b"\r\n"
               b".hidden\r\n..two dots\r\n.\r\n \r\n\tTab line\r\nlast line\r\n")
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        assert s.rcpt("a@example.com")[0] == 250
        code, resp = s.data(message)
        assert code == 250, resp
    assert srv.spool_count(token) == 1
    data, at = spool_find(srv.spool_dir, message)
    header = data[:at][data[:at].rfind(b"Received:"):]
    assert header.startswith(b"Received:"), "no Received: header before the message"
    assert header.endswith(b"\r\n") and b"\r\n\r\n" not in header
    assert b"mx.test" in header
    assert len(header) < 1000


def test_eight_bit_body_stored_byte_exact(srv):
    token = unique_token()
    message = ("Subject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n\u00e9t\u00e9 \u2603 %s\r\n" % token).encode()
    message += bytes(range(0x80, 0x100)) + b"\r\n"
    with srv.smtp() as s:
        s.ehlo()
        assert s.mail("b@x.test", ["BODY=8BITMIME"])[0] == 250
        assert s.rcpt("a@example.com")[0] == 250
        code, resp = s.data(message)
        assert code == 250, resp
    spool_find(srv.spool_dir, message)


def test_raw_dot_stuffing_unstuffed(srv):
    token = unique_token().encode()
    wire = b"Subject: dots\r\n\r\n..leading\r\n...three\r\n" + token + b"\r\n"
    stored = b"Subject: dots\r\n\r\n.leading\r\n..three\r\n" + token + b"\r\n"
    assert harness.send_raw_message(srv.port, wire).code == 250
    spool_find(srv.spool_dir, stored)


def test_relay_access_denied_exact_text(srv):
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        code, msg = s.rcpt("someone@unknown.test")
        assert (code, msg) == (554, b"5.7.1 <someone@unknown.test>: Relay access denied")
        # The parent of a `.example.com` entry's subdomains is not covered by it,
        # but example.com has its own entry; a sibling domain is not.
        code, msg = s.rcpt("x@notexample.com")
        assert (code, msg) == (554, b"5.7.1 <x@notexample.com>: Relay access denied")
        # The transaction goes on after a refused recipient.
        assert s.rcpt("a@example.com")[0] == 250


def test_recipient_domains_match_case_insensitively_and_subdomains(srv):
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        assert s.rcpt("User@EXAMPLE.COM")[0] == 250
        assert s.rcpt("u@deep.sub.example.com")[0] == 250
        assert s.rcpt("u@a.CUST.test")[0] == 250
        # `.cust.test` covers subdomains only, not cust.test itself.
        assert s.rcpt("u@cust.test")[0] == 554


def test_null_sender_accepted(srv):
    token = unique_token()
    with srv.smtp() as s:
        s.ehlo()
        assert s.docmd("MAIL FROM:<>")[0] == 250
        assert s.rcpt("a@example.com")[0] == 250
        assert s.data(make_message(token))[0] == 250
    assert srv.spool_count(token) == 1


def test_vrfy_replies_252(srv):
    with srv.smtp() as s:
        s.ehlo()
        code, _ = s.verify("a@example.com")
        assert code == 252


def test_noop_rset_help_quit(srv):
    with srv.raw() as c:
        c.greet()
        assert c.cmd("NOOP").code == 250
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250
        assert c.cmd("RSET").code == 250
        # RSET ended the transaction: DATA is now out of sequence.
        assert c.cmd("DATA").code == 503
        assert c.cmd("HELP").code in (211, 214)
        assert c.cmd("QUIT").code == 221
        assert c.read_until_closed() == b""


def test_mail_size_parameter(srv):
    with srv.smtp() as s:
        s.ehlo()
        code, msg = s.docmd("MAIL FROM:<b@x.test> SIZE=10485761")
        assert code == 552, msg
        code, _ = s.docmd("MAIL FROM:<b@x.test> SIZE=10485760")
        assert code == 250


def test_message_over_max_size_refused_at_end_of_data(etrnd_factory):
    srv = etrnd_factory(flags=["--max_message_size=4096"])
    token = unique_token()
    with srv.smtp() as s:
        s.ehlo()
        assert s.esmtp_features["size"].strip() == "4096"
        assert s.mail("b@x.test")[0] == 250
        assert s.rcpt("a@example.com")[0] == 250
        code, _ = s.data(make_message(token, extra_body=b"x" * 70 + b"\r\n") * 100)
        assert code == 552
        assert s.noop()[0] == 250
    assert srv.spool_count(token) == 0


def test_too_many_recipients_452(srv):
    token = unique_token()
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        for i in range(MAX_RECIPIENTS):
            assert s.rcpt("r%d@example.com" % i)[0] == 250
        code, msg = s.rcpt("one.too.many@example.com")
        assert code == 452, msg
        # The accepted recipients still get the message.
        assert s.data(make_message(token))[0] == 250
    assert srv.spool_count(token) == 1


@pytest.mark.parametrize("commands", [
    ["RCPT TO:<a@example.com>"],                              # RCPT before MAIL
    ["DATA"],                                                 # DATA before MAIL
    ["MAIL FROM:<b@x.test>", "MAIL FROM:<b@x.test>"],         # nested MAIL
])
def test_wrong_order_503(srv, commands):
    with srv.raw() as c:
        c.greet()
        for command in commands[:-1]:
            assert c.cmd(command).code == 250
        assert c.cmd(commands[-1]).code == 503
        assert c.cmd("NOOP").code == 250


def test_data_without_recipients_refused(srv):
    with srv.raw() as c:
        c.greet()
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("DATA").code in (503, 554)  # RFC 5321 3.3 allows either
        assert c.cmd("NOOP").code == 250


def test_unknown_verb_500_and_session_goes_on(srv):
    with srv.raw() as c:
        c.greet()
        assert c.cmd("FROBNICATE now").code == 500
        assert c.cmd("XYZZY").code == 500
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RCPT TO:<a@example.com>").code == 250


def test_command_line_limit_512_octets_crlf_included(srv):
    with srv.raw() as c:
        c.greet()
        # "NOOP " + 505 + CRLF = 512 octets: allowed (RFC 5321 NOOP [SP String]).
        assert c.cmd("NOOP " + "x" * 505).code == 250
        assert c.cmd("NOOP " + "x" * 506).code == 500      # 513 octets
        assert c.cmd("NOOP " + "x" * 593).code == 500      # 600 octets
        assert c.cmd("MAIL FROM:<" + "a" * 580 + "@x.test>").code == 500
        assert c.cmd("NOOP").code == 250
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250


def test_very_long_command_line_500_then_session_goes_on(srv):
    with srv.raw() as c:
        c.greet()
        reply = c.cmd("NOOP " + "y" * 20000)
        assert reply.code == 500
        assert c.cmd("NOOP").code == 250


def test_pipelined_commands_answered_in_order(srv):
    token = unique_token()
    with srv.raw() as c:
        c.read_reply()
        c.send("EHLO client.test\r\nMAIL FROM:<b@x.test>\r\nRCPT TO:<a@example.com>\r\n"
               "RCPT TO:<x@unknown.test>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n")
        codes = [c.read_reply().code for _ in range(6)]
        assert codes == [250, 250, 250, 554, 250, 354]
        c.send(make_message(token) + b".\r\nNOOP\r\nQUIT\r\n")
        assert [c.read_reply().code for _ in range(3)] == [250, 250, 221]
    assert harness.spool_count(srv.spool_dir, token) == 1


def _data_exchange(c, body):
    """MAIL/RCPT/DATA, then `body` followed by CRLF.CRLF; returns the reply."""
    assert c.cmd("MAIL FROM:<b@x.test>").code == 250
    assert c.cmd("RCPT TO:<a@example.com>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(body + b"\r\n.\r\n")
    return c.read_reply()


def test_bare_lf_in_data_refused_at_end(srv):
    token = unique_token().encode()
    with srv.raw() as c:
        c.greet()
        reply = _data_exchange(c, b"Subject: lf\r\n\r\nline one\nline two " + token)
        assert 500 <= reply.code < 600, reply
        assert c.cmd("NOOP").code == 250
    assert srv.spool_count(token) == 0


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n"])
def test_lf_dot_lf_never_ends_data(srv, fake_end):
    """SMTP smuggling: the bytes after a fake end of data must not run as commands."""
    token = unique_token().encode()
    smuggled = (b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nsmuggled " + token)
    with srv.raw() as c:
        c.greet()
        reply = _data_exchange(c, b"Subject: outer\r\n\r\nouter" + fake_end + smuggled)
        assert 500 <= reply.code < 600, reply
        # Exactly one reply for the whole DATA: the next one answers our NOOP.
        noop = c.cmd("NOOP")
        assert noop.code == 250, noop
        assert c.nothing_pending()
    assert srv.spool_count(token) == 0
    assert srv.spool_count(b"evil@x.test") == 0


def test_text_line_limit_1000_octets_crlf_included(srv):
    ok_token = unique_token().encode()
    long_token = unique_token().encode()
    with srv.raw() as c:
        c.greet()
        line_1000 = ok_token + b"a" * (998 - len(ok_token))   # + CRLF = 1000
        reply = _data_exchange(c, b"Subject: ok\r\n\r\n" + line_1000)
        assert reply.code == 250, reply
        line_1001 = long_token + b"b" * (999 - len(long_token))  # + CRLF = 1001
        reply = _data_exchange(c, b"Subject: long\r\n\r\n" + line_1001)
        assert reply.code in (552, 554), reply
        assert c.cmd("NOOP").code == 250
    assert srv.spool_count(line_1000 + b"\r\n") == 1
    assert srv.spool_count(long_token) == 0


def test_1200_octet_text_line_refused_never_truncated(srv):
    token = unique_token()
    with srv.smtp() as s:
        assert s.mail("b@x.test")[0] == 250
        assert s.rcpt("a@example.com")[0] == 250
        code, _ = s.data(make_message(token, extra_body=b"z" * 1198 + b"\r\n"))
        assert code in (552, 554)
        assert s.noop()[0] == 250
    assert srv.spool_count(token) == 0


def test_several_messages_one_session_each_stored_once(srv):
    tokens = harness.send_messages(srv.port, 20, rcpts=("a@example.com", "b@sub.example.com"))
    for token in tokens:
        assert srv.spool_count(token) == 1


def test_smtplib_sendmail_refusal_raises_for_all_refused(srv):
    with srv.smtp() as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("b@x.test", ["x@unknown.test"], make_message(unique_token()))
