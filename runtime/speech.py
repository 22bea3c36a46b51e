"""Offline speech synthesis helpers (Piper, bundled voice) for samples, tests and ``say``."""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def piper_voice():
    """The bundled Piper voice, loaded once per process."""
    from piper import PiperVoice

    from runtime.models import piper_voice_path

    return PiperVoice.load(str(piper_voice_path()))


def speak_to_wav(text: str, path: Path, *, varied: bool = True) -> Path:
    """Synthesize ``text`` with the bundled voice into a 16-bit mono WAV at the voice's rate.

    ``varied=False`` turns off Piper's random prosody noise: the same text then gives the same
    audio on every call (a fixed test scene instead of a new one each run).
    """
    from piper import SynthesisConfig

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    config = None if varied else SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    with wave.open(str(tmp), "wb") as wav:
        piper_voice().synthesize_wav(text, wav, syn_config=config)
    tmp.replace(path)
    return path
