"""ETRN @domain over thousands of queued subdomains (SPEC 6): the reply
counts every subdomain's messages (a message queued for two subdomains counts
once per subdomain), skips subdomains the client may not ETRN and held ones,
and the flush that follows (started in slices on the owner cores) delivers
every counted message to the customer's host (Postfix's smtp-sink, which
takes thousands of connections at once), and nothing else."""

import collections
import os
import resource
import subprocess

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, queue_messages, started, wait_until)

SUBDOMAINS = 3000
RCPTS_PER_MESSAGE = 100  # under --max_recipients (1000)
# s0..s(PAIRED-1) also get messages with recipients in two subdomains.
PAIRED = 500
HELD = "s7.many.test"
SENDER = "sender@x.test"
SMTP_SINK = "/usr/sbin/smtp-sink"
# One connection per flushed subdomain may be open at once.
SINK_BACKLOG = 4096
SINK_OPEN_FILES = 16384


def subdomain(i):
    return "s%d.many.test" % i


def _raise_open_files():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = SINK_OPEN_FILES if hard == resource.RLIM_INFINITY else min(SINK_OPEN_FILES, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _accepts(port):
    try:
        harness.connect(port, timeout=1).close()
        return True
    except OSError:
        return False


def _start_smtp_sink(processes, dump_dir):
    """smtp-sink dumping every message (with X-Rcpt-Args: lines) to dump_dir."""
    if not os.access(SMTP_SINK, os.X_OK):
        pytest.skip("Postfix smtp-sink is not installed (%s)" % SMTP_SINK)
    dump_dir.mkdir()
    port = harness.free_port()
    proc = subprocess.Popen(
        [SMTP_SINK, "-u", "root", "-d", str(dump_dir) + "/%M.", "127.0.0.1:%d" % port,
         str(SINK_BACKLOG)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=_raise_open_files)
    processes.append(proc)
    wait_until(lambda: _accepts(port), 10, "smtp-sink to listen")
    assert proc.poll() is None, "smtp-sink exited (port %d taken meanwhile?)" % port
    return port


def _dumped_domains(dump_dir):
    """Per recipient domain, the messages smtp-sink has dumped for it; every
    message's recipients must share one domain (one flush per domain)."""
    delivered = collections.Counter()
    for path in dump_dir.iterdir():
        text = path.read_bytes().decode(errors="replace")
        if not text.endswith("\n"):
            continue  # being written
        domains = {line.split("@", 1)[1].rstrip(">\r")
                   for line in text.splitlines() if line.startswith("X-Rcpt-Args: <")}
        assert len(domains) == 1, (path, domains)
        delivered[domains.pop()] += 1
    return delivered


@pytest.mark.time_limit(300)
def test_etrn_at_parent_counts_and_delivers_thousands_of_subdomains(etrnd_factory, processes,
                                                                     tmp_path):
    dump_dir = tmp_path / "postfix-sink"
    port = _start_smtp_sink(processes, dump_dir)
    next_hop = "127.0.0.1:%d" % port
    table = (".many.test %s hold\n"
             "locked.many.test %s hold etrn=203.0.113.1\n" % (next_hop, next_hop))
    server = etrnd_factory(domains=table, flags=TEST_FLAGS + ("--threads=2",))
    batch = []
    for first in range(0, SUBDOMAINS, RCPTS_PER_MESSAGE):
        rcpts = ["u@%s" % subdomain(i) for i in range(first, first + RCPTS_PER_MESSAGE)]
        batch.append((SENDER, rcpts, build_message(harness.unique_token(), rcpts[0], SENDER)))
    for k in range(PAIRED // 2):
        rcpts = ["v@%s" % subdomain(2 * k), "v@%s" % subdomain(2 * k + 1)]
        batch.append((SENDER, rcpts, build_message(harness.unique_token(), rcpts[0], SENDER)))
    batch.append((SENDER, ["u@locked.many.test"],
                  build_message(harness.unique_token(), "u@locked.many.test", SENDER)))
    queue_messages(server.port, batch, connections=4)
    rc, out, err = server.etrnctl("hold", HELD)
    assert rc == 0, (out, err)

    expected = collections.Counter()
    for i in range(SUBDOMAINS):
        expected[subdomain(i)] = 2 if i < PAIRED else 1
    del expected[HELD]  # held: neither counted nor delivered
    # locked.many.test: its etrn= list does not hold 127.0.0.1.
    total = sum(expected.values())
    assert server.etrn("@many.test")[1] == started(total, "@many.test")

    wait_until(lambda: sum(_dumped_domains(dump_dir).values()) >= total, 240,
               "%d messages at smtp-sink" % total)
    assert _dumped_domains(dump_dir) == expected

    # What is left: the held subdomain (only held ones match -> 458) and
    # the locked one, which this client may not flush.
    held_458 = "458 4.3.0 Unable to queue messages for node @many.test"
    wait_until(lambda: server.etrn("@many.test")[1] == held_458, 60,
               "only the held subdomain left under @many.test")
    assert sum(_dumped_domains(dump_dir).values()) == total
    rc, out, err = server.etrnctl("release", HELD)
    assert rc == 0, (out, err)
    assert server.etrn("@many.test")[1] == started(2, "@many.test")
    wait_until(lambda: _dumped_domains(dump_dir)[HELD] == 2, 60, "the released subdomain's mail")
