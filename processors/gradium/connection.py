"""One Gradium TTS WebSocket: opening it with a deadline, sending JSON, reading it in a task."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from pipecat.utils.errors import ErrorCategory

from processors.gradium.protocol import GradiumProtocolError, parse_message
from processors.gradium.settings import GradiumConnectionParams, safe_url

# websockets logs request headers (x-api-key among them) at DEBUG; this logger never does.
_WS_LOGGER = logging.getLogger("processors.gradium.tts.websockets")
_WS_LOGGER.setLevel(logging.INFO)

_ids = itertools.count(1)

MessageHandler = Callable[["GradiumSocket", dict[str, Any]], Awaitable[None]]
ProtocolErrorHandler = Callable[["GradiumSocket", GradiumProtocolError], Awaitable[None]]
ClosedHandler = Callable[["GradiumSocket"], Awaitable[None]]
ConnectFn = Callable[..., Awaitable[Any]]


class GradiumConnectError(Exception):
    """A socket could not be opened; ``category`` says whether retrying can help."""

    def __init__(self, message: str, category: ErrorCategory):
        super().__init__(message)
        self.category = category


class GradiumSocket:
    """An open WebSocket to Gradium plus what the service needs to know about it.

    Handlers are plain attributes so a pool can hand the socket to a request: the
    reader task calls ``on_message`` for each parsed message, ``on_protocol_error`` for
    a message it can't parse, and ``on_closed`` once when the socket is gone.
    """

    def __init__(self, ws: Any, handshake_secs: float):
        self.id = next(_ids)
        self.ws = ws
        self.handshake_secs = handshake_secs
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed_by_client = False
        self.owner: Any = None  # the request using this socket (fresh-socket mode)
        self.reader: asyncio.Task | None = None
        self.on_message: MessageHandler | None = None
        self.on_protocol_error: ProtocolErrorHandler | None = None
        self.on_closed: ClosedHandler | None = None

    def __repr__(self) -> str:
        return f"GradiumSocket#{self.id}"

    @property
    def is_open(self) -> bool:
        """Open and not being closed by either side."""
        return self.closed_at is None and not self.closed_by_client and self.ws.state is State.OPEN

    @property
    def age_secs(self) -> float:
        """Seconds since the socket opened."""
        return time.monotonic() - self.opened_at

    async def send(self, msg: dict[str, Any]) -> None:
        """Send one JSON message; raises ``ConnectionClosed`` if the socket is gone."""
        await self.ws.send(json.dumps(msg))

    async def close(self) -> None:
        """Close from our side (sends the close frame at once); never raises."""
        self.closed_by_client = True
        try:
            await self.ws.close()
        except Exception as e:  # the socket is being dropped either way
            logger.debug(f"{self}: error while closing: {e}")

    async def read(self) -> None:
        """Read until the socket closes, dispatching each message; run as a task."""
        try:
            async for raw in self.ws:
                try:
                    msg = parse_message(raw)
                except GradiumProtocolError as e:
                    if self.on_protocol_error:
                        await self.on_protocol_error(self, e)
                    continue
                if self.on_message:
                    await self.on_message(self, msg)
        except ConnectionClosed as e:
            if e.rcvd is None and e.sent is not None:  # we failed it, e.g. a message too big
                self.close_code, self.close_reason = e.sent.code, e.sent.reason
        finally:
            self.closed_at = time.monotonic()
            if self.close_code is None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason or ""
            if self.on_closed:
                await self.on_closed(self)


@dataclass
class SocketFactory:
    """Opens sockets to one endpoint with the service's headers and deadlines.

    The API key lives here only as a header value: it is never formatted into a
    message, and this class's repr leaves it out.
    """

    url: str
    api_key: str | None
    params: GradiumConnectionParams
    connect_fn: ConnectFn
    source: str = "voice-agent"

    def __repr__(self) -> str:
        return f"SocketFactory(url={safe_url(self.url)!r})"

    async def open(self) -> GradiumSocket:
        """Open a socket or raise :class:`GradiumConnectError` with a clear, key-free message."""
        headers = {"x-api-source": self.source}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        where = safe_url(self.url)
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.params.connect_timeout_secs):
                ws = await self.connect_fn(
                    self.url,
                    additional_headers=headers,
                    open_timeout=None,  # the asyncio.timeout above bounds the whole open
                    ping_interval=self.params.ping_interval_secs,
                    ping_timeout=self.params.ping_timeout_secs,
                    close_timeout=self.params.close_timeout_secs,
                    max_size=self.params.max_message_bytes,
                    logger=_WS_LOGGER,
                )
        except TimeoutError:
            raise GradiumConnectError(
                f"Gradium TTS: connecting to {where} timed out after {self.params.connect_timeout_secs:g}s",
                ErrorCategory.CONNECTIVITY,
            ) from None
        except InvalidStatus as e:
            status = e.response.status_code
            category, hint = _status_category(status, bool(self.api_key))
            raise GradiumConnectError(
                f"Gradium TTS: {where} refused the connection (HTTP {status}){hint}", category
            ) from None
        except OSError as e:
            raise GradiumConnectError(
                f"Gradium TTS: cannot reach {where}: {e.strerror or type(e).__name__}",
                ErrorCategory.CONNECTIVITY,
            ) from None
        except Exception as e:
            raise GradiumConnectError(
                f"Gradium TTS: connecting to {where} failed: {type(e).__name__}: {_scrub(str(e), self.api_key)}",
                ErrorCategory.CONNECTIVITY,
            ) from None
        if hasattr(ws, "send_timeout"):  # pipecat's bounded connection
            ws.send_timeout = self.params.send_timeout_secs
        return GradiumSocket(ws, time.monotonic() - start)


def _status_category(status: int, has_key: bool) -> tuple[ErrorCategory, str]:
    if status in (401, 403):
        hint = " - check GRADIUM_API_KEY" if has_key else " - set GRADIUM_API_KEY"
        return (ErrorCategory.AUTHENTICATION if status == 401 else ErrorCategory.AUTHORIZATION), hint
    if status == 429:
        return ErrorCategory.RATE_LIMIT, ""
    if 500 <= status < 600:
        return ErrorCategory.SERVER, ""
    return ErrorCategory.CONNECTIVITY, ""


def _scrub(text: str, secret: str | None) -> str:
    """``text`` with any copy of the secret masked."""
    return text.replace(secret, "***") if secret else text
