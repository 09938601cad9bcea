"""Several etrnd nodes (SPEC 6, 'Several nodes'): one ETRN at any node, or
through HAProxy, flushes the customer's mail from every node exactly once;
a dead, stopped or silent peer never holds the reply; nothing loops; rate
limits apply to the original client only.

Three real etrnd processes on 127.0.0.1 with their own ports and spools, a
recording sink as the customer's next hop, HAProxy as the balancer.
"""

import collections
import os
import signal
import subprocess
import time

import pytest

import harness
from delivery_helpers import (build_message, nothing_waiting, send_one, sink_factory,  # noqa: F401
                              started, strip_received, token_of, wait_until)
from peer_helpers import (CUSTOMER, BlackHole, etrn, etrn_lines, links_up, start_cluster,
                          wait_peers_up)
from haproxy_helpers import requires_haproxy, start_haproxy, stop_process

FLUSH_TIMEOUT_S = 60


def queue_on(node, count, domain="cust.test"):
    """`count` messages for domain queued at node; returns {token: data}."""
    sent = {}
    for _ in range(count):
        token = harness.unique_token()
        data = build_message(token, "user@" + domain)
        code, reply = send_one(node.port, "sender@x.test", ["user@" + domain], data)
        assert code == 250, reply
        sent[token] = data
    return sent


def assert_delivered_once(sink, sent):
    """Every sent message is at the sink exactly once and byte-exact (after
    the Received: header etrnd added), and nothing else is."""
    messages = sink.wait_for_messages(len(sent), timeout_s=FLUSH_TIMEOUT_S)
    time.sleep(0.5)  # a duplicate would arrive right behind
    messages = sink.messages()
    counts = collections.Counter(token_of(m.data) for m in messages)
    assert set(counts) == set(sent), (sorted(counts), sorted(sent))
    assert all(n == 1 for n in counts.values()), counts
    for m in messages:
        _, rest = strip_received(m.data)
        assert rest == sent[token_of(m.data)]


def test_one_etrn_flushes_every_node(etrnd_factory, sink_factory):  # noqa: F811
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink)
    sent = {}
    for node, count in zip(nodes, (3, 2, 4)):
        sent.update(queue_on(node, count))
    # The node asked holds 3; the reply counts the peers' 2 + 4 too.
    assert etrn(nodes[0].port, "cust.test") == started(9, "cust.test")
    assert_delivered_once(sink, sent)
    # One ETRN line per node: the peers' copies were not forwarded again.
    for i, node in enumerate(nodes):
        lines = etrn_lines(node, "cust.test")
        assert len(lines) == 1, (node.name, lines)
        assert ("(from peer)" in lines[0]) == (i != 0), lines
    assert "local=3 peers=6" in etrn_lines(nodes[0], "cust.test")[0]
    # Everything is gone everywhere now: 251 with the peers' 251s adding 0.
    wait_until(lambda: etrn(nodes[1].port, "cust.test") == nothing_waiting("cust.test"), 30,
               "an empty cluster")


def test_node_holding_nothing_still_forwards_all_forms(etrnd_factory, sink_factory):  # noqa: F811
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink)
    sent = queue_on(nodes[1], 2, "a.cust.test")
    sent.update(queue_on(nodes[2], 1, "b.cust.test"))
    # Node 0 holds nothing for it: still 253 with the peers' count.
    assert etrn(nodes[0].port, "@cust.test") == started(3, "@cust.test")
    assert_delivered_once(sink, sent)
    # The named-queue form travels as sent too.
    sent.update(queue_on(nodes[2], 2, "dial.test"))
    assert etrn(nodes[0].port, "#dialup") == started(2, "#dialup")
    assert_delivered_once(sink, sent)
    assert len(etrn_lines(nodes[2], "#dialup")) == 1
    # Refused by this node's policy (etrn= list): not forwarded at all.
    reply = etrn(nodes[0].port, "locked.test")
    assert reply.startswith("459 4.7.1 Node locked.test not allowed")
    assert etrn_lines(nodes[1], "locked.test") == []


def test_forwarded_etrn_skips_the_acl_of_the_peer(etrnd_factory, sink_factory):  # noqa: F811
    # An ETRN from a --peer_from address is trusted: etrn= does not apply.
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink, count=2)
    sent = queue_on(nodes[1], 2, "locked.test")
    with harness.RawSmtp(nodes[1].port, source="127.0.0.1") as c:
        c.greet()
        assert c.cmd("ETRN locked.test").last == started(2, "locked.test")
    assert_delivered_once(sink, sent)
    # ... and a customer outside the list is still refused there.
    assert etrn(nodes[1].port, "locked.test").startswith("459 ")


