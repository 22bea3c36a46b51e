"""Acoustic echo cancellation for the local audio path (WebRTC APM from the ``livekit`` wheel).

Two pipecat audio filters share one :class:`EchoCanceller`: :class:`EchoReferenceFilter` as the
output transport's ``audio_out_filter`` records what is played (the far end), and
:class:`EchoCancelFilter` as the input transport's ``audio_in_filter`` removes its echo from
the microphone before the VAD sees it. WebRTC's AEC3 estimates the acoustic delay itself.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import soxr

from pipecat.audio.filters.base_audio_filter import BaseAudioFilter
from pipecat.frames.frames import FilterControlFrame, FilterEnableFrame

_FRAME_SECS = 0.01  # the APM takes 10 ms frames
_REFERENCE_KEEP_SECS = 3.0
_RESYNC_SECS = 1.0


@dataclass
class EchoCancelSettings:
    """WebRTC audio processing on the microphone.

    Parameters:
        noise_suppression: Also suppress stationary noise.
        high_pass_filter: Remove DC and low rumble (helps the canceller).
        auto_gain_control: Let the APM adjust the mic level.
        stream_delay_ms: Hint of the speaker→mic delay beyond what the timeline accounts for
            (device buffers); AEC3 refines it.
    """

    noise_suppression: bool = False
    high_pass_filter: bool = True
    auto_gain_control: bool = False
    stream_delay_ms: int = 0


class EchoReference:
    """What the speaker played, resampled to the mic rate, on the ``time.monotonic()`` timeline."""

    def __init__(self):
        self.sample_rate = 0
        self._t0: float | None = None
        self._segments: deque[tuple[int, np.ndarray]] = deque()
        self._next = 0

    def add(self, pcm: bytes, sample_rate: int, started_at: float):
        """Record ``pcm`` (16-bit mono) as handed to the speaker at ``started_at``.

        Like a sound card, it plays after what was handed over before it has played.
        """
        if not self.sample_rate or not pcm:
            return
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.float32)
        if sample_rate != self.sample_rate:
            samples = soxr.resample(samples, sample_rate, self.sample_rate)
        if self._t0 is None:
            self._t0 = started_at
        start = max(round((started_at - self._t0) * self.sample_rate), self._next)
        self._next = start + len(samples)
        self._segments.append((start, samples))
        horizon = start - int(_REFERENCE_KEEP_SECS * self.sample_rate)
        while self._segments and self._segments[0][0] + len(self._segments[0][1]) < horizon:
            self._segments.popleft()

    def read(self, start_time: float, n: int) -> np.ndarray:
        """``n`` samples of what played from ``start_time`` (silence where nothing did)."""
        out = np.zeros(n, np.float32)
        if self._t0 is None:
            return out
        start = round((start_time - self._t0) * self.sample_rate)
        for seg_start, seg in self._segments:
            lo, hi = max(start, seg_start), min(start + n, seg_start + len(seg))
            if lo < hi:
                out[lo - start : hi - start] = seg[lo - seg_start : hi - seg_start]
        return out


class EchoCanceller:
    """Removes the speaker's echo from mic audio, 10 ms at a time."""

    def __init__(self, settings: EchoCancelSettings | None = None):
        self.settings = settings or EchoCancelSettings()
        self.reference = EchoReference()
        self._apm = None
        self._rate = 0
        self._pending = np.zeros(0, np.int16)
        self._processed = np.zeros(0, np.int16)
        self._pending_start = 0.0
        self._clock_anchor: float | None = None
        self._clock_samples = 0

    def start(self, sample_rate: int):
        try:
            from livekit import rtc
        except ImportError as e:
            raise RuntimeError("echo cancellation needs the 'livekit' package (pip install livekit)") from e
        self._rtc = rtc
        self._rate = sample_rate
        self.reference.sample_rate = sample_rate
        s = self.settings
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=s.noise_suppression,
            high_pass_filter=s.high_pass_filter,
            auto_gain_control=s.auto_gain_control,
        )

    def process(self, pcm: bytes, captured_at: float | None = None) -> bytes:
        """Cancel the echo in ``pcm`` (16-bit mono at the start rate), captured up to ``captured_at``.

        Returns as many samples as given (a remainder under 10 ms comes out with the next call).
        """
        if self._apm is None:
            raise RuntimeError("EchoCanceller.start() was not called")
        captured_at = time.monotonic() if captured_at is None else captured_at
        near = np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2")
        step = int(self._rate * _FRAME_SECS)
        # The mic is a steady stream: time its samples by count, not by when each frame
        # happens to be processed (that jitter would keep moving the echo for the AEC).
        predicted = None if self._clock_anchor is None else self._clock_anchor + self._clock_samples / self._rate
        if predicted is None or abs(captured_at - predicted) > _RESYNC_SECS:
            self._clock_anchor, self._clock_samples = captured_at, 0
            predicted = captured_at
        self._clock_samples += len(near)
        if not len(self._pending):
            self._pending_start = predicted - len(near) / self._rate
        self._pending = np.concatenate([self._pending, near])
        done = []
        while len(self._pending) >= step:
            frame, self._pending = self._pending[:step], self._pending[step:]
            done.append(self._process_frame(frame, self._pending_start))
            self._pending_start += _FRAME_SECS
        if done:
            self._processed = np.concatenate([self._processed, *done])
        if len(self._processed) < len(near):  # only at the very start, when frames don't align
            self._processed = np.concatenate([np.zeros(len(near) - len(self._processed), np.int16), self._processed])
        out, self._processed = self._processed[: len(near)], self._processed[len(near) :]
        return out.astype("<i2").tobytes()

    def _process_frame(self, near: np.ndarray, start: float) -> np.ndarray:
        rtc, step = self._rtc, len(near)
        far = np.clip(self.reference.read(start, step), -32768, 32767).astype("<i2")
        self._apm.process_reverse_stream(rtc.AudioFrame(bytearray(far.tobytes()), self._rate, 1, step))
        self._apm.set_stream_delay_ms(self.settings.stream_delay_ms)
        frame = rtc.AudioFrame(bytearray(near.astype("<i2").tobytes()), self._rate, 1, step)
        self._apm.process_stream(frame)
        return np.frombuffer(bytes(frame.data), "<i2").copy()


