"""The log stays small under a flood (issue 12): thousands of rate-limited
ETRN from one connection are all answered 458, but logged as one line per
second with a count of the rest."""

import time

FLOOD_ETRNS = 5000
FLOOD_CHUNKS = 10
CHUNK_PAUSE_S = 0.25  # spreads the flood over more than one summary interval
LOG_LINES_MAX = 50
RATE_LIMITED = "458 4.3.0 Unable to queue messages for node example.com"


def test_etrn_flood_is_answered_in_full_and_logged_in_summary(server):
    log_lines_before = len(server.log_text().splitlines())
    replies = []
    per_chunk = FLOOD_ETRNS // FLOOD_CHUNKS
    with server.raw() as c:
        c.greet()
        for _ in range(FLOOD_CHUNKS):
            c.send(b"ETRN example.com\r\n" * per_chunk)
            replies += [c.read_reply().last for _ in range(per_chunk)]
            time.sleep(CHUNK_PAUSE_S)
        assert c.cmd("NOOP").code == 250
    assert len(replies) == FLOOD_ETRNS
    # Default --etrn_rate / --etrn_burst: all but a handful are refused.
    rate_limited = replies.count(RATE_LIMITED)
    assert rate_limited >= FLOOD_ETRNS - 20, set(replies)
    assert set(replies) <= {RATE_LIMITED, "251 2.0.0 OK, no messages waiting for node example.com"}

    time.sleep(2.5)  # the pending summary is written within about a second
    new_lines = server.log_text().splitlines()[log_lines_before:]
    assert len(new_lines) < LOG_LINES_MAX, "\n".join(new_lines[:80])
    logged_458 = [line for line in new_lines if "458 rate limited" in line]
    assert 1 <= len(logged_458) < LOG_LINES_MAX
    # The repeats are counted, not lost: the counts add up to the 458s sent.
    counted = 0
    for line in new_lines:
        if "more in the last" in line and "rate limited" in line:
            text = line.split("more in the last")[0]
            counted += int(text.replace("(", " ").replace(":", " ").split()[-1])
    assert counted + len(logged_458) == rate_limited, "\n".join(new_lines)


GLOBAL_FLOOD_ETRNS = 2000
LOG_RATE_MAX = 20


def test_global_log_rate_bound_drops_and_counts_lines(etrnd_factory):
    # ETRN within a generous rate limit logs one line each: 2000 lines
    # offered in well under a second, the bound lets one second's worth pass.
    server = etrnd_factory(flags=["--etrn_rate=100000", "--etrn_burst=100000",
                                  "--log_rate_max=%d" % LOG_RATE_MAX])
    log_lines_before = len(server.log_text().splitlines())
    started = time.monotonic()
    with server.raw() as c:
        c.greet()
        c.send(b"ETRN example.com\r\n" * GLOBAL_FLOOD_ETRNS)
        replies = [c.read_reply().code for _ in range(GLOBAL_FLOOD_ETRNS)]
    elapsed = time.monotonic() - started
    assert replies == [251] * GLOBAL_FLOOD_ETRNS
    time.sleep(1.5)
    with server.raw() as c:  # a line after the report interval carries the report
        c.greet()
        assert c.cmd("ETRN example.com").code == 251
    new_lines = server.log_text().splitlines()[log_lines_before:]
    etrn_lines = [line for line in new_lines if "ETRN example.com from" in line]
    assert len(etrn_lines) <= LOG_RATE_MAX * (elapsed + 2) + 1, len(etrn_lines)
    suppressed = [line for line in new_lines if "log lines suppressed" in line]
    assert suppressed, "\n".join(new_lines)
    counted = sum(int(line.split(" log lines suppressed")[0].split()[-1]) for line in suppressed)
    # Every line not written is counted (the final probe's line is written).
    assert counted + len(etrn_lines) == GLOBAL_FLOOD_ETRNS + 1, "\n".join(new_lines)
