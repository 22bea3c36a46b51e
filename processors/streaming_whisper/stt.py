"""``StreamingWhisperSTTService``: local Whisper that is done when the user stops, not after.

Stock ``WhisperSTTService`` starts transcribing at the VAD stop (~265 ms after the speech end
with ``stop_secs=0.2``), on the segment padded with 0.5 s of silence, with beam 5 in float32
and a 30 s encoder window. This service transcribes while the user is still speaking:

- each 20 ms frame's loudness is tracked; when the speech goes quiet (``tail_quiet_secs``) a
  *tail pass* transcribes the segment so far in the background, so by the VAD stop the final
  transcript is usually already there (the pass counts as final if nothing loud came after
  the audio it saw);
- optional *interim passes* every ``interim_step_secs`` of new speech give
  ``InterimTranscriptionFrame``\\ s (live captions);
- once a tail pass has heard the quiet tail it pushes an ``EagerTranscriptionFrame`` (a
  provisional end of turn: a turn strategy may start the LLM on it, pipecat's
  speculative-response mechanism holds the answer until the turn is confirmed);
- the transcript the LLM gets comes from a *full pass*, Whisper with a longer window
  (``final_window_secs``, 15 s) on the whole turn's audio so far (every segment since the turn
  began, so a sentence split by a pause is decoded as one); the ``TranscriptionFrame`` carries
  the words the turn's earlier finals did not have
  (:func:`~processors.streaming_whisper.text_checks.new_words`). With ``tail_full`` (the
  default) the tail pass *is* the full pass: one pass after the speech end, whose text is both
  the eager and the final one (measured on real speech: transcript 454 vs 675 ms after the
  speech end, p50). Without it the tail pass has the short window (turn-taking only) and the
  full pass follows it;
- at the VAD stop the finalized ``TranscriptionFrame`` is pushed at once (or as soon as the
  covering full pass ends; a final pass only when no earlier pass covered the speech).

Pre-roll: a segment keeps up to ``pre_roll_secs`` of audio before the VAD start (the VAD starts
late), but never audio of the previous segment: the next segment starts empty at the VAD stop,
so no speech is transcribed twice.

A merged turn (:class:`~processors.turns.frames.UserTurnMergedFrame`, the user went on after
the turn was closed too early) gets the previous turn's audio and text back, so the rest of it
is decoded together with its beginning.

Decoding is :class:`~processors.streaming_whisper.decoder.WindowedWhisperDecoder`: int8,
beam 1, a repetition and invention check on every pass. Nothing waits on a timer: passes are
started by audio frames, VAD frames and the end of the previous pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from pipecat.frames.frames import (
    CancelFrame,
    EagerTranscriptionFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    StartFrame,
    TranscriptionFrame,
    UserAudioRawFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.types import NOT_GIVEN, NotGiven

from processors.streaming_whisper.decoder import DecoderSettings, WindowedWhisperDecoder
from processors.streaming_whisper.segment import Segment
from processors.streaming_whisper.text_checks import new_words
from processors.turns.frames import TurnTranscriptionFrame, UserTurnMergedFrame

__all__ = ["StreamingWhisperSTTService", "StreamingWhisperSTTSettings"]


@dataclass
class StreamingWhisperSTTSettings(STTSettings):
    """Runtime-updatable settings of :class:`StreamingWhisperSTTService`.

    Parameters:
        tail_quiet_secs: Quiet at the end of the speech that starts a tail pass.
        final_tail_secs: A pass is final if it heard this much past the VAD's speech end
            (or nothing loud came after it).
        interim_step_secs: New speech that starts an interim pass (0: no interim passes).
        eager: Push an ``EagerTranscriptionFrame`` when a tail pass ends in quiet.
        quiet_db: A frame this far below the segment's loudest frame counts as quiet.
        final_window_secs: Encoder window of the full pass that makes the final transcript
            (15: as good as whole-utterance Whisper on real and varied Piper speech at ~1.5x
            the cost of 10, 30: Whisper as trained, ~3x; 0: no full pass, fast passes are final).
        tail_full: The quiet-tail pass is itself a full-window pass (its text is the eager
            one and, if nothing was said after it, the final): one pass after the speech end
            instead of a fast pass and then a full one.
    """

    tail_quiet_secs: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    final_tail_secs: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    interim_step_secs: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    eager: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    quiet_db: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    final_window_secs: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    tail_full: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)


FULL_KINDS = ("full", "final", "tail-full")
"""Pass kinds decoded with ``final_window_secs`` on the turn's audio."""
FAST_KINDS = ("tail", "interim", "tail-full")
"""Pass kinds whose text is the segment's latest fast text (eager / interim)."""


