"""Helpers for the several-nodes tests (test_peers.py, perf/e2e/peer_etrn.py):
a cluster of etrnd nodes on 127.0.0.1 that name each other in --peers, a
customer's ETRN from an address that is not a peer, and a black-hole
listener (accepts TCP, never says a word).

The nodes reach each other from 127.0.0.1 (--peer_from=127.0.0.1/32); the
customer's host speaks from CUSTOMER (another loopback address), so its ETRN
is an original one that the node forwards.
"""

import harness
from delivery_helpers import TEST_FLAGS, wait_until
from fake_listener import FakeListener

CUSTOMER = "127.0.0.9"
PEER_FROM = "127.0.0.1/32"
PEER_UP_TIMEOUT_S = 30


def node_domains(sink):
    return ("cust.test    %s hold\n"
            ".cust.test   %s hold\n"
            "locked.test  %s hold etrn=192.0.2.0/24\n"
            "dial.test    %s hold queue=dialup\n") % (
                sink.next_hop, sink.next_hop, sink.next_hop, sink.next_hop)


def start_cluster(etrnd_factory, sink, count=3, extra_flags=(), peer_timeout="2s",
                  extra_peers=(), peer_from=PEER_FROM, per_node_flags=None):
    """`count` nodes, each with every other one in --peers; returns them once
    every node's links to every peer are up."""
    ports = []
    while len(ports) < count:
        port = harness.free_port()
        if port not in ports:
            ports.append(port)
    nodes = []
    for i, port in enumerate(ports):
        peers = ["%s:%d" % (harness.LOOPBACK, p) for p in ports if p != port]
        peers += list(extra_peers)
        flags = list(TEST_FLAGS) + [
            "--peers=" + ",".join(peers),
            "--peer_from=" + peer_from,
            "--peer_timeout=" + peer_timeout,
        ] + list(extra_flags) + (list(per_node_flags[i]) if per_node_flags else [])
        node = etrnd_factory(domains=node_domains(sink), flags=flags, name="node%d" % i,
                             start=False)
        node.peer_names = ["%s:%d" % (harness.LOOPBACK, p) for p in ports if p != port]
        nodes.append(node)
    for node, port in zip(nodes, ports):
        node.start(port=port)
    for node in nodes:
        wait_peers_up(node)
    return nodes


def links_up(node, peer_name):
    """How many of node's links (one per core) to peer_name have come up."""
    return node.log_text().count("peer %s: up" % peer_name)


def wait_peers_up(node, minimum=2):
    """Every peer's link from every core (the harness runs 2) is up."""
    for name in node.peer_names:
        wait_until(lambda: links_up(node, name) >= minimum, PEER_UP_TIMEOUT_S,
                   "%s: links to %s up" % (node.name, name))


def etrn(port, argument, source=CUSTOMER):
    """One ETRN from `source` in its own session; returns the reply line."""
    with harness.RawSmtp(port, source=source) as c:
        c.greet()
        reply = c.cmd("ETRN " + argument)
        c.cmd("QUIT")
    return reply.last


def etrn_lines(node, argument):
    """The node's log lines for ETRNs of `argument` (one per ETRN served)."""
    needle = "ETRN %s from " % argument
    return [line for line in node.log_text().splitlines() if needle in line]


class BlackHole(FakeListener):
    """A listener that accepts and never answers: a peer behind a broken
    firewall, or one whose process hangs before its greeting."""

    def __init__(self):
        self.held = []
        super().__init__(self.held.append, threaded=False, backlog=64)

    @property
    def name(self):
        return "%s:%d" % (harness.LOOPBACK, self.port)

    def close(self):
        super().close()
        for conn in self.held:
            conn.close()