def test_kill9_node_others_answer_and_its_mail_follows(etrnd_factory, sink_factory):  # noqa: F811
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink)
    sent = {}
    per_node = [queue_on(node, n) for node, n in zip(nodes, (2, 3, 2))]
    for part in per_node:
        sent.update(part)
    dead = nodes[0].peer_names[1]
    down_before = nodes[0].log_text().count("peer %s: down" % dead)  # at start-up
    nodes[2].kill()
    # The dead node adds nothing and holds nothing up.
    assert etrn(nodes[0].port, "cust.test") == started(5, "cust.test")
    expected = dict(per_node[0], **per_node[1])
    sink.wait_for_messages(len(expected), timeout_s=FLUSH_TIMEOUT_S)
    # The sink has the messages a moment before their senders have written
    # the completion records that take them off the queue.
    wait_until(lambda: etrn(nodes[1].port, "cust.test") == nothing_waiting("cust.test"),
               FLUSH_TIMEOUT_S, "both live nodes' queues to be empty")
    # The down state is logged once per link, not once per attempt.
    # Both cores' links (the harness runs 2) see it down before it returns.
    wait_until(lambda: nodes[0].log_text().count("peer %s: down" % dead) >= down_before + 2,
               30, "node0 logs node2 down")
    up_before = nodes[0].log_text().count("peer %s: up again" % dead)
    nodes[2].restart()
    wait_until(lambda: nodes[0].log_text().count("peer %s: up again" % dead) >= up_before + 2,
               30, "node0's links to node2 up again")
    down_lines = nodes[0].log_text().count("peer %s: down" % dead) - down_before
    assert down_lines == 2, down_lines  # once per core's link, not per attempt
    assert etrn(nodes[0].port, "cust.test") == started(2, "cust.test")
    assert_delivered_once(sink, sent)


def all_threads_stopped(pid):
    """True when every thread of `pid` is in the stopped state (T)."""
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, task)) as f:
            if f.read().rsplit(") ", 1)[1][0] != "T":
                return False
    return True


def test_stopped_peer_bounds_the_reply_and_flushes_when_back(etrnd_factory,
                                                             sink_factory):  # noqa: F811
    # A partition without network namespaces: node2's process is stopped
    # (SIGSTOP), so its sockets accept and say nothing.
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink, peer_timeout="300ms")
    per_node = [queue_on(node, n) for node, n in zip(nodes, (1, 1, 3))]
    sent = {}
    for part in per_node:
        sent.update(part)
    nodes[2].send_signal(signal.SIGSTOP)
    # kill() returns before every thread has stopped: a reactor thread could
    # still answer the first fanned-out ETRN. Wait until all are stopped.
    wait_until(lambda: all_threads_stopped(nodes[2].proc.pid), 10, "node2 stopped")
    try:
        for _ in range(3):
            # Node2 does not answer within --peer_timeout: it adds 0.
            assert etrn(nodes[0].port, "cust.test") in (started(2, "cust.test"),
                                                         started(1, "cust.test"),
                                                         nothing_waiting("cust.test"))
        sink.wait_for_messages(2, timeout_s=FLUSH_TIMEOUT_S)
    finally:
        nodes[2].send_signal(signal.SIGCONT)
    # Back: its mail goes out, on an ETRN it had buffered or a later one.
    def all_there():
        if len(sink.messages()) >= len(sent):
            return True
        etrn(nodes[0].port, "cust.test")
        time.sleep(0.5)
        return False
    wait_until(all_there, FLUSH_TIMEOUT_S, "node2's mail after SIGCONT")
    assert_delivered_once(sink, sent)


def test_black_hole_peer_adds_nothing(etrnd_factory, sink_factory):  # noqa: F811
    hole = BlackHole()
    try:
        sink = sink_factory()
        metrics_port = harness.free_port()
        nodes = start_cluster(etrnd_factory, sink, count=2, extra_peers=[hole.name],
                              per_node_flags=[["--metrics_listen=127.0.0.1:%d" % metrics_port],
                                              []])
        sent = queue_on(nodes[0], 1)
        sent.update(queue_on(nodes[1], 2))
        assert etrn(nodes[0].port, "cust.test") == started(3, "cust.test")
        # The live peer answered in time; the silent one was not waited for.
        import urllib.request
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port,
                                      timeout=10).read().decode()
        assert 'etrnd_peer_etrn_total{result="in_time"} 1' in text, text
        import re
        unawaited = sum(float(v) for v in re.findall(
            r'etrnd_peer_etrn_total\{result="(?:connecting|down)"\} (\S+)', text))
        assert unawaited == 1, text
        assert_delivered_once(sink, sent)
        # Silent through its greeting: declared down, and logged.
        wait_until(lambda: "peer %s: down" % hole.name in nodes[0].log_text(), 30,
                   "the black hole logged down")
        wait_until(lambda: etrn(nodes[0].port, "cust.test") == nothing_waiting("cust.test"),
                   30, "node0's queue to be empty")
    finally:
        hole.close()


