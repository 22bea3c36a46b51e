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

    from processors.vad.shared_silero import SharedSileroVADAnalyzer, load_silero_session

    params = VADParams(
        confidence=opts.confidence,
        start_secs=opts.start_secs,
        stop_secs=opts.stop_secs,
        min_volume=opts.min_volume,
    )
    # The ONNX session is loaded once per model cache (serve: once for every call); the
    # analyzer, with the stream's state, is this pipeline's own. The builder hands it to the
    # interruption handler too (one Silero for both).
    session = ctx.model(("silero-vad",), load_silero_session)
    return VADProcessor(vad_analyzer=SharedSileroVADAnalyzer(params=params, session=session))
