"""A WebSocket proxy on 127.0.0.1 in front of a real server that injects faults, for tests.

Client messages go upstream unchanged (with the ``x-api-key`` / ``x-api-source`` headers);
server messages come back unchanged until an armed :class:`Fault` fires on one of them: it
then sends its extra messages to the client and does its ``then`` (keep going, stall,
abort the TCP connection, or close with a code). Faults fire once. Also: a slow
handshake (``handshake_delay_secs``) and a refused connection (:meth:`stop`; :meth:`start`
listens again on the same port, like a restarted server).

    async with TTSServer() as server, WsFaultProxy(server.url) as proxy:
        proxy.arm(Fault(inject=['{"type": "error", "message": "boom"}'], then="stall"))
        tts = GradiumTTSService(url=proxy.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

FORWARDED_HEADERS = ("x-api-key", "x-api-source")


def is_audio(raw: str | bytes) -> bool:
    """A server message that carries audio (the default fault trigger: mid-answer)."""
    return isinstance(raw, str) and raw.startswith('{"type":"audio"')


@dataclass
class Fault:
    """What to do to the server->client stream, once ``when`` matches a server message.

    Parameters:
        when: Predicate on the raw server message; the fault fires *after* forwarding it.
            ``None`` fires as soon as a connection opens (before any message: an idle socket).
        inject: Raw frames sent to the client when the fault fires.
        then: ``continue`` forwarding, ``stall`` (swallow every later server message; the
            connection stays open and answers pings), ``abort`` (reset both TCP connections),
            or ``close`` (close the client side with ``close_code``).
    """

    when: Callable[[str | bytes], bool] | None = is_audio
    inject: list[str | bytes] = field(default_factory=list)
    then: Literal["continue", "stall", "abort", "close"] = "continue"
    close_code: int = 1011
    fired_at: float | None = None  # time.monotonic() when it fired
    fired: asyncio.Event = field(default_factory=asyncio.Event)


class WsFaultProxy:
    """See the module docstring. ``url`` is valid after :meth:`start`."""

    def __init__(self, upstream_url: str, *, port: int = 0):
        self.upstream_url = upstream_url
        self.port = port
        self.handshake_delay_secs = 0.0
        self.connections_total = 0
        self._fault: Fault | None = None
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """The proxy's URL (same path as upstream)."""
        return f"ws://127.0.0.1:{self.port}{urlsplit(self.upstream_url).path}"

    def arm(self, fault: Fault) -> Fault:
        """Arm a one-shot fault (replacing any armed one); returns it."""
        self._fault = fault
        return fault

    async def start(self) -> None:
        """Listen (again) on 127.0.0.1, on the same port after a :meth:`stop`."""
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, process_request=self._delay_handshake,
            max_size=None, compression=None, ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection: new connections are refused."""
        server, self._server = self._server, None
        if server is not None:
            for conn in list(server.connections):
                conn.transport.abort()
            server.close(close_connections=False)
            await server.wait_closed()

    async def __aenter__(self) -> WsFaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _delay_handshake(self, connection: ServerConnection, request) -> None:
        if self.handshake_delay_secs:
            await asyncio.sleep(self.handshake_delay_secs)
        return None

    async def _handle(self, client: ServerConnection) -> None:
        self.connections_total += 1
        headers = {k: v for k in FORWARDED_HEADERS if (v := client.request.headers.get(k)) is not None}
        async with connect(self.upstream_url, additional_headers=headers, max_size=None,
                           compression=None, ping_interval=None, close_timeout=1) as upstream:
            stalled = False
            fault = self._fault
            if fault is not None and fault.when is None:
                if await self._fire(fault, client, upstream):
                    return
                stalled = fault.then == "stall"
            up = asyncio.create_task(self._pump_up(client, upstream))
            try:
                await self._pump_down(upstream, client, stalled)
                await asyncio.wait_for(up, 5)
            except (ConnectionClosed, TimeoutError):
                pass
            finally:
                up.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await up
            if client.close_code is None and upstream.close_code is not None:
                await client.close(upstream.close_code, upstream.close_reason or "")

    async def _pump_up(self, client: ServerConnection, upstream) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in client:
                await upstream.send(raw)
        await upstream.close()

    async def _pump_down(self, upstream, client: ServerConnection, stalled: bool) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in upstream:
                if stalled:
                    continue  # swallowed: the client sees a silent, open connection
                await client.send(raw)
                fault = self._fault
                if fault is not None and fault.when is not None and fault.when(raw):
                    if await self._fire(fault, client, upstream):
                        return
                    stalled = fault.then == "stall"

    async def _fire(self, fault: Fault, client: ServerConnection, upstream) -> bool:
        """Apply a fault; True when the connection is finished."""
        self._fault = None
        fault.fired_at = time.monotonic()
        fault.fired.set()
        for raw in fault.inject:
            await client.send(raw)
        if fault.then == "abort":
            client.transport.abort()
            upstream.transport.abort()
            return True
        if fault.then == "close":
            upstream.transport.abort()  # the real server just sees its client go away
            await client.close(fault.close_code, "fault injected")
            return True
        return False