def test_rate_limit_applies_to_the_original_client_only(etrnd_factory,
                                                         sink_factory):  # noqa: F811
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink, count=2,
                          extra_flags=["--etrn_burst=2", "--etrn_rate=0.01"])
    queue_on(nodes[1], 1)
    customers = ["127.0.0.9", "127.0.0.10", "127.0.0.11"]
    for customer in customers:
        for _ in range(2):
            assert etrn(nodes[0].port, "cust.test", source=customer)[:3] in ("253", "251")
    # The first customer's third ETRN is over its limit: 458, not forwarded.
    assert etrn(nodes[0].port, "cust.test", source=customers[0]).startswith("458 ")
    # Node1 got all six from one address (node0's), none of them limited.
    wait_until(lambda: len(etrn_lines(nodes[1], "cust.test")) >= 6, 10, "six forwarded ETRNs")
    time.sleep(0.3)
    lines = etrn_lines(nodes[1], "cust.test")
    assert len(lines) == 6, lines
    assert all("(from peer)" in line and ": 458" not in line for line in lines), lines


def test_peers_authenticate_over_starttls(etrnd_factory, sink_factory, tmp_path):  # noqa: F811
    # No --peer_from: the nodes know each other by SMTP AUTH (--peer_auth on
    # the sending side, --peer_users on the receiving one), under STARTTLS.
    from tls_helpers import TestPki, tls_flags
    cert = TestPki(tmp_path / "pki").issue("mx.test", sans=["DNS:mx.test", "IP:127.0.0.1"])
    password = "node sync secret"
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                            stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    (tmp_path / "auth.conf").write_text("nodesync:%s\n" % hashed)
    (tmp_path / "peer_auth").write_text("nodesync:%s\n" % password)
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink, count=2, peer_from="", extra_flags=tls_flags(cert) + [
        "--auth_file=%s" % (tmp_path / "auth.conf"), "--peer_users=nodesync",
        "--peer_auth=%s" % (tmp_path / "peer_auth"), "--log_level=debug"])
    sent = queue_on(nodes[0], 1)
    sent.update(queue_on(nodes[1], 2))
    assert etrn(nodes[0].port, "cust.test") == started(3, "cust.test")
    assert_delivered_once(sink, sent)
    log = nodes[1].log_text()
    assert "user nodesync authenticated" in log
    assert "TLS started" in log
    lines = etrn_lines(nodes[1], "cust.test")
    assert len(lines) == 1 and "(from peer)" in lines[0], lines
    # A customer is no peer: from 127.0.0.1 without AUTH, node1 forwards it.
    with harness.RawSmtp(nodes[1].port, source="127.0.0.1") as c:
        c.greet()
        assert c.cmd("ETRN cust.test").code == 251
    assert len(etrn_lines(nodes[0], "cust.test")) == 2


@requires_haproxy
def test_haproxy_round_robin_one_etrn_flushes_all(etrnd_factory, sink_factory, processes,
                                                  tmp_path):  # noqa: F811
    sink = sink_factory()
    proxy_ports = []
    while len(proxy_ports) < 3:
        port = harness.free_port()
        if port not in proxy_ports:
            proxy_ports.append(port)
    nodes = start_cluster(etrnd_factory, sink, per_node_flags=[
        ["--proxy_protocol_listen=%s:%d" % (harness.LOOPBACK, port),
         "--proxy_protocol_from=127.0.0.1/32"] for port in proxy_ports])
    proc, listen = start_haproxy(tmp_path, processes, proxy_ports)
    try:
        # Six sessions, round-robin: two messages on each node.
        sent = {}
        for _ in range(6):
            sent.update(queue_on(_Port(listen), 1))
        for node in nodes:
            assert "queued" in node.log_text()
        # The customer's ETRN through the balancer: its own address arrives
        # in the PROXY header, so it is an original ETRN and goes to all.
        assert etrn(listen, "cust.test") == started(6, "cust.test")
        assert_delivered_once(sink, sent)
        assert sum(len(etrn_lines(n, "cust.test")) for n in nodes) == 3
    finally:
        stop_process(proc)