class EchoCancelFilter(BaseAudioFilter):
    """``audio_in_filter``: the microphone minus the speaker's echo."""

    def __init__(self, canceller: EchoCanceller):
        self._canceller = canceller
        self._enabled = True

    async def start(self, sample_rate: int):
        self._canceller.start(sample_rate)

    async def stop(self):
        pass

    async def process_frame(self, frame: FilterControlFrame):
        if isinstance(frame, FilterEnableFrame):
            self._enabled = frame.enable

    async def filter(self, audio: bytes) -> bytes:
        if not self._enabled:
            return audio
        return self._canceller.process(audio, time.monotonic())


class EchoReferenceFilter(BaseAudioFilter):
    """``audio_out_filter``: passes the bot's audio unchanged and tells the canceller it plays."""

    def __init__(self, canceller: EchoCanceller):
        self._canceller = canceller
        self._rate = 0

    async def start(self, sample_rate: int):
        self._rate = sample_rate

    async def stop(self):
        pass

    async def process_frame(self, frame: FilterControlFrame):
        pass

    async def filter(self, audio: bytes) -> bytes:
        self._canceller.reference.add(audio, self._rate, time.monotonic())
        return audio


def echo_cancel_filters(
    settings: EchoCancelSettings | None = None, *, enabled: bool = True
) -> tuple[EchoCancelFilter | None, EchoReferenceFilter | None]:
    """``(audio_in_filter, audio_out_filter)`` for a transport's params, sharing one canceller;
    ``(None, None)`` when not ``enabled``."""
    if not enabled:
        return None, None
    canceller = EchoCanceller(settings)
    return EchoCancelFilter(canceller), EchoReferenceFilter(canceller)
