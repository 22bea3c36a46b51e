"""Where the words of a spoken sentence fall in its audio (for TTS without word timestamps)."""

from __future__ import annotations

import re

import numpy as np

_TOKEN = re.compile(r"\S+")

# Blocks this loud (16-bit peak) count as voiced when trimming a sentence's silences.
VOICED_PEAK = 500


def block_peaks(pcm: bytes, block: int) -> list[int]:
    """Peak of every ``block`` samples of 16-bit mono audio (last partial block included)."""
    samples = np.abs(np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2").astype(np.int32))
    if samples.size == 0:
        return []
    pad = (-samples.size) % block
    if pad:
        samples = np.concatenate([samples, np.zeros(pad, np.int32)])
    return samples.reshape(-1, block).max(axis=1).tolist()


def voiced_span(peaks: list[int], block: int, start: int, end: int) -> tuple[int, int]:
    """The span of ``[start, end)`` (sample positions) between its first and last voiced block.

    ``peaks[i]`` is the peak of samples ``[i*block, (i+1)*block)``; with no voiced block the
    whole span is returned.
    """
    first_block, last_block = start // block, max(start, end - 1) // block
    voiced = [i for i in range(first_block, min(last_block + 1, len(peaks))) if peaks[i] >= VOICED_PEAK]
    if not voiced:
        return start, end
    return max(start, voiced[0] * block), min(end, (voiced[-1] + 1) * block)


def spread_words(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """Each word of ``text`` with its estimated start position in ``[start, end)``.

    Speech rate is taken as even over characters: a word starts as far into the span as its
    first character is into the text.
    """
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return []
    first = tokens[0][0]
    length = max(1, len(text.rstrip()) - first)
    return [(start + (end - start) * (offset - first) // length, word) for offset, word in tokens]