@dataclass
class _Pass:
    segment: Segment
    end: int
    task: asyncio.Task | None = None


class StreamingWhisperSTTService(STTService):
    """Whisper (faster-whisper's CTranslate2 model) transcribing while the user speaks.

    Event handlers:
        on_pass(service, info): after each transcription pass, with a dict
            ``{segment, kind, audio_secs, window_secs, secs, text, fallback}``.
    """

    Settings = StreamingWhisperSTTSettings
    _settings: Settings

    def __init__(
        self,
        *,
        model: str | Path,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        decoder: DecoderSettings | None = None,
        shared_decoder: WindowedWhisperDecoder | None = None,
        pre_roll_secs: float = 0.5,
        ttfs_p99_latency: float = 0.35,
        settings: Settings | None = None,
        **kwargs,
    ):
        """Load the model (a CTranslate2 Whisper folder) and warm it up on first start.

        Args:
            model: Path of the CTranslate2 Whisper model folder.
            device: ``cpu`` or ``cuda``.
            compute_type: CTranslate2 compute type; ``int8`` is fastest on a CPU.
            cpu_threads: Decoder threads (0: CTranslate2's default).
            decoder: Window, beam and guard settings (init-only).
            shared_decoder: An already loaded decoder to use instead of loading ``model``
                (``voice-agent serve`` shares one between calls: it decodes one pass at a
                time, under its own lock); ``decoder`` and the model arguments are then unused.
            pre_roll_secs: Audio kept before the VAD start (the VAD starts late).
            ttfs_p99_latency: Speech end to final transcript, p99 (for turn strategies).
            settings: Runtime-updatable settings.
            **kwargs: Passed to ``STTService``.
        """
        decoder = decoder or DecoderSettings()
        default = self.Settings(
            model=str(model),
            language=decoder.language,
            tail_quiet_secs=0.06,
            final_tail_secs=0.1,
            interim_step_secs=0.0,
            eager=True,
            quiet_db=30.0,
            final_window_secs=15.0,
            tail_full=True,
        )
        if settings is not None:
            default.apply_update(settings)
        super().__init__(settings=default, ttfs_p99_latency=ttfs_p99_latency, **kwargs)
        self._decoder = shared_decoder or WindowedWhisperDecoder(
            model, device=device, compute_type=compute_type, cpu_threads=cpu_threads, settings=decoder
        )
        self._pre_roll_secs = pre_roll_secs
        self._next_id = 0
        self._current = self._new_segment()
        self._speaking = False
        self._stopped: list[Segment] = []  # segments the VAD stopped, awaiting their final
        self._pass: _Pass | None = None
        self._turn_text = ""  # finals already pushed in this user turn
        self._turn_audio = bytearray()  # audio of this turn's finished segments
        self._last_turn: tuple[bytes, str] = (b"", "")  # the previous turn, for a merge
        self._register_event_handler("on_pass")

    def can_generate_metrics(self) -> bool:
        return True

    @property
    def decoder(self) -> WindowedWhisperDecoder:
        return self._decoder

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Unused: audio is handled frame by frame in :meth:`process_audio_frame`."""
        yield None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if not self._decoder.warm:
            await asyncio.to_thread(self._decoder.warm_up)

    async def stop(self, frame: EndFrame):
        # A graceful end still delivers the transcript of a segment the VAD stopped.
        while self._pass and self._pass.task:
            await asyncio.shield(self._pass.task)
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame):
        if self._pass and self._pass.task:
            await self.cancel_task(self._pass.task)
        self._pass = None
        await super().cancel(frame)

    # -- frames ---------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._speaking = True
            self._current.peak = 0.0  # measure this speech, not the silence before it
            for level in self._current.levels:
                self._current.peak = max(self._current.peak, level)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._on_vad_stop(frame)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._last_turn = (bytes(self._turn_audio), self._turn_text)
            self._turn_text = ""
            self._turn_audio = bytearray()
        elif isinstance(frame, UserTurnMergedFrame):
            audio, text = self._last_turn
            self._turn_audio[:0] = audio
            self._turn_text = f"{text} {self._turn_text}".strip()
            self._last_turn = (b"", "")

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection):
        if self._muted or not frame.audio:
            return
        self._user_id = frame.user_id if isinstance(frame, UserAudioRawFrame) else ""
        segment = self._current
        segment.append(frame.audio)
        if not self._speaking:
            segment.trim_front(int(self._pre_roll_secs * self.sample_rate) * 2)
            return
        await self._schedule()

    async def _on_vad_stop(self, frame: VADUserStoppedSpeakingFrame):
        self._speaking = False
        segment = self._current
        stop_bytes = int(frame.stop_secs * self.sample_rate) * 2
        segment.speech_end = max(0, len(segment.audio) - stop_bytes)
        segment.stopped = True
        self._stopped.append(segment)
        self._current = self._new_segment()  # empty: its pre-roll never re-reads this speech
        self._record_stt_audio_usage(bytes(segment.audio))
        await self._schedule()

    # -- passes ---------------------------------------------------------------------------

    def _new_segment(self) -> Segment:
        self._next_id += 1
        quiet_db = self._settings.quiet_db if isinstance(self._settings.quiet_db, float) else 30.0
        return Segment(id=self._next_id, quiet_db=quiet_db)

    def _tail_bytes(self) -> int:
        return int(self._settings.final_tail_secs * self.sample_rate) * 2

    @property
    def _full(self) -> bool:
        return bool(self._settings.final_window_secs)

    def _final_ready(self, segment: Segment) -> bool:
        end = segment.full_end if self._full else segment.best_end
        return end >= 0 and segment.covers(end, self._tail_bytes())

    async def _schedule(self):
        """Push whatever finals are ready; start the next pass if the decoder is free."""
        while self._stopped:
            segment = self._stopped[0]
            if self._final_ready(segment):
                await self._push_final(segment)
                continue
            if self._pass is None:
                self._start_pass(segment, len(segment.audio), "final" if self._full else "tail")
            return
        if self._pass is not None or not self._speaking:
            return
        segment = self._current
        s = self._settings
        if segment.quiet_tail_secs(self.sample_rate) >= s.tail_quiet_secs:
            new_secs = (len(segment.audio) - segment.last_pass_end) / 2 / self.sample_rate
            if new_secs > 0.05 and not segment.quiet_since(segment.last_pass_end):  # something new was said
                self._start_pass(segment, len(segment.audio), "tail-full" if self._full and s.tail_full else "tail")
            elif self._full and segment.best_end > segment.full_started and segment.quiet_since(segment.best_end):
                # The fast pass has the eager text; now the transcript the LLM will get, so
                # that it is ready (or nearly) when the VAD stops.
                self._start_pass(segment, len(segment.audio), "full")
        elif s.interim_step_secs:
            new_secs = (len(segment.audio) - segment.last_pass_end) / 2 / self.sample_rate
            if new_secs >= s.interim_step_secs:
                self._start_pass(segment, len(segment.audio), "interim")

    def _start_pass(self, segment: Segment, end: int, kind: str):
        if kind in FULL_KINDS:
            segment.full_started = end
        if kind in FAST_KINDS:
            segment.last_pass_end = end
        p = _Pass(segment=segment, end=end)
        self._pass = p
        p.task = self.create_task(self._run_pass(p, kind), name=f"whisper-{kind}-{segment.id}")

    def _pass_input(self, segment: Segment, end: int, kind: str) -> tuple[bytes, str, float | None, bool]:
        """(audio, prompt, window, whole turn) of a pass. A full pass hears the turn's earlier
        segments too, unless they no longer fit in its window (then their text is the prompt)."""
        audio = bytes(segment.audio[:end])
        if kind not in FULL_KINDS:
            return audio, self._turn_text, None, False
        window = float(self._settings.final_window_secs)
        earlier = len(self._turn_audio) + len(audio)
        if self._stopped and self._stopped[0] is not segment:  # earlier segments still pending
            return audio, self._turn_text, window, False
        if earlier <= (window - 1.0) * self.sample_rate * 2:
            return bytes(self._turn_audio) + audio, "", window, True
        return audio, self._turn_text, window, False

    async def _run_pass(self, p: _Pass, kind: str):
        segment = p.segment
        audio, prompt, window, whole = self._pass_input(segment, p.end, kind)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            result = await asyncio.to_thread(self._decoder.transcribe, audio, prompt=prompt, window_secs=window)
        except Exception as e:  # a failed pass must not stall the turn
            await self.push_error(f"{self}: transcription failed: {e}", exception=e)
            result = None
        self._pass = None
        if result is not None:
            await self._call_event_handler("on_pass", {
                "segment": segment.id, "kind": kind, "audio_secs": round(result.audio_secs, 3),
                "window_secs": result.window_secs, "secs": round(loop.time() - started, 3),
                "text": result.text, "fallback": result.fallback, "trimmed": result.trimmed,
            })
            if segment.done:
                pass
            else:
                if kind in FULL_KINDS and p.end > segment.full_end:
                    segment.full_end, segment.full_text, segment.full_whole_turn = p.end, result.text, whole
                if kind in FAST_KINDS and p.end > segment.best_end:
                    # A whole-turn decoding's words beyond what this turn's finals said.
                    text = new_words(self._turn_text, result.text) if whole else result.text
                    segment.best_end, segment.best_text = p.end, text
                    await self._push_partial(segment, kind)
        elif segment.stopped and not segment.done:
            await self._push_final(segment)
        await self._schedule()

    async def _push_partial(self, segment: Segment, kind: str):
        if segment.stopped or not segment.best_text:
            return  # a stopped segment's transcript goes out as its final
        s = self._settings
        quiet = segment.quiet_since(segment.best_end)
        if kind in ("tail", "tail-full") and s.eager and quiet and segment.eager_sent != segment.best_text:
            segment.eager_sent = segment.best_text
            await self.push_frame(EagerTranscriptionFrame(
                segment.best_text, self._user_id, time_now_iso8601(), self._settings.language
            ))
        elif s.interim_step_secs:
            await self.push_frame(InterimTranscriptionFrame(
                segment.best_text, self._user_id, time_now_iso8601(), self._settings.language
            ))

    async def _push_final(self, segment: Segment):
        segment.done = True
        if self._stopped and self._stopped[0] is segment:
            self._stopped.pop(0)
        self._turn_audio += segment.audio
        whole = segment.full_end >= 0 and segment.full_whole_turn
        text = segment.full_text if segment.full_end >= 0 else segment.best_text
        if not text:
            logger.debug(f"{self}: no speech in segment {segment.id}")
            return
        args = (self._user_id, time_now_iso8601(), self._settings.language)
        if whole:  # the earlier finals said the rest; the whole turn goes along
            new = new_words(self._turn_text, text)
            if not new:
                logger.debug(f"{self}: nothing new in segment {segment.id} ([{text}])")
                return
            frame = TurnTranscriptionFrame(new, *args, finalized=True, turn_text=text)
            self._turn_text = text
        else:
            frame = TranscriptionFrame(text, *args, finalized=True)
            self._turn_text = f"{self._turn_text} {text}".strip()
        logger.debug(f"{self}: transcription [{frame.text}] (turn: [{self._turn_text}])")
        await self.emit_stt_usage_metrics()
        await self.push_frame(frame)

    async def _update_settings(self, delta: STTSettings) -> dict[str, Any]:
        changed = await super()._update_settings(delta)
        if "quiet_db" in changed:
            self._current.quiet_db = self._settings.quiet_db
        return changed
