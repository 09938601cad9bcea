"""Fixtures for the integration tests (run against the real etrnd binary).

  etrnd_factory(domains=..., flags=[...], name=..., start=True) -> harness.Etrnd
      a server on a free loopback port with its own temp spool and table;
      every server is stopped (SIGTERM, SIGKILL after 10 s) after the test.
  server     a started server with the default test table (harness.DEFAULT_DOMAINS)
  processes  register extra subprocess.Popen objects to kill after the test

A failing test gets each server's log (stdout + stderr) appended to its report.
Each test also runs under a watchdog (default 180 s, `@pytest.mark.time_limit(s)`).
"""

import resource
import signal
import subprocess

import pytest

import harness

DEFAULT_TIME_LIMIT_S = 180
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): watchdog for one test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in getattr(item, "etrnd_servers", []):
            report.sections.append(
                ("etrnd log: %s (port %s)" % (srv.name, srv.port), srv.log_text()[-30000:]))


class _Watchdog(Exception):
    pass


@pytest.fixture(autouse=True)
def watchdog(request):
    """Fails a test that hangs instead of hanging the whole suite."""
    marker = request.node.get_closest_marker("time_limit")
    limit = int(marker.args[0]) if marker else DEFAULT_TIME_LIMIT_S

    def on_alarm(signum, frame):
        raise _Watchdog("test exceeded its %d s time limit" % limit)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session", autouse=True)
def raise_fd_limit():
    """Many tests hold hundreds of sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield


@pytest.fixture
def processes():
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def etrnd_factory(request, tmp_path):
    servers = []
    request.node.etrnd_servers = servers

    def make(domains=harness.DEFAULT_DOMAINS, flags=(), name=None, start=True):
        name = name or "etrnd%d" % len(servers)
        srv = harness.Etrnd(tmp_path / name, domains=domains, flags=flags, name=name)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in servers:
        srv.stop()
    # Under a sanitizer build a report in any server's log fails the test.
    for srv in servers:
        found = [m for m in SANITIZER_MARKERS if m in srv.log_text()]
        if found:
            pytest.fail("%s logged a sanitizer report (%s):\n%s" %
                        (srv.name, ", ".join(found), srv.log_text()[-20000:]))


@pytest.fixture
def server(etrnd_factory):
    return etrnd_factory()
