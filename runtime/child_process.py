"""Run a local server as a child process: free port, log file, readiness check, sure stop.

Children never outlive the agent: they are stopped on normal exit, on error and on Ctrl-C
(``stop()`` from ``finally`` / ``atexit``), and on Linux they also get ``SIGTERM`` from the
kernel if the agent itself dies abruptly (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
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
DYING_GRACE_SECS = 0.5  # see ManagedProcess.wait_until_up


def child_environment() -> dict[str, str]:
    """The agent's environment without secrets (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``): a child
    server needs none of them (pass one explicitly with ``env=`` if it does), and inheriting
    ``TTS_SERVER_API_KEY`` would make the app's own TTS server refuse the app."""
    return {k: v for k, v in os.environ.items() if not k.upper().endswith(SECRET_SUFFIXES)}


def describe_exit(returncode: int | None) -> str:
    """``exit status 3`` / ``killed by SIGKILL`` for a ``Popen.returncode``."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


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


def http_ok(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A probe that succeeds when ``GET url`` answers 200 within ``timeout`` seconds."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status == 200
        except OSError:  # refused, reset, timed out, HTTP error
            return False

    return probe


class ManagedProcess:
    """A child process with a log file, a readiness probe, a health probe and a guaranteed stop.

    ``health`` (default: ``ready``) is what a supervisor asks while the child runs; it must be
    cheap and must not disturb the child's work. ``start`` may be called again after the child
    exited or was stopped (a restart: same command, same port, the log file is appended to), and
    a ``stop`` from another thread aborts a ``start`` in progress.
    """

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        ready_timeout: float = 60.0,
        env: dict[str, str] | None = None,
        health: Callable[[], bool] | None = None,
    ):
        self.name = name
        self.cmd = list(cmd)
        self.log_path = log_path
        self._ready = ready
        self._health = health or ready
        self._ready_timeout = ready_timeout
        self._env = env
        self._proc: subprocess.Popen | None = None
        self._last: subprocess.Popen | None = None  # kept after it exits, for its exit status
        self._lock = threading.Lock()
        self._generation = 0  # bumped by stop(): a start() begun before it gives up
        self.ready_at: float | None = None  # time.monotonic() when it last became ready
        # Set by a supervisor (ChildServers) while it restarts this child when it goes down:
        # clients then wait for it (up to restart_wait_secs) instead of failing at once.
        self.supervised = False
        self.restart_wait_secs = 20.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The last child's exit status (negative: killed by that signal); None while it runs."""
        proc = self._proc or self._last
        return proc.poll() if proc else None

    @property
    def generation(self) -> int:
        """Changes on every ``stop()``; pass it to ``start(generation=...)`` to start only if no
        stop came in between."""
        return self._generation

    @property
    def up(self) -> bool:
        """Running and ready (not exited, not being started)."""
        return self.running and self.ready_at is not None

    async def wait_until_up(self, failed: bool = False) -> bool:
        """For a client about to use the child: if it is down and its supervisor is restarting
        it, wait until it is back (at most ``restart_wait_secs``). Returns whether it waited.

        ``failed``: the client could not reach it just now. A killed child's sockets close a
        moment before its exit can be seen, so give it up to ``DYING_GRACE_SECS`` to show as down.
        """
        if failed and self.supervised:
            deadline = time.monotonic() + DYING_GRACE_SECS
            while self.up and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if self.up or not self.supervised:
            return False
        deadline = time.monotonic() + self.restart_wait_secs
        while not self.up and self.supervised and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return True

    def healthy(self) -> bool:
        """Whether the running child answers its health probe (blocking, bounded by the probe)."""
        return self.running and self._health()

    def start(self, generation: int | None = None) -> None:
        """Start the child and block until its readiness probe passes (or raise).

        With ``generation``, do nothing but raise if ``stop()`` was called since it was read.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if generation is not None and generation != self._generation:
                raise ChildProcessError(f"{self.name} was stopped before it started")
            generation = self._generation
            log = open(self.log_path, "ab")
            logger.info(f"starting {self.name} (log: {self.log_path})")
            proc = self._proc = self._last = subprocess.Popen(
                self.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**child_environment(), **(self._env or {})},
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
            log.close()
            self.ready_at = None
        atexit.register(self.stop)
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if generation != self._generation:
                raise ChildProcessError(f"{self.name} was stopped during start-up")
            if proc.poll() is not None:
                with self._lock:
                    if self._proc is proc:
                        self._proc = None
                raise ChildProcessError(
                    f"{self.name} exited during start-up ({describe_exit(proc.returncode)}); "
                    f"last log line: {self._log_tail(1)!r}; see {self.log_path}"
                )
            if self._ready():
                self.ready_at = time.monotonic()
                logger.info(f"{self.name} ready (pid {proc.pid})")
                return
            time.sleep(0.1)
        self.stop()
        raise ChildProcessError(
            f"{self.name} not ready after {self._ready_timeout:.0f}s; see {self.log_path}"
        )

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL the child at once (a hung one ignores SIGTERM) and reap it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=timeout)
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``timeout``). Idempotent."""
        with self._lock:
            self._generation += 1
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
