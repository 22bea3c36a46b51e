"""``[vad]``: voice activity detection (Silero ONNX model shipped inside pipecat)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.registry import BuildContext, register


@dataclass
class SileroOptions:
    """Silero VAD thresholds (pipecat's ``VADParams``).

    Parameters:
        confidence: Speech probability above which a frame counts as speech.
        start_secs: Speech needed before "user started speaking".
        stop_secs: Silence needed before "user stopped speaking".
        min_volume: Minimum loudness for speech.
    """

    confidence: float = 0.7
    start_secs: float = 0.2
    stop_secs: float = 0.2
    min_volume: float = 0.6


@register("vad", "silero", SileroOptions, "Silero VAD (ONNX, bundled with pipecat)")
def silero(opts: SileroOptions, ctx: BuildContext):
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.processors.audio.vad_processor import VADProcessor

    from processors.vad import SharedSileroVADAnalyzer

    params = VADParams(
        confidence=opts.confidence,
        start_secs=opts.start_secs,
        stop_secs=opts.stop_secs,
        min_volume=opts.min_volume,
    )
    # Shareable: the builder hands this analyzer to the interruption handler (one Silero for both).
    return VADProcessor(vad_analyzer=SharedSileroVADAnalyzer(params=params))
