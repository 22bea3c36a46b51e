"""The app's child servers (llama.cpp LLM, local TTS) are always stopped: on Ctrl-C, on SIGTERM and
when the run fails with an exception; the parent dying by SIGKILL is in test_transcript_crash.py,
a normal end in test_e2e.py, and ManagedProcess itself in test_child_process.py.

``voice-agent run --pipeline file`` runs the bundled sample conversation in a child process of
the test; the signal comes once the first answer is in the transcript.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from testing.processes import alive, wait_gone
from testing.processes import child_pids, read_transcript, start_run, wait_for_answers

ROOT = Path(__file__).resolve().parents[1]
EXIT_WITHIN_S = 10.0  # from the signal to the process' exit (pipecat's own cancel timeout is 20 s)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_stops_the_children_and_keeps_the_transcript(tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = start_run(run_dir)
    try:
        before = wait_for_answers(proc, run_dir)
        pids = child_pids(run_dir)
        assert set(pids) == {"llm-server", "tts-server"} and all(alive(p) for p in pids.values())
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert took < EXIT_WITHIN_S, f"took {took:.1f}s to stop: {err[-1500:]}"
    assert proc.returncode == 0 and "Traceback" not in err
    gone = {name: wait_gone(pid) for name, pid in pids.items()}
    assert all(gone.values()), f"outlived the agent: {gone}"
    after = read_transcript(run_dir)
    assert after[: len(before)] == before  # what was said is kept as it was written
    assert any(line["who"] == "user" for line in after) and any(line["who"] == "bot" for line in after)


def test_an_exception_during_the_run_stops_the_children(tmp_path, monkeypatch):
    """The runner crashes after both servers started: ``run_built`` re-raises, servers gone."""
    import asyncio

    from pipecat.workers.runner import WorkerRunner

    from agent.app import run_built
    from pipelines.builder import build_pipeline

    async def crash(self):
        raise RuntimeError("boom in the pipeline")

    monkeypatch.setattr(WorkerRunner, "run", crash)
    built = build_pipeline("file", tmp_path / "run", {"transport": {"type": "wav", "inputs": "sample"}})
    with pytest.raises(RuntimeError, match="boom in the pipeline"):
        asyncio.run(run_built(built))
    assert len(built.child_processes) == 2 and not any(child.running for child in built.child_processes)
    logged = child_pids(tmp_path / "run")
    assert sorted(logged) == ["llm-server", "tts-server"]
    assert all(wait_gone(pid) for pid in logged.values())
    assert (tmp_path / "run" / "transcript.jsonl").exists()
