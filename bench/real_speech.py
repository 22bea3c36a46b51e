"""Real human speech for the benchmarks and tests (``tests/data/speech/``, see its README).

- :func:`harvard_clips`: four Harvard sentences by two speakers, with reference texts;
- :data:`LECTURE_SENTENCE_ENDS_SECS`: where the sentences of ``silero-test.wav`` (a lecture with
  pauses inside sentences) end, annotated by hand from word timestamps;
- :func:`lecture_clips`: single lecture sentences (no pause over 1.5 s inside) as user turns;
- :func:`piper_clips`: varied Piper clips, deterministic (noise-free synthesis at set speeds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from runtime.transports.wav_file import read_wav_pcm16

SPEECH_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "speech"
RATE = 16000

LECTURE = SPEECH_DIR / "silero-test.wav"
LECTURE_SENTENCE_ENDS_SECS: tuple[float, ...] = (1.98, 6.84, 29.32, 35.68, 47.12, 50.20, 54.26)
"""Ends of the lecture's complete sentences ("... how do I get to Dublin?", "... Sonny.",
"That is to say ... if at all.", "This spills over ... scholars.", "Thomas Piketty ... wealth
tax.", "Well, good luck with that.", "Who's going to implement ...?"); the last sentence runs
past the end of the file. Any other turn end in the file is inside a sentence."""

LECTURE_SENTENCES: tuple[tuple[float, float, str], ...] = (
    (2.70, 6.95, "And the answer that comes back is, well, I wouldn't start from here, Sonny."),
    (29.25, 35.80, "This spills over into normative arguments made by other scholars."),
    (48.45, 50.35, "Well, good luck with that."),
    (51.05, 54.35, "Who's going to implement a 4% global wealth tax?"),
)
"""(start, end, text) of lecture sentences used as single user turns."""

LECTURE_NEXT_STARTS_SECS: tuple[float, ...] = (2.80, 8.98, 29.32, 35.96, 48.60, 51.18, 54.26)
"""Where the speech after each of :data:`LECTURE_SENTENCE_ENDS_SECS` begins."""

PIPER_TEXTS: tuple[str, ...] = (
    "Thanks. What should I cook for dinner tonight?",
    "What is the capital of France?",
    "Okay, can you tell me a joke?",
    "How far is the moon from the earth?",
    "Why is the sky blue?",
    "Give me a quick tip for sleeping better.",
    "Which planet is closest to the sun?",
    "Can you recommend a good book for a long flight?",
)
PIPER_SPEEDS = (0.85, 1.15)  # Piper length_scale: faster and slower than its default

PAUSED_SENTENCES: tuple[tuple[str, str], ...] = (
    ("I'd like to book a table for two people.", "table"),
    ("Can you tell me the way to the nearest train station?", "way"),
    ("I was wondering whether you could help me with my homework.", "wondering"),
    ("My sister and I are planning a trip to Italy next summer.", "and"),
)
"""Sentences with a Piper-made pause after a word inside them."""


def pcm_of(path: Path) -> bytes:
    return read_wav_pcm16(path, RATE)


def harvard_clips() -> list[tuple[str, bytes, str]]:
    """(name, 16 kHz PCM, reference text) of the Harvard sentences."""
    refs = json.loads((SPEECH_DIR / "transcripts.json").read_text())
    return [(name, pcm_of(SPEECH_DIR / name), ref) for name, ref in sorted(refs.items())]


def lecture_clips() -> list[tuple[str, bytes, str]]:
    """(name, PCM, text) of single lecture sentences."""
    pcm = pcm_of(LECTURE)
    return [(f"lecture@{a:.0f}s", pcm[int(a * RATE) * 2:int(b * RATE) * 2], text) for a, b, text in LECTURE_SENTENCES]


def piper_clips(folder: Path, limit: int | None = None) -> list[tuple[str, bytes, str]]:
    """(name, PCM, text): each text at each speed of :data:`PIPER_SPEEDS`, noise-free (the
    first ``limit`` only, if given)."""
    from piper import SynthesisConfig

    from bench.spoken_questions import _write_wav
    from runtime.speech import piper_voice

    voice = piper_voice()
    out = []
    for text in PIPER_TEXTS:
        for speed in PIPER_SPEEDS:
            config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=speed)
            chunks = list(voice.synthesize(text, syn_config=config))
            audio, rate = np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate
            path = _write_wav(folder / f"piper-{PIPER_TEXTS.index(text)}-{speed}.wav", audio, rate)
            out.append((f"piper x{speed}", pcm_of(path), text))
            if limit is not None and len(out) >= limit:
                return out
    return out


def write_wav(path: Path, pcm: bytes) -> Path:
    """16 kHz mono PCM into a WAV (for the WAV transport)."""
    from bench.spoken_questions import _write_wav

    return _write_wav(path, np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0, RATE)
