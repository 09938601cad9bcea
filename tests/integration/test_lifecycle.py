"""Start-up errors, clean shutdown, crash and restart (SPEC 3, 8)."""

import os
import signal
import socket

import pytest

import harness
from harness import RawSmtp, run_etrnd_expect_exit


def nonempty_lines(text):
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_sends_421_to_open_sessions_and_exits_0(server, sig):
    idle = RawSmtp(server.port)
    assert idle.read_reply().code == 220
    mid = RawSmtp(server.port)
    mid.greet()
    assert mid.cmd("MAIL FROM:<b@x.test>").code == 250
    try:
        server.send_signal(sig)
        for c in (idle, mid):
            reply = c.read_reply()
            assert reply.code == 421, reply
            assert c.read_until_closed() == b""
        assert server.proc.wait(timeout=harness.STOP_TIMEOUT_S) == 0
    finally:
        idle.close()
        mid.close()
    # Stopped accepting: nothing listens on the port any more.
    with pytest.raises(ConnectionRefusedError):
        harness.connect(server.port).close()


def test_shutdown_keeps_accepted_messages(server):
    tokens = harness.send_messages(server.port, 5)
    assert server.stop() == 0
    for token in tokens:
        assert server.spool_count(token) == 1
    server.restart()
    assert server.etrn("example.com")[1] == \
        "253 2.0.0 OK, 5 pending messages for node example.com started"


@pytest.mark.parametrize("flag,name", [
    ("--no_such_flag=1", "no_such_flag"),
    ("--max_recipients=lots", "max_recipients"),
    ("--listen=not-an-address", "listen"),
    ("--threads=-3", "threads"),
    ("--delivery_cpu_share_while_busy=0", "delivery_cpu_share_while_busy"),
    ("--delivery_cpu_share_while_busy=101", "delivery_cpu_share_while_busy"),
])
def test_bad_flag_exits_nonzero_with_reason(tmp_path, flag, name):
    domains = tmp_path / "domains.conf"
    domains.write_text(harness.DEFAULT_DOMAINS)
    rc, out = run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--domains_file=%s" % domains, flag], cwd=tmp_path)
    assert rc != 0, out
    lines = nonempty_lines(out)
    assert lines, "no reason given"
    assert any(name in line for line in lines), out


def test_missing_domains_file_exits_nonzero_naming_it(tmp_path):
    missing = tmp_path / "does-not-exist.conf"
    rc, out = run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--domains_file=%s" % missing], cwd=tmp_path)
    assert rc != 0
    assert str(missing) in out


@pytest.mark.parametrize("bad_line", [
    "bad..domain.com  127.0.0.1:25",                     # bad pattern
    "exa_mple.com!    127.0.0.1:25",                     # bad characters
    "example.com      127.0.0.1:99999",                  # bad port
    "example.com      [not-v6]:25",                      # bad next hop
    "example.com",                                       # next hop missing
    "example.com      127.0.0.1:25  frobnicate",         # unknown option
    "example.com      127.0.0.1:25  etrn=300.1.1.1/8",   # bad CIDR
    "example.com      127.0.0.1:25  etrn=10.0.0.0/33",   # bad prefix length
])
def test_malformed_domains_table_names_file_and_line(tmp_path, bad_line):
    table = tmp_path / "domains.conf"
    table.write_text("# comment\nexample.org 127.0.0.1:25 hold\n\n%s\nexample.net mx\n" % bad_line)
    rc, out = run_etrnd_expect_exit(
        ["--listen=127.0.0.1:%d" % harness.free_port(), "--spool_dir=%s" % (tmp_path / "spool"),
         "--domains_file=%s" % table], cwd=tmp_path)
    assert rc != 0, out
    assert "%s:4" % table in out, out


def test_port_in_use_exits_nonzero(server, tmp_path):
    second = harness.Etrnd(tmp_path / "second")
    rc, out = run_etrnd_expect_exit(second.argv(server.port), cwd=second.workdir)
    assert rc != 0, out
    assert nonempty_lines(out)
    assert server.alive()
    with server.smtp() as s:
        assert s.noop()[0] == 250


def test_port_held_by_another_program_exits_nonzero(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        srv = harness.Etrnd(tmp_path / "srv")
        rc, out = run_etrnd_expect_exit(srv.argv(holder.getsockname()[1]), cwd=srv.workdir)
    assert rc != 0, out


def test_kill_9_then_restart_binds_same_port_and_keeps_messages(server):
    tokens = harness.send_messages(server.port, 3)
    # An established session at the time of the crash leaves the old port
    # with connections in TIME_WAIT / FIN_WAIT: the restart must still bind.
    open_session = RawSmtp(server.port)
    open_session.greet()
    try:
        server.kill()
        server.restart()
    finally:
        open_session.close()
    for token in tokens:
        assert server.spool_count(token) == 1
    code, line = server.etrn("example.com")
    assert line == "253 2.0.0 OK, 3 pending messages for node example.com started"
    more = harness.send_messages(server.port, 1)
    assert server.spool_count(more[0]) == 1


def test_spool_dir_created_if_missing(etrnd_factory):
    srv = etrnd_factory(start=False)
    srv.spool_dir = srv.workdir / "fresh-spool"
    srv.start()
    token = harness.send_messages(srv.port, 1)[0]
    assert srv.spool_dir.is_dir()
    assert srv.spool_count(token) == 1


def test_threads_are_named_for_operators(server):
    # top -H and perf show what each thread is.
    task_dir = "/proc/%d/task" % server.proc.pid
    names = set()
    for tid in os.listdir(task_dir):
        with open(os.path.join(task_dir, tid, "comm")) as comm:
            names.add(comm.read().strip())
    assert {"etrnd-core-0", "etrnd-core-1", "etrnd-log"} <= names, names
