"""Run a local server as a child process: free port, log file, readiness check, sure stop.

Children never outlive the agent: they are stopped on normal exit, on error and on Ctrl-C
(``stop()`` from ``finally`` / ``atexit``), and on Linux they also get ``SIGTERM`` from the
kernel if the agent itself dies abruptly (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from loguru import logger


class ChildProcessError(RuntimeError):
    """A child server failed to start or become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")


def child_environment() -> dict[str, str]:
    """The agent's environment without secrets (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``): a child
    server needs none of them (pass one explicitly with ``env=`` if it does), and inheriting
    ``TTS_SERVER_API_KEY`` would make the app's own TTS server refuse the app."""
    return {k: v for k, v in os.environ.items() if not k.upper().endswith(SECRET_SUFFIXES)}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def tcp_ready(host: str, port: int) -> Callable[[], bool]:
    """A readiness probe that succeeds once ``host:port`` accepts TCP connections."""

    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return probe


class ManagedProcess:
    """A child process with a log file, a readiness probe and a guaranteed stop."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        ready_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ):
        self.name = name
        self.cmd = list(cmd)
        self.log_path = log_path
        self._ready = ready
        self._ready_timeout = ready_timeout
        self._env = env
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child and block until its readiness probe passes (or raise)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        logger.info(f"starting {self.name} (log: {self.log_path})")
        self._proc = subprocess.Popen(
            self.cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**child_environment(), **(self._env or {})},
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        log.close()
        atexit.register(self.stop)
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self._log_tail()
                self._proc = None
                raise ChildProcessError(f"{self.name} exited during start-up; last log lines:\n{tail}")
            if self._ready():
                logger.info(f"{self.name} ready (pid {self._proc.pid})")
                return
            time.sleep(0.1)
        self.stop()
        raise ChildProcessError(
            f"{self.name} not ready after {self._ready_timeout:.0f}s; see {self.log_path}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        logger.debug(f"{self.name} stopped (exit {proc.returncode})")

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "ManagedProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
