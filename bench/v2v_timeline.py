"""Per-stage timeline of a voice conversation, the same for every pipeline variant.

:class:`StageObserver` stamps frames with the pipeline clock at the moment they are pushed
(``FramePushed.timestamp``, so observer scheduling adds nothing), converted to
``time.monotonic()`` seconds through :class:`StageClock`. The user's speech end is read from
the injected audio itself (the last loud sample of each utterance in the mic stream), never
from a VAD: the same yardstick for ours and stock.

:func:`turn_stages` cuts the timeline into user turns and gives each stage's time after the
speech end (ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    EagerTranscriptionFrame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMTextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed

SPEECH_PEAK = 300  # a sample this loud is speech (Piper speech peaks at ~10000-30000)
UTTERANCE_GAP_SECS = 1.5  # silence this long separates two utterances

_BROADCAST = {"vad_stop", "user_turn_end", "bot_audio"}

STAGES = (
    "vad_stop", "transcript", "user_turn_end", "llm_start", "llm_first_token",
    "first_phrase", "tts_first_audio", "bot_audio",
)
"""Stage names, in pipeline order; ``bot_audio`` (first bot audio at the output) is voice-to-voice."""

DETAIL_STAGES = (
    "eager", "full_pass_start", "vad_stop", "verdict", "transcript", "user_turn_end", "llm_start",
    "llm_generated", "llm_first_token", "first_phrase", "tts_first_audio", "bot_audio",
)
"""Every stage :func:`turn_stages` can stamp, in causal order. Beyond :data:`STAGES` (ours only):
``eager`` the last eager transcript, ``full_pass_start`` the start of the full-window pass that
made the transcript, ``verdict`` the turn strategy's last verdict, ``llm_generated`` when the
LLM produced its first token (the request's start + its TTFB; a speculative answer is held
until the turn ends, ``llm_first_token`` is when it was released)."""


class StageClock(SystemClock):
    """The pipeline clock, remembering when it started in ``time.monotonic()`` seconds."""

    started: float = 0.0

    def start(self):
        super().start()
        self.started = time.monotonic()

    def to_monotonic(self, timestamp_ns: int) -> float:
        return self.started + timestamp_ns / 1e9


@dataclass
class Event:
    t: float  # time.monotonic() seconds
    kind: str
    text: str = ""


@dataclass
class Timeline:
    events: list[Event] = field(default_factory=list)
    loud: list[tuple[float, float]] = field(default_factory=list)  # (first, last) loud sample time per input frame

    def utterances(self) -> list[tuple[float, float]]:
        """(speech start, speech end) of each utterance heard in the mic stream."""
        spans: list[list[float]] = []
        for first, last in self.loud:
            if spans and first - spans[-1][1] < UTTERANCE_GAP_SECS:
                spans[-1][1] = last
            else:
                spans.append([first, last])
        return [(a, b) for a, b in spans]


class StageObserver(BaseObserver):
    """Collects a :class:`Timeline` from the frames a pipeline pushes."""

    def __init__(self, clock: StageClock, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock
        self.timeline = Timeline()
        self._last: dict[str, float] = {}

    async def on_push_frame(self, data: FramePushed):
        if not data.first_push:
            return
        frame = data.frame
        t = self.clock.to_monotonic(data.timestamp)
        kind = None
        text = ""
        if isinstance(frame, InputAudioRawFrame):
            self._audio(frame, t)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            kind = "vad_stop"
        elif isinstance(frame, TranscriptionFrame):
            kind, text = "transcript", frame.text
        elif isinstance(frame, EagerTranscriptionFrame):
            kind, text = "eager", frame.text
        elif isinstance(frame, UserStoppedSpeakingFrame):
            kind = "user_turn_end"
        elif isinstance(frame, LLMContextFrame):
            kind = "llm_start"
        elif isinstance(frame, LLMTextFrame):
            kind = "llm_token"
        elif isinstance(frame, AggregatedTextFrame):
            kind, text = "phrase", frame.text
        elif isinstance(frame, TTSAudioRawFrame):
            kind = "tts_audio"
        elif isinstance(frame, BotStartedSpeakingFrame):
            kind = "bot_audio"
        elif isinstance(frame, MetricsFrame):
            for d in frame.data:
                if isinstance(d, TTFBMetricsData) and "LLM" in d.processor and d.value:
                    kind, text = "llm_ttfb", str(d.value)
        if kind:
            last = self._last.get(kind)
            if kind in _BROADCAST and last is not None and abs(t - last) < 0.002:
                return  # the same broadcast, pushed both ways
            self._last[kind] = t
            self.timeline.events.append(Event(t, kind, text))

    def _audio(self, frame: InputAudioRawFrame, t: float):
        samples = np.abs(np.frombuffer(frame.audio, dtype="<i2"))
        loud = np.flatnonzero(samples > SPEECH_PEAK)
        if loud.size:
            # The frame is pushed once captured: its last sample is "now".
            start = t - len(samples) / frame.sample_rate
            self.timeline.loud.append((start + loud[0] / frame.sample_rate, start + (loud[-1] + 1) / frame.sample_rate))


@dataclass
class TurnStages:
    """One user turn: stage times in ms after the speech end, and what was understood."""

    speech_end: float
    ms: dict[str, float]
    transcript: str
    cut_off: bool  # the utterance was split: a turn ended before its speech end, or it made 2+ turns
    verdict: str = ""  # the turn strategy's last verdict before the turn end (ours)
    speculation_kept: bool = False  # the answer released was started on the eager transcript


def _first(events: list[Event], kind: str, after: float, before: float) -> Event | None:
    return next((e for e in events if e.kind == kind and after <= e.t < before), None)


def turn_stages(timeline: Timeline) -> list[TurnStages]:
    """Each utterance's stages (ms after its speech end); missing stages are left out."""
    spans = timeline.utterances()
    events = sorted(timeline.events, key=lambda e: e.t)
    out = []
    for i, (start, end) in enumerate(spans):
        limit = spans[i + 1][0] if i + 1 < len(spans) else float("inf")
        ends = [e.t for e in events if e.kind == "user_turn_end" and start <= e.t < limit]
        cut_off = len(ends) > 1 or bool(ends and ends[0] < end)
        turn_end = _first(events, "user_turn_end", end, limit)
        stop = turn_end.t if turn_end else limit
        heard = [e for e in events if e.kind == "transcript" and start <= e.t <= stop]
        first_token = _first(events, "llm_token", end, limit)
        starts = [e for e in events if e.kind == "llm_start" and start <= e.t <= (first_token.t if first_token else limit)]
        stamps = {
            "vad_stop": _first(events, "vad_stop", end, limit),
            "transcript": heard[-1] if heard else None,
            "user_turn_end": turn_end,
            "llm_start": starts[-1] if starts else None,
            "llm_first_token": first_token,
            "first_phrase": _first(events, "phrase", end, limit),
            "tts_first_audio": _first(events, "tts_audio", end, limit),
            "bot_audio": _first(events, "bot_audio", end, limit),
        }
        ms = {k: round((e.t - end) * 1000, 1) for k, e in stamps.items() if e is not None}
        ms.update(_detail(events, start, end, stop, stamps))
        verdicts = [e for e in events if e.kind == "verdict" and start <= e.t <= stop]
        # The answer released was started on an eager transcript, before the final one.
        kept = bool(stamps["llm_start"] and stamps["transcript"] and stamps["llm_start"].t < stamps["transcript"].t)
        out.append(TurnStages(end, ms, " ".join(e.text.strip() for e in heard), cut_off,
                              verdicts[-1].text if verdicts else "", kept))
    return out


def _detail(events: list[Event], start: float, end: float, stop: float, stamps: dict) -> dict[str, float]:
    """The stages beyond :data:`STAGES` (see :data:`DETAIL_STAGES`), ms after ``end``."""
    out: dict[str, float] = {}
    transcript = stamps["transcript"]
    eager = [e for e in events if e.kind == "eager" and start <= e.t <= stop]
    if eager:
        out["eager"] = eager[-1].t
    passes = [e for e in events if e.kind == "stt_pass" and e.text.split()[0] in ("full", "final", "tail-full")
              and transcript is not None and start <= e.t <= transcript.t]
    if passes:
        out["full_pass_start"] = passes[-1].t - float(passes[-1].text.split()[1].rstrip("s"))
    verdicts = [e for e in events if e.kind == "verdict" and start <= e.t <= stop]
    if verdicts:
        out["verdict"] = verdicts[-1].t
    llm = stamps["llm_start"]
    if llm is not None:
        ttfb = next((e for e in events if e.kind == "llm_ttfb" and e.t >= llm.t), None)
        if ttfb is not None:
            out["llm_generated"] = llm.t + float(ttfb.text)
    return {k: round((t - end) * 1000, 1) for k, t in out.items()}
