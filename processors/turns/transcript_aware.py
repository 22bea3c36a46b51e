"""``TranscriptAwareTurnStopStrategy``: end the user's turn when it is over, wait through a
pause inside a sentence, and have the answer ready either way.

At each VAD stop three verdicts are combined (:func:`turn_decision`): Smart Turn v3 on the audio
(a probability), the transcript's ending (:func:`~processors.turns.text_rules.text_completeness`)
and, with a :class:`~processors.turns.text_end.TextEndModel`, a language model's probability that
the sentence ends there. Each outcome is a wait, in seconds of silence since the speech end:

- text that cannot end a sentence ("... a table for", "... and", a trailing comma/ellipsis), or
  unpunctuated text with probability < ``incomplete_probability``: "incomplete", after
  ``incomplete_silence_secs``;
- a sentence Whisper closed (``.``/``?``/``!``) that the language model also finds ended
  (>= ``text_end_probability``), unless Smart Turn vetoes it (< ``smart_turn_veto``): "end",
  after ``complete_silence_secs``;
- a language-model end probability < ``continues_probability`` ("I'd like to book a table",
  "Can you tell me the way": it expects "for ...", "to ..."): "continues", after
  ``continues_silence_secs``;
- anything else: "uncertain", after ``uncertain_silence_secs``.

Without a text model (``[turns] text_end_model = false``, or after it failed) the "end" test is
Smart Turn's alone (``question_probability`` for a ``?`` question, ``complete_probability`` for
a statement), there is no "continues", and every turn that is not unfinished waits
``no_text_model_silence_secs`` (1.3 s, the rule measured before the model).

Why three signals: on real and Piper speech Smart Turn gives a pause after a complete-sounding
first half ("I'd like to book a table.", "Remind me to call.") the same 0.93-0.98 as a real end,
and Whisper punctuates both, so without the language model only a long wait (1.3 s) kept such
pauses open, and every answer came 1.3 s after the user's last word. The language model tells
most such halves from ends (0.001-0.02 against 0.14-0.86 on the benchmark's sentences), and
Smart Turn's low scores (0.01-0.06) mark most real speakers' pauses inside a sentence. The
trade-off is measured by :mod:`bench.turn_end_sweep` (docs/benchmarks.md, benchmark 9).

If the user speaks again during a wait, the turn goes on and the next stop is judged on the
whole turn (Smart Turn keeps the turn's audio; the text is the turn's transcript so far). The
VAD reports resumed speech only ``start_secs`` (and a little) after it resumed, so the waits
count silence from the last loud audio frame (``resume_db`` below the turn's loudest), for at
most ``resume_grace_secs`` beyond the planned end: a pause just shorter than the wait is not
cut off while the VAD is still confirming the new speech.
Stock pipecat ends the turn whenever Smart Turn says > 0.5, which with a mid-sentence pause
cuts the user off, and waits 3 s whenever it says <= 0.5, even after a plain question.

Preemptive generation: with ``preemptive``, the LLM is started on the transcript as soon as it
is known (an ``EagerTranscriptionFrame`` from the streaming STT before the VAD stop, or the
final transcript), through pipecat's speculative inference: the answer is held until the turn
ends and discarded if the user goes on or the final transcript differs. With the playback gate
in the pipeline it is held there, after the TTS, so its audio is ready at the turn end
(:mod:`processors.playback.speculation`); else by the LLM service's speculation gate. Smart Turn also runs on the eager transcript (the speech
has gone quiet), so at the VAD stop its verdict is usually ready; it is reused only if nothing
loud was heard since.

A turn closed too early is reopened (:mod:`~processors.turns.merge`): if the user goes on within
``merge_window_secs`` of the close, before ``merge_max_heard_secs`` of the answer has played,
the answer is dropped and both parts are one turn and one transcript. The builder hands the
user aggregator to :meth:`TranscriptAwareTurnStopStrategy.attach_aggregator` for that.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from loguru import logger

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    EagerTranscriptionFrame,
    Frame,
    InputAudioRawFrame,
    MetricsFrame,
    SpeechControlParamsFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop import BaseUserTurnStopStrategy, NormalizedMatch

from processors.streaming_whisper.segment import frame_rms
from processors.interruption.frames import UserSpeechRejectedFrame
from processors.turns.frames import TurnTranscriptionFrame, UserTurnMergedFrame
from processors.turns.merge import TurnMerger
from processors.turns.smart_analyzer import TurnSmartAnalyzer
from processors.turns.text_end import TextEndModel
from processors.turns.text_rules import text_completeness

__all__ = ["TranscriptAwareTurnSettings", "TranscriptAwareTurnStopStrategy", "turn_decision"]


@dataclass
class TranscriptAwareTurnSettings:
    """Thresholds of :class:`TranscriptAwareTurnStopStrategy` (see :func:`turn_decision`).

    Parameters:
        text_end_probability: Language-model end probability at or above which a closed
            sentence is an end.
        continues_probability: Below this language-model end probability the sentence goes on.
        smart_turn_veto: Smart Turn probability below which the audio vetoes an end.
        question_probability: Without a text model: Smart Turn probability that makes a ``?``
            question complete.
        complete_probability: Without a text model: Smart Turn probability that makes a
            ``.``/``!`` statement complete.
        incomplete_probability: Below this, unpunctuated text counts as unfinished.
        complete_silence_secs: Silence (since the speech end) after which a complete-sounding
            turn ends; 0: at the VAD stop.
        uncertain_silence_secs: Silence after which an uncertain turn ends.
        continues_silence_secs: Silence after which a turn the language model expects to go on
            ends.
        no_text_model_silence_secs: Without a text model (turned off, or failed): the wait of
            every turn that is not unfinished (the rule measured before the model: a shorter
            wait closes complete-sounding halves inside the sentence).
        incomplete_silence_secs: Silence after which an unfinished-sounding turn ends (also the
            longest wait of all).
        preemptive: Start the LLM on the transcript before the turn is confirmed.
        resume_db: Audio this far below the turn's loudest frame is silence for the waits.
        resume_grace_secs: Longest extension of a wait by loud audio the VAD has not
            confirmed as speech yet.
        merge_window_secs: New speech this soon after a turn's close continues that turn
            (its answer is dropped); 0: never.
        merge_max_heard_secs: ... unless more of the answer than this has played.
    """

    text_end_probability: float = 0.1
    continues_probability: float = 0.02
    smart_turn_veto: float = 0.1
    question_probability: float = 0.5
    complete_probability: float = 0.95
    incomplete_probability: float = 0.5
    complete_silence_secs: float = 0.5
    uncertain_silence_secs: float = 1.0
    continues_silence_secs: float = 1.4
    no_text_model_silence_secs: float = 1.3
    incomplete_silence_secs: float = 2.0
    preemptive: bool = True
    resume_db: float = 30.0
    resume_grace_secs: float = 0.5
    merge_window_secs: float = 1.5
    merge_max_heard_secs: float = 1.0

    def __post_init__(self):
        for name in ("text_end_probability", "continues_probability", "smart_turn_veto",
                     "question_probability", "complete_probability", "incomplete_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")
        if not 0.0 <= self.complete_silence_secs <= self.incomplete_silence_secs:
            raise ValueError("need 0 <= complete_silence_secs <= incomplete_silence_secs")
        if self.continues_probability > self.text_end_probability:
            raise ValueError("need continues_probability <= text_end_probability")
        for name in ("uncertain_silence_secs", "continues_silence_secs", "no_text_model_silence_secs"):
            if not 0.0 < getattr(self, name) <= self.incomplete_silence_secs:
                raise ValueError(f"need 0 < {name} <= incomplete_silence_secs")


def turn_decision(
    probability: float, text: str, settings: TranscriptAwareTurnSettings, text_end: float | None = None
) -> tuple[str, float]:
    """``("end" | "uncertain" | "continues" | "incomplete", seconds of silence to wait)`` for one
    VAD stop: Smart Turn's ``probability``, the transcript ``text`` and, if known, the language
    model's ``text_end`` probability."""
    s = settings
    completeness = text_completeness(text)
    if completeness == "incomplete":
        return "incomplete", s.incomplete_silence_secs
    if completeness == "unknown" and probability < s.incomplete_probability:
        return "incomplete", s.incomplete_silence_secs
    if text_end is None:  # Smart Turn alone: only a long wait keeps a complete-sounding pause open
        question = text.rstrip("\"')] ").endswith("?")
        ended = completeness == "complete" and probability >= (
            s.question_probability if question else s.complete_probability)
        return ("end" if ended else "uncertain"), s.no_text_model_silence_secs
    if completeness == "complete" and text_end >= s.text_end_probability and probability >= s.smart_turn_veto:
        return "end", s.complete_silence_secs
    if text_end < s.continues_probability:
        return "continues", s.continues_silence_secs
    return "uncertain", s.uncertain_silence_secs


