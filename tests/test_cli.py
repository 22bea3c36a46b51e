"""The command line as a person uses it: say, report, the live console in a real terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from agent.report import write_report


def voice_agent(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_help_lists_every_command():
    out = voice_agent("--help")
    for command in ("run", "devices", "say", "report", "tts-server"):
        assert command in out.stdout


def test_say_out_writes_speech(tmp_path):
    out = tmp_path / "hello.wav"
    proc = voice_agent("say", "Hello, this is the voice agent speaking.", "--out", str(out), "--pipeline", "file")
    assert proc.returncode == 0, proc.stderr[-1500:]
    audio, rate = sf.read(str(out), dtype="int16")
    assert rate == 24000
    voiced = (np.abs(audio) > 500).mean() * len(audio) / rate
    assert voiced > 0.5  # seconds of actual speech, not silence


def test_bad_pipeline_is_one_error_line(tmp_path):
    proc = voice_agent("run", "--pipeline", "nope", "--run-dir", str(tmp_path / "r"), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: config error in")


def test_cloud_preset_without_keys_says_which_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "GRADIUM_API_KEY")}
    proc = voice_agent("run", "--pipeline", "cloud", "--run-dir", str(tmp_path / "r"), timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr and "laptop" in proc.stderr and "Traceback" not in proc.stderr


def test_report_writes_a_table_and_a_png(tmp_path):
    t0 = 1_800_000_000.0
    turns = [
        {"turn": 1, "speech_end": t0, "transcript": t0 + 0.3, "transcript_text": "hi", "user_turn_end": t0 + 0.4,
         "llm_first_token": t0 + 0.5, "first_phrase": t0 + 0.55, "tts_first_audio": t0 + 0.7,
         "speaker_first_audio": t0 + 0.72, "interruptions": [{"onset_to_silence_ms": 80.0}],
         "latency_ms": {"transcript": 300.0, "llm_first_token": 500.0, "first_phrase": 550.0,
                        "tts_first_audio": 700.0, "voice_to_voice": 720.0}},
        {"turn": 2, "speech_end": t0 + 5, "transcript": t0 + 5.2, "transcript_text": "bye", "user_turn_end": t0 + 5.3,
         "llm_first_token": t0 + 5.4, "first_phrase": t0 + 5.5, "tts_first_audio": t0 + 5.6,
         "speaker_first_audio": t0 + 5.62, "interruptions": [],
         "latency_ms": {"transcript": 200.0, "llm_first_token": 400.0, "first_phrase": 500.0,
                        "tts_first_audio": 600.0, "voice_to_voice": 620.0}},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(t) + "\n" for t in turns))
    md, png = write_report(tmp_path)
    table = md.read_text()
    assert "| 1 | hi | 300 | 500 | 550 | 700 | 720 | 80 |" in table
    assert "**670**" in table  # median voice-to-voice of 720 and 620
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_report_on_a_folder_without_metrics_is_one_line(tmp_path):
    proc = voice_agent("report", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "metrics.jsonl not found" in proc.stderr


@pytest.mark.e2e
def test_live_console_in_a_terminal_shows_states_and_transcript(tmp_path, spoken):
    """Drive `voice-agent run` in a pseudo-terminal, as a person's terminal would show it."""
    question = spoken("What is the capital of France?")
    cfg = tmp_path / "one.toml"
    cfg.write_text(open("pipelines/file.toml").read().replace('inputs = "sample"', f'inputs = ["{question}"]'))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--pipeline", str(cfg), "--run-dir", str(tmp_path / "r")],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "120", "LINES": "40"})
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert proc.returncode == 0
    for state in ("listening", "thinking", "speaking"):
        assert state in text, f"console never showed '{state}'"
    assert re.search(r"you: .*capital of France", text)
    assert "bot: " in text and "voice→voice" in text


@pytest.mark.e2e
def test_demo_writes_audio_transcript_metrics_and_report(tmp_path):
    """`voice-agent demo`: the bundled conversation with a barge-in, everything in the run folder."""
    run_dir = tmp_path / "demo"
    proc = voice_agent("demo", "--run-dir", str(run_dir), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    users = [line["text"].lower() for line in lines if line["who"] == "user"]
    assert any("france" in u for u in users) and any("two" in u or "2" in u for u in users)
    assert any(line["who"] == "bot" and line.get("interrupted") for line in lines), "the barge-in interrupted nothing"
    turns = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    barge_ins = [i for t in turns for i in t["interruptions"]]
    assert barge_ins and all(0 < i["onset_to_silence_ms"] < 1000 for i in barge_ins if "onset_to_silence_ms" in i)
    assert sf.info(str(run_dir / "bot.wav")).duration > 3
    assert (run_dir / "report.md").exists() and (run_dir / "waterfall.png").exists()
