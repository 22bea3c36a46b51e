"""``GradiumTTSService``: pipecat TTS over Gradium's WebSocket API, one fresh socket per answer.

A drop-in ``WebsocketTTSService``: put it where any pipecat TTS goes. What it adds over
pipecat's stock ``pipecat.services.gradium.tts.GradiumTTSService``:

- **Fresh socket per answer** (default). A spare socket is opened when the pipeline starts
  and kept warm (:mod:`processors.gradium.pool`); an answer takes it and sends ``setup`` as
  soon as the answer starts (``LLMFullResponseStartFrame`` / ``TTSSpeakFrame``), so the
  handshake is never on the critical path. On interruption the answer's socket is closed,
  which stops server-side generation, and the next answer uses the spare that is already
  open. ``Settings(multiplex=True)`` keeps one socket instead and routes by ``client_req_id``
  (audio of cancelled requests is dropped; the server finishes them).
- **Phrases in, words out.** Text frames are sent as ``text`` messages; a frame with a true
  ``flush`` attribute (``PhraseFrame``) gets Gradium's ``<flush>``; the answer ends with
  ``end_of_stream``. ``<flush>`` never reaches the assistant context: it is stripped from
  incoming frames and from the word timestamps, which become ``TTSTextFrame``\\ s via
  pipecat's word-timestamp machinery (only words actually spoken reach the context).
- **Audio** uses the ``sample_rate`` of ``ready`` and is resampled to the pipeline's output
  rate if it differs (``output_format=None`` asks for the matching PCM rate).
- **Failures.** Connect, ``ready``, first-audio and stall timeouts; WebSocket pings detect
  dead sockets; reconnects back off exponentially; a request whose socket fails before any
  audio is replayed on a new socket; every failure becomes an ``ErrorFrame`` with a clear
  message and the next answer works. The API key is only ever sent as a header.

Events (besides pipecat's ``on_connected``, ``on_disconnected``, ``on_connection_error``,
``on_tts_request``): ``on_request_started(service, info: GradiumRequestInfo)``.
Counters: :attr:`GradiumTTSService.stats`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

from loguru import logger

from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AggregatedTextFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.tts_service import TextAggregationMode, WebsocketTTSService
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.types import is_given

from processors.gradium.connection import GradiumConnectError, GradiumSocket, SocketFactory
from processors.gradium.pool import PoolHooks, SocketPool, WaitForServer
from processors.gradium.protocol import (
    FLUSH_MARKER,
    GradiumProtocolError,
    auto_output_format,
    check_output_format,
    decode_audio,
    end_of_stream_message,
    format_sample_rate,
    setup_message,
    spoken_word,
    strip_flush,
    text_message,
)
from processors.gradium.request import GradiumRequest, GradiumRequestInfo, GradiumTTSStats
from processors.gradium.settings import (
    DEFAULT_MODEL_NAME,
    DEFAULT_VOICE_ID,
    GradiumConnectionParams,
    GradiumTTSSettings,
    resolve_api_key,
    resolve_url,
    safe_url,
)

__all__ = ["GradiumConnectionParams", "GradiumRequestInfo", "GradiumTTSService", "GradiumTTSStats"]

_TICK_S = 0.25  # how often open requests are checked against their deadlines
_HELD_POLL_S = 0.05  # how often held text checks whether the user's turn has ended
_MAX_HELD_S = 30.0  # a turn that never ends (no UserStoppedSpeakingFrame) releases the answer


class GradiumTTSService(WebsocketTTSService):
    """Gradium streaming TTS with a warm socket per answer; see the module docstring."""

    Settings = GradiumTTSSettings
    _settings: GradiumTTSSettings

    def __init__(
        self,
        *,
        api_key: str | None = None,
        url: str | None = None,
        voice_id: str | None = None,
        model_name: str | None = None,
        output_format: str | None = None,
        json_config: dict[str, Any] | str | None = None,
        settings: GradiumTTSSettings | None = None,
        connection: GradiumConnectionParams | None = None,
        sample_rate: int | None = None,
        text_aggregation_mode: TextAggregationMode | None = None,
        wait_for_server: WaitForServer | None = None,
        **kwargs,
    ):
        """Initialize the service.

        Args:
            api_key: Gradium API key; defaults to ``GRADIUM_API_KEY``. Sent only as the
                ``x-api-key`` header, never logged.
            url: WebSocket endpoint; defaults to Gradium's EU endpoint when a key is set and
                to the project's local server otherwise.
            voice_id: Shortcut for ``settings.voice``.
            model_name: Shortcut for ``settings.model``.
            output_format: Shortcut for ``settings.output_format``.
            json_config: Shortcut for ``settings.json_config``.
            settings: Runtime-updatable settings; wins over the shortcuts.
            connection: Timeouts, keepalive and backoff (:class:`GradiumConnectionParams`).
            sample_rate: Output rate; defaults to the pipeline's output rate.
            text_aggregation_mode: How plain ``TextFrame``\\ s are grouped (default: sentences).
            wait_for_server: Awaited before a socket is opened; returns once the server can
                be tried (a local server being restarted: when it is back). See ``SocketPool``.
            **kwargs: Passed to ``WebsocketTTSService``.

        Raises:
            ValueError: an unsupported ``output_format`` or a URL that isn't ws:// / wss://.
        """
        store = self.Settings(
            model=DEFAULT_MODEL_NAME,
            voice=DEFAULT_VOICE_ID,
            language=None,
            output_format=None,
            json_config=None,
            pronunciation_id=None,
            multiplex=False,
        )
        for name, value in (
            ("voice", voice_id),
            ("model", model_name),
            ("output_format", output_format),
            ("json_config", json_config),
        ):
            if value is not None:
                setattr(store, name, value)
        if settings is not None:
            store.apply_update(settings)
        check_output_format(store.output_format)

        super().__init__(
            text_aggregation_mode=text_aggregation_mode,
            push_text_frames=False,
            push_stop_frames=True,
            push_start_frame=True,
            pause_frame_processing=False,
            sample_rate=sample_rate,
            settings=store,
            **kwargs,
        )
        self._api_key = resolve_api_key(api_key)
        self._url = resolve_url(url, self._api_key)
        self._conn = connection or GradiumConnectionParams()
        self._wait_for_server = wait_for_server
        self._pool: SocketPool | None = None
        self._requests: dict[str, GradiumRequest] = {}
        self._cancelled_ids: set[str] = set()
        self._failed_contexts: set[str] = set()  # ended with an error we already reported
        self._failed_answers: set[str] = set()  # answers that got no socket: skip their text
        self._flush_next = False
        self._user_turn_open = False  # between UserStarted/StoppedSpeakingFrame
        self._answer_in_user_turn = False  # the LLM answer passing now started in a still open user turn
        self._stats = GradiumTTSStats()
        self._register_event_handler("on_request_started")

    # -- public ----------------------------------------------------------------------

    @property
    def stats(self) -> GradiumTTSStats:
        """Counters for tests and benchmarks."""
        return self._stats

    @property
    def url(self) -> str:
        """The endpoint (without query string)."""
        return safe_url(self._url)

    @property
    def multiplex(self) -> bool:
        """Whether requests share one socket (see ``Settings.multiplex``)."""
        return bool(self._settings.multiplex)

    @property
    def output_format(self) -> str:
        """The ``output_format`` sent in ``setup``."""
        return self._settings.output_format or auto_output_format(self.sample_rate or 24000)

    @property
    def spare_socket(self) -> GradiumSocket | None:
        """The open socket the next answer will use, if one is ready."""
        return self._pool.warm if self._pool else None

    def can_generate_metrics(self) -> bool:
        """TTFB and usage metrics are supported."""
        return True

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, frame: StartFrame):
        """Start the service and open the first socket in the background."""
        await super().start(frame)
        self._user_turn_open = self._answer_in_user_turn = False
        await self._connect()

    async def _connect(self):
        await super()._connect()
        await self._connect_websocket()

    async def _disconnect(self):
        await super()._disconnect()
        await self._disconnect_websocket()

    async def _connect_websocket(self):
        if self._pool is None:
            self._pool = self._make_pool()
            self._pool.start()

    async def _disconnect_websocket(self):
        for req in list(self._requests.values()):
            await self._retire(req, interrupted=False)
        pool, self._pool = self._pool, None
        if pool:
            await pool.aclose()

    async def _receive_messages(self):
        """Unused: every socket is read by its own task (see :mod:`processors.gradium.pool`)."""
        raise NotImplementedError

    def _make_pool(self) -> SocketPool:
        factory = SocketFactory(
            url=self._url, api_key=self._api_key, params=self._conn, connect_fn=self._websocket_connect
        )
        hooks = PoolHooks(
            on_opened=self._on_socket_opened,
            on_open_failed=self._on_open_failed,
            on_message=self._on_message,
            on_protocol_error=self._on_protocol_error,
            on_closed=self._on_socket_closed,
        )
        return SocketPool(
            factory,
            hooks,
            spawn=lambda coro, name: self.create_task(coro, name),
            cancel_task=self.cancel_task,
            shared=self.multiplex,
            wait_for_server=self._wait_for_server,
        )

    async def _update_settings(self, delta: GradiumTTSSettings) -> dict[str, Any]:
        """Apply a settings delta; it takes effect from the next answer's ``setup``."""
        if is_given(delta.output_format):
            try:
                check_output_format(delta.output_format)
            except ValueError as e:
                await self.push_error(str(e), category=ErrorCategory.APPLICATION)
                delta.output_format = self._settings.output_format
        return await super()._update_settings(delta)

    # -- frames ----------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        """Note flush requests and strip ``<flush>`` from text before the base class sees it;
        follow the user's turn (answers started in it are held)."""
        if isinstance(frame, UserStartedSpeakingFrame):
            self._user_turn_open = True
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._on_user_turn_end()
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._answer_in_user_turn = self._user_turn_open
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._answer_in_user_turn = False
        if isinstance(frame, TextFrame) and direction == FrameDirection.DOWNSTREAM and not frame.skip_tts:
            frame.text, marked = strip_flush(frame.text)
            if isinstance(frame, AggregatedTextFrame):
                if frame.raw_text:
                    frame.raw_text, _ = strip_flush(frame.raw_text)
                self._flush_next = marked or bool(getattr(frame, "flush", False))
        try:
            await super().process_frame(frame, direction)
        finally:
            self._flush_next = False

    async def on_turn_context_created(self, context_id: str):
        """An answer starts: take the warm socket and send ``setup`` right away."""
        await super().on_turn_context_created(context_id)
        if context_id not in self._requests and self.is_usable:
            await self._start_request(context_id)

    async def on_turn_context_completed(self):
        """The answer's text is complete: send ``end_of_stream`` (or free an unused socket)."""
        context_id = self._turn_context_id
        await super().on_turn_context_completed()  # flush_audio() for answers with audio contexts
        self._failed_answers.discard(context_id or "")
        req = self._requests.get(context_id) if context_id else None
        if req is None or req.eos_sent:
            return
        if req.sent:
            await self._send_end_of_stream(req)
        else:
            await self._retire(req, interrupted=False)  # an answer with nothing to say

    async def flush_audio(self, context_id: str | None = None):
        """Send ``end_of_stream`` for the answer: the server finishes it and ends the stream."""
        req = self._requests.get(context_id or self.get_active_audio_context_id() or "")
        if req and not req.eos_sent:
            await self._send_end_of_stream(req)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Send one chunk of text; audio arrives on the socket's reader task."""
        flush, self._flush_next = self._flush_next, False
        req = self._requests.get(context_id)
        standalone = context_id != self._turn_context_id
        if req is None and context_id not in self._failed_answers:
            req = await self._start_request(context_id)
        if req is None:  # already reported: this answer stays silent
            self._failed_contexts.add(context_id)
            if self.audio_context_available(context_id):
                await self.append_to_audio_context(context_id, TTSStoppedFrame(context_id=context_id))
                await self.remove_audio_context(context_id)
            return
        await self.start_tts_usage_metrics(text)
        if not standalone:
            await self._hold_while_ahead(req)
        # Text outside an answer (no LLM response around it) is a request of its own.
        await self._send_text(req, req.wire_text(text, flush or standalone))
        if standalone:
            await self._send_end_of_stream(req)
        yield None

    async def _hold_while_ahead(self, req: GradiumRequest) -> None:
        """Wait while more than ``max_audio_ahead_secs`` of the answer's audio is still to play
        (``held_audio_ahead_secs`` made ready while it is held for the user's turn): the server
        then has little made ahead of the listener when a barge-in or a withdrawal cancels the
        answer. An interruption cancels this wait with the rest of the answer's frames. When
        the pipeline is ending (``EndFrame`` queued) the rest goes out at once: it will all be
        played, and pacing would only delay the end. A turn open for ``_MAX_HELD_S`` releases a
        held answer (paced as heard from then on)."""
        limit, held_limit = self._conn.max_audio_ahead_secs, self._conn.held_audio_ahead_secs
        if limit is None:
            return
        started = time.monotonic()
        try:
            while req.live and not self.has_queued_frame(EndFrame):
                now = time.monotonic()
                if req.held and held_limit is not None:
                    if req.held_ahead_secs() < held_limit:
                        break
                    if now - started > _MAX_HELD_S:
                        req.heard_from = now
                        continue
                    wait = _HELD_POLL_S
                elif (wait := req.audio_ahead_secs(now) - limit) <= 0:
                    break
                self._refresh_audio_context(req.context_id)  # quiet on purpose: not timed out
                await asyncio.sleep(min(wait, _TICK_S))
        finally:
            self._stats.text_held_secs += time.monotonic() - started

    def _on_user_turn_end(self) -> None:
        """The user's turn ended: held answers can be heard from now on."""
        self._user_turn_open = self._answer_in_user_turn = False
        now = time.monotonic()
        for req in self._requests.values():
            if req.held:
                req.heard_from = now

    async def _handle_interruption(self, frame: InterruptionFrame, direction: FrameDirection):
        """Cancel every interruptible answer: close its socket (or drop its id when multiplexing)."""
        keep = {cid for cid, ctx in self._tts_contexts.items() if not ctx.interruptible}
        self._failed_answers.clear()
        await super()._handle_interruption(frame, direction)
        for context_id in [cid for cid in self._requests if cid not in keep]:
            await self._cancel_request(context_id)

    async def on_audio_context_interrupted(self, context_id: str):
        """Stop generation server-side for an interrupted audio context."""
        await self.stop_all_metrics()
        await self._cancel_request(context_id)
        await super().on_audio_context_interrupted(context_id)

    # -- requests --------------------------------------------------------------------

    async def _start_request(self, context_id: str) -> GradiumRequest | None:
        if self._pool is None:
            await self._connect_websocket()
        assert self._pool is not None
        if self._pool.shared != self.multiplex and not self._requests:
            await self._switch_pool()
        try:
            sock, waited = await self._pool.acquire()
        except GradiumConnectError as e:
            self._failed_answers.add(context_id)
            await self._report(f"{e}; this answer has no audio", e.category)
            await self._call_event_handler("on_connection_error", str(e))
            return None
        req = GradiumRequest(context_id, context_id if self._pool.shared else None, sock)
        self._requests[context_id] = req
        self._stats.answers += 1
        self._stats.handshakes_on_critical_path += int(waited)
        self._bind(req, sock)
        async with req.lock:
            await self._send_locked(req, self._setup_msg(req))
        self._schedule_tick(req)
        info = GradiumRequestInfo(context_id, sock.id, sock.age_secs, waited)
        await self._call_event_handler("on_request_started", info)
        return req if req.live else None

    def _setup_msg(self, req: GradiumRequest) -> dict[str, Any]:
        s = self._settings
        return setup_message(
            model_name=s.model,
            voice_id=s.voice,
            output_format=self.output_format,
            json_config=s.json_config,
            pronunciation_id=s.pronunciation_id,
            close_ws_on_eos=req.client_req_id is None,
            client_req_id=req.client_req_id,
        )

    def _bind(self, req: GradiumRequest, sock: GradiumSocket) -> None:
        req.socket = sock
        if req.client_req_id is None:
            sock.owner = req

    async def _send_text(self, req: GradiumRequest, wire: str) -> None:
        async with req.lock:
            if not req.live:
                return
            req.sent.append(wire)
            if req.first_text_at is None:
                req.first_text_at = time.monotonic()
                held = self._answer_in_user_turn and self._conn.held_audio_ahead_secs is not None
                req.heard_from = None if held else req.first_text_at
            if wire.endswith(FLUSH_MARKER):
                req.mark_owed()
            self._refresh_audio_context(req.context_id)
            await self._send_locked(req, text_message(wire, req.client_req_id))

    async def _send_end_of_stream(self, req: GradiumRequest) -> None:
        async with req.lock:
            if not req.live or req.eos_sent:
                return
            req.eos_sent = True
            req.mark_owed()
            await self._send_locked(req, end_of_stream_message(req.client_req_id))

    async def _send_locked(self, req: GradiumRequest, msg: dict[str, Any]) -> None:
        """Send on the request's socket; on failure replay on a new one (lock held)."""
        sock = req.socket
        try:
            await sock.send(msg)
        except Exception as e:
            logger.debug(f"{self}: send on {sock} failed: {type(e).__name__}")
            await self._recover_locked(req, sock, "connection lost while sending", ErrorCategory.CONNECTIVITY)

    async def _recover_locked(
        self, req: GradiumRequest, sock: GradiumSocket, why: str, category: ErrorCategory
    ) -> None:
        """The request's socket failed: replay it on a fresh socket, or end it with an error."""
        if not req.live or req.socket is not sock:
            return
        message = f"Gradium TTS {why}"
        if req.client_req_id is not None and sock.is_open:
            # One multiplexed request failed on a socket that still works: keep the socket.
            await self._finish(req, error=message, category=category)
            return
        if req.client_req_id is None:
            self._close_soon(sock)
        while not req.audio_started and req.failovers < self._conn.max_failovers and self._pool:
            req.failovers += 1
            self._stats.failovers += 1
            logger.warning(f"{self}: {message} on {sock}; replaying the answer on a new socket")
            try:
                new, waited = await self._pool.acquire()
            except GradiumConnectError as e:
                message += f"; reconnecting failed: {e}"
                category = e.category
                break
            self._bind(req, new)
            req.got_ready, req.setup_at = False, time.monotonic()
            try:
                await new.send(self._setup_msg(req))
                for wire in req.sent:
                    await new.send(text_message(wire, req.client_req_id))
                if req.eos_sent:
                    await new.send(end_of_stream_message(req.client_req_id))
            except Exception:
                sock = new
                self._close_soon(new)
                continue
            self._schedule_tick(req)
            info = GradiumRequestInfo(req.context_id, new.id, new.age_secs, waited, failover=True)
            await self._call_event_handler("on_request_started", info)
            return
        await self._finish(req, error=message, category=category)

    async def _on_request_failure(
        self, req: GradiumRequest, sock: GradiumSocket, why: str, category: ErrorCategory
    ) -> None:
        async with req.lock:
            await self._recover_locked(req, sock, why, category)

    async def _finish(
        self, req: GradiumRequest, *, error: str | None = None, category: ErrorCategory = ErrorCategory.UNKNOWN
    ) -> None:
        """End a live request: stop its audio context, report an error if any, free its socket."""
        if not req.live:
            return
        req.finished = True
        self._forget(req)
        cid = req.context_id
        if error:
            self._failed_contexts.add(cid)
            self._failed_answers.add(cid)  # the rest of this answer stays silent
            await self._report(error, category)
        if self.audio_context_available(cid):
            await self.append_to_audio_context(cid, TTSStoppedFrame(context_id=cid))
            await self.remove_audio_context(cid)
        if req.client_req_id is None:
            self._close_soon(req.socket)
        elif error:
            await self._end_id(req)  # drop whatever else comes for it

    async def _cancel_request(self, context_id: str) -> None:
        """An interruption: stop this request's generation and drop anything still coming."""
        req = self._requests.get(context_id)
        if req is None or not req.live:
            return
        self._stats.answers_interrupted += 1
        await self._retire(req, interrupted=True)

    async def _retire(self, req: GradiumRequest, *, interrupted: bool) -> None:
        """Drop a request without an error: close its socket, or end its id when multiplexing."""
        if not req.live:
            return
        req.cancelled = True
        self._forget(req)
        if req.client_req_id is None:
            if req.socket.is_open:
                self._stats.sockets_closed_on_interruption += int(interrupted)
            self._close_soon(req.socket)
        else:
            await self._end_id(req)

    def _close_soon(self, sock: GradiumSocket) -> None:
        """Close a socket without waiting: the close frame goes out on the next loop turn and
        the server stops generating; the closing handshake finishes in the background."""
        if sock.is_open:
            sock.closed_by_client = True
            self.create_task(sock.close(), f"gradium-close-{sock.id}")

    async def _end_id(self, req: GradiumRequest) -> None:
        """Multiplexing: drop the rest of this id's output and let the server release it."""
        assert req.client_req_id is not None
        self._cancelled_ids.add(req.client_req_id)
        if not req.eos_sent and req.socket.is_open:
            req.eos_sent = True
            try:
                await req.socket.send(end_of_stream_message(req.client_req_id))
            except Exception:
                pass  # the socket is going away; its reader reports that

    def _forget(self, req: GradiumRequest) -> None:
        if self._requests.get(req.context_id) is req:
            del self._requests[req.context_id]
        if req.timer:
            req.timer.cancel()
            req.timer = None

    async def _switch_pool(self) -> None:
        old, self._pool = self._pool, self._make_pool()
        self._pool.start()
        if old:
            await old.aclose()
        logger.info(f"{self}: now using {'one shared socket' if self.multiplex else 'a socket per answer'}")

    # -- deadlines -------------------------------------------------------------------

    def _schedule_tick(self, req: GradiumRequest) -> None:
        if req.timer:
            req.timer.cancel()
            req.timer = None
        if req.live:
            req.timer = asyncio.get_running_loop().call_later(_TICK_S, self._tick, req)

    def _tick(self, req: GradiumRequest) -> None:
        req.timer = None
        if not req.live:
            return
        late = req.overdue(self._conn)
        if late:
            if req.client_req_id is not None:
                self._close_soon(req.socket)  # a shared socket that went quiet is replaced too
            self.create_task(
                self._on_request_failure(req, req.socket, late, ErrorCategory.SERVER), "gradium-timeout"
            )
            return
        if req.awaiting_output():
            self._refresh_audio_context(req.context_id)  # the base class must not time it out
        self._schedule_tick(req)

    # -- socket events -----------------------------------------------------------------

    async def _on_socket_opened(self, sock: GradiumSocket) -> None:
        self._stats.sockets_opened += 1
        logger.debug(f"{self}: {sock} open to {self.url} in {sock.handshake_secs * 1000:.0f} ms")
        await self._call_event_handler("on_connected")

    async def _on_open_failed(self, error: GradiumConnectError) -> None:
        await self._report(str(error), error.category)
        await self._call_event_handler("on_connection_error", str(error))

    async def _on_socket_closed(self, sock: GradiumSocket) -> None:
        await self._call_event_handler("on_disconnected")
        reason = f"code {sock.close_code}" + (f": {sock.close_reason}" if sock.close_reason else "")
        for req in [r for r in self._requests.values() if r.socket is sock]:
            await self._on_request_failure(
                req, sock, f"connection closed before the answer finished ({reason})", ErrorCategory.CONNECTIVITY
            )

    async def _on_protocol_error(self, sock: GradiumSocket, error: GradiumProtocolError) -> None:
        req = sock.owner if isinstance(sock.owner, GradiumRequest) else None
        if req is None:  # the shared socket: the message can't be attributed to a request
            await self._report(str(error), ErrorCategory.SERVER)
        elif req.live and req.socket is sock:
            await self._on_request_failure(req, sock, str(error).removeprefix("Gradium TTS "), ErrorCategory.SERVER)

    def _route(self, sock: GradiumSocket, msg: dict[str, Any]) -> GradiumRequest | None:
        """The live request a message belongs to, or None (cancelled or unknown)."""
        if isinstance(sock.owner, GradiumRequest):  # a socket of its own
            req = sock.owner
        else:  # the shared socket
            cid = msg.get("client_req_id")
            req = self._requests.get(cid) if isinstance(cid, str) else None
        if req is None or not req.live or req.socket is not sock:
            return None
        return req

    async def _on_message(self, sock: GradiumSocket, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        req = self._route(sock, msg)
        if req is None:
            await self._on_stray_message(sock, msg)
            return
        req.last_message_at = time.monotonic()
        if kind == "ready":
            req.got_ready = True
            rate = msg.get("sample_rate")
            plausible = type(rate) is int and 8000 <= rate <= 192000  # not a bool, not 1 Hz
            req.sample_rate = rate if plausible else format_sample_rate(self.output_format)
        elif kind == "audio":
            await self._on_audio(req, msg)
        elif kind == "text":
            word, start = spoken_word(msg.get("text")), msg.get("start_s")
            if word and isinstance(start, (int, float)):
                await self.add_word_timestamps([(word, float(start))], req.context_id)
        elif kind == "end_of_stream":
            self._stats.answers_completed += 1
            if req.resampler is not None:  # the filter's tail is the end of the answer
                await self._push_audio(req, await req.resampler.flush())
            await self._finish(req)
        elif kind == "error":
            code = msg.get("code")
            why = f"error{f' {code}' if code else ''}: {msg.get('message') or 'unknown error'}"
            if not req.got_ready:
                # Refused before our setup was taken (e.g. the server was just dropping the
                # idle socket): worth one replay on a new socket.
                await self._on_request_failure(req, sock, why, ErrorCategory.SERVER)
            else:
                await self._finish(req, error=f"Gradium TTS {why}", category=ErrorCategory.SERVER)

    async def _on_audio(self, req: GradiumRequest, msg: dict[str, Any]) -> None:
        try:
            audio = decode_audio(msg, strip_wav_header=self.output_format == "wav")
        except GradiumProtocolError as e:
            await self._on_request_failure(req, req.socket, str(e).removeprefix("Gradium TTS "), ErrorCategory.SERVER)
            return
        rate = req.sample_rate or format_sample_rate(self.output_format)
        secs = len(audio) / 2 / rate
        self._stats.audio_seconds_received += secs
        req.audio_secs += secs
        if not audio:
            return
        req.audio_started = True
        if rate != self.sample_rate:
            req.resampler = req.resampler or create_stream_resampler(clear_after_secs=None)
            audio = await req.resampler.resample(audio, rate, self.sample_rate)
        await self._push_audio(req, audio)

    async def _push_audio(self, req: GradiumRequest, audio: bytes) -> None:
        if audio:
            frame = TTSAudioRawFrame(audio=audio, sample_rate=self.sample_rate, num_channels=1, context_id=req.context_id)
            await self.append_to_audio_context(req.context_id, frame)

    async def _on_stray_message(self, sock: GradiumSocket, msg: dict[str, Any]) -> None:
        """Output of a cancelled request (or of nothing we know): dropped and counted."""
        kind = msg["type"]
        if kind == "audio":
            rate, audio = self._stray_rate(sock), msg.get("audio")
            self._stats.audio_seconds_dropped += (len(audio) if isinstance(audio, str) else 0) * 3 / 4 / 2 / rate
        elif kind == "end_of_stream":
            rid = msg.get("client_req_id")
            if isinstance(rid, str):  # (a server could send anything here, e.g. a list)
                self._cancelled_ids.discard(rid)
        elif kind == "error":
            if sock.owner is None and msg.get("client_req_id") is None:  # the shared socket itself
                code = msg.get("code")
                await self._report(f"Gradium TTS error{f' {code}' if code else ''}: {msg.get('message')}", ErrorCategory.SERVER)
            else:
                logger.debug(f"{self}: error for a cancelled request on {sock}: {msg.get('message')}")

    def _stray_rate(self, sock: GradiumSocket) -> int:
        owner = sock.owner if isinstance(sock.owner, GradiumRequest) else None
        return (owner.sample_rate if owner and owner.sample_rate else None) or format_sample_rate(self.output_format)

    async def _record_context_audio_outcome(self, context_id: str, received_audio: bool):
        """Leave out contexts that failed with an error already reported (no double report,
        and a network outage doesn't count towards the base class's silent-provider limit)."""
        if context_id in self._failed_contexts:
            self._failed_contexts.discard(context_id)
            return
        await super()._record_context_audio_outcome(context_id, received_audio)

    async def _report(self, message: str, category: ErrorCategory) -> None:
        self._stats.errors += 1
        await self.push_error(message, category=category)

