"""smtp-blaster (SPEC 7) against etrnd, against Postfix's smtp-sink, and
against its own sink mode: the counts agree exactly and --json is complete."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

import harness
from harness import BLASTER_BIN, RawSmtp

RUN_TIMEOUT_S = 120  # below the 180 s test watchdog
SUMMARY_FIELDS = ["messages_ok", "messages_failed", "seconds", "messages_per_second",
                  "bytes_per_second", "latency_us", "errors"]
LATENCY_FIELDS = ["p50", "p90", "p99", "p999", "max"]


def require_blaster():
    if not os.access(BLASTER_BIN, os.X_OK):
        pytest.fail("BLASTER_BIN %s is not an executable (build it first)" % BLASTER_BIN)


def last_json_object(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON object in output:\n%s" % text[-3000:])


def run_client(port, messages, *extra, connections=4, domain_pattern="d%d.test",
               domains=10, size=1024, recipients=1):
    require_blaster()
    argv = [BLASTER_BIN, "--target=127.0.0.1:%d" % port, "--connections=%d" % connections,
            "--messages=%d" % messages, "--size=%d" % size, "--recipients=%d" % recipients,
            "--domains=%d" % domains, "--domain_pattern=%s" % domain_pattern,
            "--json"] + list(extra)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    context = "rc=%d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, out[-3000:], err[-3000:])
    summary = last_json_object(out)
    return proc.returncode, summary, context


def check_latency(obj, context):
    for field in LATENCY_FIELDS:
        assert field in obj, (field, context)
        assert isinstance(obj[field], (int, float)), (field, context)
    values = [obj[f] for f in LATENCY_FIELDS]
    assert values == sorted(values), (values, context)


def check_summary(summary, context):
    for field in SUMMARY_FIELDS:
        assert field in summary, (field, context)
    for field in SUMMARY_FIELDS[:5]:
        assert isinstance(summary[field], (int, float)), (field, context)
    check_latency(summary["latency_us"], context)
    assert isinstance(summary["errors"], dict), context
    if summary["messages_ok"] > 0:
        assert summary["latency_us"]["max"] > 0, context
        assert summary["messages_per_second"] > 0 and summary["bytes_per_second"] > 0, context


def wait_greeting(port, proc, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "exited early with %s" % proc.returncode
        try:
            with RawSmtp(port, timeout=5) as c:
                assert c.read_reply().code == 220
                c.cmd("QUIT")
            return
        except (ConnectionRefusedError, ConnectionResetError, EOFError):
            time.sleep(0.05)
    raise AssertionError("no greeting on port %d" % port)


def stop_and_collect(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    return out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def blaster_sink(processes):
    require_blaster()
    port = harness.free_port()
    proc = subprocess.Popen([BLASTER_BIN, "--sink", "--listen=127.0.0.1:%d" % port, "--json"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    processes.append(proc)
    wait_greeting(port, proc)
    return port, proc


@pytest.fixture
def postfix_sink(processes, tmp_path):
    port = harness.free_port()
    argv = ["/usr/sbin/smtp-sink", "-c"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without -u
    argv += ["127.0.0.1:%d" % port, "1000"]
    out_path = tmp_path / "smtp-sink.out"
    out = open(out_path, "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    processes.append(proc)
    wait_greeting(port, proc)
    return port, proc, out_path


def test_blaster_against_blaster_sink_counts_agree(blaster_sink):
    port, sink = blaster_sink
    n = 1000
    rc, summary, context = run_client(port, n, connections=8)
    assert rc == 0, context
    check_summary(summary, context)
    assert (summary["messages_ok"], summary["messages_failed"]) == (n, 0), context
    assert summary["errors"] == {}, context
    out, err = stop_and_collect(sink)
    report = last_json_object(out)
    assert report["messages"] == n, report
    per_domain = report["per_domain"]
    assert 1 <= len(per_domain) <= 10, per_domain
    assert all(re.fullmatch(r"d\d+\.test", d) for d in per_domain), per_domain
    assert sum(v["messages"] for v in per_domain.values()) == n, per_domain
    assert sum(v["bytes"] for v in per_domain.values()) == report["bytes"], report


def test_blaster_open_loop_rate(blaster_sink):
    port, sink = blaster_sink
    rc, summary, context = run_client(port, 200, "--rate=400", connections=4)
    assert rc == 0, context
    check_summary(summary, context)
    assert summary["messages_ok"] == 200, context
    out, _ = stop_and_collect(sink)
    assert last_json_object(out)["messages"] == 200


def test_blaster_against_etrnd_all_stored_and_counted(server):
    n = 600
    rc, summary, context = run_client(server.port, n, "--etrn_every=50", connections=6,
                                      domain_pattern="d%d.example.com", domains=10)
    assert rc == 0, context
    check_summary(summary, context)
    assert (summary["messages_ok"], summary["messages_failed"]) == (n, 0), context
    assert "etrn_latency_us" in summary, context
    check_latency(summary["etrn_latency_us"], context)
    # From another address: the blaster's own ETRNs used up 127.0.0.1's
    # ETRN rate allowance (over it the reply is 458).
    code, line = server.etrn("@example.com", source=harness.OTHER_SOURCES[0])
    assert line == "253 2.0.0 OK, %d pending messages for node @example.com started" % n


def test_blaster_counts_refusals_by_reply_code(server):
    n = 50
    # 10 refusals per session: under --max_errors (20), after which etrnd
    # would answer 421 and close, as Postfix's smtpd_hard_error_limit does.
    rc, summary, context = run_client(server.port, n, connections=5,
                                      domain_pattern="d%d.nowhere.test")
    check_summary(summary, context)
    assert (summary["messages_ok"], summary["messages_failed"]) == (0, n), context
    assert summary["errors"].get("554", 0) >= n, context
    assert server.etrn("example.com")[1].startswith("251 ")


def test_blaster_against_postfix_smtp_sink(postfix_sink):
    port, sink, out_path = postfix_sink
    n = 1000
    rc, summary, context = run_client(port, n, connections=8)
    assert rc == 0, context
    check_summary(summary, context)
    assert (summary["messages_ok"], summary["messages_failed"]) == (n, 0), context
    sink.send_signal(signal.SIGTERM)
    sink.wait(timeout=10)
    counters = re.findall(r"mesg=(\d+)", out_path.read_text(errors="replace"))
    assert counters, out_path.read_text(errors="replace")[-2000:]
    assert int(counters[-1]) == n


def test_blaster_messages_per_connection_opens_a_session_per_batch(blaster_sink):
    # --messages_per_connection=N: QUIT and reconnect after N messages, so the
    # sink sees ceil(messages / N) sessions (the knob that puts connection
    # set-up, e.g. a TLS handshake, into every message of a benchmark).
    port, sink = blaster_sink
    n = 60
    rc, summary, context = run_client(port, n, "--messages_per_connection=3", connections=4)
    assert rc == 0, context
    assert (summary["messages_ok"], summary["messages_failed"]) == (n, 0), context
    assert summary["errors"] == {}, context
    out, err = stop_and_collect(sink)
    report = last_json_object(out)
    assert report["messages"] == n, report
    assert report["connections"] == n // 3 + 1, report  # + the fixture's greeting probe
