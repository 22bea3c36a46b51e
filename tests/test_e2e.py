"""End to end over the real local stack: WAV question → VAD → Whisper → SmolLM2 → TTS → WAV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.app import run_built
from pipelines.builder import build_pipeline
from testing.processes import alive, child_pids

pytestmark = pytest.mark.e2e


def spoken_seconds(path: Path) -> float:
    audio, rate = sf.read(str(path), dtype="int16")
    block = rate // 50
    env = np.abs(audio[: len(audio) // block * block].reshape(-1, block)).max(axis=1)
    return float((env > 500).sum()) / 50


async def test_spoken_question_gets_a_spoken_answer(spoken, tmp_path):
    question = spoken("What is the capital of France?")
    run_dir = tmp_path / "run"
    built = build_pipeline("file", run_dir, {"transport": {"type": "wav", "inputs": [str(question)]}})
    await run_built(built)

    lines = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    user = " ".join(line["text"] for line in lines if line["who"] == "user").lower()
    bot = [line for line in lines if line["who"] == "bot"]
    assert "capital" in user and "france" in user
    assert bot and bot[0]["text"].strip()
    assert all({"who", "text", "start", "end"} <= set(line) for line in lines)

    info = sf.info(str(run_dir / "bot.wav"))
    assert info.samplerate == built.options.audio_out_sample_rate == 24000
    assert spoken_seconds(run_dir / "bot.wav") > 0.5
    assert not any(child.running for child in built.child_processes)
    pids = child_pids(run_dir)
    assert set(pids) == {"llm-server", "tts-server"}
    assert not any(alive(pid) for pid in pids.values())


def test_make_run_without_sound_card_runs_the_sample_conversation(tmp_path):
    """What `make run` does on this machine: one notice line, the sample conversation, exit 0."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-alsa-config")}  # no null device: no sound card
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--run-dir", str(run_dir)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no sound device found" in proc.stdout
    lines = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert sum(line["who"] == "bot" for line in lines) >= 2
    assert "france" in " ".join(line["text"] for line in lines if line["who"] == "user").lower()
    assert spoken_seconds(run_dir / "bot.wav") > 1.0
    pids = child_pids(run_dir)
    assert set(pids) == {"llm-server", "tts-server"}
    assert not any(alive(pid) for pid in pids.values()), f"a child server outlived `voice-agent run`: {pids}"
