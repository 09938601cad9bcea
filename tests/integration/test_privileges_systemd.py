"""Privileges (--user), the systemd readiness protocol and --version (SPEC 3)."""

import os
import pathlib
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import uuid

import pytest

import harness
from harness import RawSmtp, run_etrnd_expect_exit

NOTIFY_TIMEOUT_S = 30

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def project_version():
    text = (harness.REPO / "meson.build").read_text()
    return re.search(r"version\s*:\s*'([^']+)'", text).group(1)


def test_version_is_the_meson_project_version():
    out = subprocess.run([harness.ETRND_BIN, "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10, check=True).stdout.decode()
    assert out.strip() == "etrnd " + project_version()


# -- sd_notify --

class NotifySocket:
    """The supervisor's end of $NOTIFY_SOCKET (what systemd listens on)."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)
        self.sock.settimeout(NOTIFY_TIMEOUT_S)

    def next(self):
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("kind", ["abstract", "path"])
def test_sd_notify_ready_reloading_stopping(etrnd_factory, monkeypatch, tmp_path, kind):
    name = ("@etrnd-test-" + uuid.uuid4().hex if kind == "abstract"
            else str(tmp_path / "notify.sock"))
    notify = NotifySocket(name)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    srv = etrnd_factory(start=False)
    try:
        srv._spawn(harness.free_port())
        assert notify.next() == "READY=1"
        # READY only once the spool is recovered and the listeners are up.
        with RawSmtp(srv.port) as c:
            assert c.read_reply().code == 220

        srv.send_signal(signal.SIGHUP)
        reloading = notify.next().split("\n")
        assert reloading[0] == "RELOADING=1"
        assert re.fullmatch(r"MONOTONIC_USEC=\d+", reloading[1])
        assert notify.next() == "READY=1"

        srv.send_signal(signal.SIGTERM)
        assert notify.next() == "STOPPING=1"
        assert srv.proc.wait(timeout=harness.STOP_TIMEOUT_S) == 0
    finally:
        notify.close()


def test_no_notify_socket_is_fine(etrnd_factory, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "@etrnd-nobody-listens-" + uuid.uuid4().hex)
    srv = etrnd_factory()
    assert harness.send_messages(srv.port, 1)
    assert srv.stop() == 0


# -- --user --

def _ids_of_every_thread(pid):
    ids = set()
    for status in pathlib.Path("/proc/%d/task" % pid).glob("*/status"):
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                      if line.startswith(("Uid:", "Gid:")))
        ids.add((tuple(fields["Uid"].split()), tuple(fields["Gid"].split())))
    return ids


@pytest.fixture
def world_readable_dir(request):
    # pytest's tmp_path is under a 0700 root directory the dropped user
    # could not traverse.
    path = pathlib.Path(tempfile.mkdtemp(prefix="etrnd-user-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@needs_root
def test_user_drops_every_thread_after_binding(request, world_readable_dir):
    nobody = pwd.getpwnam("nobody")
    srv = harness.Etrnd(world_readable_dir / "srv", flags=["--user=nobody"])
    request.node.etrnd_servers = [srv]
    try:
        srv.start()
        uid, gid = str(nobody.pw_uid), str(nobody.pw_gid)
        assert _ids_of_every_thread(srv.proc.pid) == {((uid,) * 4, (gid,) * 4)}
        assert "privileges dropped: running as user nobody" in srv.log_text()
        tokens = harness.send_messages(srv.port, 3)
        for path in [srv.spool_dir] + list(srv.spool_dir.iterdir()):
            assert path.stat().st_uid == nobody.pw_uid, path
        assert srv.stop() == 0
        # Restarted as root again, it recovers the spool the user wrote.
        srv.restart()
        for token in tokens:
            assert srv.spool_count(token) == 1
        assert srv.etrn("example.com")[1] == \
            "253 2.0.0 OK, 3 pending messages for node example.com started"
    finally:
        srv.stop()


def _etrnd_args(tmp_path):
    domains = tmp_path / "domains.conf"
    domains.write_text(harness.DEFAULT_DOMAINS)
    return ["--listen=127.0.0.1:%d" % harness.free_port(),
            "--spool_dir=%s" % (tmp_path / "spool"), "--domains_file=%s" % domains]


def test_unknown_user_exits_nonzero_with_reason(tmp_path):
    rc, out = run_etrnd_expect_exit(_etrnd_args(tmp_path) + ["--user=no_such_user_etrnd"],
                                    cwd=tmp_path)
    assert rc != 0
    assert out.strip() == "etrnd: --user=no_such_user_etrnd: no such user"


def test_user_root_is_refused(tmp_path):
    rc, out = run_etrnd_expect_exit(_etrnd_args(tmp_path) + ["--user=root"], cwd=tmp_path)
    assert rc != 0
    assert out.strip() == "etrnd: --user=root: refusing to run as root"


@needs_root
def test_user_without_root_is_refused(world_readable_dir):
    nobody = pwd.getpwnam("nobody")

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    proc = subprocess.run(
        [harness.ETRND_BIN] + _etrnd_args(world_readable_dir) + ["--user=daemon"],
        cwd=world_readable_dir, preexec_fn=become_nobody, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    assert proc.returncode != 0
    assert proc.stdout.decode().strip() == \
        "etrnd: --user=daemon needs etrnd to be started as root"
