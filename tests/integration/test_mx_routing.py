"""Next hop `mx` (SPEC 4) with the real etrnd: the route comes from MX records
served by a local dnsmasq (--dns_server), and MX hosts are contacted on the
test sink's port (--mx_port)."""

import os
import socket
import subprocess

import pytest

import harness
from delivery_helpers import (TEST_FLAGS, build_message, send_one, started, strip_received,
                              token_of, wait_queue_empty, wait_until)
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)
from fake_listener import FakeListener

DNSMASQ = "/usr/sbin/dnsmasq"
DNSMASQ_START_TIMEOUT_S = 10
SENDER = "alice@home.test"


DNSMASQ_START_ATTEMPTS = 5


def udp_port_taken(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((harness.LOOPBACK, port))
        except OSError:
            return True
    return False


def free_udp_and_tcp_port():
    """dnsmasq serves UDP and TCP on its port: both must be free."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((harness.LOOPBACK, 0))
            port = s.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((harness.LOOPBACK, port))
                except OSError:
                    continue
            return port


def start_dnsmasq(port, log_path):
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
         "--listen-address=127.0.0.1", "--port=%d" % port, "--user=root", "--group=root",
         "--pid-file", "--local=/test/", "--log-facility=-",
         "--mx-host=mxdom.test,mail.mxdom.test,10",
         "--mx-host=backup.test,dead.backup.test,10",
         "--mx-host=backup.test,mail.mxdom.test,20",
         "--host-record=mail.mxdom.test,127.0.0.1",
         "--host-record=dead.backup.test,127.0.0.5"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


@pytest.fixture
def dns_server(processes, tmp_path):
    """dnsmasq on a free loopback port serving the test zone from its command
    line: mxdom.test -> mail.mxdom.test (127.0.0.1); backup.test -> a first
    MX on 127.0.0.5 (out of service), then mail.mxdom.test; nothing
    else under .test exists."""
    if not os.access(DNSMASQ, os.X_OK):
        pytest.skip("dnsmasq is not installed (%s): apt-get install dnsmasq-base" % DNSMASQ)
    log_path = tmp_path / "dnsmasq.log"
    for _ in range(DNSMASQ_START_ATTEMPTS):  # the port may be taken meanwhile
        port = free_udp_and_tcp_port()
        proc = start_dnsmasq(port, log_path)
        processes.append(proc)
        wait_until(lambda: proc.poll() is not None or udp_port_taken(port),
                   DNSMASQ_START_TIMEOUT_S, "dnsmasq to bind its port")
        if proc.poll() is None:
            return "127.0.0.1:%d" % port
        if "in use" not in log_path.read_text(errors="replace"):
            break
    pytest.fail("dnsmasq exited at start-up:\n" + log_path.read_text(errors="replace"))


def mx_server(etrnd_factory, sink, dns, extra_table=""):
    table = ("mxdom.test mx hold\n"
             "backup.test mx hold\n"
             "nodomain.test mx hold\n" + extra_table)
    flags = TEST_FLAGS + ("--dns_server=" + dns, "--mx_port=%d" % sink.port)
    return etrnd_factory(domains=table, flags=flags)


def test_etrn_delivers_to_the_mx_host(etrnd_factory, sink_factory, dns_server):
    sink = sink_factory("mx")
    server = mx_server(etrnd_factory, sink, dns_server)
    tokens = [harness.unique_token() for _ in range(3)]
    for i, token in enumerate(tokens):
        rcpt = "u%d@mxdom.test" % i
        assert send_one(server.port, SENDER, [rcpt], build_message(token, rcpt))[0] == 250
    assert sink.messages() == []
    assert server.etrn("mxdom.test")[1] == started(3, "mxdom.test")
    got = sink.wait_for_messages(3, timeout_s=30)
    assert sorted(token_of(m.data) for m in got) == sorted(tokens)
    for m in got:
        assert m.rcpts[0].endswith("@mxdom.test")
        assert strip_received(m.data)[1] == build_message(token_of(m.data), m.rcpts[0])
    wait_queue_empty(server, "mxdom.test")


class Refuser(FakeListener):
    """Listens where the first MX of backup.test points (127.0.0.5, the
    sink's port) and answers every connection with 421: the MX was tried."""

    def __init__(self, port):
        super().__init__(self.refuse, host="127.0.0.5", port=port, threaded=False,
                         reuse_address=True)

    @staticmethod
    def refuse(conn):
        try:
            conn.sendall(b"421 4.3.2 first MX is out of service\r\n")
        except OSError:
            pass
        conn.close()


def test_failing_first_mx_falls_back_to_the_next(etrnd_factory, sink_factory, dns_server):
    sink = sink_factory("backup")
    refuser = Refuser(sink.port)
    try:
        check_fallback(etrnd_factory, sink, dns_server, refuser)
    finally:
        refuser.close()


def check_fallback(etrnd_factory, sink, dns_server, refuser):
    server = mx_server(etrnd_factory, sink, dns_server)
    token = harness.unique_token()
    assert send_one(server.port, SENDER, ["u@backup.test"],
                    build_message(token, "u@backup.test"))[0] == 250
    assert server.etrn("backup.test")[1] == started(1, "backup.test")
    got = sink.wait_for_messages(1, timeout_s=30)
    assert token_of(got[0].data) == token
    assert got[0].rcpts == ["u@backup.test"]
    assert refuser.accepted >= 1  # the preferred MX came first
    wait_queue_empty(server, "backup.test")


def test_domain_without_dns_bounces_to_sender(etrnd_factory, sink_factory, dns_server):
    sink = sink_factory("unused")
    home = sink_factory("home")
    server = mx_server(etrnd_factory, sink, dns_server,
                       extra_table="home.test %s\n" % home.next_hop)
    token = harness.unique_token()
    assert send_one(server.port, SENDER, ["u@nodomain.test"],
                    build_message(token, "u@nodomain.test", SENDER))[0] == 250
    assert server.etrn("nodomain.test")[1] == started(1, "nodomain.test")
    bounce = home.wait_for_messages(1, timeout_s=30)[0]
    assert bounce.mail_from == ""
    assert bounce.rcpts == [SENDER]
    assert b"multipart/report" in bounce.data
    assert b"u@nodomain.test" in bounce.data
    assert token.encode() in bounce.data
    assert sink.messages() == []
    wait_queue_empty(server, "nodomain.test")
