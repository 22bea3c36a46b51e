"""Nothing lost: the transcript is written as the conversation happens, so a run killed outright
(SIGKILL: no ``finally``, no flush at exit) keeps every line said so far, each one complete;
and the child servers die with it (the kernel's parent-death signal)."""

from __future__ import annotations

import json
import signal

from runtime.transcript import TranscriptWriter
from testing.processes import wait_gone
from testing.processes import child_pids, read_transcript, start_run, wait_for_answers


def test_each_line_is_on_disk_as_soon_as_it_is_written(tmp_path):
    path = tmp_path / "transcript.jsonl"
    writer = TranscriptWriter(path)
    writer.write("user", "Hello there.", None)
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == ["Hello there."]
    writer.write("bot", "Hi! «ünïcode» and a \"quote\"\nsecond line", None, interrupted=True)
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # before close()
    assert [line["who"] for line in lines] == ["user", "bot"] and lines[1]["interrupted"] is True
    assert lines[1]["text"].endswith("\nsecond line")
    writer.close()


def test_a_killed_run_keeps_the_transcript_so_far_and_leaves_no_children(tmp_path):
    run_dir = tmp_path / "run"
    proc = start_run(run_dir)
    try:
        said = wait_for_answers(proc, run_dir)
        pids = child_pids(run_dir)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = read_transcript(run_dir)  # every line complete JSON
    assert kept[: len(said)] == said
    assert [line["who"] for line in said][-1] == "bot" and said[-1]["text"].strip()
    assert all({"who", "text", "start", "end"} <= set(line) for line in kept)
    assert all(wait_gone(pid) for pid in pids.values()), "a child server outlived the killed agent"