class _Port:
    def __init__(self, port):
        self.port = port


def etrnctl(node, *args, nodes=()):
    argv = [harness.ETRNCTL_BIN, "--socket", str(node.control_socket)]
    if nodes:
        argv.append("--nodes=" + ",".join(str(n.control_socket) for n in nodes))
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=harness.ETRNCTL_TIMEOUT_S)


def test_etrnctl_all_nodes(etrnd_factory, sink_factory):  # noqa: F811
    import json
    sink = sink_factory()
    nodes = start_cluster(etrnd_factory, sink)
    sent = {}
    for node, count in zip(nodes, (1, 2, 3)):
        sent.update(queue_on(node, count))
    sent.update(queue_on(nodes[2], 1, "x.cust.test"))
    # queue --all-nodes: this node's socket and the others', summed per domain.
    result = etrnctl(nodes[0], "--json", "queue", "--all-nodes", nodes=nodes[1:])
    assert result.returncode == 0, result.stderr
    domains = json.loads(result.stdout)["domains"]
    assert domains["cust.test"]["messages"] == 6
    assert domains["cust.test"]["recipients"] == 6
    assert domains["x.cust.test"]["messages"] == 1
    assert json.loads(result.stdout)["total"]["messages"] == 7
    text = etrnctl(nodes[0], "queue", "--all-nodes", nodes=nodes[1:]).stdout
    assert any(line.split()[:2] == ["cust.test", "6"] for line in text.splitlines()), text
    # Without --nodes it says what it needs; a dead socket: exit 2, the rest summed.
    assert etrnctl(nodes[0], "queue", "--all-nodes").returncode == 1
    node2 = nodes[0].peer_names[1]
    downs = nodes[0].log_text().count("peer %s: down" % node2)
    ups = nodes[0].log_text().count("peer %s: up again" % node2)
    nodes[2].stop()
    partial = etrnctl(nodes[0], "--json", "queue", "--all-nodes", nodes=nodes[1:])
    assert partial.returncode == 2
    assert json.loads(partial.stdout)["domains"]["cust.test"]["messages"] == 3
    wait_until(lambda: nodes[0].log_text().count("peer %s: down" % node2) >= downs + 2, 30,
               "node0's links to node2 down")
    nodes[2].restart()
    wait_until(lambda: nodes[0].log_text().count("peer %s: up again" % node2) >= ups + 2, 30,
               "node0's links to node2 up again")
    # flush --all-nodes: the node sends ETRN to its peers, which flush too.
    result = etrnctl(nodes[0], "flush", "--all-nodes", "@cust.test")
    assert result.returncode == 0, result.stderr
    assert "7 messages started (1 here, 6 on peers that answered)" in result.stdout
    assert_delivered_once(sink, sent)
    # A plain flush stays on this node.
    assert etrnctl(nodes[1], "flush", "cust.test").returncode == 0
    assert len(etrn_lines(nodes[2], "cust.test")) == 0


@pytest.mark.parametrize("flags,reason", [
    (["--peers=127.0.0.1:1"], "--peers needs --peer_from"),
    (["--peers=nosuchhost.invalid:25", "--peer_from=127.0.0.1"], "cannot resolve"),
    (["--peers=127.0.0.1", "--peer_from=127.0.0.1"], "not host:port"),
    (["--peer_from=not-a-network"], "--peer_from"),
    (["--peer_timeout=1h"], "--peer_timeout"),
    (["--peer_auth=/nonexistent/peer.secret"], "--peer_auth: cannot read"),
])
def test_bad_peer_flags_stop_the_start(tmp_path, flags, reason):
    port = harness.free_port()
    proc = subprocess.run([harness.ETRND_BIN, "--listen=127.0.0.1:%d" % port,
                           "--spool_dir=%s" % (tmp_path / "spool")] + flags,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert reason in proc.stderr, proc.stderr


def test_a_node_naming_itself_is_refused(tmp_path):
    port = harness.free_port()
    proc = subprocess.run([harness.ETRND_BIN, "--listen=127.0.0.1:%d" % port,
                           "--spool_dir=%s" % (tmp_path / "spool"),
                           "--peers=127.0.0.1:%d" % port, "--peer_from=127.0.0.1"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "is this node's --listen" in proc.stderr, proc.stderr
