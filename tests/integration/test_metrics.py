"""Prometheus /metrics (SPEC 9) on --metrics_listen: the numbers follow the
traffic exactly, the text passes `promtool check metrics`, and scrapes keep
working (and counters only grow) while smtp-blaster loads the server."""

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import harness
from harness import BLASTER_BIN, LOOPBACK, RawSmtp

HTTP_TIMEOUT_S = 10
PROMTOOL_TIMEOUT_S = 30
BLASTER_TIMEOUT_S = 120
POLL_TIMEOUT_S = 15
LOAD_MESSAGES = 2000
LOAD_SCRAPES = 20
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def metrics_server(etrnd_factory, **kwargs):
    port = harness.free_port()
    srv = etrnd_factory(flags=["--metrics_listen=%s:%d" % (LOOPBACK, port)], **kwargs)
    srv.metrics_port = port
    return srv


def fetch(srv, path="/metrics", method="GET"):
    request = urllib.request.Request("http://%s:%d%s" % (LOOPBACK, srv.metrics_port, path),
                                     method=method)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        return response.status, response.headers, response.read().decode()


def scrape(srv):
    status, headers, text = fetch(srv)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return text


def parse(text):
    """{(name, labels text): value} of every sample; checks HELP/TYPE first."""
    samples = {}
    typed = set()
    helped = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            typed.add(line.split(" ")[2])
            continue
        match = SAMPLE.match(line)
        assert match, "malformed sample line %r" % line
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert (name in typed or family in typed) and (name in helped or family in helped), line
        samples[(name, labels)] = float(value)
    return samples


def total(samples, name, labels=None):
    """Sum of a family's samples (over cores), or one labelled sample."""
    if labels is not None:
        return samples.get((name, labels), 0)
    return sum(v for (n, _), v in samples.items() if n == name)


def histogram_count(samples, name):
    count = samples[(name + "_count", "")]
    buckets = [(k[1], v) for k, v in samples.items() if k[0] == name + "_bucket"]
    values = [v for _, v in buckets]
    assert values == sorted(values), buckets  # cumulative
    assert samples[(name + "_bucket", 'le="+Inf"')] == count
    return count


def promtool_check(text):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: tools/install-deps.sh installs package prometheus"
    proc = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=PROMTOOL_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")


