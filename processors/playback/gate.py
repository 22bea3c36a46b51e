"""``PlaybackGate``: hands the bot's audio to the output transport just in time.

Placed right before ``transport.output()``. pipecat's output transport queues whatever audio
it is given (seconds of it with a fast TTS), so nothing upstream of it can stop the speaker at
once. The gate keeps the audio instead and releases it in small slices, only ``lead_secs``
ahead of playback, so:

- a :class:`PlaybackPauseFrame` silences the output within ``lead_secs`` and keeps what is
  buffered; :class:`PlaybackResumeFrame` plays on from the same sample;
- an ``InterruptionFrame`` drops the buffered audio, and audio or text of an interrupted TTS
  context that arrives later is dropped too (it never plays);
- each word's ``TTSTextFrame`` is released only when playback reaches the word (from the
  TTS's word timestamps, or spread over a sentence's audio for TTS without them), so on an
  interruption the assistant context holds exactly the words the user heard;
- an answer that starts while the user's turn is still open (a speculative answer, see
  :mod:`processors.playback.speculation`) is synthesized but held, from its
  ``LLMFullResponseStartFrame`` on, until the turn ends (``UserStoppedSpeakingFrame``), so its
  first audio is ready the moment the turn ends; an ``InterruptionFrame`` drops it.

Frames that follow audio (text, TTS/LLM start and stop, ...) keep their order with it.
The gate reports its state upstream in :class:`PlaybackStateFrame`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from loguru import logger

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMAssistantPushAggregationFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from processors.interruption.frames import PlaybackPauseFrame, PlaybackResumeFrame, PlaybackStateFrame
from processors.playback.words import block_peaks, spread_words, voiced_span

_BLOCK_SECS = 0.01
_END_DRAIN_TIMEOUT_SECS = 120.0


@dataclass
class PlaybackGateSettings:
    """How far ahead of playback the gate releases audio.

    Parameters:
        lead_secs: Audio released ahead of playback (what still plays after a pause).
        chunk_secs: Size of the released slices; match the transport's chunk
            (``audio_out_10ms_chunks`` × 10 ms).
        split_sentences: For TTS without word timestamps, release a sentence's words one by
            one as playback reaches them (estimated), instead of the whole sentence after it.
        hold_in_user_turn: Hold an answer that starts while the user's turn is open until the
            turn ends (required by :func:`~processors.playback.speculation.stream_speculative_answers`).
    """

    lead_secs: float = 0.02
    chunk_secs: float = 0.02
    split_sentences: bool = True
    hold_in_user_turn: bool = True

    def __post_init__(self):
        if self.chunk_secs <= 0 or self.lead_secs < self.chunk_secs:
            raise ValueError(f"need 0 < chunk_secs <= lead_secs, got {self.chunk_secs} and {self.lead_secs}")


@dataclass
class PlaybackGateStats:
    """What the gate released and dropped (milliseconds of audio), and the answers it held
    for the user's turn end (``held_ready_ms``: audio already synthesized when the last held
    answer was released)."""

    released_ms: float = 0.0
    dropped_ms: float = 0.0
    late_dropped_ms: float = 0.0
    pauses: int = 0
    interruptions: int = 0
    held: int = 0
    held_released: int = 0
    held_ready_ms: float = 0.0


@dataclass
class _Context:
    sample_rate: int = 0
    received: int = 0
    released: int = 0
    segment_start: int = 0
    baseline_ns: int | None = None
    peaks: list[int] = field(default_factory=list)
    peak_tail: bytearray = field(default_factory=bytearray)
    words: list[tuple[int, int, TTSTextFrame]] = field(default_factory=list)
    unplaced: list[TTSTextFrame] = field(default_factory=list)
    held: bool = False  # part of an answer held until the user's turn ends


@dataclass
class _Audio:
    frame: OutputAudioRawFrame
    data: bytearray
    ctx: _Context | None


class PlaybackGate(FrameProcessor):
    """Releases TTS audio just in time; pauses, resumes and drops it on request."""

    Settings = PlaybackGateSettings

    def __init__(self, *, settings: PlaybackGateSettings | None = None, **kwargs):
        super().__init__(**kwargs)
        self._settings = settings or PlaybackGateSettings()
        self._queue: deque[_Audio | Frame] = deque()
        self._contexts: dict[str | None, _Context] = {}
        self._dead: set[str] = set()
        self._drop_unlabelled = False
        self._paused = False
        self._response_open = False
        self._released_until = 0.0
        self._last_word_pts = 0
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._ended: asyncio.Event | None = None
        self._reported: tuple[bool, bool] | None = None
        self._user_turn_open = False
        self._hold: Frame | None = None  # the held answer's LLMFullResponseStartFrame (in the queue)
        self.stats = PlaybackGateStats()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def settings(self) -> PlaybackGateSettings:
        return self._settings

    @property
    def held(self) -> bool:
        """An answer is held until the user's turn ends."""
        return self._hold is not None

    @property
    def busy(self) -> bool:
        """A response is open, audio is queued, or released audio is still playing (an answer
        held for the user's turn end does not count: nothing of it is audible)."""
        if self._released_until > time.monotonic():
            return True
        if self._hold is not None:
            return bool(self._queue) and self._queue[0] is not self._hold
        return self._response_open or any(not isinstance(item, EndFrame) for item in self._queue)

    # -- frames in ------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)

        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            if not self._task:
                self._task = self.create_task(self._release_loop(), name=f"{self}::release")
        elif isinstance(frame, EndFrame):
            await self._drain_then_end(frame)
        elif isinstance(frame, CancelFrame):
            await self._stop_task()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, PlaybackPauseFrame):
            await self._pause()
        elif isinstance(frame, PlaybackResumeFrame):
            self._paused = False
            self._wake()
            await self._report()
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._user_turn_open = True
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._user_turn_open = False
            await self.push_frame(frame, direction)
            self._release_hold()
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, OutputAudioRawFrame):
            self._add_audio(frame)
        elif isinstance(frame, TTSTextFrame):
            self._add_text(frame)
        else:
            self._add_frame(frame)

    def _context(self, context_id: str | None) -> _Context:
        ctx = self._contexts.get(context_id)
        if ctx is None:
            self._forget_finished_contexts()
            ctx = self._contexts[context_id] = _Context(held=self._hold is not None)
        return ctx

    def _forget_finished_contexts(self):
        """Drop answers whose audio has all been released and whose words are all out, so a
        long session does not make every frame walk hundreds of finished answers."""
        queued = {id(i.ctx) for i in self._queue if isinstance(i, _Audio)}
        for context_id, ctx in list(self._contexts.items()):
            if not ctx.words and not ctx.unplaced and id(ctx) not in queued:
                del self._contexts[context_id]

    def _is_dead(self, frame: Frame) -> bool:
        context_id = getattr(frame, "context_id", None)
        return context_id is not None and context_id in self._dead

    def _add_audio(self, frame: OutputAudioRawFrame):
        context_id = getattr(frame, "context_id", None)
        if self._is_dead(frame) or (context_id is None and self._drop_unlabelled):
            # Audio of an interrupted answer, still coming out of the TTS: it never plays.
            self.stats.late_dropped_ms += self._duration_ms(frame, len(frame.audio))
            return
        ctx = self._context(context_id)
        if not ctx.sample_rate:
            ctx.sample_rate = frame.sample_rate
        if ctx.baseline_ns is None:
            # pipecat times a context's words from its first audio (or after the last word).
            ctx.baseline_ns = max(self._last_word_pts, self.get_clock().get_time())
            unplaced, ctx.unplaced = ctx.unplaced, []
            for word in unplaced:
                self._place_timed_word(ctx, word)
        self._track_peaks(ctx, frame)
        ctx.received += len(frame.audio) // (2 * frame.num_channels)
        self._queue.append(_Audio(frame=frame, data=bytearray(frame.audio), ctx=ctx))
        self._wake()

    @staticmethod
    def _track_peaks(ctx: _Context, frame: OutputAudioRawFrame):
        """Peaks of every 10 ms block of the context's audio (to find a sentence's speech)."""
        block = max(1, int(ctx.sample_rate * _BLOCK_SECS))
        if frame.num_channels == 1:
            ctx.peak_tail += frame.audio
        else:
            samples = memoryview(frame.audio).cast("h")[:: frame.num_channels]
            ctx.peak_tail += samples.tobytes()
        whole = len(ctx.peak_tail) // (2 * block) * 2 * block
        if whole:
            ctx.peaks.extend(block_peaks(bytes(ctx.peak_tail[:whole]), block))
            del ctx.peak_tail[:whole]

    def _add_text(self, frame: TTSTextFrame):
        if self._is_dead(frame):
            return
        ctx = self._context(frame.context_id)
        if frame.pts:
            if ctx.baseline_ns is None:
                ctx.unplaced.append(frame)
            else:
                self._place_timed_word(ctx, frame)
        elif self._settings.split_sentences and ctx.received > ctx.segment_start:
            self._spread_sentence(ctx, frame)
        else:
            self._add_frame(frame)
            return
        self._wake()

    def _add_frame(self, frame: Frame):
        if self._is_dead(frame):
            return
        if isinstance(frame, (TTSStartedFrame, LLMFullResponseStartFrame)):
            self._drop_unlabelled = False
        if isinstance(frame, LLMFullResponseStartFrame):
            self._response_open = True
            if self._settings.hold_in_user_turn and self._user_turn_open and self._hold is None:
                self._hold = frame
                self.stats.held += 1
                logger.debug(f"{self}: holding an answer that started in the user's turn")
        # The gate releases frames in playback order itself; a PTS would send them through
        # the transport's clock queue, out of step with the audio.
        frame.pts = None
        self._queue.append(frame)
        self._wake()

    def _place_timed_word(self, ctx: _Context, frame: TTSTextFrame):
        assert ctx.baseline_ns is not None and frame.pts is not None
        self._last_word_pts = max(self._last_word_pts, frame.pts)
        position = max(0, round((frame.pts - ctx.baseline_ns) / 1e9 * ctx.sample_rate))
        frame.pts = None
        self._seq += 1
        ctx.words.append((position, self._seq, frame))
        ctx.words.sort(key=lambda w: (w[0], w[1]))

    def _spread_sentence(self, ctx: _Context, frame: TTSTextFrame):
        block = max(1, int(ctx.sample_rate * _BLOCK_SECS))
        start, end = voiced_span(ctx.peaks, block, ctx.segment_start, ctx.received)
        ctx.segment_start = ctx.received
        for position, word in spread_words(frame.text, start, end):
            part = TTSTextFrame(word, text_type=frame.text_type, segment_id=frame.segment_id, context_id=frame.context_id)
            part.append_to_context = frame.append_to_context
            part.will_be_spoken = frame.will_be_spoken
            part.interruptible = frame.interruptible
            self._seq += 1
            ctx.words.append((position, self._seq, part))
        ctx.words.sort(key=lambda w: (w[0], w[1]))

    # -- hold, pause, interruption, end ---------------------------------------------------

    def _release_hold(self):
        if self._hold is None:
            return
        self._hold = None
        self.stats.held_released += 1
        self.stats.held_ready_ms = sum(
            self._duration_ms(item.frame, len(item.data)) for item in self._queue if isinstance(item, _Audio)
        )
        for ctx in self._contexts.values():
            ctx.held = False
        logger.debug(f"{self}: the user's turn ended, releasing the held answer "
                     f"({self.stats.held_ready_ms:.0f} ms of audio ready)")
        self._wake()

    def _drop_hold(self):
        """Drop the held answer (its turn never ended) and what came after it."""
        if self._hold is None:
            return
        index = next((i for i, item in enumerate(self._queue) if item is self._hold), len(self._queue))
        for item in list(self._queue)[index:]:
            if isinstance(item, _Audio):
                self.stats.dropped_ms += self._duration_ms(item.frame, len(item.data))
        self._queue = deque(list(self._queue)[:index])
        for context_id, ctx in list(self._contexts.items()):
            if ctx.held:
                if context_id is not None:
                    self._dead.add(context_id)
                del self._contexts[context_id]
        self._hold = None
        self._response_open = False

    async def _pause(self):
        self._paused = True
        self.stats.pauses += 1
        now = time.monotonic()
        await self._report(silent_at=max(now, self._released_until), force=True)

    async def _interrupt(self):
        dropped = 0.0
        kept: deque[_Audio | Frame] = deque()
        for item in self._queue:
            frame = item.frame if isinstance(item, _Audio) else item
            if not frame.interruptible:
                kept.append(item)
            elif isinstance(item, _Audio):
                dropped += self._duration_ms(item.frame, len(item.data))
        kept_contexts = {id(i.ctx) for i in kept if isinstance(i, _Audio)}
        for context_id, ctx in list(self._contexts.items()):
            if id(ctx) in kept_contexts:
                continue
            if context_id is not None:
                self._dead.add(context_id)
            del self._contexts[context_id]
        self._queue = kept
        self._paused = False
        self._hold = None
        self._response_open = False
        self._drop_unlabelled = True
        self._last_word_pts = 0
        self._released_until = min(self._released_until, time.monotonic() + self._settings.chunk_secs)
        self.stats.dropped_ms += dropped
        self.stats.interruptions += 1
        logger.debug(f"{self}: interrupted, dropped {dropped:.0f} ms of unplayed audio")
        self._wake()
        await self._report()

    async def _drain_then_end(self, frame: EndFrame):
        self._paused = False
        self._drop_hold()
        self._ended = asyncio.Event()
        self._queue.append(frame)
        self._wake()
        if self._task:
            try:
                await asyncio.wait_for(self._ended.wait(), _END_DRAIN_TIMEOUT_SECS)
            except TimeoutError:
                logger.warning(f"{self}: output did not drain within {_END_DRAIN_TIMEOUT_SECS:.0f}s")
            await self._stop_task()
        await self.push_frame(frame)

    async def _stop_task(self):
        if self._task:
            await self.cancel_task(self._task)
            self._task = None

    # -- release --------------------------------------------------------------------------

    def _wake(self):
        self._wakeup.set()

    async def _release_loop(self):
        while True:
            await self._push_due_words()
            timeout = await self._release_ready()
            if timeout == 0.0:
                item = self._queue[0]
                if isinstance(item, EndFrame):
                    self._queue.popleft()
                    self._flush_words(None)
                    await self._push_due_words()
                    if self._ended:
                        self._ended.set()
                    return
                if isinstance(item, _Audio):
                    await self._release_slice(item)
                else:
                    self._queue.popleft()
                    await self._release_frame(item)
                await self._report()
                continue
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass
            await self._report()

    async def _release_ready(self) -> float | None:
        """0 if the head of the queue may go now, else how long to wait (None: until woken)."""
        if self._paused or not self._queue or self._queue[0] is self._hold:
            # Wake when released audio ends, to report the output idle.
            left = self._released_until - time.monotonic()
            return left + 0.005 if left > 0 else None
        if isinstance(self._queue[0], _Audio):
            ahead = self._released_until - time.monotonic()
            if ahead >= self._settings.lead_secs:
                return ahead - self._settings.lead_secs + 0.001
        return 0.0

    async def _release_slice(self, item: _Audio):
        frame, ctx = item.frame, item.ctx
        width = 2 * frame.num_channels
        size = max(width, int(frame.sample_rate * self._settings.chunk_secs) * width)
        data = bytes(item.data[:size])
        del item.data[:size]
        if not item.data:
            self._queue.popleft()
        out = type(frame)(audio=data, sample_rate=frame.sample_rate, num_channels=frame.num_channels)
        if isinstance(frame, TTSAudioRawFrame):
            out.context_id = frame.context_id
        out.interruptible = frame.interruptible
        out.transport_destination = frame.transport_destination
        secs = len(data) / width / frame.sample_rate
        now = time.monotonic()
        self._released_until = max(now, self._released_until) + secs
        self.stats.released_ms += secs * 1000
        await self.push_frame(out)
        if ctx is not None:
            ctx.released += len(data) // width
            await self._push_due_words(ctx)

    async def _release_frame(self, frame: Frame):
        if isinstance(frame, TTSStoppedFrame):
            self._flush_words(self._contexts.get(frame.context_id))
        elif isinstance(frame, (LLMFullResponseEndFrame, LLMAssistantPushAggregationFrame)):
            self._flush_words(None)
        await self._push_due_words()
        if isinstance(frame, LLMFullResponseEndFrame):
            self._response_open = False
        await self.push_frame(frame)

    def _flush_words(self, ctx: _Context | None):
        """Make every pending word of ``ctx`` (or of all contexts) due now."""
        for c in [ctx] if ctx else list(self._contexts.values()):
            if c is not None:
                c.released = max(c.released, max((w[0] for w in c.words), default=0))

    async def _push_due_words(self, ctx: _Context | None = None):
        for c in [ctx] if ctx else list(self._contexts.values()):
            while not c.held and c.words and c.words[0][0] <= c.released:
                _, _, word = c.words.pop(0)
                await self.push_frame(word)

    async def _report(self, *, silent_at: float | None = None, force: bool = False):
        state = (self.busy, self._paused)
        if force or state != self._reported:
            self._reported = state
            await self.push_frame(
                PlaybackStateFrame(busy=state[0], paused=state[1], silent_at=silent_at), FrameDirection.UPSTREAM
            )

    @staticmethod
    def _duration_ms(frame: OutputAudioRawFrame, nbytes: int) -> float:
        return nbytes / (2 * frame.num_channels) / frame.sample_rate * 1000
