"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for LLM fault tests.

It streams ``words`` as server-sent events over chunked HTTP (as llama.cpp's server does), or
misbehaves according to ``mode``: ``drop`` (reset the connection after the first word),
``stall`` (go silent after the first word, connection open), ``no_response`` (never answer
the request), ``garbage`` (a non-JSON event after the first word), ``http500``. ``stop()``
refuses connections; ``start()`` listens again on the same port (a restarted server).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

MODES = ("good", "drop", "stall", "no_response", "garbage", "http500")


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class FakeOpenAIServer:
    """See the module docstring. ``base_url`` is the ``/v1`` root for an OpenAI client."""

    def __init__(self, mode: str = "good", words: tuple[str, ...] = ("Hello", " there", ",", " friend", ".")):
        assert mode in MODES
        self.mode = mode
        self.words = words
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await server.wait_closed()

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append({"line": head[0], "headers": headers, "body": json.loads(body or b"{}")})
            await self._respond(self.mode, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if mode == "no_response":
            await reader.read()  # silent until the client gives up (or stop())
            return
        if mode == "http500":
            msg = b'{"error": {"message": "model crashed", "type": "server_error"}}'
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(msg), msg))
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")

        async def send(data: bytes) -> None:
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()

        for i, word in enumerate(self.words):
            if i == 1 and mode == "drop":
                writer.transport.abort()
                return
            if i == 1 and mode == "stall":
                await reader.read()  # silent until the client gives up (or stop())
                return
            if i == 1 and mode == "garbage":
                await send(b"data: {this is not json\n\n")
            await send(_chunk(word))
            await asyncio.sleep(0.005)
        await send(_chunk(finish="stop"))
        await send(b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
