"""``[transport]``: the laptop's sound devices (``local``) or WAV files (``wav``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agent.config import ConfigError
from pipelines.registry import BuildContext, register


@dataclass
class LocalAudioOptions:
    """Microphone and speakers through PyAudio.

    Parameters:
        input_device: PyAudio input device index (``voice-agent devices``); None = default.
        output_device: PyAudio output device index; None = default.
        echo_cancellation: WebRTC acoustic echo cancellation (livekit's audio processing
            module) on the mic, fed with what the speakers play, for hands-free use.
    """

    input_device: int | None = None
    output_device: int | None = None
    echo_cancellation: bool = True


@register("transport", "local", LocalAudioOptions, "microphone and speakers (PyAudio)")
def local_audio(opts: LocalAudioOptions, ctx: BuildContext):
    from agent.transports.local_audio import make_local_audio_transport

    return make_local_audio_transport(
        input_device=opts.input_device,
        output_device=opts.output_device,
        in_rate=ctx.audio_in_sample_rate,
        out_rate=ctx.audio_out_sample_rate,
        echo_cancellation=opts.echo_cancellation,
    )


@dataclass
class WavOptions:
    """User turns from WAV files, the bot's voice to a WAV file.

    Parameters:
        inputs: WAV files, one user turn each, or ``"sample"`` for the bundled sample
            conversation (spoken with Piper on first use, then cached).
        output: Output WAV, relative to the run folder.
        realtime: Pace user audio in real time (False: as fast as the pipeline takes it).
        gap_secs: Silence between the bot's answer and the next user turn.
        answer_timeout_secs: Go on to the next turn if no answer comes within this time.
    """

    inputs: list[str] | str = "sample"
    output: str = "bot.wav"
    realtime: bool = True
    gap_secs: float = 0.8
    answer_timeout_secs: float = 60.0


@register("transport", "wav", WavOptions, "WAV files in, WAV file out (no sound card)")
def wav_files(opts: WavOptions, ctx: BuildContext):
    from agent.sample_conversation import sample_conversation_wavs
    from agent.transports.wav_file import WavFileParams, WavFileTransport

    if opts.inputs == "sample":
        inputs = sample_conversation_wavs()
    else:
        names = [opts.inputs] if isinstance(opts.inputs, str) else opts.inputs
        base = ctx.config_path.parent
        inputs = [p if p.is_absolute() or p.exists() else base / p for p in map(Path, names)]
        for i, p in enumerate(inputs):
            if not p.exists():
                raise ConfigError(ctx.config_path, f"transport.inputs[{i}]", f"file not found: {p}")
    return WavFileTransport(
        WavFileParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=ctx.audio_in_sample_rate,
            audio_out_sample_rate=ctx.audio_out_sample_rate,
            inputs=list(inputs),
            output_path=ctx.run_dir / opts.output,
            realtime=opts.realtime,
            gap_secs=opts.gap_secs,
            answer_timeout_secs=opts.answer_timeout_secs,
        )
    )
