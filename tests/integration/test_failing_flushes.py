"""Many failing flushes at once: a spool (spool-gen --parent) of 2000 held
subdomains of parent.test, 3 messages each, all routed to a port where
nothing listens. One `ETRN @parent.test` starts 2000 flushes that fail
together (issue 13). The server keeps answering other sessions meanwhile,
every domain gets its attempt (a "flush ... done" line, a deferral of each
message with the reason in `etrnctl list`), and nothing is lost: the queue
holds every message afterwards and the next ETRN counts them all again."""

import os
import re
import smtplib
import subprocess
import threading

import pytest

import harness
from delivery_helpers import started, wait_until

SPOOL_GEN_BIN = os.environ.get(
    "SPOOL_GEN_BIN", os.path.join(os.path.dirname(harness.ETRND_BIN), "spool-gen"))

PARENT = "parent.test"
DOMAINS = 2000
PER_DOMAIN = 3
MESSAGES = DOMAINS * PER_DOMAIN
# Domains whose messages etrnctl lists one by one (all 2000 would take long).
SAMPLE = [0, 1, 2, 999, 1000, 1234, 1998, 1999]
DONE = re.compile(r"flush (c\d{5}\.parent\.test) done in \S+: (\d+) delivered, (\d+) deferred, "
                  r"(\d+) bounced \((.*)\)")


def subdomain(k):
    return "c%05d.%s" % (k, PARENT)


def generate(spool_dir):
    if not os.access(SPOOL_GEN_BIN, os.X_OK):
        pytest.fail("SPOOL_GEN_BIN %s is not an executable (build it first)" % SPOOL_GEN_BIN)
    proc = subprocess.run(
        [SPOOL_GEN_BIN, "--spool_dir=%s" % spool_dir, "--messages=%d" % MESSAGES,
         "--domains=%d" % DOMAINS, "--parent=%s" % PARENT, "--cores=2"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def flushes_done(server):
    """{domain: [(delivered, deferred, bounced, reason), ...]} from the log."""
    done = {}
    for m in DONE.finditer(server.log_text()):
        done.setdefault(m.group(1), []).append(
            (int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5)))
    return done


def listed(server, domain):
    rc, out, err = server.etrnctl("list", domain, json_output=True)
    assert rc == 0, err
    return out["messages"]


def queued(server):
    rc, out, err = server.etrnctl("stats", json_output=True)
    assert rc == 0, err
    return out["total"]


class NoopTimer:
    """A second session sending NOOP in a loop during the storm: every
    reply must be 250 (no timing asserts)."""

    def __init__(self, port):
        self.client = smtplib.SMTP("127.0.0.1", port, timeout=60)
        self.client.ehlo("noop.test")
        self.replies = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            self.replies.append(self.client.docmd("NOOP")[0])

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.client.quit()
        return self.replies


@pytest.mark.time_limit(200)
def test_etrn_parent_with_thousands_of_refusing_subdomains(etrnd_factory):
    dead_port = harness.free_port()  # nothing listens there
    server = etrnd_factory(
        domains=".%s 127.0.0.1:%d hold\n" % (PARENT, dead_port),
        flags=["--threads=2", "--etrn_rate=100000", "--etrn_burst=100000", "--log_rate_max=0",
               "--retry_initial=1s", "--retry_max=2s"],
        start=False)
    generate(server.spool_dir)
    server.start()
    assert queued(server)["queued_messages"] == MESSAGES

    noop = NoopTimer(server.port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.ehlo("customer.test")
        code, msg = client.docmd("ETRN", "@" + PARENT)
        assert "%d %s" % (code, msg.decode()) == started(MESSAGES, "@" + PARENT)
    wait_until(lambda: len(flushes_done(server)) == DOMAINS, 120, "every subdomain's flush")
    replies = noop.finish()
    assert replies and set(replies) == {250}

    # One attempt each, every message deferred for the refused connection
    # (by the few jobs that connected, or remembered: "not tried: ... (connect
    # failed: Connection refused)").
    done = flushes_done(server)
    assert sorted(done) == [subdomain(k) for k in range(DOMAINS)]
    for domain, runs in done.items():
        assert len(runs) == 1, (domain, runs)
        delivered, deferred, bounced, reason = runs[0]
        assert (delivered, deferred, bounced) == (0, PER_DOMAIN, 0), (domain, runs)
        assert "connect failed: Connection refused" in reason, (domain, reason)
    for k in SAMPLE:
        messages = listed(server, subdomain(k))
        assert len(messages) == PER_DOMAIN
        for message in messages:
            assert message["attempts"] == 1, (subdomain(k), message)
            assert "connect failed: Connection refused" in message["last_error"], message

    # Nothing lost: still queued, still counted, and a second ETRN tries
    # each domain once more.
    total = queued(server)
    assert total["queued_messages"] == MESSAGES
    assert total["queued_domains"] == DOMAINS
    assert total["flushes_running"] == 0
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.ehlo("customer.test")
        code, msg = client.docmd("ETRN", "@" + PARENT)
        assert "%d %s" % (code, msg.decode()) == started(MESSAGES, "@" + PARENT)
    wait_until(lambda: all(len(runs) == 2 for runs in flushes_done(server).values()), 120,
               "the second flush of every subdomain")
    # (An ETRN starts the backoff over: one failed attempt in a row again.)
    for k in SAMPLE:
        messages = listed(server, subdomain(k))
        assert {m["attempts"] for m in messages} == {1}
        assert all(m["last_error"] for m in messages)
    assert queued(server)["queued_messages"] == MESSAGES

    # The server still takes mail (swaks, a real client) for the parent.
    swaks = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % server.port, "--from", "s@x.test",
         "--to", "late@%s" % subdomain(7), "--helo", "client.test"],
        capture_output=True, text=True, timeout=60)
    assert swaks.returncode == 0, swaks.stdout + swaks.stderr
    wait_until(lambda: queued(server)["queued_messages"] == MESSAGES + 1, 30, "the new message")
