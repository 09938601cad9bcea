"""A real network partition between etrnd nodes (SPEC 6, 'Several nodes'):
three nodes, each in its own network namespace, joined by veth pairs to a
bridge in the test's namespace (where the customer and the sink live). The
partition is node 2's veth taken down: replies from the other nodes stay
bounded by --peer_timeout, nothing is lost, and node 2's mail is flushed by
an ETRN once the link is back.

Needs root and `ip netns`; skipped when they are not available.
"""

import collections
import os
import random
import signal  # noqa: F401  (kept for symmetry with test_peers)
import smtplib
import socket
import subprocess
import time

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, nothing_waiting, sink_factory,  # noqa: F401
                              started, strip_received, token_of, wait_until)

FLUSH_TIMEOUT_S = 60
NODES = 3


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


def _netns_usable():
    if os.geteuid() != 0:
        return False
    name = "etrndprobe%d" % random.randrange(10000)
    try:
        if _ip("netns", "add", name, check=False).returncode != 0:
            return False
        return True
    finally:
        _ip("netns", "del", name, check=False)


pytestmark = pytest.mark.skipif(not _netns_usable(), reason="needs root and ip netns")


class Topology:
    """A bridge with the customer's address, and one namespace per node."""

    def __init__(self):
        tag = "%04x" % random.randrange(1 << 16)
        self.subnet = "10.231.%d" % random.randrange(1, 250)
        self.bridge = "etb" + tag
        self.host = self.subnet + ".254"          # the customer and the sink
        self.namespaces = ["etn%s_%d" % (tag, i) for i in range(NODES)]
        self.veths = ["etv%s%d" % (tag, i) for i in range(NODES)]
        self.addresses = ["%s.%d" % (self.subnet, i + 1) for i in range(NODES)]
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", self.host + "/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for ns, veth, address in zip(self.namespaces, self.veths, self.addresses):
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", veth + "n")
            _ip("link", "set", veth + "n", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", address + "/24", "dev", veth + "n")
            _ip("-n", ns, "link", "set", veth + "n", "up")

    def cut(self, i):
        _ip("link", "set", self.veths[i], "down")

    def mend(self, i):
        _ip("link", "set", self.veths[i], "up")

    def remove(self):
        for ns, veth in zip(self.namespaces, self.veths):
            _ip("link", "del", veth, check=False)
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)


class NsEtrnd(harness.Etrnd):
    """harness.Etrnd run inside a namespace, listening on its address."""

    def __init__(self, workdir, namespace, address, **kwargs):
        super().__init__(workdir, **kwargs)
        self.namespace = namespace
        self.address = address

    def argv(self, port):
        argv = super().argv(port)
        argv[1] = "--listen=%s:%d" % (self.address, port)
        return ["ip", "netns", "exec", self.namespace] + argv

    def _wait_ready(self):
        deadline = time.monotonic() + harness.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise harness.StartError("exited with %d" % self.proc.returncode)
            try:
                with socket.create_connection((self.address, self.port), timeout=2) as s:
                    if s.recv(3) == b"220":
                        return
            except OSError:
                time.sleep(0.05)
        raise harness.StartError("no greeting")


@pytest.fixture
def topology():
    topo = Topology()
    yield topo
    topo.remove()


def smtp(node, source):
    return smtplib.SMTP(node.address, node.port, local_hostname="client.test",
                        timeout=harness.SOCKET_TIMEOUT_S, source_address=(source, 0))


def etrn(node, topo, argument="cust.test"):
    with smtp(node, topo.host) as s:
        s.ehlo()
        code, text = s.docmd("ETRN", argument)
    return "%d %s" % (code, text.decode())


def queue_on(node, topo, count):
    sent = {}
    with smtp(node, topo.host) as s:
        for _ in range(count):
            token = harness.unique_token()
            data = build_message(token, "user@cust.test")
            s.sendmail("sender@x.test", ["user@cust.test"], data)
            sent[token] = data
    return sent


def test_partition_bounded_replies_nothing_lost(topology, tmp_path, sink_factory):  # noqa: F811
    topo = topology
    sink = sink_factory(host=topo.host)
    port = harness.free_port()
    nodes = []
    for i, (ns, address) in enumerate(zip(topo.namespaces, topo.addresses)):
        peers = ",".join("%s:%d" % (a, port) for a in topo.addresses if a != address)
        node = NsEtrnd(tmp_path / ("node%d" % i), ns, address,
                       domains="cust.test %s hold\n" % sink.next_hop, name="node%d" % i,
                       flags=list(TEST_FLAGS) + [
                           "--peers=" + peers, "--peer_timeout=200ms",
                           "--peer_from=" + ",".join(a + "/32" for a in topo.addresses)])
        nodes.append(node)
    try:
        for node in nodes:
            node.start(port=port)  # one port: every node has its own address
        for node in nodes:
            wait_until(lambda: node.log_text().count(": up") >= 2 * (NODES - 1), 30,
                       "%s: links up" % node.name)
        per_node = [queue_on(node, topo, n) for node, n in zip(nodes, (1, 2, 3))]
        cut_at = len(nodes[0].log_text())
        node2 = "peer %s:%d" % (topo.addresses[2], port)
        topo.cut(2)
        # Node 2 is unreachable: the others answer with what they can count
        # (node 2's link still looks up, so the reply waits --peer_timeout).
        assert etrn(nodes[0], topo) == started(3, "cust.test")
        for _ in range(2):
            reply = etrn(nodes[0], topo)
            assert reply in (started(3, "cust.test"), started(1, "cust.test"),
                             nothing_waiting("cust.test")), reply
        sink.wait_for_messages(3, timeout_s=FLUSH_TIMEOUT_S)
        assert etrn(nodes[1], topo)[:3] in ("251", "253")
        # Silent for the reply timeout, then refused connects: logged down.
        wait_until(lambda: (node2 + ": down") in nodes[0].log_text()[cut_at:], 30,
                   "node0 logs node2 down")
        reply = etrn(nodes[0], topo)  # a down peer is not waited for
        assert reply[:3] in ("251", "253"), reply
        topo.mend(2)
        wait_until(lambda: (node2 + ": up again") in nodes[0].log_text()[cut_at:], 30,
                   "node0 logs node2 up again")
        # Back: an ETRN reaches node 2 once its link is up again.
        want = len(per_node[0]) + len(per_node[1]) + len(per_node[2])

        def all_there():
            if len(sink.messages()) >= want:
                return True
            etrn(nodes[0], topo)
            time.sleep(0.5)
            return False
        wait_until(all_there, FLUSH_TIMEOUT_S, "node2's mail after the partition")
        time.sleep(0.5)
        sent = {}
        for part in per_node:
            sent.update(part)
        counts = collections.Counter(token_of(m.data) for m in sink.messages())
        assert set(counts) == set(sent) and all(n == 1 for n in counts.values()), counts
        for m in sink.messages():
            assert strip_received(m.data)[1] == sent[token_of(m.data)]
    finally:
        for node in nodes:
            node.stop()
