"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benches.

It streams answers as server-sent events over chunked HTTP (as llama.cpp's server does). What
it says comes from a script of :class:`ScriptedAnswer` (picked by a word in the last user
message, else in order), or one fixed answer (``words``). It can also misbehave, by ``mode``:
``drop`` (reset the connection after the first word), ``stall`` (go silent after the first
word, connection open), ``no_response`` (never answer the request), ``garbage`` (a non-JSON
event after the first word), ``http500``. ``stop()`` refuses connections; ``start()`` listens
again on the same port (a restarted server).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

MODES = ("good", "drop", "stall", "no_response", "garbage", "http500")


@dataclass
class ScriptedAnswer:
    """One streamed answer: the first piece after ``ttft_secs``, then one every ``word_secs``.

    ``when``: given to a request whose last user message contains this word (any case);
    answers without it are given in order to the other requests. ``pieces``: the exact
    streamed pieces (default: the words of ``text``, space-led after the first).
    """

    text: str
    ttft_secs: float = 0.2
    word_secs: float = 0.08
    when: str | None = None
    pieces: tuple[str, ...] | None = None

    def stream(self) -> tuple[str, ...]:
        if self.pieces is not None:
            return self.pieces
        return tuple((" " if i else "") + w for i, w in enumerate(self.text.split()))


@dataclass
class LLMRequest:
    """A request the server got, and how far its answer went."""

    line: str
    headers: dict[str, str]
    body: dict[str, Any]
    answer: ScriptedAnswer | None = None
    words_sent: int = 0
    completed: bool = False

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", [])


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@dataclass
class _Script:
    answers: list[ScriptedAnswer]
    fallback: ScriptedAnswer
    in_order: list[ScriptedAnswer] = field(default_factory=list)

    def __post_init__(self):
        self.in_order = [a for a in self.answers if a.when is None]

    def pick(self, messages: list[dict]) -> ScriptedAnswer:
        last = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
        for answer in self.answers:
            if answer.when and answer.when.lower() in last.lower():
                return answer
        return self.in_order.pop(0) if self.in_order else self.fallback


async def _client_gone_within(reader: asyncio.StreamReader, secs: float) -> bool:
    """Wait ``secs``; ``True`` at once if the client closes its end meanwhile (a cancelled answer)."""
    try:
        return await asyncio.wait_for(reader.read(1), secs) == b""
    except TimeoutError:
        return False


class FakeOpenAIServer:
    """See the module docstring. ``base_url`` is the ``/v1`` root for an OpenAI client."""

    def __init__(self, mode: str = "good", words: tuple[str, ...] = ("Hello", " there", ",", " friend", "."),
                 answers: list[ScriptedAnswer] | None = None):
        assert mode in MODES
        self.mode = mode
        if answers:
            self._script = _Script(answers, ScriptedAnswer("That is all I know."))
        else:
            self._script = _Script([], ScriptedAnswer("".join(words), ttft_secs=0.0, word_secs=0.005, pieces=words))
        self.requests: list[LLMRequest] = []
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
            body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
            request = LLMRequest(line=head[0], headers=headers, body=body)
            request.answer = self._script.pick(request.messages)
            self.requests.append(request)
            await self._respond(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (an interruption cancels the answer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, request: LLMRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode, answer = self.mode, request.answer
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

        if await _client_gone_within(reader, answer.ttft_secs):
            return
        for i, piece in enumerate(answer.stream()):
            if i == 1 and mode == "drop":
                writer.transport.abort()
                return
            if i == 1 and mode == "stall":
                await reader.read()  # silent until the client gives up (or stop())
                return
            if i == 1 and mode == "garbage":
                await send(b"data: {this is not json\n\n")
            await send(_chunk(piece))
            request.words_sent += 1
            if await _client_gone_within(reader, answer.word_secs):
                return
        await send(_chunk(finish="stop"))
        await send(b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        request.completed = True
