"""``[turns]``: when the user's turn ends (pipecat user-turn strategies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
