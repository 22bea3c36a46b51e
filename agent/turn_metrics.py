"""Per-turn latency metrics, observed from the frames crossing the pipeline.

One :class:`TurnRecord` per user turn, written to ``metrics.jsonl`` when the next turn starts or
the run ends. Times are wall-clock seconds (``time.time()``); the derived latencies are in ms.
``speech_end`` is when the user actually stopped talking: the VAD's decision minus its
``stop_secs``. Listeners get state changes (listening / thinking / speaking / interrupted) and
finished turns, which is what the live console draws.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed

from processors.interruption.frames import PlaybackPauseFrame, PlaybackResumeFrame, PlaybackStateFrame

STAGES = ("speech_end", "transcript", "llm_first_token", "first_phrase", "tts_first_audio", "speaker_first_audio")


@dataclass
class TurnRecord:
    """The moments of one user turn and the bot's answer to it."""

    turn: int
    speech_start: float | None = None
    speech_end: float | None = None
    transcript: float | None = None
    transcript_text: str = ""
    user_turn_end: float | None = None
    llm_first_token: float | None = None
    first_phrase: float | None = None
    tts_first_audio: float | None = None
    speaker_first_audio: float | None = None
    bot_stopped: float | None = None
    interruptions: list[dict] = field(default_factory=list)

    def latencies_ms(self) -> dict[str, float]:
        """Each stage's time after the user stopped speaking, and voice-to-voice."""
        out: dict[str, float] = {}
        if self.speech_end is None:
            return out
        for stage in STAGES[1:]:
            t = getattr(self, stage)
            if t is not None:
                out[stage] = round((t - self.speech_end) * 1000, 1)
        if "speaker_first_audio" in out:
            out["voice_to_voice"] = out["speaker_first_audio"]
        return out

    def to_json(self) -> dict:
        return {**asdict(self), "latency_ms": self.latencies_ms()}


class TurnMetricsObserver(BaseObserver):
    """Records :class:`TurnRecord`s and tells listeners about state and finished turns."""

    def __init__(self, path: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.path = path
        self.turns: list[TurnRecord] = []
        self.state = "listening"
        self._current: TurnRecord | None = None
        self._answering = False
        self._bot_speaking = False
        self._pending_onset: float | None = None  # wall-clock speech onset over the bot
        self._paused_silent_at: float | None = None  # wall-clock silence after a playback pause
        self.state_listeners: list[Callable[[str], None]] = []
        self.turn_listeners: list[Callable[[TurnRecord], None]] = []
        self.text_listeners: list[Callable[[str, str], None]] = []

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            for listener in self.state_listeners:
                listener(state)

    def _new_turn(self, start: float) -> TurnRecord:
        self._finish_turn()
        self._current = TurnRecord(turn=len(self.turns) + 1, speech_start=start)
        self.turns.append(self._current)
        self._answering = False
        return self._current

    def _finish_turn(self) -> None:
        turn, self._current = self._current, None
        if turn is None:
            return
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(turn.to_json()) + "\n")
        for listener in self.turn_listeners:
            listener(turn)

    def close(self) -> None:
        """Write the last turn (call when the run ends)."""
        self._finish_turn()

    async def on_push_frame(self, data: FramePushed):
        frame, now = data.frame, time.time()
        if isinstance(frame, TTSTextFrame):  # words as they are played, not as synthesized
            if data.source.__class__.__name__.endswith("OutputTransport"):
                for listener in self.text_listeners:
                    listener("bot", frame.text)
            return
        if not data.first_push:
            return
        turn = self._current
        if isinstance(frame, PlaybackPauseFrame):  # the interruption handler paused playback
            self._pending_onset = frame.onset_time + (now - time.monotonic())
            self._paused_silent_at = None
        elif isinstance(frame, PlaybackResumeFrame):  # not an interruption after all
            self._pending_onset = self._paused_silent_at = None
        elif isinstance(frame, PlaybackStateFrame) and frame.paused and frame.silent_at is not None:
            self._paused_silent_at = frame.silent_at + (now - time.monotonic())
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            onset = frame.timestamp - frame.start_secs
            if self._bot_speaking and self._paused_silent_at is None:
                self._pending_onset = onset
            if turn is None or turn.user_turn_end is not None:
                turn = self._new_turn(onset)
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and turn:
            turn.speech_end = frame.timestamp - frame.stop_secs
        elif isinstance(frame, TranscriptionFrame) and turn:
            turn.transcript = now
            turn.transcript_text = (turn.transcript_text + " " + frame.text).strip()
            for listener in self.text_listeners:
                listener("user", frame.text)
        elif isinstance(frame, UserStoppedSpeakingFrame) and turn:
            turn.user_turn_end = now
            self._set_state("thinking")
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._answering = True
        elif isinstance(frame, LLMTextFrame) and turn and self._answering and turn.llm_first_token is None:
            turn.llm_first_token = now
        elif (isinstance(frame, AggregatedTextFrame)
              and turn and turn.first_phrase is None and self._answering):
            turn.first_phrase = now
        elif isinstance(frame, TTSAudioRawFrame) and turn and turn.tts_first_audio is None and self._answering:
            turn.tts_first_audio = now
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            if turn and turn.speaker_first_audio is None:
                turn.speaker_first_audio = now
            self._set_state("speaking")
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            if turn:
                if turn.speaker_first_audio is not None:
                    turn.bot_stopped = now
                if turn.interruptions and "silence" not in turn.interruptions[-1]:
                    turn.interruptions[-1]["silence"] = now
                    onset = turn.interruptions[-1].get("onset")
                    if onset:
                        turn.interruptions[-1]["onset_to_silence_ms"] = round((now - onset) * 1000, 1)
            if self.state != "interrupted":
                self._set_state("listening")
        elif isinstance(frame, InterruptionFrame) and turn and (self._bot_speaking or self._pending_onset is not None):
            # (Paused at the onset and confirmed later than the output's silence ended the bot's
            # speaking: still the bot's answer interrupted, e.g. a confirmation 1 s after the onset.)
            record = {"at": now, "onset": self._pending_onset}
            if self._pending_onset is not None and self._paused_silent_at is not None:
                # Paused at the onset: the output went silent then, not at the confirmation.
                record["silence"] = self._paused_silent_at
                record["onset_to_silence_ms"] = round((self._paused_silent_at - self._pending_onset) * 1000, 1)
            turn.interruptions.append(record)
            self._pending_onset = self._paused_silent_at = None
            self._set_state("interrupted")
