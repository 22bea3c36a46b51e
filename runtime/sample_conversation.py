"""The bundled sample conversation: user turns spoken by Piper once, committed as WAV files.

The audio ships in ``runtime/data/sample_conversation/`` with a manifest of each file's text
and SHA-256, so ``make run`` without a sound card and ``voice-agent demo`` are the same
conversation on every machine (Piper's prosody is random, and its noise-free output may still
differ between CPUs). ``python -m runtime.sample_conversation`` writes them again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data" / "sample_conversation"
MANIFEST = DATA_DIR / "manifest.json"

QUESTIONS: tuple[str, ...] = (
    "Hello! What is the capital of France?",
    "Tell me one interesting fact about the ocean.",
    "Thanks. What should I cook for dinner tonight?",
)
# The demo: a question, a request for a long story and, 2 s into that story, the user talking over it.
DEMO_TURNS: tuple[tuple[str, float | None], ...] = (
    ("Hello! What is the capital of France?", None),
    ("Please tell me a long story about a dragon who loves the sea.", None),
    ("Stop please and tell me what two plus two is.", 2.0),
)


class SampleAudioError(RuntimeError):
    """A bundled sample WAV is missing or not the one the manifest names."""


def _file_name(text: str) -> str:
    return f"{hashlib.sha1(text.encode()).hexdigest()[:10]}.wav"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_wav(text: str) -> Path:
    """The committed WAV of ``text``, checked against the manifest."""
    entry = json.loads(MANIFEST.read_text()).get(text)
    path = DATA_DIR / _file_name(text)
    if entry is None or not path.exists():
        raise SampleAudioError(f"no bundled sample audio for {text!r} (python -m runtime.sample_conversation)")
    if _sha256(path) != entry["sha256"]:
        raise SampleAudioError(f"{path} does not match its SHA-256 in {MANIFEST}")
    return path


def sample_conversation_wavs(questions: tuple[str, ...] = QUESTIONS) -> list[Path]:
    """WAV files of the sample user turns."""
    return [sample_wav(text) for text in questions]


def write_sample_audio() -> None:
    """Speak every sample text with Piper (noise-free) and write the WAVs and the manifest."""
    from runtime.speech import speak_to_wav

    texts = dict.fromkeys([*QUESTIONS, *(text for text, _ in DEMO_TURNS)])
    manifest = {}
    for text in texts:
        path = speak_to_wav(text, DATA_DIR / _file_name(text), varied=False)
        manifest[text] = {"file": path.name, "sha256": _sha256(path)}
        print(f"{path.name}  {text}")
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    write_sample_audio()
