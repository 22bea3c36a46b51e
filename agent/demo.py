"""``voice-agent demo``: the bundled conversation, with a barge-in, into ``runs/<id>/``.

Three user turns (committed audio, spoken by Piper): a question, a request for a long story,
and, two seconds into that story, the user talking over the bot. The run folder gets the bot's
audio, the transcript, per-turn metrics and the latency report.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.app import run_built
from agent.report import write_report
from pipelines.builder import build_pipeline
from runtime.sample_conversation import DEMO_TURNS, sample_wav


def demo_inputs() -> list[dict]:
    """The demo's user turns as WAV-transport ``inputs`` entries."""
    entries = []
    for text, barge_in_after in DEMO_TURNS:
        entry: dict = {"path": str(sample_wav(text))}
        if barge_in_after is not None:
            entry["bot_started_secs"] = barge_in_after
        entries.append(entry)
    return entries


def demo_overrides() -> dict[str, dict]:
    return {"transport": {"type": "wav", "inputs": demo_inputs(), "gap_secs": 1.0}}


def run_demo(run_dir: Path, pipeline: str = "file") -> Path:
    """Run the demo conversation and write its report; returns the run folder."""
    built = build_pipeline(pipeline, run_dir, demo_overrides())
    asyncio.run(run_built(built))
    write_report(run_dir)
    return run_dir
