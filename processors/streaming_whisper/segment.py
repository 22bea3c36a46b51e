"""The audio of one VAD speech segment, with per-frame loudness, for the streaming STT.

Offsets are in bytes of 16-bit mono PCM from the start of the segment. "Quiet" is relative to
the loudest frame of the segment (``quiet_db`` below it), so it works at any microphone level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def frame_rms(pcm: bytes) -> float:
    """RMS of 16-bit PCM in [0, 1]."""
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    return float(np.sqrt(np.mean(samples * samples)))


@dataclass
class Segment:
    """One speech segment: pre-roll + speech (+ the VAD's stop silence once it stopped).

    Parameters:
        id: Increasing number of the segment.
        quiet_db: A frame this far below the segment's loudest frame is quiet.
    """

    id: int
    quiet_db: float = 30.0
    audio: bytearray = field(default_factory=bytearray)
    ends: list[int] = field(default_factory=list)  # end offset of each appended frame
    levels: list[float] = field(default_factory=list)  # RMS of each appended frame
    peak: float = 0.0
    speech_end: int | None = None  # offset where the VAD says speech ended (set at the stop)
    stopped: bool = False
    last_pass_end: int = 0  # audio covered by the latest pass started on this segment
    best_end: int = -1  # audio covered by the latest finished fast (short-window) pass
    best_text: str = ""
    full_started: int = -1  # audio covered by the latest full-window pass started
    full_end: int = -1  # audio covered by the latest finished full-window pass
    full_text: str = ""
    full_whole_turn: bool = False  # that pass heard the turn's earlier segments too
    eager_sent: str | None = None
    done: bool = False

    def append(self, pcm: bytes) -> None:
        level = frame_rms(pcm)
        self.audio += pcm
        self.ends.append(len(self.audio))
        self.levels.append(level)
        self.peak = max(self.peak, level)

    def _quiet_level(self) -> float:
        return max(self.peak * 10 ** (-self.quiet_db / 20), 1e-4)

    def _last_loud(self) -> int:
        """Index of the last loud frame, or -1."""
        limit = self._quiet_level()
        i = len(self.levels) - 1
        while i >= 0 and self.levels[i] < limit:
            i -= 1
        return i

    def quiet_since(self, offset: int) -> bool:
        """True if every frame ending after ``offset`` is quiet (nothing heard after it)."""
        i = self._last_loud()
        return i < 0 or self.ends[i] <= offset

    def quiet_tail_secs(self, sample_rate: int) -> float:
        """How long the segment has been quiet at its end (0 while speech goes on)."""
        i = self._last_loud()
        start = self.ends[i] if i >= 0 else 0
        return (len(self.audio) - start) / 2 / sample_rate

    def covers(self, end: int, tail_bytes: int) -> bool:
        """Whether a pass over ``audio[:end]`` is the whole speech of this stopped segment."""
        if self.speech_end is None:
            return False
        return end >= min(len(self.audio), self.speech_end + tail_bytes) or self.quiet_since(end)

    def trim_front(self, keep_bytes: int) -> None:
        """Keep only the last ``keep_bytes`` (pre-roll while nobody speaks)."""
        drop = len(self.audio) - keep_bytes
        if drop <= 0:
            return
        drop -= drop % 2
        del self.audio[:drop]
        kept = [(e - drop, lv) for e, lv in zip(self.ends, self.levels) if e - drop > 0]
        self.ends = [e for e, _ in kept]
        self.levels = [lv for _, lv in kept]
