"""``voice-agent serve`` as a subprocess on a free 127.0.0.1 port, for browser tests and benches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from runtime.child_process import free_port
from testing.fake_openai_server import FakeOpenAIServer, ScriptedAnswer
from testing.processes import ROOT, wait_gone

READY_TIMEOUT_SECS = 240.0  # the LLM and TTS servers start first


class ServeProcess:
    """``with ServeProcess(runs_dir) as server:`` a served pipeline; ``server.url``, ``status()``."""

    def __init__(self, runs_dir: Path, *, pipeline: str = "browser", max_calls: int = 1, log: Path | None = None,
                 cwd: Path = ROOT):
        self.runs_dir = runs_dir
        self.cwd = cwd  # the source tree to serve from (a bench compares another checkout)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or runs_dir / "serve-stderr.log"
        self.cmd = [sys.executable, "-m", "agent.cli", "serve", "--pipeline", pipeline, "--port", str(self.port),
                    "--runs-dir", str(runs_dir), "--max-calls", str(max_calls)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voice-agent serve exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                self.status()
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"voice-agent serve not ready after {READY_TIMEOUT_SECS:.0f} s")

    def request(self, path: str, body: dict | None = None, method: str | None = None, timeout: float = 10.0) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def status(self) -> dict:
        return self.request("/api/status", timeout=2.0)

    def wait_status(self, check, timeout: float, poll: float = 0.05) -> dict:
        """Poll ``/api/status`` until ``check(status)``; the status (``TimeoutError`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"status never matched: {status}")
            time.sleep(poll)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (the app stops its calls and child servers); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            if not wait_gone(self.proc.pid, timeout):
                self.proc.kill()
        return self.proc.wait(10)

    def __enter__(self) -> ServeProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def scripted_llm(answers: list[ScriptedAnswer]) -> Iterator[FakeOpenAIServer]:
    """A :class:`FakeOpenAIServer` on its own event loop in a thread, for a served pipeline
    in another process (its answers do not depend on a small model's mood)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="scripted-llm", daemon=True)
    thread.start()
    server = FakeOpenAIServer(answers=answers)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def pipeline_with_llm(preset: Path, out: Path, llm_base_url: str) -> Path:
    """``preset`` with its ``[llm]`` table replaced by an OpenAI-compatible one at ``llm_base_url``."""
    text = preset.read_text()
    llm = f'[llm]\ntype = "openai"\nbase_url = "{llm_base_url}"\nmodel = "scripted"\n\n'
    new, n = re.subn(r"^\[llm\]\n.*?(?=^\[)", llm, text, flags=re.S | re.M)
    assert n == 1, f"no [llm] table in {preset}"
    out.write_text(new)
    return out
