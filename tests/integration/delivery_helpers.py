"""Helpers for the delivery, ETRN flush, crash and MX routing integration tests.

  RecordingSink      an SMTP server in its own process (this file run as a
                     script) that stores every accepted message byte-exact
                     (after dot-unstuffing) with its envelope; it can answer
                     RCPT with a chosen reply and delay its reply to DATA.
  sink_factory       pytest fixture: RecordingSink instances stopped after the test
  queue_messages     a fast pipelining client over several connections
  strip_received     a delivered message without the Received: header etrnd added
  wait_until         bounded polling

Everything stays on 127.0.0.1 and every wait is bounded.
"""

import argparse
import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import pytest

import harness

SINK_START_TIMEOUT_S = 20
SINK_STOP_TIMEOUT_S = 10
WAIT_POLL_S = 0.05
# Commands and text lines read by the sink; etrnd never sends longer ones.
SINK_LINE_BYTES_MAX = 1 << 20
# Reply lines in the pipelining client.
CLIENT_READ_BYTES = 65536
# Flags that keep the server's bounds out of the tests' way: many ETRN from
# one address, short retries and timeouts.
TEST_FLAGS = (
    "--etrn_rate=10000",
    "--etrn_burst=10000",
    "--retry_initial=1s",
    "--retry_max=2s",
    "--delivery_timeout=15s",
)


def started(n, node):
    return "253 2.0.0 OK, %d pending messages for node %s started" % (n, node)


def nothing_waiting(node):
    return "251 2.0.0 OK, no messages waiting for node %s" % node


def wait_until(predicate, timeout_s, what):
    """Polls `predicate` until it returns a true value (which is returned)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(WAIT_POLL_S)


def flushes_done(server, domain):
    """How many flushes of `domain` the server has logged as finished."""
    return server.log_text().count("flush %s done" % domain)


def wait_flushes_done(server, domain, count, timeout_s=30):
    wait_until(lambda: flushes_done(server, domain) >= count, timeout_s,
               "flush %d of %s to finish" % (count, domain))


def etrn_many(server, nodes):
    """One ETRN per node over one session; returns the full reply lines."""
    replies = []
    with server.smtp() as s:
        s.ehlo()
        for node in nodes:
            code, msg = s.docmd("ETRN", node)
            replies.append("%d %s" % (code, msg.decode()))
    return replies


def wait_queue_empty(server, node, timeout_s=30):
    """Waits until ETRN `node` answers 251 (a flush that is still settling
    answers 253 without starting another one)."""
    last = []

    def empty():
        last[:] = [server.etrn(node)[1]]
        return last[0] == nothing_waiting(node)

    try:
        wait_until(empty, timeout_s, "an empty queue for %s" % node)
    except AssertionError:
        raise AssertionError("queue for %s not empty: last reply %r" % (node, last))


def is_sanitizer_build(path=harness.ETRND_BIN):
    """True when the etrnd under test is built with AddressSanitizer."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def sanitizer_report(log_text):
    """The first lines of a sanitizer report in a server log, or ''."""
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        at = log_text.find(marker)
        if at >= 0:
            return "\n".join(log_text[at:].splitlines()[:25])
    return ""


# ------------------------------------------------------------- messages ----

def build_message(token, rcpt, sender="sender@x.test", extra=b""):
    """An RFC 5322 message (CRLF lines) carrying `token` once, with a line
    that starts with a dot (so dot-stuffing is exercised both ways)."""
    return (b"From: <" + sender.encode() + b">\r\n"
            b"To: <" + rcpt.encode() + b">\r\n"
            b"Subject: delivery test " + token.encode() + b"\r\n"
            b"\r\n"
            b"token " + token.encode() + b"\r\n"
            b".a line that starts with a dot\r\n"
            b"..and one with two\r\n" + extra)