def wait_for(predicate, what):
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        samples = parse(scrape(predicate.srv))
        if predicate(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError("%s not reached within %d s" % (what, POLL_TIMEOUT_S))


def test_metrics_follow_traffic_and_pass_promtool(etrnd_factory):
    srv = metrics_server(etrnd_factory)
    before = parse(scrape(srv))
    promtool_check(scrape(srv))
    assert total(before, "etrnd_messages_accepted_total") == 0
    connections_before = total(before, "etrnd_connections_total")

    tokens = harness.send_messages(srv.port, 2)                       # connection 1
    with RawSmtp(srv.port) as c:                                     # connection 2
        c.greet()
        assert c.cmd("MAIL FROM:<b@x.test>").code == 250
        assert c.cmd("RCPT TO:<x@nowhere.test>").code == 554        # relay denied
        assert c.cmd("ETRN example.com").code == 503                 # inside a transaction
    with RawSmtp(srv.port) as c:                                     # connection 3
        c.greet()
        assert c.cmd("ETRN example.org").code == 251
        assert c.cmd("ETRN unknown.test").code == 459
        assert c.cmd("ETRN example.com").code == 253                 # starts a flush
        c.cmd("QUIT")

    with RawSmtp(srv.port) as held:                                  # connection 4, open
        held.greet()
        samples = parse(scrape(srv))
        assert total(samples, "etrnd_open_connections") == 1

    assert total(samples, "etrnd_connections_total") - connections_before == 4
    assert total(samples, "etrnd_messages_accepted_total") == 2
    assert total(samples, "etrnd_messages_refused_total", 'code="554"') == 1
    assert total(samples, "etrnd_messages_refused_total") == 1
    assert total(samples, "etrnd_received_bytes_total") > 2 * len(tokens[0])
    assert total(samples, "etrnd_etrn_total", 'code="251"') == 1
    assert total(samples, "etrnd_etrn_total", 'code="253"') == 1
    assert total(samples, "etrnd_etrn_total", 'code="459"') == 1
    assert total(samples, "etrnd_etrn_total", 'code="503"') == 1
    assert total(samples, "etrnd_etrn_total") == 4
    # The 503 is the session's own answer: only ETRNs that reached the
    # service are timed.
    assert histogram_count(samples, "etrnd_etrn_reply_seconds") == 3
    assert histogram_count(samples, "etrnd_data_commit_seconds") == 2
    assert histogram_count(samples, "etrnd_loop_turn_seconds") > 0
    assert histogram_count(samples, "etrnd_delivery_seconds") == 0
    # The flush to the dead next hop defers; both stay queued, per core.
    assert total(samples, "etrnd_queued_messages") == 2
    assert total(samples, "etrnd_queued_recipients") == 2
    assert total(samples, "etrnd_queued_domains") == 1
    assert {k[1] for k in samples if k[0] == "etrnd_queued_messages"} == {'core="0"', 'core="1"'}
    assert total(samples, "etrnd_deliveries_total", 'outcome="delivered"') == 0
    assert total(samples, "etrnd_bounces_total") == 0

    wait_for_srv = lambda s: (total(s, "etrnd_deliveries_total", 'outcome="deferred"') == 2
                              and total(s, "etrnd_spool_bytes") > 0)
    wait_for_srv.srv = srv
    samples = wait_for(wait_for_srv, "2 deferred deliveries and spool bytes")
    assert total(samples, "etrnd_queued_messages") == 2
    promtool_check(scrape(srv))


def test_metrics_http_errors(etrnd_factory):
    srv = metrics_server(etrnd_factory)
    with pytest.raises(urllib.error.HTTPError) as error:
        fetch(srv, "/other")
    assert error.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as error:
        fetch(srv, "/metrics", method="POST")
    assert error.value.code == 405
    status, headers, body = fetch(srv, "/metrics", method="HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 0
    # An oversize head is refused, and the endpoint keeps serving.
    with harness.connect(srv.metrics_port) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
        s.settimeout(HTTP_TIMEOUT_S)
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.0 431 "), reply
    assert "etrnd_messages_accepted_total 0" in scrape(srv)


@pytest.mark.time_limit(170)
def test_scrape_under_load(etrnd_factory, processes):
    srv = metrics_server(etrnd_factory)
    accepted_before = total(parse(scrape(srv)), "etrnd_messages_accepted_total")
    argv = [BLASTER_BIN, "--target=%s:%d" % (LOOPBACK, srv.port), "--connections=8",
            "--messages=%d" % LOAD_MESSAGES, "--size=1024", "--recipients=1", "--domains=10",
            "--domain_pattern=d%d.example.com", "--json"]
    blaster = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    processes.append(blaster)
    seen = [accepted_before]
    for _ in range(LOAD_SCRAPES):
        samples = parse(scrape(srv))
        accepted = total(samples, "etrnd_messages_accepted_total")
        assert accepted >= seen[-1], seen + [accepted]
        seen.append(accepted)
        time.sleep(0.01)
    out, err = blaster.communicate(timeout=BLASTER_TIMEOUT_S)
    assert blaster.returncode == 0, err.decode(errors="replace")[-3000:]
    final = parse(scrape(srv))
    assert total(final, "etrnd_messages_accepted_total") == accepted_before + LOAD_MESSAGES
    assert total(final, "etrnd_queued_messages") == LOAD_MESSAGES
    assert histogram_count(final, "etrnd_data_commit_seconds") == LOAD_MESSAGES
    assert seen[-1] <= total(final, "etrnd_messages_accepted_total")
