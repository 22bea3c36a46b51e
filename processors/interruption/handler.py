"""``InterruptionHandler``: stop talking the moment the user talks over the bot.

Sits right after the VAD. While the bot is busy (answer on its way or playing), a speech
onset (Silero, one 32 ms window, no ``start_secs`` wait) pauses playback at once through the
:class:`~processors.playback.gate.PlaybackGate`, keeping what is buffered. The speech then
either confirms (long enough, or enough transcript words): the handler broadcasts pipecat's
``InterruptionFrame`` (LLM answer cancelled, TTS contexts and buffered audio dropped, the
assistant context keeps only the words played) and opens the user's turn; or it does not
(cough, door, "mm-hmm") and playback resumes where it paused. While the bot is idle, VAD
starts simply open the user's turn. Use with :func:`processors.interruption.turns.handler_turn_strategies`
so pipecat's own VAD start strategy does not interrupt on its own. Given the VAD's
:class:`~processors.vad.shared_silero.SharedSileroVADAnalyzer`, the onset scores are the VAD's own.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from processors.interruption.frames import (
    PlaybackPauseFrame,
    PlaybackResumeFrame,
    PlaybackStateFrame,
    UserSpeechPendingFrame,
    UserSpeechRejectedFrame,
    UserWordsFrame,
)
from processors.interruption.onset import SpeechOnsetDetector, SpeechWindow
from processors.interruption.settings import InterruptionSettings

if TYPE_CHECKING:
    from processors.vad.shared_silero import SharedSileroVADAnalyzer

_WORD = re.compile(r"[\w']+")


@dataclass
class InterruptionRecord:
    """One speech-over-the-bot episode and what became of it (times: ``time.monotonic()``).

    Parameters:
        onset_at: Start of the first speech window.
        paused_at: When the pause was sent to the gate.
        output_silent_at: When the output fell silent (reported by the gate), if known.
        decided_at: When it was confirmed or let go.
        interrupted: True if it became an interruption, False if playback resumed.
        reason: ``speech``/``words`` (confirmed) or ``blip``/``short``/``few-words``/``timeout``.
        words: Transcript words seen before the decision.
    """

    onset_at: float
    paused_at: float
    output_silent_at: float | None = None
    decided_at: float | None = None
    interrupted: bool = False
    reason: str = ""
    words: list[str] = field(default_factory=list)

    @property
    def onset_to_silence_ms(self) -> float | None:
        """Speech onset → output silent, in milliseconds."""
        if self.output_silent_at is None:
            return None
        return max(0.0, self.output_silent_at - self.onset_at) * 1000


@dataclass
class _Episode:
    record: InterruptionRecord
    guarded: bool
    speech_secs: float = 0.0
    last_speech_at: float = 0.0
    heard_after_onset: bool = False
    vad_started: bool = False
    vad_stopped: bool = False
    final_since_stop: bool = False
    interim_words: int = 0


class InterruptionHandler(FrameProcessor):
    """Turns user speech over the bot into a pause, then an interruption or a resume.

    Event handlers:
        on_interruption(handler, record): speech confirmed; the bot was interrupted.
        on_playback_resumed(handler, record): speech let go; playback resumed.
    """

    Settings = InterruptionSettings

    def __init__(
        self,
        *,
        settings: InterruptionSettings | None = None,
        vad_analyzer: SharedSileroVADAnalyzer | None = None,
        **kwargs,
    ):
        """Create the handler.

        Args:
            settings: Thresholds and timings (defaults: :class:`InterruptionSettings`).
            vad_analyzer: The analyzer of the VAD right before this processor, if it is a
                :class:`~processors.vad.shared_silero.SharedSileroVADAnalyzer`: its Silero scores
                are read instead of running a second Silero while the bot speaks.
        """
        super().__init__(**kwargs)
        self._settings = settings or InterruptionSettings()
        self._vad_analyzer = vad_analyzer
        self._detector: SpeechOnsetDetector | None = None
        self._detector_failed = False
        self._gate_busy = False
        self._bot_speaking = False
        self._awaiting_response_until = 0.0
        self._vad_speaking = False
        self._onset_run = 0
        self._onset_start = 0.0
        self._episode: _Episode | None = None
        self._stop_on_final = False
        self._stop_task: asyncio.Task | None = None
        self.records: list[InterruptionRecord] = []
        self._register_event_handler("on_interruption")
        self._register_event_handler("on_playback_resumed")

    @property
    def settings(self) -> InterruptionSettings:
        return self._settings

    @property
    def bot_busy(self) -> bool:
        """An answer is on its way or playing (or paused) as far as the handler knows."""
        return self._gate_busy or self._bot_speaking or time.monotonic() < self._awaiting_response_until

    @property
    def scores_shared(self) -> bool:
        """Speech onsets are scored by the VAD's Silero (no model of the handler's own)."""
        return self._detector is not None and self._detector.shared

    @property
    def pending(self) -> bool:
        """Playback is paused waiting for a decision."""
        return self._episode is not None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)

        if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            await self._handle_audio(frame)
            return
        if isinstance(frame, PlaybackStateFrame):
            await self._handle_playback_state(frame)
            return
        if isinstance(frame, UserWordsFrame):
            await self._handle_words(frame)
            return

        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, UserStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            # The user's turn is over: an answer is coming even if the output hasn't seen it.
            self._awaiting_response_until = time.monotonic() + self._settings.response_wait_secs
        elif isinstance(frame, VADUserStartedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            # Decided before the VAD frame goes on, so the turn strategy knows whose speech
            # the STT segment it opens is (a turn's, speech being judged, or nobody's).
            await self._handle_vad_started()
            await self.push_frame(frame, direction)
            return
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self._vad_speaking = False
            if self._episode and self._episode.vad_started:
                self._episode.vad_stopped = True
                self._episode.final_since_stop = False
        await self.push_frame(frame, direction)

    # -- inputs ---------------------------------------------------------------------------

    async def _handle_audio(self, frame: InputAudioRawFrame):
        if self._detector is None and not self._detector_failed:
            try:
                self._detector = SpeechOnsetDetector(frame.sample_rate, shared=self._vad_analyzer)
            except ValueError as e:
                self._detector_failed = True
                logger.error(f"{self}: {e}; barge-in falls back to VAD starts")
        now = time.monotonic()
        if self._episode is None and not self.bot_busy:
            # Nothing to interrupt, so every score would be dropped: don't score (a Silero
            # run is ~0.2 ms a window when the handler has its own), only keep count.
            self._onset_run = 0
            if self._detector:
                self._detector.feed(frame.audio, score=False)
            await self._maybe_decide(now)
            return
        if self._detector:
            for window in self._detector.feed(frame.audio):
                end = now - window.lag_secs
                await self._handle_window(window, end - window.secs, end)
        await self._maybe_decide(now)

    async def _handle_window(self, w: SpeechWindow, start: float, end: float):
        s = self._settings
        ep = self._episode
        if ep is None:
            busy = self.bot_busy
            guarded = s.echo_guard and busy
            if not busy:
                self._onset_run = 0
                return
            threshold = s.echo_guard_confidence if guarded else s.onset_confidence
            onset = w.confidence >= threshold and (not guarded or w.dbfs >= s.echo_guard_min_dbfs)
            self._onset_run = self._onset_run + 1 if onset else 0
            if self._onset_run == 1:
                self._onset_start = start
            if self._onset_run >= s.onset_windows:
                await self._start_episode(self._onset_start, guarded, counted_secs=self._onset_run * w.secs)
            return
        if w.confidence < s.speech_confidence:
            return
        ep.last_speech_at = end
        ep.heard_after_onset = True
        if ep.guarded:
            # Only loud, sure speech counts as evidence, and not right after the pause, when
            # the mic may still hear the bot.
            strong = w.confidence >= s.echo_guard_confidence and w.dbfs >= s.echo_guard_min_dbfs
            if not strong or start < ep.record.paused_at + s.echo_tail_secs:
                return
        ep.speech_secs += w.secs

    async def _handle_vad_started(self):
        self._vad_speaking = True
        # Still talking: the stop strategies will end the turn.
        self._stop_on_final = False
        await self._cancel_stop_task()
        if self._episode:
            self._episode.vad_started = True
            self._episode.vad_stopped = False
            return
        if not self.bot_busy:
            # Nothing to interrupt: the user simply takes the turn.
            await self.push_frame(ProposedUserStartedSpeakingFrame())
            return
        if not self._settings.echo_guard:
            # The VAD heard speech the onset detector missed: treat it as a (late) onset.
            self._vad_speaking = False  # the segment opens with this VAD frame, not before
            await self._start_episode(time.monotonic() - self._settings.min_speech_secs / 4, False, 0.0)
            self._vad_speaking = True
            self._episode.vad_started = True

    async def _handle_playback_state(self, frame: PlaybackStateFrame):
        self._gate_busy = frame.busy or frame.paused
        if frame.busy:
            self._awaiting_response_until = 0.0
        if frame.paused and frame.silent_at is not None and self._episode:
            if self._episode.record.output_silent_at is None:
                self._episode.record.output_silent_at = frame.silent_at

    async def _handle_words(self, frame: UserWordsFrame):
        words = _WORD.findall(frame.text)
        ep = self._episode
        if ep is None:
            if frame.final and self._stop_on_final:
                self._stop_on_final = False
                await self._propose_stop_soon()
            return
        if frame.final:
            ep.record.words.extend(words)
            ep.interim_words = 0
            if ep.vad_stopped:
                ep.final_since_stop = True
        else:
            ep.interim_words = len(words)
        await self._maybe_decide(time.monotonic())

    # -- decisions ------------------------------------------------------------------------

    async def _start_episode(self, onset_at: float, guarded: bool, counted_secs: float):
        now = time.monotonic()
        record = InterruptionRecord(onset_at=onset_at, paused_at=now)
        self._episode = _Episode(
            record=record,
            guarded=guarded,
            speech_secs=0.0 if guarded else counted_secs,
            last_speech_at=now,
            vad_started=self._vad_speaking,
        )
        self._onset_run = 0
        await self.push_frame(PlaybackPauseFrame(onset_time=onset_at))
        if self._vad_speaking:
            # The VAD was already hearing something (the bot's echo, say): cut the STT segment
            # here, so what came before is transcribed apart from the speech being judged.
            await self.push_frame(VADUserStoppedSpeakingFrame())
            await self.push_frame(UserSpeechPendingFrame())
            await self.push_frame(VADUserStartedSpeakingFrame())
        else:
            await self.push_frame(UserSpeechPendingFrame())
        logger.debug(f"{self}: user speech over the bot, playback paused")

    async def _maybe_decide(self, now: float):
        ep = self._episode
        if ep is None:
            return
        s = self._settings
        min_speech = s.echo_guard_min_speech_secs if ep.guarded else s.min_speech_secs
        min_words = s.echo_guard_min_words if ep.guarded else s.min_words
        words = len(ep.record.words) + ep.interim_words
        if ep.speech_secs >= min_speech:
            await self._confirm("speech")
        elif min_words and words >= min_words:
            await self._confirm("words")
        elif now - ep.record.onset_at >= s.confirm_timeout_secs:
            await self._reject("timeout")
        elif not ep.heard_after_onset and not ep.vad_started and now - ep.record.paused_at >= s.blip_secs:
            await self._reject("blip")
        elif now - ep.last_speech_at >= s.end_silence_secs and not self._vad_speaking:
            if not ep.vad_started or not min_words:
                await self._reject("short")  # no transcript will come (or words don't count)
            elif ep.vad_stopped and ep.final_since_stop:
                await self._reject("few-words")

    def _close_episode(self, interrupted: bool, reason: str) -> tuple[_Episode, InterruptionRecord]:
        """End the pending episode with its decision, recorded in :attr:`records`."""
        ep = self._episode
        assert ep is not None
        self._episode = None
        record = ep.record
        record.decided_at, record.interrupted, record.reason = time.monotonic(), interrupted, reason
        self.records.append(record)
        return ep, record

    async def _confirm(self, reason: str):
        ep, record = self._close_episode(True, reason)
        self._gate_busy = False
        self._awaiting_response_until = 0.0
        await self.broadcast_interruption()
        await self.push_frame(ProposedUserStartedSpeakingFrame())
        if not self._vad_speaking and ep.vad_started:
            # The speech had already ended: the turn ends once its transcript is in, unless
            # the user goes on talking.
            if ep.final_since_stop:
                await self._propose_stop_soon()
            else:
                self._stop_on_final = True
        latency = record.onset_to_silence_ms
        logger.info(
            f"{self}: interruption ({reason}, {record.decided_at - record.onset_at:.2f}s after onset); "
            f"onset→silence {'?' if latency is None else f'{latency:.0f} ms'}"
        )
        await self._call_event_handler("on_interruption", record)

    async def _propose_stop_soon(self):
        await self._cancel_stop_task()
        self._stop_task = self.create_task(self._propose_stop(), name=f"{self}::propose-stop")

    async def _propose_stop(self):
        await asyncio.sleep(self._settings.turn_end_silence_secs)
        self._stop_task = None
        if not self._vad_speaking:
            await self.push_frame(ProposedUserStoppedSpeakingFrame())

    async def _cancel_stop_task(self):
        if self._stop_task:
            task, self._stop_task = self._stop_task, None
            await self.cancel_task(task)

    async def cleanup(self):
        await self._cancel_stop_task()
        await super().cleanup()

    async def _reject(self, reason: str):
        _, record = self._close_episode(False, reason)
        await self.push_frame(PlaybackResumeFrame())
        await self.push_frame(UserSpeechRejectedFrame())
        logger.info(f"{self}: not an interruption ({reason}); playback resumed")
        await self._call_event_handler("on_playback_resumed", record)
