"""One WebSocket connection and its TTS requests (one per ``setup``; several when multiplexing).

Connection: reads client messages (idle timeout), checks that ``setup`` comes first, routes
``text``/``end_of_stream`` by ``client_req_id`` and turns every :class:`ProtocolError` into an
``error`` message followed by closing the socket. When the socket closes, every request's
synthesis stops at once (the Piper sentence in flight is terminated) and is counted as cancelled.

Request: segments incoming text, runs Piper in the shared thread pool one sentence at a time,
streams ``text`` (word times) and ``audio`` (~80 ms) messages, then ``end_of_stream``.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from loguru import logger
from websockets.protocol import State
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from runtime.tts_server.audio_formats import AudioEncoder, EncodedFrame
from runtime.tts_server.protocol import (
    CODE_INTERNAL,
    CODE_NORMAL,
    CODE_POLICY,
    ProtocolError,
    SetupRequest,
    audio_message,
    end_of_stream_message,
    error_message,
    parse_message,
    parse_setup,
    ready_message,
    text_message,
)
from runtime.tts_server.segmenter import TextSegmenter
from runtime.tts_server.settings import TTSServerSettings
from runtime.tts_server.stats import RequestStats, ServerStats
from runtime.tts_server.synthesis import PiperSynthesizer, RunControl, SynthChunk

_EMPTY = np.zeros(0, dtype=np.float32)


@dataclass
class SessionDeps:
    """What every connection shares: settings, the Piper voice, its thread pool, counters."""

    settings: TTSServerSettings
    synth: PiperSynthesizer
    executor: Executor
    stats: ServerStats


class Connection:
    """Protocol state machine of one socket."""

    def __init__(self, ws: ServerConnection, deps: SessionDeps):
        self.ws = ws
        self.deps = deps
        self.requests: dict[str | None, Request] = {}
        self._had_setup = False
        self._closed = False

    async def run(self) -> None:
        """Serve the socket until it closes; then stop all of its synthesis."""
        try:
            await self._read_loop()
        except ProtocolError as e:
            await self.fail(e)
        except ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001  (a bug must not kill the server; report it)
            logger.exception(f"tts-server: connection failed: {e}")
            await self.fail(ProtocolError("internal server error", CODE_INTERNAL))
        finally:
            await self._cancel_all()

    async def _read_loop(self) -> None:
        settings = self.deps.settings
        while True:
            try:
                async with asyncio.timeout(settings.idle_timeout_secs):
                    raw = await self.ws.recv()
            except TimeoutError:
                if any(r.busy for r in self.requests.values()):
                    continue
                raise ProtocolError(
                    f"idle timeout: no message for {settings.idle_timeout_secs:g}s", CODE_POLICY
                ) from None
            except ConnectionClosed:
                return
            msg = parse_message(raw, settings.max_message_bytes)
            await self._dispatch(msg)

    async def _dispatch(self, msg: dict) -> None:
        mtype = msg["type"]
        if mtype == "setup":
            await self._start_request(parse_setup(msg, self.deps.settings.extra_voice_ids))
            return
        if not self._had_setup:
            raise ProtocolError(f"the first message must be 'setup', got {mtype!r}")
        req = self._find(msg.get("client_req_id"))
        if mtype == "text":
            req.add_text(msg["text"])
        else:
            req.end_input()

    def _find(self, client_req_id: str | None) -> Request:
        req = self.requests.get(client_req_id)
        if req is None and client_req_id is None and len(self.requests) == 1:
            req = next(iter(self.requests.values()))
        if req is None:
            raise ProtocolError(
                f"no active request for client_req_id {client_req_id!r}: send a setup first",
                client_req_id=client_req_id,
            )
        return req

    async def _start_request(self, setup: SetupRequest) -> None:
        self._had_setup = True
        rid = setup.client_req_id
        if rid in self.requests:
            what = f"client_req_id {rid!r}" if rid is not None else "a request without client_req_id"
            raise ProtocolError(f"{what} is already active on this socket", client_req_id=rid)
        limit = self.deps.settings.max_requests_per_connection
        if len(self.requests) >= limit:
            raise ProtocolError(
                f"too many concurrent requests on this socket (limit {limit})", client_req_id=rid
            )
        req = Request(self, setup)
        self.requests[rid] = req
        self.deps.stats.request_started(req.stats)
        await self.send(ready_message(req.request_id, setup, self.deps.synth.voice_name))
        req.task = asyncio.create_task(req.run(), name=f"tts-request-{req.request_id}")

    async def send(self, text: str) -> None:
        """Send one message; a client that does not read for ``send_timeout_secs`` is dropped."""
        try:
            async with asyncio.timeout(self.deps.settings.send_timeout_secs):
                await self.ws.send(text)
        except TimeoutError:
            logger.warning("tts-server: client stopped reading; closing the socket")
            self.ws.transport.abort()
            raise ConnectionClosed(None, None) from None

    async def fail(self, error: ProtocolError) -> None:
        """Send ``error`` and close the socket with the error's code."""
        if self._closed:
            return
        self._closed = True
        self.deps.stats.error_sent()
        logger.info(f"tts-server: error {error.code}: {error.message}")
        try:
            await self.send(error_message(error.message, error.code, error.client_req_id))
            reason = error.message.encode()[:120].decode(errors="ignore")
            await self.ws.close(error.code, reason)
        except ConnectionClosed:
            pass

    async def request_done(self, req: Request) -> None:
        """A request sent its ``end_of_stream``: forget it; close the socket if it asked so."""
        self.requests.pop(req.setup.client_req_id, None)
        if req.setup.close_ws_on_eos and not self._closed:
            self._closed = True
            await self.ws.close(CODE_NORMAL)

    async def _cancel_all(self) -> None:
        reqs = list(self.requests.values())
        self.requests.clear()
        for req in reqs:
            req.cancel()
        tasks = [r.task for r in reqs if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)


