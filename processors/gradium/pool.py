"""Keeps a Gradium socket open ahead of need: a spare per answer, or one shared socket.

``fresh`` mode (``shared=False``): :meth:`SocketPool.acquire` hands out the warm spare
and a replacement starts opening at once in the background, so an answer (including
the one after a barge-in) never waits for a handshake unless two answers start within
one handshake time. ``shared`` mode: every request gets the same socket.

A background task keeps the warm socket alive: it reopens it with exponential backoff
when it fails or the server closes it, and replaces a spare that sat idle too long.
With ``wait_for_server`` (the app's local server, which it restarts when it dies), a socket
is opened only once the server is back: a request waits for it instead of failing, and the
spare reconnects the moment it is back, not after a backoff that grew while it was down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from loguru import logger

from pipecat.utils.errors import ErrorCategory
from pipecat.utils.network import exponential_backoff_time

from processors.gradium.connection import GradiumConnectError, GradiumSocket, SocketFactory
from processors.gradium.protocol import GradiumProtocolError
from processors.gradium.settings import GradiumConnectionParams

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task]
CancelTask = Callable[[asyncio.Task], Awaitable[None]]
# Returns once the server may be tried; True if it was down (being restarted) and waited for.
# ``failed=True``: a connection to it just failed (it may be dying and not yet known to be down).
WaitForServer = Callable[..., Awaitable[bool]]


@dataclass
class PoolHooks:
    """What the pool reports to the service."""

    on_opened: Callable[[GradiumSocket], Awaitable[None]]
    on_open_failed: Callable[[GradiumConnectError], Awaitable[None]]
    on_message: Callable[[GradiumSocket, dict[str, Any]], Awaitable[None]]
    on_protocol_error: Callable[[GradiumSocket, GradiumProtocolError], Awaitable[None]]
    on_closed: Callable[[GradiumSocket], Awaitable[None]]


class SocketPool:
    """One warm socket, kept open by a background task; see the module docstring."""

    def __init__(
        self,
        factory: SocketFactory,
        hooks: PoolHooks,
        spawn: Spawn,
        cancel_task: CancelTask,
        *,
        shared: bool,
        wait_for_server: WaitForServer | None = None,
    ):
        self._factory = factory
        self._params: GradiumConnectionParams = factory.params
        self._hooks = hooks
        self._spawn = spawn
        self._cancel_task = cancel_task
        self.shared = shared
        self._wait_for_server = wait_for_server
        self._warm: GradiumSocket | None = None
        self._attempt: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._failures = 0
        self._closed = False
        self._gave_up = False
        self._sockets: set[GradiumSocket] = set()

    @property
    def warm(self) -> GradiumSocket | None:
        """The open socket the next request would get, if any."""
        return self._warm if self._warm is not None and self._warm.is_open else None

    def start(self) -> None:
        """Start keeping a socket open (returns at once; the handshake runs in the background)."""
        if self._task is None and not self._closed:
            self._task = self._spawn(self._maintain(), "gradium-socket-pool")

    async def acquire(self) -> tuple[GradiumSocket, bool]:
        """An open socket for a request, and whether the caller had to wait for a handshake.

        Raises:
            GradiumConnectError: no socket could be opened within the connect timeout.
        """
        sock = self._take()
        if sock:
            return sock, False
        if self._wait_for_server is not None and await self._wait_for_server():
            sock = self._take()  # the maintainer may have opened one the moment it was back
            if sock:
                return sock, True
        attempt = self._attempt
        if attempt is not None and not attempt.done():
            try:
                await asyncio.wait_for(asyncio.shield(attempt), self._params.connect_timeout_secs)
            except TimeoutError:
                pass  # a failure is reported by the maintainer; open one ourselves below
            sock = self._take()
            if sock:
                return sock, True
        try:
            sock = await self._factory.open()
        except GradiumConnectError:
            # The server may have died this instant (a replay after its socket dropped): if it
            # is being restarted, wait for it and try once more.
            if self._wait_for_server is None or not await self._wait_for_server(failed=True):
                raise
            sock = await self._factory.open()
        self._adopt(sock)
        await self._hooks.on_opened(sock)
        if self.shared:
            self._install_warm(sock)
        return sock, True

    async def aclose(self) -> None:
        """Stop the background task and close every socket this pool opened."""
        self._closed = True
        if self._task:
            await self._cancel_task(self._task)
            self._task = None
        if self._attempt and not self._attempt.done():
            await self._cancel_task(self._attempt)
        self._warm = None
        sockets = list(self._sockets)
        await asyncio.gather(*(sock.close() for sock in sockets))
        readers = [s.reader for s in sockets if s.reader and not s.reader.done()]
        if readers:
            await asyncio.wait(readers, timeout=self._params.close_timeout_secs + 0.5)

    def owns_idle(self, sock: GradiumSocket) -> bool:
        """Whether ``sock`` is the idle spare (not yet given to a request)."""
        return not self.shared and sock is self._warm

    # -- internals -------------------------------------------------------------------

    def _take(self) -> GradiumSocket | None:
        sock = self._warm
        if sock is None or not sock.is_open:
            return None
        if sock.age_secs >= self._params.quick_failure_secs:
            self._failures = 0
        if not self.shared:
            self._warm = None
            self._wake.set()
        return sock

    def _adopt(self, sock: GradiumSocket) -> None:
        """Route the socket's events through the pool and start reading it."""
        self._sockets.add(sock)
        sock.on_message = self._on_message
        sock.on_protocol_error = self._on_protocol_error
        sock.on_closed = self._on_closed
        sock.reader = self._spawn(sock.read(), f"gradium-socket-{sock.id}-reader")

    def _install_warm(self, sock: GradiumSocket) -> None:
        self._warm = sock
        self._wake.set()

    async def _open_warm(self, replace: GradiumSocket | None = None) -> GradiumSocket | GradiumConnectError:
        """Open the warm socket (replacing ``replace`` if it's still the warm one).

        Failures are returned, not raised (pipecat's task manager logs raised errors).
        """
        try:
            sock = await self._factory.open()
        except GradiumConnectError as e:
            return e
        except Exception as e:
            logger.exception(f"Gradium TTS: unexpected error opening a socket: {e}")
            return GradiumConnectError(f"Gradium TTS: opening a socket failed: {type(e).__name__}", ErrorCategory.CONNECTIVITY)
        if self._closed:
            await sock.close()
            return GradiumConnectError("Gradium TTS: socket pool closed", ErrorCategory.CONNECTIVITY)
        self._adopt(sock)
        await self._hooks.on_opened(sock)
        old = self._warm
        if old is None or not old.is_open or old is replace:
            self._install_warm(sock)
            if old is not None and old is replace:
                self._sockets.discard(old)
                await old.close()
        else:
            await sock.close()  # a request opened one meanwhile; keep just one warm
        return sock

    async def _maintain(self) -> None:
        if not self.shared and not self._params.keep_spare:
            return  # baseline mode: every answer opens its own socket
        while not self._closed and not self._gave_up:
            if self.warm is None:
                if self._wait_for_server is not None and await self._wait_for_server():
                    self._failures = 0  # it was restarted: try it now
                elif self._failures:
                    await asyncio.sleep(self._backoff())
                if await self._try_open() is None:
                    continue
            await self._wait_for_change()

    async def _try_open(self, replace: GradiumSocket | None = None) -> GradiumSocket | None:
        self._attempt = self._spawn(self._open_warm(replace), "gradium-socket-open")
        result = await asyncio.shield(self._attempt)
        if isinstance(result, GradiumSocket):
            return result
        if self._closed:
            return None
        if self._wait_for_server is not None and await self._wait_for_server(failed=True):
            logger.debug(f"{result}: the server was being restarted; trying it again now")
            return None  # not an error: the app restarted its server, and the spare follows it
        self._failures += 1
        logger.warning(f"{result} (attempt {self._failures}; retrying in {self._backoff():.2f}s)")
        await self._hooks.on_open_failed(result)
        if result.category.is_permanent:
            self._gave_up = True  # retrying can't fix a rejected key
        return None

    async def _wait_for_change(self) -> None:
        """Wait until the warm socket is taken or lost, or a spare has idled too long."""
        self._wake.clear()
        sock = self._warm
        idle = self._params.spare_max_idle_secs
        if sock is None or not sock.is_open:
            return
        timeout = None if (self.shared or idle is None) else max(0.0, idle - sock.age_secs)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            await self._refresh(sock)

    async def _refresh(self, old: GradiumSocket) -> None:
        """Replace an idle spare: the new one opens first, so a spare is always available."""
        logger.debug(f"{old} idle for {old.age_secs:.0f}s; replacing it")
        await self._try_open(replace=old)

    def _backoff(self) -> float:
        return exponential_backoff_time(
            max(1, self._failures),
            min_wait=self._params.backoff_min_secs,
            max_wait=self._params.backoff_max_secs,
            multiplier=self._params.backoff_min_secs,
        )

    async def _on_message(self, sock: GradiumSocket, msg: dict[str, Any]) -> None:
        if self.owns_idle(sock):
            # Nothing is due on a socket before its setup: the server refused it (bad key,
            # too many connections) or misbehaves. Replace it, backing off.
            lived = sock.age_secs
            self._warm = None
            await sock.close()
            self._wake.set()
            if lived >= self._params.quick_failure_secs:
                # e.g. a server-side idle timeout: expected for a spare, not worth an error.
                logger.debug(f"{sock}: server ended the idle socket ({msg.get('message')!r}); replacing it")
                return
            self._failures += 1
            if msg.get("type") == "error":
                code = msg.get("code")
                reason = f"{msg.get('message') or 'error'}" + (f" (code {code})" if code else "")
                await self._hooks.on_open_failed(
                    GradiumConnectError(f"Gradium TTS refused the connection: {reason}", ErrorCategory.SERVER)
                )
            else:
                logger.warning(f"{sock}: unexpected {msg.get('type')!r} message on an idle socket; replaced it")
            return
        await self._hooks.on_message(sock, msg)

    async def _on_protocol_error(self, sock: GradiumSocket, error: GradiumProtocolError) -> None:
        if self.owns_idle(sock):
            logger.warning(f"{sock}: {error}; replacing the idle socket")
            self._warm = None
            await sock.close()
            self._wake.set()
            return
        await self._hooks.on_protocol_error(sock, error)

    async def _on_closed(self, sock: GradiumSocket) -> None:
        self._sockets.discard(sock)
        if sock is self._warm:
            self._warm = None
            if not sock.closed_by_client:
                lived = (sock.closed_at or time.monotonic()) - sock.opened_at
                if lived < self._params.quick_failure_secs:
                    self._failures += 1
                    logger.warning(f"{sock}: server closed it {lived:.2f}s after it opened (code {sock.close_code})")
                else:
                    logger.debug(f"{sock}: server closed the idle socket (code {sock.close_code}); reopening")
            self._wake.set()
        await self._hooks.on_closed(sock)
