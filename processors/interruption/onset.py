"""Fast speech onset: Silero speech probability and level of every 32 ms window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from loguru import logger

if TYPE_CHECKING:
    from processors.vad.shared_silero import SharedSileroVADAnalyzer


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


def confidence_value(confidence) -> float:
    """Silero's score (a number or a one-element array) as a float."""
    values = np.asarray(confidence, dtype=np.float32).reshape(-1)
    return float(values[0]) if values.size else 0.0


class SpeechOnsetDetector:
    """Scores mic audio window by window (no start delay, unlike the VAD's ``start_secs``).

    Given the VAD's :class:`~processors.vad.shared_silero.SharedSileroVADAnalyzer`, it reads the
    VAD's scores instead of running a second Silero; otherwise (or once sharing fails) it
    runs its own.
    """

    def __init__(self, sample_rate: int = 16000, shared: SharedSileroVADAnalyzer | None = None):
        if sample_rate not in (8000, 16000):
            raise ValueError(f"speech onset detection needs 8 or 16 kHz audio, got {sample_rate} Hz")
        self._sample_rate = sample_rate
        self._shared = shared if shared is not None and shared.sharing else None
        self._analyzer = None if self._shared else self._own_analyzer()
        self._window_bytes = (512 if sample_rate == 16000 else 256) * 2
        self._buffer = bytearray()
        self._index = 0  # windows completed since the stream began (the shared scores' index)
        self._stale = False  # own model skipped windows: start it fresh before scoring again

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def shared(self) -> bool:
        """Reading the VAD's scores (no Silero of its own)."""
        return self._shared is not None

    def feed(self, pcm: bytes, score: bool = True) -> list[SpeechWindow]:
        """Add 16-bit mono audio; score every window it completes (none if ``score`` is False)."""
        self._buffer += pcm
        if not score:  # only keep count (the shared scores' index), no copies
            skipped = len(self._buffer) // self._window_bytes
            if skipped:
                del self._buffer[: skipped * self._window_bytes]
                self._index += skipped
                self._stale = True
            return []
        windows: list[tuple[float, float]] = []
        while len(self._buffer) >= self._window_bytes:
            chunk = bytes(self._buffer[: self._window_bytes])
            del self._buffer[: self._window_bytes]
            index, self._index = self._index, self._index + 1
            samples = np.frombuffer(chunk, "<i2").astype(np.float32)
            rms = math.sqrt(float(np.mean(samples * samples))) / 32768.0
            dbfs = 20 * math.log10(rms) if rms > 1e-9 else -180.0
            windows.append((self._confidence(index, chunk), dbfs))
        secs = self._window_bytes / 2 / self._sample_rate
        tail = len(self._buffer) / 2 / self._sample_rate
        n = len(windows)
        return [
            SpeechWindow(confidence=c, dbfs=d, lag_secs=tail + (n - 1 - i) * secs, secs=secs)
            for i, (c, d) in enumerate(windows)
        ]

    def _confidence(self, index: int, chunk: bytes) -> float:
        if self._shared is not None:
            score = self._shared.shared_confidence(index, chunk)
            if score is not None:
                return score
            logger.info("speech onset: the VAD's Silero scores are not available; scoring with a model of its own")
            self._shared, self._analyzer, self._stale = None, self._own_analyzer(), False
        if self._stale:
            self._analyzer._model.reset_states()
            self._stale = False
        return confidence_value(self._analyzer.voice_confidence(chunk))

    def _own_analyzer(self):
        from pipecat.audio.vad.silero import SileroVADAnalyzer

        analyzer = SileroVADAnalyzer(sample_rate=self._sample_rate)
        analyzer.set_sample_rate(self._sample_rate)
        return analyzer
