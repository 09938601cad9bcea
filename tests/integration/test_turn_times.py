"""Loop-turn times: each core logs a histogram of its turns at exit, and
--log_turns_over logs (summarised) every turn above the threshold."""

import re

import harness


def test_each_core_logs_its_turn_histogram_at_exit_and_slow_turns(etrnd_factory):
    server = etrnd_factory(flags=["--log_turns_over=1us"])
    harness.send_messages(server.port, 3)
    assert server.stop() == 0
    log = server.log_text()
    summaries = re.findall(r"core (\d): (\d+) loop turns, longest ([0-9.]+\w+);", log)
    assert sorted(core for core, _, _ in summaries) == ["0", "1"], log[-3000:]
    assert all(int(turns) > 0 for _, turns, _ in summaries)
    # Each slow turn says where its time went, phase by phase.
    assert re.search(
        r"loop turn of [0-9.]+\w+ \(over --log_turns_over=1us\): \d+ completions.*; "
        r"\d+ timers.*; \d+ tasks.*; \d+ background.*; teardowns \S+; hooks \S+; sends \S+; "
        r"cpu \S+ \(preempted \d+, slept \d+\)$",
        log,
        re.MULTILINE,
    ), log[-3000:]


def test_negative_threshold_is_refused(tmp_path):
    rc, output = harness.run_etrnd_expect_exit(["--log_turns_over=-1s"], cwd=tmp_path)
    assert rc != 0
    assert "log_turns_over" in output
