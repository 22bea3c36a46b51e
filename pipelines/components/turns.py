"""``[turns]``: when the user's turn ends: ``transcript-aware`` (Smart Turn + the transcript's
ending, preemptive LLM) or ``pipecat`` (stock user-turn strategies)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from processors.turns.transcript_aware import TranscriptAwareTurnSettings

from pipelines.registry import BuildContext, register


@dataclass
class TurnOptions:
    """How the end of the user's turn is decided.

    Parameters:
        stop: ``"smart-turn"`` (pipecat's bundled Smart Turn v3 model on the VAD stop, stock
            default) or ``"speech-timeout"`` (a fixed silence after the VAD stop).
        speech_timeout_secs: Silence for ``"speech-timeout"``.
        stop_timeout_secs: Longest wait for the end of a turn (e.g. for a transcript from a slow
            STT) before the turn is closed anyway; pipecat's default of 5 s is too short for a
            busy CPU.
    """

    stop: Literal["smart-turn", "speech-timeout"] = "smart-turn"
    speech_timeout_secs: float = 0.6
    stop_timeout_secs: float = 15.0


@register("turns", "pipecat", TurnOptions, "pipecat's user-turn strategies")
def pipecat_turns(opts: TurnOptions, ctx: BuildContext):
    """Returns the user aggregator's params (``LLMUserAggregatorParams``)."""
    from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies, default_user_turn_stop_strategies

    if opts.stop == "speech-timeout":
        stop = [SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=opts.speech_timeout_secs)]
    else:
        stop = default_user_turn_stop_strategies()
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=stop),
        user_turn_stop_timeout=opts.stop_timeout_secs,
    )


@dataclass
class TranscriptAwareTurnOptions(TranscriptAwareTurnSettings):
    """:class:`processors.turns.transcript_aware.TranscriptAwareTurnStopStrategy`: its settings
    (:class:`~processors.turns.transcript_aware.TranscriptAwareTurnSettings`) plus:

    Parameters:
        smart_turn_threads: ONNX Runtime threads for Smart Turn.
        text_end_model: Read the transcript with the bundled SmolLM2-135M
            (:class:`~processors.turns.text_end.TextEndModel`, one llama.cpp thread, ~80 ms for a
            short turn); ``false``: Smart Turn and the text rules alone.
        stop_timeout_secs: Longest wait for the end of a turn before it is closed anyway.
    """

    smart_turn_threads: int = 1
    text_end_model: bool = True
    stop_timeout_secs: float = 15.0


@register("turns", "transcript-aware", TranscriptAwareTurnOptions,
          "Smart Turn + transcript ending; waits through mid-sentence pauses; preemptive LLM")
def transcript_aware_turns(opts: TranscriptAwareTurnOptions, ctx: BuildContext):
    """Returns the user aggregator's params (``LLMUserAggregatorParams``)."""
    from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from processors.turns.smart_analyzer import TurnSmartAnalyzer, load_smart_turn_session
    from processors.turns.transcript_aware import TranscriptAwareTurnStopStrategy

    settings = TranscriptAwareTurnSettings(**{f.name: getattr(opts, f.name) for f in fields(TranscriptAwareTurnSettings)})
    threads = opts.smart_turn_threads
    session = ctx.model(("smart-turn-v3", threads), lambda: load_smart_turn_session(threads))  # once per cache
    text_model = ctx.model(("text-end",), _load_text_end_model) if opts.text_end_model else None
    strategy = TranscriptAwareTurnStopStrategy(
        turn_analyzer=TurnSmartAnalyzer(cpu_count=threads, session=session), settings=settings,
        text_model=text_model,
    )
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=[strategy]),
        user_turn_stop_timeout=opts.stop_timeout_secs,
    )


def _load_text_end_model():
    from processors.turns.text_end import TextEndModel
    from runtime.models import smollm2_gguf_path

    return TextEndModel(smollm2_gguf_path(), threads=1)
