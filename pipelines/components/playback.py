"""``[playback] type = "gate"``: the playback gate before the output transport."""

from __future__ import annotations

from processors.playback.gate import PlaybackGate, PlaybackGateSettings

from pipelines.registry import BuildContext, register


@register("playback", "gate", PlaybackGateSettings, "releases audio just in time; pause/resume/drop")
def playback_gate(settings: PlaybackGateSettings, ctx: BuildContext):
    """Keys: :class:`processors.playback.gate.PlaybackGateSettings`."""
    return PlaybackGate(settings=settings)
