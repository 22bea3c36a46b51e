"""Start a pipeline's child servers before it runs, supervise them while it runs, stop them after.

Every entry point (``run``, ``say``, ``demo``, ``serve``, benches) goes through
:class:`ChildServers`, so servers are started in order, stopped in reverse order, and never
outlive the pipeline (normal end, error, Ctrl-C).

Supervision (:class:`~runtime.supervision.SupervisionSettings`): while the pipeline runs, one
task per child polls its exit and asks its health check. A child that exits, or whose health
check has not passed for ``hang_timeout_secs`` (hung: it is SIGKILLed), is started again on the
same port after a backoff, so the clients (the LLM's HTTP client, the TTS's socket pool) find it
where they left it with nothing to tell them. Each failure is one warning naming the child, its
exit status and its log file, and an event for the console. ``max_quick_failures`` in a row
end the run: :meth:`ChildServers.supervise` cancels the pipeline and raises
:class:`~runtime.supervision.ChildServerFailed`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from loguru import logger

from runtime.child_process import ChildProcessError, ManagedProcess, describe_exit
from runtime.supervision import ChildServerFailed, SupervisionSettings

T = TypeVar("T")
CANCEL_TIMEOUT_SECS = 10.0  # the pipeline's own cancel, after a child failed for good


@dataclass(frozen=True)
class ChildEvent:
    """What happened to a child: ``down`` (restarting), ``restarted`` or ``failed`` (for good)."""

    name: str
    kind: Literal["down", "restarted", "failed"]
    message: str


class ChildServers:
    """``async with ChildServers(children, settings):`` starts each child (blocking start in a
    thread), supervises them (see the module docstring) and stops all of them on the way out,
    in reverse order. ``listeners`` get every :class:`ChildEvent`."""

    def __init__(self, children: Sequence[ManagedProcess], settings: SupervisionSettings | None = None):
        self.children = list(children)
        self.settings = settings or SupervisionSettings()
        self.listeners: list[Callable[[ChildEvent], None]] = []
        self.failure: ChildServerFailed | None = None
        self.restarts: dict[str, int] = {child.name: 0 for child in self.children}
        self._failed = asyncio.Event()
        self._watchers: list[asyncio.Task] = []

    async def start(self) -> None:
        for child in self.children:
            await asyncio.to_thread(child.start)
        if self.settings.enabled:
            for child in self.children:
                child.supervised, child.restart_wait_secs = True, self.settings.restart_wait_secs
            self._watchers = [asyncio.create_task(self._watch(child), name=f"supervise-{child.name}")
                              for child in self.children]

    async def stop(self) -> None:
        watchers, self._watchers = self._watchers, []
        for child in self.children:
            child.supervised = False
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for child in reversed(self.children):
            await asyncio.to_thread(child.stop)  # also aborts a restart in progress

    async def supervise(self, main: Awaitable[T], cancel: Callable[[], Awaitable[object]]) -> T:
        """Await ``main`` (the pipeline); if a child fails for good meanwhile, ``cancel()`` it,
        let it end (bounded) and raise :class:`ChildServerFailed`."""
        main_task = asyncio.ensure_future(main)
        failed = asyncio.create_task(self._failed.wait())
        try:
            await asyncio.wait({main_task, failed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            main_task.cancel()
            raise
        finally:
            failed.cancel()
        if main_task.done():
            return main_task.result()
        await cancel()
        done, _ = await asyncio.wait({main_task}, timeout=CANCEL_TIMEOUT_SECS)
        if not done:
            logger.warning(f"the pipeline did not end within {CANCEL_TIMEOUT_SECS:.0f}s of its cancel")
            main_task.cancel()
        elif not main_task.cancelled() and main_task.exception() is not None:
            logger.debug(f"the cancelled pipeline ended with {main_task.exception()!r}")  # the child's failure is the error
        assert self.failure is not None
        raise self.failure

    async def __aenter__(self) -> ChildServers:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- supervision -------------------------------------------------------------------

    def _emit(self, event: ChildEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as e:  # noqa: BLE001  (a view's bug must not stop supervision)
                logger.warning(f"child event listener failed: {e!r}")

    async def _watch(self, child: ManagedProcess) -> None:
        """Restart ``child`` whenever it goes down, until it fails too often in a row."""
        try:
            await self._supervise_child(child)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must not leave the run unsupervised and unaware
            logger.exception(f"supervising {child.name} failed")
            self._give_up(child, f"{child.name}: its supervisor failed: {e!r}")

    async def _supervise_child(self, child: ManagedProcess) -> None:
        s = self.settings
        streak = 0
        while True:
            reason = await self._until_down(child)
            went_down = time.monotonic()
            up_secs = went_down - (child.ready_at or went_down)
            streak = streak + 1 if up_secs < s.quick_failure_secs else 1
            reason = f"{reason} after {up_secs:.1f}s up"
            while True:
                if streak >= s.max_quick_failures:
                    see = "" if str(child.log_path) in reason else f"; see {child.log_path}"
                    self._give_up(child, f"{child.name} failed {streak} times in a row; last: {reason}{see}")
                    return
                delay = s.backoff_secs(streak)
                message = (f"{child.name} {reason}; restarting it in {delay:.1f}s "
                           f"(quick failure {streak} of {s.max_quick_failures}); log: {child.log_path}")
                logger.warning(message)
                self._emit(ChildEvent(child.name, "down", message))
                await asyncio.sleep(delay)
                generation = child.generation  # a stop() from now on aborts this start
                try:
                    await asyncio.to_thread(child.start, generation)
                except (ChildProcessError, OSError) as e:  # OSError: could not even exec it
                    streak += 1
                    reason = f"restart failed: {e}"
                    continue
                break
            self.restarts[child.name] += 1
            message = (f"{child.name} restarted (pid {child.pid}), "
                       f"{time.monotonic() - went_down:.1f}s after it went down")
            logger.warning(message)
            self._emit(ChildEvent(child.name, "restarted", message))

    async def _until_down(self, child: ManagedProcess) -> str:
        """Wait until ``child`` exits or hangs (then kill it); return what happened."""
        s = self.settings
        last_ok = time.monotonic()
        next_check = last_ok + s.health_interval_secs
        while True:
            if not child.running:
                status = describe_exit(child.returncode)
                await asyncio.to_thread(child.stop)  # reap it; the next start() is a restart
                return f"exited ({status})"
            if time.monotonic() >= next_check:
                try:
                    ok = await asyncio.wait_for(asyncio.to_thread(child.healthy), s.health_timeout_secs)
                except TimeoutError:
                    ok = False
                now = time.monotonic()
                next_check = now + s.health_interval_secs
                if ok:
                    last_ok = now
                elif child.running and now - last_ok >= s.hang_timeout_secs:
                    await asyncio.to_thread(child.kill)
                    return f"stopped answering its health check for {now - last_ok:.1f}s (hung; killed it)"
            await asyncio.sleep(s.exit_poll_secs)

    def _give_up(self, child: ManagedProcess, message: str) -> None:
        child.supervised = False  # its clients stop waiting for it
        self.failure = ChildServerFailed(message)
        self._emit(ChildEvent(child.name, "failed", message))
        self._failed.set()
