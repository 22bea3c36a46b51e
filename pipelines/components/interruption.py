"""``[interruption]`` (barge-in handler), ``[playback]`` (playback gate) and echo cancellation.

``[interruption] type = "handler"`` puts :class:`processors.InterruptionHandler` right after
the VAD; it needs ``[playback] type = "gate"`` right before the output transport and the
user-turn start strategies of :func:`processors.interruption_turns.handler_turn_strategies`. Echo cancellation is a
pair of transport audio filters (:func:`echo_cancel_filters`).
"""

from __future__ import annotations

from processors.interruption_settings import InterruptionSettings
from processors.playback_gate import PlaybackGate, PlaybackGateSettings

from pipelines.registry import BuildContext, register


@register("interruption", "handler", InterruptionSettings, "barge-in: pause at speech onset, then interrupt or resume")
def interruption_handler(settings: InterruptionSettings, ctx: BuildContext):
    """Keys: :class:`processors.interruption_settings.InterruptionSettings`."""
    from processors.interruption_handler import InterruptionHandler
    from processors.shared_silero import SharedSileroVADAnalyzer

    shared = ctx.vad_analyzer if isinstance(ctx.vad_analyzer, SharedSileroVADAnalyzer) else None
    return InterruptionHandler(settings=settings, vad_analyzer=shared)


@register("playback", "gate", PlaybackGateSettings, "releases audio just in time; pause/resume/drop")
def playback_gate(settings: PlaybackGateSettings, ctx: BuildContext):
    """Keys: :class:`processors.playback_gate.PlaybackGateSettings`."""
    return PlaybackGate(settings=settings)


def echo_cancel_filters(enabled: bool = True, **settings):
    """``(audio_in_filter, audio_out_filter)`` for a transport, or ``(None, None)`` if disabled."""
    if not enabled:
        return None, None
    from processors.echo_cancel import EchoCancelSettings
    from processors.echo_cancel import echo_cancel_filters as filters

    return filters(EchoCancelSettings(**settings))