def dot_stuff(data):
    """`data` (ending with CRLF) as sent after DATA, without the final dot."""
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def strip_received(data):
    """The message without its first header, which must be a Received: header
    (folded lines included). Returns (received_header_bytes, rest)."""
    assert data[:9].lower() == b"received:", \
        "delivered message does not start with Received: %r" % data[:80]
    end = 0
    while True:
        nl = data.index(b"\r\n", end)
        end = nl + 2
        if data[end:end + 1] not in (b" ", b"\t"):
            return data[:end], data[end:]


def token_of(data, pattern=re.compile(rb"token (tok[0-9a-f]{32})")):
    m = pattern.search(data)
    return m.group(1).decode() if m else None


# --------------------------------------------------------------- client ----

class SmtpError(Exception):
    pass


class _ReplyReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        """(code, last line) of the next reply."""
        while True:
            nl = self.buf.find(b"\n")
            while nl < 0:
                chunk = self.sock.recv(CLIENT_READ_BYTES)
                if not chunk:
                    raise SmtpError("server closed the connection")
                self.buf += chunk
                nl = self.buf.find(b"\n")
            line, self.buf = self.buf[:nl + 1], self.buf[nl + 1:]
            if len(line) >= 4 and line[3:4] == b"-":
                continue
            return int(line[:3]), line.rstrip(b"\r\n").decode("utf-8", "replace")


def _send_over_one_connection(port, messages, acked):
    """Sends `messages` [(mail_from, [rcpts], data)] over one session with
    pipelining: each message's end of data travels with the next message's
    MAIL, RCPT and DATA. Appends the index of each message that got 250."""
    with harness.connect(port, timeout=60) as sock:
        replies = _ReplyReader(sock)
        code, line = replies.reply()
        if code != 220:
            raise SmtpError("greeting: %s" % line)
        sock.sendall(b"EHLO client.test\r\n")
        code, line = replies.reply()
        if code != 250:
            raise SmtpError("EHLO: %s" % line)
        pending_end = b""   # the previous message's content and final dot
        pending_index = None
        for index, (mail_from, rcpts, data) in enumerate(messages):
            commands = b"MAIL FROM:<" + mail_from.encode() + b">\r\n"
            for rcpt in rcpts:
                commands += b"RCPT TO:<" + rcpt.encode() + b">\r\n"
            sock.sendall(pending_end + commands + b"DATA\r\n")
            if pending_index is not None:
                _expect_data_accepted(replies, pending_index, acked)
            for what in ["MAIL"] + ["RCPT"] * len(rcpts):
                code, line = replies.reply()
                if code != 250:
                    raise SmtpError("%s of message %d: %s" % (what, index, line))
            code, line = replies.reply()
            if code != 354:
                raise SmtpError("DATA of message %d: %s" % (index, line))
            pending_end = dot_stuff(data) + b".\r\n"
            pending_index = index
        if pending_index is not None:
            sock.sendall(pending_end)
            _expect_data_accepted(replies, pending_index, acked)
        # Wait for the 221: a client that closes on unread replies is a
        # separate case (test_crash.py).
        sock.sendall(b"QUIT\r\n")
        replies.reply()


def _expect_data_accepted(replies, index, acked):
    code, line = replies.reply()
    if code != 250:
        raise SmtpError("end of DATA of message %d: %s" % (index, line))
    acked.append(index)


