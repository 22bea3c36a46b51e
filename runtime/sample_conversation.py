"""The bundled sample conversation: user questions spoken by Piper on first use, then cached."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from loguru import logger

QUESTIONS: tuple[str, ...] = (
    "Hello! What is the capital of France?",
    "Tell me one interesting fact about the ocean.",
    "Thanks. What should I cook for dinner tonight?",
)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "voice-agent" / "sample-conversation"


def sample_conversation_wavs(questions: tuple[str, ...] = QUESTIONS) -> list[Path]:
    """WAV files of the sample user turns (synthesized once, reused after)."""
    from runtime.speech import speak_to_wav

    paths = []
    for i, text in enumerate(questions, start=1):
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        path = cache_dir() / f"user-{i:02d}-{digest}.wav"
        if not path.exists():
            logger.info(f"speaking sample question {i}/{len(questions)} with Piper: {text!r}")
            speak_to_wav(text, path)
        paths.append(path)
    return paths
