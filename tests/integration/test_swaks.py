"""swaks (a real-world SMTP client) against etrnd."""

import subprocess

from harness import unique_token

SWAKS_TIMEOUT_S = 60


def run_swaks(port, *args):
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--helo", "client.test",
            "--from", "b@x.test", "--timeout", "10"] + list(args)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=SWAKS_TIMEOUT_S)
    return proc.returncode, proc.stdout.decode(errors="replace")


def test_swaks_pipelined_message_is_stored(server):
    token = unique_token()
    rc, out = run_swaks(server.port, "--to", "a@example.com", "--body", "hello " + token,
                        "--pipeline")
    assert rc == 0, out
    assert "<** " not in out, out  # swaks marks unexpected replies with <**
    assert server.spool_count(token) == 1


def test_swaks_several_recipients_one_message(server):
    token = unique_token()
    rc, out = run_swaks(server.port, "--to", "a@example.com,b@x.example.com,c@example.org",
                        "--body", "multi " + token, "--pipeline")
    assert rc == 0, out
    assert server.spool_count(token) == 1


def test_swaks_relay_denied_fails_and_nothing_stored(server):
    token = unique_token()
    rc, out = run_swaks(server.port, "--to", "x@unknown.test", "--body", token, "--pipeline")
    assert rc != 0, out
    assert "554 5.7.1 <x@unknown.test>: Relay access denied" in out
    assert server.spool_count(token) == 0
