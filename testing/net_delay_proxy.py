"""A 127.0.0.1 TCP proxy that adds network delay, for latency benchmarks and fault tests.

Every byte is delivered ``delay_secs`` after it was read, in both directions, and a new
connection's first client bytes wait one extra round trip (``2 * delay_secs``), as a TCP
handshake would cost. So a WebSocket handshake through the proxy costs about
``4 * delay_secs`` and each request/response exchange ``2 * delay_secs``. Ordering is kept and
throughput is not limited.

Faults for reliability tests: :meth:`freeze` holds all traffic (a dead network: nothing
arrives, nothing is closed) until :meth:`thaw`; :meth:`drop_all` resets every connection.

    async with NetDelayProxy("127.0.0.1", server.port, delay_secs=0.1) as proxy:
        url = proxy.rewrite(server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from urllib.parse import urlsplit, urlunsplit

_EOF = b""


class _Pipe:
    """One direction of one connection: read, hold for the delay, write."""

    def __init__(self, proxy: NetDelayProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float):
        self._proxy = proxy
        self._reader = reader
        self._writer = writer
        self._not_before = not_before
        self._queue: deque[tuple[float, bytes]] = deque()
        self._ready = asyncio.Event()

    async def run(self) -> None:
        delivery = asyncio.create_task(self._deliver())
        try:
            while True:
                data = await self._reader.read(65536)
                self._queue.append((max(time.monotonic() + self._proxy.delay_secs, self._not_before), data))
                self._ready.set()
                if not data:
                    break
            await delivery
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery

    async def _deliver(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            due, data = self._queue.popleft()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._proxy._thawed.wait()
            if data == _EOF:
                if self._writer.can_write_eof():
                    self._writer.write_eof()
                return
            self._writer.write(data)
            await self._writer.drain()


class NetDelayProxy:
    """TCP proxy on ``host`` (127.0.0.1) to ``target_host:target_port`` adding ``delay_secs`` each way."""

    def __init__(self, target_host: str, target_port: int, *, delay_secs: float = 0.1, host: str = "127.0.0.1", port: int = 0):
        self.target = (target_host, target_port)
        self.delay_secs = delay_secs
        self.host = host
        self.port: int | None = None
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thawed = asyncio.Event()
        self._thawed.set()
        self.connections_total = 0

    async def start(self) -> None:
        """Start listening (``port`` is set afterwards)."""
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self._thawed.set()
        if self._server:
            self._server.close()
        await self.drop_all()
        if self._server:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> NetDelayProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def rewrite(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, f"{self.host}:{self.port}", parts.path, parts.query, parts.fragment))

    def freeze(self) -> None:
        """Hold all traffic (connections stay open; nothing is delivered)."""
        self._thawed.clear()

    def thaw(self) -> None:
        """Deliver held traffic again."""
        self._thawed.set()

    async def drop_all(self) -> None:
        """Reset every open connection (both sides see the connection die)."""
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        tasks = list(self._conns)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections_total += 1
        accepted = time.monotonic()
        u_writer = None
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.target)
            self._writers.update((c_writer, u_writer))
            # The client's first bytes leave one RTT late (the TCP handshake) plus the delay.
            up = _Pipe(self, c_reader, u_writer, not_before=accepted + 3 * self.delay_secs)
            down = _Pipe(self, u_reader, c_writer, not_before=0.0)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(up.run())
                tg.create_task(down.run())
        except* (ConnectionError, OSError):
            pass
        except* asyncio.CancelledError:
            pass  # drop_all() / stop(): end quietly
        finally:
            for w in (c_writer, u_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
            self._conns.discard(task)
