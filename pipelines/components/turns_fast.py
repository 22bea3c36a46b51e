"""``[turns] type = "transcript-aware"``: Smart Turn + the transcript's ending, preemptive LLM."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import ConfigError
from pipelines.registry import BuildContext, register


@dataclass
class TranscriptAwareTurnOptions:
    """:class:`processors.turn_transcript_aware.TranscriptAwareTurnStopStrategy`.

    Parameters:
        question_probability: Smart Turn probability that ends a question Whisper closed
            with ``?`` at the VAD stop.
        complete_probability: Smart Turn probability that ends a statement closed with
            ``.``/``!`` at the VAD stop.
        incomplete_probability: Below this, unpunctuated text counts as unfinished.
        uncertain_silence_secs: Silence after which an uncertain turn ends.
        incomplete_silence_secs: Silence after which an unfinished-sounding turn ends.
        preemptive: Start the LLM on the transcript before the turn is confirmed (the answer
            is held until then, dropped if the user goes on).
        smart_turn_threads: ONNX Runtime threads for Smart Turn.
        stop_timeout_secs: Longest wait for the end of a turn before it is closed anyway.
    """

    question_probability: float = 0.5
    complete_probability: float = 0.95
    incomplete_probability: float = 0.5
    uncertain_silence_secs: float = 1.0
    incomplete_silence_secs: float = 2.0
    preemptive: bool = True
    smart_turn_threads: int = 1
    stop_timeout_secs: float = 15.0


@register("turns", "transcript-aware", TranscriptAwareTurnOptions,
          "Smart Turn + transcript ending; waits through mid-sentence pauses; preemptive LLM")
def transcript_aware_turns(opts: TranscriptAwareTurnOptions, ctx: BuildContext):
    """Returns the user aggregator's params (``LLMUserAggregatorParams``)."""
    from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from processors.turn_smart_analyzer import TurnSmartAnalyzer
    from processors.turn_transcript_aware import TranscriptAwareTurnSettings, TranscriptAwareTurnStopStrategy

    try:
        settings = TranscriptAwareTurnSettings(
            question_probability=opts.question_probability,
            complete_probability=opts.complete_probability,
            incomplete_probability=opts.incomplete_probability,
            uncertain_silence_secs=opts.uncertain_silence_secs,
            incomplete_silence_secs=opts.incomplete_silence_secs,
            preemptive=opts.preemptive,
        )
    except ValueError as e:
        raise ConfigError(ctx.config_path, "turns", str(e)) from None
    strategy = TranscriptAwareTurnStopStrategy(
        turn_analyzer=TurnSmartAnalyzer(cpu_count=opts.smart_turn_threads), settings=settings
    )
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=[strategy]),
        user_turn_stop_timeout=opts.stop_timeout_secs,
    )
