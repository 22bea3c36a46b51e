"""How the app supervises its child servers: settings, restart backoff, and exit descriptions.

:class:`~runtime.children.ChildServers` applies these while a pipeline runs: a child that
exits, or stops answering its health check, is restarted on the same port after a backoff; a
streak of quick failures ends the run with :class:`ChildServerFailed` (``voice-agent run``:
one ``error:`` line, exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.child_process import ChildProcessError


class ChildServerFailed(ChildProcessError):
    """A child server failed too often in a row; the run cannot go on without it."""


@dataclass
class SupervisionSettings:
    """``[supervision]``: restarting the local servers (LLM, TTS) the app starts.

    Parameters:
        enabled: Watch the children while the pipeline runs (off: a dead server stays dead).
        max_quick_failures: This many quick failures of one child in a row end the run
            (exit code 2). A failure is quick when the child failed to start, or exited or
            hung less than ``quick_failure_secs`` after it became ready.
        quick_failure_secs: A child that ran this long since it became ready starts a new
            streak when it fails.
        backoff_min_secs: Wait before the first restart of a streak; doubled for each further
            quick failure (0.5 s, 1 s, 2 s, ...).
        backoff_max_secs: Longest wait before a restart.
        health_interval_secs: Time between health checks of a running child (its exit is
            noticed within ``exit_poll_secs`` regardless).
        health_timeout_secs: Longest wait for one health check's answer.
        hang_timeout_secs: A child whose health check has not passed for this long is hung:
            it is killed (SIGKILL) and restarted like one that exited. Generous, so a server
            slowed down by a busy 2-core machine is not killed mid-answer.
        exit_poll_secs: How often a child's exit is checked for.
        restart_wait_secs: A request that needs a server while it is being restarted (the
            LLM's completion, the TTS's socket) waits this long for it, then fails as if the
            server were unreachable (that turn ends unanswered; the next one works).
    """

    enabled: bool = True
    max_quick_failures: int = 3
    quick_failure_secs: float = 30.0
    backoff_min_secs: float = 0.5
    backoff_max_secs: float = 8.0
    health_interval_secs: float = 1.0
    health_timeout_secs: float = 2.0
    hang_timeout_secs: float = 10.0
    exit_poll_secs: float = 0.1
    restart_wait_secs: float = 20.0

    def __post_init__(self):
        if self.max_quick_failures < 1:
            raise ValueError(f"max_quick_failures must be >= 1, got {self.max_quick_failures}")
        for name in ("quick_failure_secs", "backoff_min_secs", "health_interval_secs", "health_timeout_secs",
                     "hang_timeout_secs", "exit_poll_secs", "restart_wait_secs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.backoff_max_secs < self.backoff_min_secs:
            raise ValueError(f"backoff_max_secs ({self.backoff_max_secs}) must be >= backoff_min_secs "
                             f"({self.backoff_min_secs})")
        if self.hang_timeout_secs < self.health_timeout_secs:
            raise ValueError(f"hang_timeout_secs ({self.hang_timeout_secs}) must be >= health_timeout_secs "
                             f"({self.health_timeout_secs})")

    def backoff_secs(self, failures: int) -> float:
        """The wait before the restart after ``failures`` quick failures in a row (>= 1)."""
        return min(self.backoff_max_secs, self.backoff_min_secs * 2 ** max(0, failures - 1))
