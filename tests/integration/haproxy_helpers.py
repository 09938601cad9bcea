"""A real HAProxy in front of etrnd (test_proxy_protocol.py, test_peers.py):
a TCP frontend on a free loopback port, round robin over the backends, each
connection announced to its backend with a PROXY v2 header."""

import os
import shutil
import socket
import subprocess
import time

import pytest

import harness

HAPROXY_BIN = shutil.which("haproxy") or "/usr/sbin/haproxy"
HAPROXY_START_TIMEOUT_S = 15
requires_haproxy = pytest.mark.skipif(
    not os.access(HAPROXY_BIN, os.X_OK),
    reason="haproxy is not installed (tools/install-deps.sh installs it)")


def write_haproxy_config(path, listen_port, backend_ports):
    servers = "\n".join("    server n%d %s:%d send-proxy-v2" % (i, harness.LOOPBACK, port)
                        for i, port in enumerate(backend_ports))
    path.write_text(f"""\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend smtp_in
    bind {harness.LOOPBACK}:{listen_port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
""")


def start_haproxy(tmp_path, processes, backend_ports):
    """HAProxy in the foreground on a free loopback port, registered in
    `processes`; returns (proc, port) once it accepts connections."""
    for _ in range(harness.PORT_PICK_ATTEMPTS):
        port = harness.free_port()
        cfg = tmp_path / "haproxy.cfg"
        write_haproxy_config(cfg, port, backend_ports)
        log = open(tmp_path / "haproxy.log", "ab")
        proc = subprocess.Popen([HAPROXY_BIN, "-db", "-f", str(cfg)], cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        processes.append(proc)
        deadline = time.monotonic() + HAPROXY_START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection((harness.LOOPBACK, port), timeout=1):
                    return proc, port
            except OSError:
                time.sleep(0.05)
        stop_process(proc)
    pytest.fail("haproxy did not start: %s" % (tmp_path / "haproxy.log").read_text()[-2000:])


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=harness.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
