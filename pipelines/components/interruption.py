"""``[interruption] type = "handler"``: barge-in with :class:`processors.InterruptionHandler`.

The handler sits right after the VAD; it needs ``[playback] type = "gate"`` right before the
output transport, and the builder gives the user aggregator the turn-start strategies of
:func:`processors.interruption.turns.handler_turn_strategies`.
"""

from __future__ import annotations

from processors.interruption.settings import InterruptionSettings

from pipelines.registry import BuildContext, register


@register("interruption", "handler", InterruptionSettings, "barge-in: pause at speech onset, then interrupt or resume")
def interruption_handler(settings: InterruptionSettings, ctx: BuildContext):
    """Keys: :class:`processors.interruption.settings.InterruptionSettings`.

    With a Silero ``[vad]`` built before it, the handler reads that model's scores
    (``ctx.vad_analyzer``) instead of running a second one.
    """
    from processors.interruption.handler import InterruptionHandler
    from processors.vad import SharedSileroVADAnalyzer

    shared = ctx.vad_analyzer if isinstance(ctx.vad_analyzer, SharedSileroVADAnalyzer) else None
    return InterruptionHandler(settings=settings, vad_analyzer=shared)
