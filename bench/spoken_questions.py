"""Spoken test input: questions in the bundled Piper voice, and sentences with a real pause
spliced in at a word boundary (Piper's phoneme alignments give the boundary exactly).

The pause keeps the sentence's own prosody (it is cut out of the whole sentence, not two
separately spoken halves), which is how a person pausing mid-sentence sounds.
"""

from __future__ import annotations

import hashlib
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

QUESTIONS: tuple[str, ...] = (
    "What is the capital of France?",
    "Tell me one interesting fact about the ocean.",
    "Can you recommend a good book for a long flight?",
    "How far is the moon from the earth?",
    "Give me a quick tip for sleeping better.",
    "Why is the sky blue?",
    "How many minutes should I boil an egg?",
    "Which planet is closest to the sun?",
)
"""Single-sentence questions (voice-to-voice benchmark)."""

PAUSE_SENTENCE = ("I'd like to book a table for two people.", "table")
"""The mid-sentence pause case: pause after this word."""


@dataclass
class SplicedSpeech:
    """A sentence with a pause inserted after one of its words (times in the WAV, seconds)."""

    path: Path
    text: str
    pause_start: float
    pause_end: float


@lru_cache(maxsize=1)
def _aligned_voice():
    from piper import PiperVoice

    from runtime.models import piper_voice_path

    return PiperVoice.load(str(piper_voice_path()), include_alignments=True)


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    tmp.replace(path)
    return path


def _name(text: str, extra: str = "") -> str:
    return hashlib.sha1(f"{text}|{extra}".encode()).hexdigest()[:12]


def spoken(text: str, folder: Path) -> Path:
    """``text`` in the bundled Piper voice (cached in ``folder``)."""
    from runtime.speech import speak_to_wav

    path = folder / f"say-{_name(text)}.wav"
    return path if path.exists() else speak_to_wav(text, path)


def word_boundaries(text: str, *, strict: bool = True, length_scale: float = 1.0) -> tuple[np.ndarray, int, list[int]]:
    """Piper audio of one sentence, its rate, and the sample where each word boundary is.

    Noise-free synthesis (the same audio on every machine); ``length_scale`` > 1 speaks slower.
    Boundaries are the quietest 10 ms of each inter-word gap in Piper's phoneme alignment. With
    ``strict``, raises ``ValueError`` if they do not match the words (espeak sometimes joins
    short words, e.g. "for a").
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
    chunks = list(_aligned_voice().synthesize(text, syn_config=config, include_alignments=True))
    if len(chunks) != 1 or chunks[0].phoneme_alignments is None:
        raise ValueError(f"need one aligned sentence, got {len(chunks)} chunk(s) for {text!r}")
    chunk = chunks[0]
    audio = chunk.audio_float_array
    bounds, pos = [], 0
    for a in chunk.phoneme_alignments:
        if a.phoneme == " ":
            bounds.append(_quietest(audio, pos, pos + a.num_samples, chunk.sample_rate))
        pos += a.num_samples
    if strict and len(bounds) != len(text.split()) - 1:
        raise ValueError(f"{len(bounds)} word gaps in Piper's phonemes for {len(text.split())} words: {text!r}")
    return audio, chunk.sample_rate, bounds


def _quietest(audio: np.ndarray, start: int, end: int, rate: int) -> int:
    """The centre of the quietest 10 ms inside ``audio[start:end]`` (where to cut)."""
    win = max(1, rate // 100)
    if end - start <= win:
        return (start + end) // 2
    energy = np.convolve(audio[start:end] ** 2, np.ones(win), mode="valid")
    return start + int(np.argmin(energy)) + win // 2


def spliced_pause(text: str, after_word: str, pause_secs: float, folder: Path,
                  length_scale: float = 1.0) -> SplicedSpeech:
    """``text`` spoken (noise-free) with ``pause_secs`` of silence after ``after_word`` (cached)."""
    words = text.split()
    if after_word not in words[:-1]:
        raise ValueError(f"{after_word!r} is not a word before the last one in {text!r}")
    path = folder / f"pause-{_name(text, f'{after_word}|{pause_secs}|{length_scale}|fixed')}.wav"
    audio, rate, bounds = word_boundaries(text, length_scale=length_scale)
    cut = bounds[words.index(after_word)]
    if not path.exists():
        gap = np.zeros(int(pause_secs * rate), np.float32)
        _write_wav(path, np.concatenate([audio[:cut], gap, audio[cut:]]), rate)
    return SplicedSpeech(path=path, text=text, pause_start=cut / rate, pause_end=cut / rate + pause_secs)
