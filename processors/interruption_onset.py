"""Fast speech onset: Silero speech probability and level of every 32 ms window."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeechWindow:
    """One analysed window.

    Parameters:
        confidence: Silero speech probability.
        dbfs: RMS level in dB full scale.
        lag_secs: How long ago (relative to the end of the audio fed so far) it ended.
        secs: Its duration.
    """

    confidence: float
    dbfs: float
    lag_secs: float
    secs: float


class SpeechOnsetDetector:
    """Scores mic audio window by window (no start delay, unlike the VAD's ``start_secs``)."""

    def __init__(self, sample_rate: int = 16000):
        from pipecat.audio.vad.silero import SileroVADAnalyzer

        if sample_rate not in (8000, 16000):
            raise ValueError(f"speech onset detection needs 8 or 16 kHz audio, got {sample_rate} Hz")
        self._sample_rate = sample_rate
        self._analyzer = SileroVADAnalyzer(sample_rate=sample_rate)
        self._analyzer.set_sample_rate(sample_rate)
        self._window_bytes = self._analyzer.num_frames_required() * 2
        self._buffer = bytearray()

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def feed(self, pcm: bytes) -> list[SpeechWindow]:
        """Add 16-bit mono audio; score every window it completes."""
        self._buffer += pcm
        windows: list[tuple[float, float]] = []
        while len(self._buffer) >= self._window_bytes:
            chunk = bytes(self._buffer[: self._window_bytes])
            del self._buffer[: self._window_bytes]
            samples = np.frombuffer(chunk, "<i2").astype(np.float32)
            rms = math.sqrt(float(np.mean(samples * samples))) / 32768.0
            dbfs = 20 * math.log10(rms) if rms > 1e-9 else -180.0
            confidence = np.asarray(self._analyzer.voice_confidence(chunk), dtype=np.float32).reshape(-1)
            windows.append((float(confidence[0]) if confidence.size else 0.0, dbfs))
        secs = self._window_bytes / 2 / self._sample_rate
        tail = len(self._buffer) / 2 / self._sample_rate
        n = len(windows)
        return [
            SpeechWindow(confidence=c, dbfs=d, lag_secs=tail + (n - 1 - i) * secs, secs=secs)
            for i, (c, d) in enumerate(windows)
        ]

    def reset(self):
        self._buffer.clear()
        self._analyzer._model.reset_states()
