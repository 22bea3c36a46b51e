"""``voice-agent demo``: the bundled conversation, with a barge-in, into ``runs/<id>/``.

Three user turns spoken by Piper: a question, a request for a long story, and, two seconds
into that story, the user talking over the bot. The run folder gets the bot's audio, the
transcript, per-turn metrics and the latency report.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from runtime.sample_conversation import cache_dir

DEMO_TURNS: tuple[tuple[str, float | None], ...] = (
    ("Hello! What is the capital of France?", None),
    ("Please tell me a long story about a dragon who loves the sea.", None),
    ("Stop please and tell me what two plus two is.", 2.0),  # said 2 s after the story starts
)


def demo_inputs() -> list[dict]:
    """The demo's user turns as WAV-transport ``inputs`` entries (WAVs cached after first use)."""
    from runtime.speech import speak_to_wav

    entries = []
    for text, barge_in_after in DEMO_TURNS:
        path = cache_dir() / f"demo-{hashlib.sha1(text.encode()).hexdigest()[:10]}.wav"
        if not path.exists():
            speak_to_wav(text, path)
        entry: dict = {"path": str(path)}
        if barge_in_after is not None:
            entry["bot_started_secs"] = barge_in_after
        entries.append(entry)
    return entries


def demo_overrides() -> dict[str, dict]:
    return {"transport": {"type": "wav", "inputs": demo_inputs(), "gap_secs": 1.0}}


def run_demo(run_dir: Path, pipeline: str = "file") -> Path:
    """Run the demo conversation and write its report; returns the run folder."""
    import asyncio

    from agent.app import run_built
    from agent.report import write_report
    from pipelines.builder import build_pipeline

    built = build_pipeline(pipeline, run_dir, demo_overrides())
    asyncio.run(run_built(built))
    write_report(run_dir)
    return run_dir
