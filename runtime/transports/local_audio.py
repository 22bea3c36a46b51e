"""The laptop's microphone and speakers (pipecat's ``LocalAudioTransport``), with device checks."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


class NoAudioDeviceError(RuntimeError):
    """No usable input/output device; the message says what to do."""


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float


@contextlib.contextmanager
def _pyaudio():
    """A PyAudio instance with PortAudio's/ALSA's start-up chatter on stderr silenced."""
    import pyaudio

    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        pa = pyaudio.PyAudio()
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    try:
        yield pa
    finally:
        pa.terminate()


def list_devices() -> tuple[list[AudioDevice], int | None, int | None]:
    """All PortAudio devices, and the default input and output indexes (None if absent)."""
    with _pyaudio() as pa:
        devices = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            devices.append(
                AudioDevice(i, str(info["name"]), int(info["maxInputChannels"]),
                            int(info["maxOutputChannels"]), float(info["defaultSampleRate"]))
            )
        default_in = default_out = None
        with contextlib.suppress(IOError, OSError):
            default_in = int(pa.get_default_input_device_info()["index"])
        with contextlib.suppress(IOError, OSError):
            default_out = int(pa.get_default_output_device_info()["index"])
    return devices, default_in, default_out


def check_devices(input_device: int | None = None, output_device: int | None = None) -> None:
    """Raise :class:`NoAudioDeviceError` unless the chosen (or default) devices exist."""
    devices, default_in, default_out = list_devices()
    by_index = {d.index: d for d in devices}
    for kind, chosen, default, attr in (
        ("input", input_device, default_in, "inputs"),
        ("output", output_device, default_out, "outputs"),
    ):
        index = default if chosen is None else chosen
        if index is None:
            raise NoAudioDeviceError(
                f"no audio {kind} device found; connect one, pick one with --{kind}-device N "
                "(see `voice-agent devices`), or use the WAV pipeline: --pipeline file"
            )
        if index not in by_index or getattr(by_index[index], attr) < 1:
            raise NoAudioDeviceError(
                f"audio {kind} device {index} does not exist or has no {kind} channels; "
                "see `voice-agent devices` for valid indexes"
            )


def has_sound_devices() -> bool:
    """True when a default microphone and speaker exist."""
    try:
        check_devices()
        return True
    except (NoAudioDeviceError, OSError):
        return False


def make_local_audio_transport(*, input_device: int | None, output_device: int | None, in_rate: int, out_rate: int,
                               echo_cancellation: bool = False):
    """pipecat's ``LocalAudioTransport`` on the chosen devices, after checking they exist; a device
    that goes missing later is one clear error (see :mod:`runtime.transports.local_audio_guard`).
    With ``echo_cancellation`` the mic is cleaned of what the speakers play (WebRTC AEC)."""
    from pipecat.transports.local.audio import LocalAudioTransportParams

    from runtime.transports.local_audio_guard import GuardedLocalAudioTransport
    from processors.echo_cancel import echo_cancel_filters

    check_devices(input_device, output_device)
    in_filter, out_filter = echo_cancel_filters(enabled=echo_cancellation)
    return GuardedLocalAudioTransport(
        LocalAudioTransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=in_rate,
            audio_out_sample_rate=out_rate,
            input_device_index=input_device,
            output_device_index=output_device,
            audio_in_filter=in_filter,
            audio_out_filter=out_filter,
            audio_out_10ms_chunks=2,  # 20 ms: a pause or an interruption is heard at once
        )
    )
