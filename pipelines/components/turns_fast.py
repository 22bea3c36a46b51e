"""``[turns] type = "transcript-aware"``: Smart Turn + the transcript's ending, preemptive LLM."""

from __future__ import annotations

from dataclasses import dataclass, fields

from processors.turn_transcript_aware import TranscriptAwareTurnSettings

from pipelines.registry import BuildContext, register


@dataclass
class TranscriptAwareTurnOptions(TranscriptAwareTurnSettings):
    """:class:`processors.turn_transcript_aware.TranscriptAwareTurnStopStrategy`: its settings
    (:class:`~processors.turn_transcript_aware.TranscriptAwareTurnSettings`) plus:

    Parameters:
        smart_turn_threads: ONNX Runtime threads for Smart Turn.
        stop_timeout_secs: Longest wait for the end of a turn before it is closed anyway.
    """

    smart_turn_threads: int = 1
    stop_timeout_secs: float = 15.0


@register("turns", "transcript-aware", TranscriptAwareTurnOptions,
          "Smart Turn + transcript ending; waits through mid-sentence pauses; preemptive LLM")
def transcript_aware_turns(opts: TranscriptAwareTurnOptions, ctx: BuildContext):
    """Returns the user aggregator's params (``LLMUserAggregatorParams``)."""
    from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from processors.turn_smart_analyzer import TurnSmartAnalyzer
    from processors.turn_transcript_aware import TranscriptAwareTurnStopStrategy

    settings = TranscriptAwareTurnSettings(**{f.name: getattr(opts, f.name) for f in fields(TranscriptAwareTurnSettings)})
    strategy = TranscriptAwareTurnStopStrategy(
        turn_analyzer=TurnSmartAnalyzer(cpu_count=opts.smart_turn_threads), settings=settings
    )
    return LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(stop=[strategy]),
        user_turn_stop_timeout=opts.stop_timeout_secs,
    )
