"""SPEC 8: disk full or spool write errors -> 452 4.3.1 to the client, the
server keeps running, and nothing already queued is harmed.

The spool lives on a small tmpfs mounted by the test (root only; skipped
where mounting is not allowed)."""

import subprocess

import pytest

import harness
from harness import unique_token

SPOOL_BYTES = 3 * 1024 * 1024
BODY_BYTES = 200 * 1024


def mount_tmpfs(path, size_bytes):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size_bytes, "tmpfs",
                             str(path)], capture_output=True, timeout=10)
    return result.returncode == 0


def message_of(token, size):
    line = b"x" * 76 + b"\r\n"
    body = line * (size // len(line))
    return b"Subject: disk full test\r\n\r\n" + token.encode() + b"\r\n" + body


def test_disk_full_gets_452_and_queued_mail_survives(etrnd_factory):
    srv = etrnd_factory(start=False, flags=["--segment_bytes_max=1048576"])
    if not mount_tmpfs(srv.spool_dir, SPOOL_BYTES):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        srv.start()
        accepted, refused_codes = [], []
        with srv.smtp() as s:
            s.ehlo()
            for _ in range(4 * SPOOL_BYTES // BODY_BYTES):
                token = unique_token()
                assert s.mail("b@x.test")[0] == 250
                assert s.rcpt("a@example.com")[0] == 250
                code, text = s.data(message_of(token, BODY_BYTES))
                if code == 250:
                    accepted.append(token)
                else:
                    refused_codes.append((code, text))
                    if len(refused_codes) >= 3:
                        break
            # The session goes on after a refusal.
            assert s.noop()[0] == 250
        assert accepted, "nothing fit on the spool at all"
        assert refused_codes, "the spool never filled up"
        for code, text in refused_codes:
            assert code == 452, (code, text)
            assert text.startswith(b"4.3.1"), text
        assert srv.alive()
        # Every acknowledged message is intact on the spool, exactly once.
        for token in accepted:
            assert srv.spool_count(token) == 1, token
        # And the counts survive a restart (recovery reads what is there).
        srv.stop()
        srv.start()
        code, line = srv.etrn("example.com")
        assert code == 253, line
        assert ("%d pending messages" % len(accepted)) in line, line
    finally:
        srv.stop()
        subprocess.run(["umount", "-l", str(srv.spool_dir)], capture_output=True, timeout=10)
