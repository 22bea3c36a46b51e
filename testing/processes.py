"""Watching processes from tests: is a pid alive, wait for it to go, a run's child servers and
transcript, and ``voice-agent run`` as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
    return {name: pids[-1] for name, pids in child_pid_history(run_dir).items()}


def child_pid_history(run_dir: Path) -> dict[str, list[int]]:
    """Every pid each child server had in the run (one more per restart), oldest first."""
    history: dict[str, list[int]] = {}
    for name, pid in re.findall(r"(\S+-server) ready \(pid (\d+)\)", (run_dir / "agent.log").read_text()):
        history.setdefault(name, []).append(int(pid))
    return history


def children_gone(run_dir: Path, timeout: float = 10.0) -> dict[int, bool]:
    """Wait for every pid any child server of the run ever had to be gone; pid -> gone."""
    return {pid: wait_gone(pid, timeout) for pids in child_pid_history(run_dir).values() for pid in pids}


def pids_running(*needles: str) -> list[int]:
    """Live processes whose command line contains all of ``needles``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if all(n in cmdline for n in needles) and alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def listening_port(pid: int) -> int:
    """The ``--port`` a child server was started with (from its command line)."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[args.index(b"--port") + 1])


@contextlib.contextmanager
def hold_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> Iterator[socket.socket]:
    """Listen on ``port`` (as another program that took it would), retrying while it is still
    taken; a server started on it meanwhile fails with "address in use"."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the dead server's TIME_WAITs
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                sock.bind((host, port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        sock.listen()
        yield sock
    finally:
        sock.close()


def wait_for_log(run_dir: Path, pattern: str, timeout: float = 60.0,
                 proc: subprocess.Popen | None = None) -> re.Match:
    """Wait until the run's agent.log matches ``pattern``; fails on timeout or, with ``proc``,
    if the run ends first."""
    deadline = time.monotonic() + timeout
    log = run_dir / "agent.log"
    while time.monotonic() < deadline:
        if log.exists() and (m := re.search(pattern, log.read_text())):
            return m
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before /{pattern}/ was logged")
        time.sleep(0.05)
    raise AssertionError(f"/{pattern}/ not in {log} within {timeout:.0f}s")


def read_metrics(run_dir: Path) -> list[dict]:
    """The run's per-turn records (metrics.jsonl; complete once the run ended)."""
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def finish_run(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    """Wait for a ``start_run`` process to end (killed if it overruns); its exit code and stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"the run did not end within {timeout:.0f}s: {err[-2000:]}") from None
    return proc.returncode, err


def read_transcript(run_dir: Path) -> list[dict]:
    """Every line of the run's transcript, each of which must be complete JSON."""
    path = run_dir / "transcript.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    assert not text or text.endswith("\n"), "a partly written transcript line"
    return [json.loads(line) for line in text.splitlines()]


def file_pipeline_with(folder: Path, **tables: dict[str, object]) -> Path:
    """``pipelines/file.toml`` with extra keys in its tables (``llm={"model_path": "..."}``),
    written to ``folder``; pass the path as ``start_run(pipeline=...)``."""
    text = (ROOT / "pipelines" / "file.toml").read_text()
    for table, keys in tables.items():
        header = f"[{table}]\n"
        lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
        text = text.replace(header, header + lines, 1) if header in text else f"{text}\n{header}{lines}"
    path = folder / "file-variant.toml"
    path.write_text(text)
    return path


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