class Request:
    """One TTS request: text in, word times and audio out."""

    def __init__(self, conn: Connection, setup: SetupRequest):
        settings = conn.deps.settings
        self.conn = conn
        self.setup = setup
        self.request_id = str(uuid.uuid4())
        self.segmenter = TextSegmenter(settings.min_phrase_chars, settings.max_segment_chars)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.stats = RequestStats(self.request_id, setup.client_req_id, setup.output_format.name)
        self.task: asyncio.Task | None = None
        self.input_closed = False
        self._cancel = threading.Event()
        self._run_control = RunControl()  # stops the Piper sentence in flight on cancel
        self._synthesizing = False
        self._timeline_s = 0.0  # audio time of the request synthesized so far
        self._words: list[tuple[str, float, float]] = []  # timed words not yet sent

    @property
    def busy(self) -> bool:
        """True while synthesis is queued or running."""
        return self._synthesizing or not self.queue.empty()

    def add_text(self, text: str) -> None:
        if self.input_closed:
            raise ProtocolError("text received after end_of_stream", client_req_id=self.setup.client_req_id)
        limit = self.conn.deps.settings.max_text_chars
        if self.stats.text_chars + len(text) > limit:
            raise ProtocolError(
                f"too much text for one request (limit {limit} characters)",
                client_req_id=self.setup.client_req_id,
            )
        self.stats.text_chars += len(text)
        if self.stats.first_text_at is None and text.strip():
            self.stats.first_text_at = time.monotonic()
        for segment in self.segmenter.push(text):
            self.queue.put_nowait(segment)

    def end_input(self) -> None:
        if self.input_closed:
            return  # a repeated end_of_stream changes nothing
        self.input_closed = True
        for segment in self.segmenter.flush():
            self.queue.put_nowait(segment)
        self.queue.put_nowait(None)

    def cancel(self) -> None:
        """Stop synthesis now (the socket closed)."""
        self._mark_cancelled()
        if self.task is not None:
            self.task.cancel()

    def _mark_cancelled(self) -> None:
        self._cancel.set()
        self._run_control.terminate()
        state = "cancelled" if self.stats.text_chars else "abandoned"
        self.conn.deps.stats.request_finished(self.stats, state)

    async def run(self) -> None:
        deps = self.conn.deps
        rid = self.setup.client_req_id
        encoder = AudioEncoder(self.setup.output_format, deps.synth.sample_rate)
        try:
            while (segment := await self.queue.get()) is not None:
                self._synthesizing = True
                self.stats.segments += 1
                await self._speak(segment, encoder)
                self._synthesizing = False
                if self.queue.empty():  # caught up with the client: send the partial frame too
                    await self._send_frames(encoder.push(_EMPTY, flush=True))
            frames = encoder.push(_EMPTY, last=True)
            header = encoder.header_only()
            await self._send_frames(frames + ([header] if header else []))
            await self._send_words(float("inf"))
            await self.conn.send(end_of_stream_message(rid))
            deps.stats.request_finished(self.stats, "completed")
            await self.conn.request_done(self)
        except ConnectionClosed:
            self._mark_cancelled()
        except ProtocolError as e:
            deps.stats.request_finished(self.stats, "failed")
            await self.conn.fail(e)
        except Exception as e:  # noqa: BLE001  (report, never crash the server)
            logger.exception(f"tts-server: synthesis failed: {e}")
            deps.stats.request_finished(self.stats, "failed")
            await self.conn.fail(ProtocolError("internal error during synthesis", CODE_INTERNAL, rid))

    async def _speak(self, segment: str, encoder: AudioEncoder) -> None:
        deps = self.conn.deps
        loop = asyncio.get_running_loop()
        chunks = deps.synth.iter_segment(segment, cancelled=self._stopped, control=self._run_control)
        while not self._stopped():
            try:
                async with asyncio.timeout(deps.settings.synthesis_timeout_secs):
                    chunk = await loop.run_in_executor(deps.executor, self._next_chunk, chunks)
            except TimeoutError:
                self._cancel.set()
                raise ProtocolError(
                    "synthesis timed out", CODE_INTERNAL, self.setup.client_req_id
                ) from None
            if chunk is None:
                return
            base = self._timeline_s
            self._words += [(w.text, base + w.start_s, base + w.stop_s) for w in chunk.words]
            self._timeline_s += chunk.duration_secs
            await self._send_frames(encoder.push(chunk.audio))

    def _stopped(self) -> bool:
        """Cancelled, or the client has started closing the socket (a close frame arrived:
        stop now rather than after the TCP teardown, which can be several round trips away)."""
        if not self._cancel.is_set() and self.conn.ws.state is not State.OPEN:
            self._cancel.set()
            self._run_control.terminate()
        return self._cancel.is_set()

    def _next_chunk(self, chunks) -> SynthChunk | None:
        """Run in the synthesis thread: one Piper sentence, accounted in the stats."""
        self.stats.synthesizing = True
        try:
            chunk = next(chunks)
        except StopIteration:
            return None
        finally:
            self.stats.synthesizing = False
        self.conn.deps.stats.add_audio(
            self.stats, chunk.duration_secs, chunk.compute_secs, after_cancel=self._cancel.is_set()
        )
        return chunk

    async def _send_frames(self, frames: list[EncodedFrame]) -> None:
        rid = self.setup.client_req_id
        for frame in frames:
            await self._send_words(frame.stop_s)
            b64 = base64.b64encode(frame.payload).decode("ascii")
            await self.conn.send(audio_message(b64, frame.start_s, frame.stop_s, rid))
            self.stats.audio_seconds_sent = frame.stop_s
            if self.stats.first_audio_at is None:
                self.stats.first_audio_at = time.monotonic()

    async def _send_words(self, before_secs: float) -> None:
        """Send the words that start before ``before_secs`` (just ahead of their audio)."""
        rid = self.setup.client_req_id
        while self._words and self._words[0][1] < before_secs:
            text, start, stop = self._words.pop(0)
            await self.conn.send(text_message(text, round(start, 3), round(stop, 3), rid))
