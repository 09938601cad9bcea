"""A spool written by spool-gen (the benchmarks' generator) is what etrnd
would have written: etrnd recovers every message of it, ETRN counts match
the generator's distribution, and a flush delivers them all to a sink."""

import os
import json
import signal
import subprocess

import pytest

import harness
from delivery_helpers import started, wait_until

SPOOL_GEN_BIN = os.environ.get(
    "SPOOL_GEN_BIN", os.path.join(os.path.dirname(harness.ETRND_BIN), "spool-gen"))

MESSAGES = 20000
DOMAINS = 500
BIG = {"big.gen.test": 3000, "one.gen.test": 1}


def generate(spool_dir, cores=2):
    if not os.access(SPOOL_GEN_BIN, os.X_OK):
        pytest.fail("SPOOL_GEN_BIN %s is not an executable (build it first)" % SPOOL_GEN_BIN)
    big = ",".join("%s:%d" % item for item in BIG.items())
    proc = subprocess.run(
        [SPOOL_GEN_BIN, "--spool_dir=%s" % spool_dir, "--messages=%d" % MESSAGES,
         "--domains=%d" % DOMAINS, "--big=%s" % big, "--cores=%d" % cores,
         "--segment_bytes_max=1000000"],  # several segment files per core
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return MESSAGES - sum(BIG.values())  # spread over d<k>.test


def blaster_sink(processes):
    port = harness.free_port()
    proc = subprocess.Popen([harness.BLASTER_BIN, "--sink", "--listen=127.0.0.1:%d" % port,
                             "--json", "--progress=false"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    processes.append(proc)
    wait_until(lambda: _greets(port), 20, "the sink's greeting")
    return port, proc


def _greets(port):
    try:
        with harness.RawSmtp(port, timeout=5) as c:
            return c.read_reply().code == 220
    except (ConnectionRefusedError, ConnectionResetError, EOFError):
        return False


def queued(server):
    rc, out, err = server.etrnctl("stats", json_output=True)
    assert rc == 0, err
    return out["total"]["queued_messages"]


@pytest.mark.time_limit(150)
def test_generated_spool_recovers_counts_and_flushes_to_a_sink(etrnd_factory, processes):
    sink_port, sink = blaster_sink(processes)
    server = etrnd_factory(
        domains=".gen.test 127.0.0.1:%d hold\n.test 127.0.0.1:%d hold\n" % (sink_port, sink_port),
        flags=["--etrn_rate=100000", "--etrn_burst=100000"], start=False)
    spread = generate(server.spool_dir)
    server.start()
    assert harness.wait_for_log(server, "spool: recovered %d messages" % MESSAGES, timeout=5)
    assert queued(server) == MESSAGES

    # Round-robin: the first (spread % DOMAINS) domains get one more.
    per_domain = [spread // DOMAINS + (k < spread % DOMAINS) for k in range(DOMAINS)]
    nodes = ["d%d.test" % k for k in range(DOMAINS)] + list(BIG)
    expected = per_domain + list(BIG.values())
    with server.smtp() as s:
        s.ehlo()
        replies = []
        for node in nodes:
            code, msg = s.docmd("ETRN", node)
            replies.append("%d %s" % (code, msg.decode()))
    assert replies == [started(n, node) for n, node in zip(expected, nodes)]

    wait_until(lambda: queued(server) == 0, 120, "every flush to finish")
    sink.send_signal(signal.SIGINT)
    out, err = sink.communicate(timeout=30)
    report = [line for line in out.decode().splitlines() if line.startswith("{")][-1]
    report = json.loads(report)
    assert report["messages"] == MESSAGES, report
    assert report["per_domain"]["big.gen.test"]["messages"] == BIG["big.gen.test"]
    assert report["per_domain"]["d7.test"]["messages"] == per_domain[7]


def test_generated_spool_for_more_cores_than_threads(etrnd_factory):
    # Four cores' segment files recovered by a two-thread etrnd: every
    # message is queued, whichever core wrote it.
    server = etrnd_factory(start=False, domains=".test 127.0.0.1:9 hold\n")
    generate(server.spool_dir, cores=4)
    server.start()
    assert queued(server) == MESSAGES
    code, reply = server.etrn("big.gen.test")
    assert reply == started(BIG["big.gen.test"], "big.gen.test")
