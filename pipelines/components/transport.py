"""``[transport]``: the laptop's sound devices (``local``), WAV files (``wav``) or a browser (``webrtc``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import ConfigError
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
    from runtime.transports.local_audio import make_local_audio_transport

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
            conversation (spoken with Piper on first use, then cached). An entry may also be a
            table ``{path = "...", bot_started_secs = 1.5}`` (said that long after the bot starts
            its next answer: a barge-in) or ``{path = "...", after_secs = 2.0}``.
        output: Output WAV, relative to the run folder.
        realtime: Pace user audio in real time (False: as fast as the pipeline takes it).
        gap_secs: Silence between the bot's answer and the next user turn.
        answer_timeout_secs: Go on to the next turn if no answer comes within this time.
        end_grace_secs: After the last answer, how long to stay silent before ending.
        echo_gain: Feed the bot's voice back into the "mic" at this gain (laptop speakers).
        echo_delay_secs: Delay of that echo.
        echo_cancellation: WebRTC echo cancellation on the "mic", as on the laptop.
    """

    inputs: list[str | dict[str, Any]] | str = "sample"
    output: str = "bot.wav"
    realtime: bool = True
    gap_secs: float = 0.8
    answer_timeout_secs: float = 60.0
    end_grace_secs: float = 1.0
    echo_gain: float = 0.0
    echo_delay_secs: float = 0.06
    echo_cancellation: bool = False


def _utterance(entry: str | dict[str, Any], base: Path, file: Path, key: str):
    from runtime.transports.wav_file import UserUtterance

    table = {"path": entry} if isinstance(entry, str) else dict(entry)
    path = Path(str(table.get("path", "")))
    table["path"] = path if path.is_absolute() or path.exists() else base / path
    if not table["path"].exists():
        raise ConfigError(file, key, f"file not found: {table['path']}")
    try:
        return UserUtterance(**table)
    except ValueError as e:
        raise ConfigError(file, key, f"invalid utterance: {e.errors()[0]['msg'] if hasattr(e, 'errors') else e}") from None


@register("transport", "wav", WavOptions, "WAV files in, WAV file out (no sound card)")
def wav_files(opts: WavOptions, ctx: BuildContext):
    from processors.echo_cancel import echo_cancel_filters
    from runtime.sample_conversation import sample_conversation_wavs
    from runtime.transports.wav_file import WavFileParams, WavFileTransport

    if opts.inputs == "sample":
        inputs = sample_conversation_wavs()
    else:
        entries = [opts.inputs] if isinstance(opts.inputs, str) else opts.inputs
        inputs = [_utterance(e, ctx.config_path.parent, ctx.config_path, f"transport.inputs[{i}]")
                  for i, e in enumerate(entries)]
    in_filter, out_filter = echo_cancel_filters(enabled=opts.echo_cancellation)
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
            end_grace_secs=opts.end_grace_secs,
            echo_gain=opts.echo_gain,
            echo_delay_secs=opts.echo_delay_secs,
            audio_in_filter=in_filter,
            audio_out_filter=out_filter,
        )
    )


@dataclass
class WebRTCOptions:
    """A browser call (``voice-agent serve``): pipecat's SmallWebRTC transport.

    Parameters:
        connection: The call's peer connection, given by ``voice-agent serve`` for each call
            (not set in a file).
        out_10ms_chunks: Output chunk size in 10 ms units (the playback gate's slice).
    """

    connection: Any = None
    out_10ms_chunks: int = 2


@register("transport", "webrtc", WebRTCOptions, "a browser over WebRTC (voice-agent serve)")
def webrtc(opts: WebRTCOptions, ctx: BuildContext):
    from runtime.transports.webrtc import make_webrtc_transport

    if opts.connection is None or isinstance(opts.connection, (str, int, float, bool, list, dict)):
        raise ConfigError(ctx.config_path, "transport.type",
                          '"webrtc" is for browser calls: start it with `voice-agent serve --pipeline ...`')
    return make_webrtc_transport(opts.connection, in_rate=ctx.audio_in_sample_rate,
                                 out_rate=ctx.audio_out_sample_rate, out_10ms_chunks=opts.out_10ms_chunks)
