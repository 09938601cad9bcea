"""Damage on disk (SPEC 8): a flipped bit, corrupted bytes or a garbage file
in the spool loses at most the damaged record. With the real etrnd: send 6
messages, stop it, damage one record of the segment, restart; the other 5 are
queued and delivered, the damaged bytes are in spool/damaged/ and the log
says where they came from. The server starts whatever the spool holds."""

import os
import re
import struct

import harness
from delivery_helpers import TEST_FLAGS, started, wait_queue_empty
from delivery_helpers import sink_factory  # noqa: F401 (a fixture)

MESSAGES = 6
DOMAIN = "damage.test"
FILE_HEADER_BYTES = 16          # spool_file_header.h
RECORD_HEADER_BYTES = 20        # spool_record.h
LENGTH_FIELD_OFFSET = 12        # payload_length u32 in a record header
SEGMENT_RE = re.compile(r"^seg-\d+-\d{10}\.log$")


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def file_header(version):
    """A valid file header of a segment of format `version`."""
    head = b"ETSF" + struct.pack("<HBBI", version, 1, 0, 0)
    return head + struct.pack("<I", crc32c(head))


def segments(spool_dir):
    return sorted(os.path.join(spool_dir, n) for n in os.listdir(spool_dir)
                  if SEGMENT_RE.match(n))


def record_offsets(data):
    """(offset, length) of each record of an intact segment, in order."""
    records, offset = [], FILE_HEADER_BYTES
    while offset < len(data):
        (payload_length,) = struct.unpack_from("<I", data, offset + LENGTH_FIELD_OFFSET)
        length = RECORD_HEADER_BYTES + payload_length
        records.append((offset, length))
        offset += length
    assert offset == len(data), "the segment does not parse"
    return records


def spool_six(etrnd_factory, sink):
    """A stopped server whose one segment holds 6 messages, in order."""
    table = "%s %s hold\n" % (DOMAIN, sink.next_hop)
    server = etrnd_factory(domains=table, flags=TEST_FLAGS + ("--fsync=true",))
    tokens = harness.send_messages(server.port, MESSAGES, rcpts=("u@" + DOMAIN,))
    assert server.stop() == 0
    files = [f for f in segments(server.spool_dir) if os.path.getsize(f) > 0]
    assert len(files) == 1, files  # one SMTP session: one core, one segment
    with open(files[0], "rb") as f:
        data = bytearray(f.read())
    records = record_offsets(data)
    assert len(records) == MESSAGES
    for token, (offset, length) in zip(tokens, records):
        assert data.find(token.encode(), offset, offset + length) > 0
    return server, tokens, files[0], data, records


def check_five_delivered(server, sink, tokens, lost):
    assert server.etrn(DOMAIN)[1] == started(MESSAGES - 1, DOMAIN)
    received = sink.wait_for_messages(MESSAGES - 1)
    wait_queue_empty(server, DOMAIN)
    bodies = b"".join(m.data for m in sink.messages())
    assert len(sink.messages()) == MESSAGES - 1
    for i, token in enumerate(tokens):
        assert (token.encode() in bodies) == (i != lost), (i, received)


def check_kept_aside(server, segment, offset, length, expected):
    name = "%s.offset-%d.length-%d" % (os.path.basename(segment), offset, length)
    copy = server.spool_dir / "damaged" / name
    assert copy.read_bytes() == expected
    log = server.log_text()
    assert "damaged range of %d bytes at offset %d copied to %s" % (length, offset, copy) in log
    assert "WARN" in [line for line in log.splitlines() if name in line][0]
    assert os.path.getsize(segment) > offset + length  # nothing cut away


def test_flipped_length_bit_in_record_2_loses_only_that_message(etrnd_factory, sink_factory):
    sink = sink_factory()
    server, tokens, segment, data, records = spool_six(etrnd_factory, sink)
    offset, length = records[1]
    data[offset + LENGTH_FIELD_OFFSET + 1] ^= 0x04
    with open(segment, "wb") as f:
        f.write(data)
    server.restart()
    check_kept_aside(server, segment, offset, length, bytes(data[offset:offset + length]))
    check_five_delivered(server, sink, tokens, lost=1)


def test_four_corrupted_body_bytes_lose_only_that_message(etrnd_factory, sink_factory):
    sink = sink_factory()
    server, tokens, segment, data, records = spool_six(etrnd_factory, sink)
    offset, length = records[2]
    at = data.find(tokens[2].encode(), offset, offset + length) + 3
    for i in range(at, at + 4):
        data[i] ^= 0xFF
    with open(segment, "wb") as f:
        f.write(data)
    server.restart()
    check_kept_aside(server, segment, offset, length, bytes(data[offset:offset + length]))
    check_five_delivered(server, sink, tokens, lost=2)


def test_server_starts_with_a_segment_of_pure_garbage(etrnd_factory):
    server = etrnd_factory(flags=TEST_FLAGS)
    harness.send_messages(server.port, 2)
    assert server.stop() == 0
    garbage = bytes((i * 131 ^ i >> 3) & 0xFF for i in range(20000))
    garbage_segment = server.spool_dir / "seg-0-0000000777.log"
    garbage_segment.write_bytes(garbage)
    other_version = server.spool_dir / "seg-1-0000000778.log"
    other_version.write_bytes(file_header(99) + b"records of a future release")
    server.restart()
    assert server.etrn("example.com")[1] == started(2, "example.com")
    damaged = server.spool_dir / "damaged"
    assert (damaged / "seg-0-0000000777.log.offset-0.length-20000").read_bytes() == garbage
    # A file of another format version is moved aside untouched, not read.
    assert not other_version.exists()
    assert (damaged / other_version.name).read_bytes() == (
        file_header(99) + b"records of a future release")
    log = server.log_text()
    assert "torn tail of 20000 bytes at offset 0" in log
    assert "format version 99, this release reads version 2 only" in log
    assert "moved aside to %s" % (damaged / other_version.name) in log
    server.stop()
    server.restart()  # and again, with damaged/ in place
    assert server.etrn("example.com")[1] == started(2, "example.com")
