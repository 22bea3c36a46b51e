"""Offline speech synthesis helpers (Piper, bundled voice) for samples, tests and ``say``."""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def piper_voice():
    """The bundled Piper voice, loaded once per process."""
    from piper import PiperVoice

    from agent.models import piper_voice_path

    return PiperVoice.load(str(piper_voice_path()))


def speak_to_wav(text: str, path: Path) -> Path:
    """Synthesize ``text`` with the bundled voice into a 16-bit mono WAV at the voice's rate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    with wave.open(str(tmp), "wb") as wav:
        piper_voice().synthesize_wav(text, wav)
    tmp.replace(path)
    return path