def _join(a: str, b: str) -> str:
    return f"{a} {b}".strip()


class TranscriptAwareTurnStopStrategy(BaseUserTurnStopStrategy):
    """Smart Turn + transcript ending decide the turn end; optional speculative answer.

    Event handlers:
        on_verdict(strategy, info): at each decision, with a dict
            ``{probability, text, completeness, text_end, decision, wait_secs, final}``.
    """

    def __init__(
        self,
        *,
        turn_analyzer: TurnSmartAnalyzer | None = None,
        settings: TranscriptAwareTurnSettings | None = None,
        text_model: TextEndModel | None = None,
        **kwargs,
    ):
        """Args:
        turn_analyzer: Smart Turn (loads the bundled model if not given).
        settings: Thresholds and waits.
        text_model: The language model's end probability; None: Smart Turn and the text rules
            alone (see :func:`turn_decision`).
        """
        super().__init__(**kwargs)
        self._analyzer = turn_analyzer or TurnSmartAnalyzer()
        self._text_model = text_model
        self._text_end_wanted: str | None = None
        self._text_end_task: asyncio.Task | None = None
        self._settings = settings or TranscriptAwareTurnSettings()
        self._match = NormalizedMatch()
        self._vad_speaking = False
        self._text = ""  # finalized transcripts of this turn
        self._peak = 0.0  # loudest audio frame of this turn (RMS)
        self._last_loud = 0.0  # time.time() of the last loud frame
        self._speculation: UserTurnSpeculation | None = None
        self._merger = TurnMerger(self._settings.merge_window_secs, self._settings.merge_max_heard_secs)
        self._turn_open = False
        self._register_event_handler("on_verdict", sync=True)
        self._clear_stop()

    @property
    def settings(self) -> TranscriptAwareTurnSettings:
        return self._settings

    @property
    def merges(self) -> int:
        """How many turns were reopened and merged with the next one."""
        return self._merger.merges

    def attach_aggregator(self, aggregator) -> None:
        """The ``LLMUserAggregator`` this strategy ends turns for (enables turn merging)."""
        self._merger.attach(aggregator)

    def _clear_stop(self) -> None:
        self._stopped = False  # a VAD stop not yet followed by speech
        self._speech_end = 0.0
        self._probability: float | None = None
        self._final = False  # the stop's final transcript arrived
        self._eager_text = ""  # the latest eager transcript (the speech so far, fast pass)
        self._text_end_wanted = None  # a reading not started yet is stale now
        self._verdict_task: asyncio.Task | None = None
        self._wait_task: asyncio.Task | None = None
        # Smart Turn started on the eager transcript, before the VAD stop.
        self._early_task: asyncio.Task | None = None
        self._early_at = 0.0
        self._early_p: float | None = None

    async def _cancel_tasks(self, *, early: bool = False) -> None:
        tasks = [self._verdict_task, self._wait_task] + ([self._early_task] if early else [])
        for task in tasks:
            if task and task is not asyncio.current_task() and not task.done():
                await self.task_manager.cancel_task(task)
        self._verdict_task = self._wait_task = None
        if early:
            self._early_task = None

    # -- lifecycle ------------------------------------------------------------------------

    async def setup(self, setup: FrameProcessorSetup):
        await super().setup(setup)
        self._analyzer.set_sample_rate(setup.audio_in_sample_rate)

    async def cleanup(self):
        await super().cleanup()
        await self._cancel_tasks(early=True)
        if self._text_end_task:
            await self.task_manager.cancel_task(self._text_end_task)
        await self._analyzer.cleanup()

    async def handle_user_turn_started(self):
        await self._reset_turn()
        self._turn_open = True
        await self._maybe_merge()

    async def _maybe_merge(self):
        """The new turn continues the one closed too early (see :mod:`~processors.turns.merge`)."""
        merged = self._merger.turn_started()
        if merged is not None:
            self._text = _join(merged, self._text)  # the next decision is about the whole thought
            await self.push_frame(UserTurnMergedFrame(text=merged), FrameDirection.UPSTREAM)

    async def handle_user_turn_stopped(self):
        self._turn_open = False
        text = self._text
        await self._reset_turn()
        self._analyzer.clear()
        self._merger.closed(text)

    async def _reset_turn(self):
        await self._cancel_tasks(early=True)
        await self._withdraw()
        self._text = ""
        self._peak = 0.0
        self._clear_stop()

    # -- frames ---------------------------------------------------------------------------

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        await super().process_frame(frame)
        if isinstance(frame, StartFrame):
            await self.broadcast_frame(SpeechControlParamsFrame, turn_params=self._analyzer.params)
        elif isinstance(frame, InputAudioRawFrame):
            self._analyzer.append_audio(frame.audio, self._vad_speaking)
            self._track_level(frame.audio)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._merger.bot_started()
        elif isinstance(frame, UserSpeechRejectedFrame):
            self._merger.speech_rejected()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._analyzer.update_vad_start_secs(frame.start_secs)
            self._vad_speaking = True
            # Stock start strategies open the turn on this very frame, before we see it.
            if self._merger.speech_started(time.time() - frame.start_secs) and self._turn_open:
                await self._maybe_merge()
            if self._stopped or self._early_task:  # the user goes on: all of it is stale
                await self._cancel_tasks(early=True)
                await self._withdraw()
                self._clear_stop()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._on_vad_stop(frame)
        elif isinstance(frame, EagerTranscriptionFrame):
            self._eager_text = frame.text
            so_far = _join(self._text, frame.text)
            self._read_text_end(so_far)  # ready by the VAD stop
            await self._speculate(so_far)
            if self._stopped and not self._final:
                await self._decide()
            stale = self._early_task is not None and self._last_loud > self._early_at
            if not self._stopped and (self._early_task is None or stale):
                # The speech went quiet and the words are known: judge the audio now, so the
                # verdict is ready when the VAD stops.
                if self._early_task and not self._early_task.done():
                    await self.task_manager.cancel_task(self._early_task)
                self._early_at = time.time()
                self._early_task = self.task_manager.create_task(self._run_early(), f"{self}::early")
        elif isinstance(frame, TranscriptionFrame):
            if isinstance(frame, TurnTranscriptionFrame) and frame.turn_text:
                self._text = frame.turn_text  # one decoding of the whole turn beats the pieces
                self._merger.set_aggregation(frame.turn_text)
            else:
                self._text = _join(self._text, frame.text)
            if self._stopped:
                self._final = True
                await self._speculate(self._text)
                await self._decide()
        return ProcessFrameResult.CONTINUE

    def _track_level(self, audio: bytes) -> None:
        level = frame_rms(audio)
        if self._vad_speaking:
            self._peak = max(self._peak, level)
        if self._peak and level >= self._peak * 10 ** (-self._settings.resume_db / 20):
            self._last_loud = time.time()

    async def _on_vad_stop(self, frame: VADUserStoppedSpeakingFrame):
        await self._cancel_tasks()
        self._vad_speaking = False
        self._stopped = True
        self._speech_end = frame.timestamp - frame.stop_secs
        self._probability = None
        self._final = False
        # Safety net: no transcript or verdict ever comes -> end after the longest wait.
        self._arm_wait(self._settings.incomplete_silence_secs)
        early = self._early_task if self._early_task and self._last_loud <= self._early_at else None
        self._verdict_task = self.task_manager.create_task(self._run_verdict(early), f"{self}::verdict")

    async def _run_early(self):
        probability, metrics = await self._analyzer.probability()
        self._early_p = 0.5 if probability is None else probability
        if metrics:
            await self.push_frame(MetricsFrame(data=[metrics]))

    async def _run_verdict(self, early: asyncio.Task | None):
        """Smart Turn's probability for this stop: the early one if nothing was said since."""
        if early is not None:
            if not early.done():
                await asyncio.wait({early})
            probability = self._early_p
        else:
            probability, metrics = await self._analyzer.probability()
            if metrics:
                await self.push_frame(MetricsFrame(data=[metrics]))
        self._verdict_task = None
        self._probability = 0.5 if probability is None else probability
        await self._decide()

    # -- decision -------------------------------------------------------------------------

    async def _decide(self):
        """Judge the stop on the final transcript, or before it on the eager one (the final
        comes from the slower full-window pass): a turn only ends once its final is in."""
        if not self._stopped or self._probability is None or not (self._final or self._eager_text):
            return
        p = self._probability
        text = self._text if self._final else _join(self._text, self._eager_text)
        completeness = text_completeness(text)
        text_end = None
        if self._text_model is not None and completeness != "incomplete":
            text_end = self._text_model.cached_probability(text)
            if text_end is None:  # decided again when the language model has read it
                self._read_text_end(text)
                if self._final:  # a wait armed on other text must not end the turn meanwhile
                    await self._rearm_wait(self._settings.incomplete_silence_secs)
                return
        decision, wait = turn_decision(p, text, self._settings, text_end)
        end_log = "" if text_end is None else f" text_end={text_end:.3f}"
        logger.debug(f"{self}: p={p:.2f}{end_log} [{text}] final={self._final} -> {decision}")
        await self._call_event_handler("on_verdict", {
            "probability": round(p, 3), "text": text, "completeness": completeness,
            "text_end": None if text_end is None else round(text_end, 4),
            "decision": decision, "wait_secs": wait, "final": self._final,
        })
        if decision == "end" and wait <= 0:
            if self._final:
                await self._end_turn()
            elif self._wait_task:  # the final transcript will end it
                old, self._wait_task = self._wait_task, None
                await self.task_manager.cancel_task(old)
        else:
            await self._rearm_wait(wait)

    def _read_text_end(self, text: str) -> None:
        """Have the language model read ``text`` in a worker thread, then :meth:`_decide` again.
        One reading at a time, always of the latest text asked for (stale ones are skipped)."""
        if self._text_model is None or self._text_model.cached_probability(text) is not None:
            return
        self._text_end_wanted = text
        if self._text_end_task is None:
            self._text_end_task = self.task_manager.create_task(self._text_end_reader(), f"{self}::text_end")

    async def _text_end_reader(self) -> None:
        try:
            while self._text_model is not None and (text := self._text_end_wanted) is not None:
                self._text_end_wanted = None
                try:
                    await asyncio.to_thread(self._text_model.end_probability, text)
                except Exception:  # the turn must still end: go on without the model
                    logger.exception(f"{self}: the text end model failed; turns are decided without it")
                    self._text_model = None
                await self._decide()
        finally:
            self._text_end_task = None

    def _arm_wait(self, silence_secs: float):
        self._wait_task = self.task_manager.create_task(self._wait_then_end(silence_secs), f"{self}::wait")

    async def _rearm_wait(self, silence_secs: float):
        """Replace the armed wait; the new one is in place before the old one's cancellation
        is awaited, so a decision made meanwhile replaces it in turn (no orphaned wait)."""
        old = self._wait_task
        self._arm_wait(silence_secs)
        if old:
            await self.task_manager.cancel_task(old)

    async def _wait_then_end(self, silence_secs: float):
        planned = self._speech_end + silence_secs
        latest = planned + self._settings.resume_grace_secs
        while True:
            # Silence counts from the last loud frame: speech the VAD has not confirmed yet.
            due = min(max(planned, self._last_loud + silence_secs), latest)
            delay = due - time.time()
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        if self._wait_task is asyncio.current_task():
            self._wait_task = None
        if self._stopped and self._text and self._final:  # else the final's decision ends it
            await self._end_turn()

    async def _end_turn(self):
        await self._cancel_tasks()
        self._merger.tidy()
        speculation, self._speculation = self._speculation, None
        if speculation and self._match.matches(speculation.text, self._text):
            await self.trigger_user_turn_finalized(confirms_speculation=True)
            return
        if speculation:
            await self.trigger_user_turn_speculation_cancelled()
        await self.trigger_user_turn_stopped()

    # -- speculation ----------------------------------------------------------------------

    async def _speculate(self, text: str):
        if not self._settings.preemptive or text_completeness(text) == "incomplete":
            return
        if self._speculation and self._match.matches(self._speculation.text, text):
            return
        await self._withdraw()
        self._merger.tidy()
        self._speculation = UserTurnSpeculation(text=text)
        logger.debug(f"{self}: speculating on [{text}]")
        await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    async def _withdraw(self):
        if self._speculation:
            self._speculation = None
            await self.trigger_user_turn_speculation_cancelled()
