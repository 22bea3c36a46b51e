"""Shared fixtures: an ALSA null sound device, the local LLM and TTS servers, spoken test questions."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# An ALSA null device lets tests open real PortAudio streams on a machine without a sound card.
# It must be in place before PortAudio initialises, hence at import time.
_ALSA_HOME = Path(tempfile.mkdtemp(prefix="voice-agent-alsa-"))
(_ALSA_HOME / "alsa").mkdir()
(_ALSA_HOME / "alsa" / "asoundrc").write_text(
    'pcm.!default {type plug slave.pcm "nullpcm"}\npcm.nullpcm {type null}\n'
)
os.environ["XDG_CONFIG_HOME"] = str(_ALSA_HOME)


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory):
    """The bundled SmolLM2 behind llama.cpp's OpenAI-compatible server, for the whole session."""
    from runtime.llm_server import LocalLLMServer

    server = LocalLLMServer(log_path=tmp_path_factory.mktemp("llm") / "llm-server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def tts_server():
    """The local Gradium-compatible server (Piper) on 127.0.0.1, for one test."""
    from runtime.tts_server import TTSServer

    async with TTSServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def spoken(tmp_path_factory):
    """``spoken(text)`` -> a WAV of ``text`` in the bundled Piper voice (cached per session).

    Noise-free synthesis: the same words sound the same on every run, so what Whisper and the
    VAD make of a test's speech does not change from one CI run to the next.
    """
    from runtime.speech import speak_to_wav

    folder = tmp_path_factory.mktemp("spoken")
    cache: dict[str, Path] = {}

    def make(text: str) -> Path:
        if text not in cache:
            cache[text] = speak_to_wav(text, folder / f"q{len(cache):02d}.wav", varied=False)
        return cache[text]

    return make