def queue_messages(port, messages, connections=8):
    """Sends `messages` [(mail_from, [rcpts], data)] split over `connections`
    pipelining sessions in threads; every message must get 250. Returns the
    seconds taken."""
    began = time.monotonic()
    shares = [messages[i::connections] for i in range(connections)]
    errors = []
    acked_counts = []

    def worker(share):
        acked = []
        try:
            _send_over_one_connection(port, share, acked)
        except Exception as e:  # reported below: a thread cannot fail the test
            errors.append(repr(e))
        acked_counts.append(len(acked))

    threads = [threading.Thread(target=worker, args=(s,)) for s in shares if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    assert sum(acked_counts) == len(messages)
    return time.monotonic() - began


def send_one(port, mail_from, rcpts, data):
    """One message over smtplib; returns (code, reply) of the end of DATA."""
    import smtplib
    with smtplib.SMTP(harness.LOOPBACK, port, local_hostname="client.test",
                      timeout=harness.SOCKET_TIMEOUT_S) as s:
        s.ehlo()
        code, resp = s.mail(mail_from)
        assert code == 250, (code, resp)
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (code, resp)
        return s.data(data)


# ----------------------------------------------------------------- sink ----

class SinkMessage:
    def __init__(self, header, data):
        self.mail_from = header["mail_from"]
        self.rcpts = header["rcpts"]
        self.session = header["session"]
        self.data = data

    def __repr__(self):
        return "SinkMessage(from=%r, rcpts=%r, %d bytes)" % (
            self.mail_from, self.rcpts, len(self.data))


class RecordingSink:
    """The recording SMTP sink in a child process on a free loopback port."""

    def __init__(self, workdir, name="sink", rcpt_reply=None, rcpt_match="",
                 data_delay_s=0.0, greeting_delay_s=0.0, host=harness.LOOPBACK):
        self.dir = pathlib.Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.rcpt_reply = rcpt_reply
        self.rcpt_match = rcpt_match
        self.data_delay_s = data_delay_s
        self.greeting_delay_s = greeting_delay_s
        self.host = host
        self.proc = None
        self.port = None

    @property
    def next_hop(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        argv = [sys.executable, os.path.abspath(__file__), "sink", "--dir", str(self.dir),
                "--data_delay_s", str(self.data_delay_s), "--rcpt_match", self.rcpt_match,
                "--greeting_delay_s", str(self.greeting_delay_s), "--host", self.host]
        if self.rcpt_reply:
            argv += ["--rcpt_reply", self.rcpt_reply]
        log = open(self.dir / "sink.log", "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=log)
        log.close()
        line = self._read_port_line()
        self.port = int(line.split()[1])
        return self

    def _read_port_line(self):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(SINK_START_TIMEOUT_S)
        if not result or not result[0].startswith(b"PORT "):
            self.stop()
            raise AssertionError("sink %s did not start: %r\n%s" % (
                self.name, result, (self.dir / "sink.log").read_text(errors="replace")))
        return result[0].decode()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=SINK_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=SINK_STOP_TIMEOUT_S)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def messages(self):
        """Every message accepted so far, in order of acceptance."""
        try:
            raw = (self.dir / "messages.bin").read_bytes()
        except FileNotFoundError:
            return []
        out = []
        pos = 0
        while True:
            nl = raw.find(b"\n", pos)
            if nl < 0:
                break
            header = json.loads(raw[pos:nl])
            end = nl + 1 + header["bytes"]
            if end + 1 > len(raw):
                break  # being written right now
            out.append(SinkMessage(header, raw[nl + 1:end]))
            pos = end + 1
        return out

    def events(self):
        """Connections and RCPT replies so far (dicts with `kind` connect or
    rcpt), refusals included."""
        try:
            text = (self.dir / "events.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_for_messages(self, count, timeout_s=60):
        return wait_until(lambda: (lambda m: m if len(m) >= count else None)(self.messages()),
                          timeout_s, "%d messages at sink %s (have %d)" % (
                              count, self.name, len(self.messages())))


@pytest.fixture
def sink_factory(tmp_path):
    sinks = []

    def make(name=None, **options):
        sink = RecordingSink(tmp_path, name=name or "sink%d" % len(sinks), **options)
        sinks.append(sink)
        return sink.start()

    yield make
    for sink in sinks:
        sink.stop()


# ----------------------------------------------------- the sink process ----

class _SinkServer:
    def __init__(self, args):
        self.args = args
        self.messages = open(os.path.join(args.dir, "messages.bin"), "ab")
        self.events = open(os.path.join(args.dir, "events.jsonl"), "a")
        self.sessions = 0

    def event(self, **fields):
        self.events.write(json.dumps(fields) + "\n")
        self.events.flush()

    def rcpt_reply(self, rcpt):
        if self.args.rcpt_reply and self.args.rcpt_match in rcpt:
            return self.args.rcpt_reply
        return "250 2.1.5 Ok"

    async def session(self, reader, writer):
        self.sessions += 1
        session = self.sessions
        mail_from, rcpts = None, []

        def reply(text):
            writer.write(text.encode() + b"\r\n")

        try:
            self.event(kind="connect", session=session)
            if self.args.greeting_delay_s > 0:
                await asyncio.sleep(self.args.greeting_delay_s)
            reply("220 sink.test ESMTP recording sink")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO",):
                    writer.write(b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES\r\n")
                elif verb == b"HELO":
                    reply("250 sink.test")
                elif verb == b"MAIL":
                    m = re.match(rb"MAIL FROM:\s*<([^>]*)>", line, re.I)
                    mail_from, rcpts = m.group(1).decode() if m else "?", []
                    reply("250 2.1.0 Ok")
                elif verb == b"RCPT":
                    m = re.match(rb"RCPT TO:\s*<([^>]*)>", line, re.I)
                    rcpt = m.group(1).decode() if m else "?"
                    answer = self.rcpt_reply(rcpt)
                    self.event(kind="rcpt", rcpt=rcpt, reply=answer, session=session)
                    if answer.startswith("2"):
                        rcpts.append(rcpt)
                    reply(answer)
                elif verb == b"DATA":
                    if mail_from is None or not rcpts:
                        reply("554 5.5.1 Error: no valid recipients")
                        continue
                    reply("354 End data with <CR><LF>.<CR><LF>")
                    await writer.drain()
                    data = await self.read_data(reader)
                    if data is None:
                        return
                    if self.args.data_delay_s > 0:
                        await asyncio.sleep(self.args.data_delay_s)
                    self.store(mail_from, rcpts, data, session)
                    reply("250 2.0.0 Ok: queued")
                    mail_from, rcpts = None, []
                elif verb == b"RSET":
                    mail_from, rcpts = None, []
                    reply("250 2.0.0 Ok")
                elif verb == b"NOOP":
                    reply("250 2.0.0 Ok")
                elif verb == b"QUIT":
                    reply("221 2.0.0 Bye")
                    await writer.drain()
                    return
                else:
                    reply("502 5.5.2 Error: command not recognized")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def read_data(reader):
        parts = []
        while True:
            line = await reader.readline()
            if not line:
                return None  # the client went away: nothing accepted
            if line == b".\r\n":
                return b"".join(parts)
            parts.append(line[1:] if line.startswith(b".") else line)

    def store(self, mail_from, rcpts, data, session):
        header = {"mail_from": mail_from, "rcpts": rcpts, "bytes": len(data), "session": session}
        self.messages.write(json.dumps(header).encode() + b"\n" + data + b"\n")
        self.messages.flush()  # visible to the test before the 250 goes out


async def _sink_main(args):
    server_state = _SinkServer(args)
    server = await asyncio.start_server(server_state.session, args.host, 0,
                                        limit=SINK_LINE_BYTES_MAX)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def _main():
    parser = argparse.ArgumentParser(description="recording SMTP sink for the tests")
    parser.add_argument("mode", choices=["sink"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rcpt_reply", default="", help='e.g. "451 4.3.0 try later"')
    parser.add_argument("--rcpt_match", default="", help="only recipients containing this")
    parser.add_argument("--data_delay_s", type=float, default=0.0)
    parser.add_argument("--greeting_delay_s", type=float, default=0.0)
    parser.add_argument("--host", default=harness.LOOPBACK, help="address to listen on")
    args = parser.parse_args()
    try:
        asyncio.run(_sink_main(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _main()
