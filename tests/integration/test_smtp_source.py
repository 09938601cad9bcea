"""Postfix's smtp-source load generator against etrnd: every message stored."""

import subprocess

import pytest

from harness import unique_token

SMTP_SOURCE = "/usr/sbin/smtp-source"
MESSAGES = 10000
SESSIONS = 32


def run_smtp_source(port, subject, messages, sessions, extra=(), timeout=600):
    # -N: a unique number before each recipient; -S: the subject we count;
    # -M: our HELO name. One message per connection unless -d is given.
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", "512", "-N",
            "-S", subject, "-M", "client.test", "-f", "sender@x.test",
            "-t", "rcpt@example.com"] + list(extra) + ["127.0.0.1:%d" % port]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)


@pytest.mark.time_limit(900)
def test_ten_thousand_messages_all_stored(server):
    subject = unique_token()
    proc = run_smtp_source(server.port, subject, MESSAGES, SESSIONS)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-3000:]
    assert server.spool_count("Subject: " + subject) == MESSAGES
    # The server still answers, and its queue index agrees with the spool.
    with server.smtp() as s:
        assert s.noop()[0] == 250
    code, line = server.etrn("example.com")
    assert line == "253 2.0.0 OK, %d pending messages for node example.com started" % MESSAGES


@pytest.mark.time_limit(300)
def test_smtp_source_reused_connections(server):
    subject = unique_token()
    proc = run_smtp_source(server.port, subject, 2000, 8, extra=["-d", "-r", "3"])
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")[-3000:]
    assert server.spool_count("Subject: " + subject) == 2000
