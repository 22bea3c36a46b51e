"""Watching processes from tests: is a pid alive, wait for it to go, a run's child servers and
transcript, and ``voice-agent run`` as a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Wait until ``pid`` is gone; ``False`` if it is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def child_pids(run_dir: Path) -> dict[str, int]:
    """The run's child servers by name, from its agent.log ("llm-server ready (pid N)"); the
    latest pid wins when a server was restarted."""
    log = (run_dir / "agent.log").read_text()
    return {name: int(pid) for name, pid in re.findall(r"(\S+-server) ready \(pid (\d+)\)", log)}


def read_transcript(run_dir: Path) -> list[dict]:
    """Every line of the run's transcript, each of which must be complete JSON."""
    path = run_dir / "transcript.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    assert not text or text.endswith("\n"), "a partly written transcript line"
    return [json.loads(line) for line in text.splitlines()]


def start_run(run_dir: Path, *args: str, pipeline: str = "file") -> subprocess.Popen:
    """``voice-agent run`` in a subprocess (console off), writing into ``run_dir``."""
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--pipeline", pipeline, "--run-dir", str(run_dir),
         "--console", "off", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_answers(proc: subprocess.Popen, run_dir: Path, count: int = 1, timeout: float = 240) -> list[dict]:
    """Wait until the transcript has ``count`` bot lines; fails if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = read_transcript(run_dir)
        if sum(line["who"] == "bot" for line in lines) >= count:
            return lines
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"fewer than {count} answers in the transcript in time")
