"""Output formats of the local Gradium-compatible TTS server and their streaming encoders.

Piper produces float32 mono audio at the voice's rate (22 050 Hz for the bundled voice). Each
request gets one :class:`AudioEncoder` that resamples continuously (``soxr.ResampleStream``),
cuts the stream into ~80 ms frames and encodes every frame to the requested format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
import soxr

Encoding = Literal["pcm16", "wav", "ulaw", "alaw"]

FRAME_SECONDS = 0.08  # Gradium streams 80 ms frames (12.5 Hz).


@dataclass(frozen=True)
class OutputFormat:
    """One ``output_format`` value: its name, output rate and byte encoding."""

    name: str
    sample_rate: int
    encoding: Encoding

    @property
    def frame_size(self) -> int:
        """Samples per ~80 ms frame (the ``frame_size`` field of ``ready``)."""
        return round(self.sample_rate * FRAME_SECONDS)


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat("pcm", 48000, "pcm16"),  # Gradium's plain pcm is 48 kHz s16le mono.
        OutputFormat("pcm_16000", 16000, "pcm16"),
        OutputFormat("pcm_24000", 24000, "pcm16"),
        OutputFormat("wav", 48000, "wav"),
        OutputFormat("ulaw_8000", 8000, "ulaw"),
        OutputFormat("alaw_8000", 8000, "alaw"),
    )
}
DEFAULT_FORMAT = "wav"  # Gradium's documented default when output_format is omitted.


class UnsupportedFormatError(ValueError):
    """The requested ``output_format`` is not one the local server produces."""


def resolve_format(name: str | None) -> OutputFormat:
    """Return the :class:`OutputFormat` for ``name`` (``None`` means the default, wav)."""
    fmt = FORMATS.get(DEFAULT_FORMAT if name is None else name)
    if fmt is None:
        supported = ", ".join(FORMATS)
        raise UnsupportedFormatError(
            f"unsupported output_format {name!r}; supported: {supported}"
        )
    return fmt


# --- G.711 (bit-exact with CPython's audioop.lin2ulaw / lin2alaw) -------------------------

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def lin2ulaw(pcm: np.ndarray) -> bytes:
    """int16 samples to 8-bit mu-law (G.711), same result as ``audioop.lin2ulaw(x, 2)``."""
    val = pcm.astype(np.int32) >> 2  # 14-bit
    mask = np.where(val < 0, 0x7F, 0xFF)
    val = np.minimum(np.abs(val), 8159) + 0x21
    seg = np.searchsorted(_SEG_UEND, val, side="left")
    uval = (seg << 4) | ((val >> (seg + 1)) & 0xF)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8).tobytes()


def lin2alaw(pcm: np.ndarray) -> bytes:
    """int16 samples to 8-bit A-law (G.711), same result as ``audioop.lin2alaw(x, 2)``."""
    val = pcm.astype(np.int32) >> 3  # 13-bit
    mask = np.where(val >= 0, 0xD5, 0x55)
    val = np.where(val >= 0, val, -val - 1)
    seg = np.searchsorted(_SEG_AEND, val, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((val >> shift) & 0xF)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8).tobytes()


def wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes set to 0xFFFFFFFF)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data" + struct.pack("<I", unknown)
    )


@dataclass
class EncodedFrame:
    """One chunk of encoded audio and its place on the request's timeline (seconds)."""

    payload: bytes
    start_s: float
    stop_s: float


class AudioEncoder:
    """Streaming Piper-float32 to ``OutputFormat`` encoder that emits ~80 ms frames."""

    def __init__(self, fmt: OutputFormat, input_rate: int):
        self.format = fmt
        self._resampler = (
            soxr.ResampleStream(input_rate, fmt.sample_rate, 1, dtype="float32", quality="HQ")
            if input_rate != fmt.sample_rate
            else None
        )
        self._pending = np.zeros(0, dtype=np.int16)
        self._samples_out = 0  # samples already emitted in frames
        self._header_sent = False

    @property
    def seconds_emitted(self) -> float:
        """Audio time already emitted in frames."""
        return self._samples_out / self.format.sample_rate

    def push(self, audio: np.ndarray, *, flush: bool = False, last: bool = False) -> list[EncodedFrame]:
        """Add float32 audio; return the complete frames (plus the remainder if ``flush``/``last``)."""
        audio = np.asarray(audio, dtype=np.float32)
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio, last=last)
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        self._pending = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        size = self.format.frame_size
        n_full = len(self._pending) // size
        cut = n_full * size
        if (flush or last) and cut < len(self._pending):
            cut = len(self._pending)
        frames = []
        start = 0
        while start < cut:
            stop = min(start + size, cut)
            frames.append(self._encode(self._pending[start:stop]))
            start = stop
        self._pending = self._pending[cut:]
        return frames

    def _encode(self, pcm: np.ndarray) -> EncodedFrame:
        rate = self.format.sample_rate
        start_s = self._samples_out / rate
        self._samples_out += len(pcm)
        enc = self.format.encoding
        if enc == "ulaw":
            payload = lin2ulaw(pcm)
        elif enc == "alaw":
            payload = lin2alaw(pcm)
        else:
            payload = pcm.astype("<i2").tobytes()
            if enc == "wav" and not self._header_sent:
                payload = wav_header(rate) + payload
                self._header_sent = True
        return EncodedFrame(payload, round(start_s, 6), round(self._samples_out / rate, 6))

    def header_only(self) -> EncodedFrame | None:
        """For wav requests that produced no audio: a frame with just the header."""
        if self.format.encoding == "wav" and not self._header_sent:
            self._header_sent = True
            return EncodedFrame(wav_header(self.format.sample_rate), 0.0, 0.0)
        return None
