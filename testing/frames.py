"""Frame sequences and small frame processors that tests and benches feed pipelines with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame

from processors.phrase.aggregator import PhraseFrame

MIC_RATE = 16000
# A long answer, one sentence per phrase (~45 s in the bundled voice).
STORY_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Then it runs far away into the deep green forest.",
    "Nobody has seen it since that long summer afternoon.",
    "Some people say it still lives there, under the old oak tree.",
    "Others think it moved to the mountains, where the air is cold.",
    "Either way, the story is told to every child in the village.",
    "The children listen closely and ask for the story again and again.",
    "Their parents smile, because they heard the very same tale long ago.",
    "In winter the fox is said to sleep inside a hollow log by the river.",
    "In spring it comes back out to chase butterflies across the meadow.",
    "Farmers leave a little bread by the gate, just in case it is hungry.",
    "And that is why, to this day, nobody in the village keeps chickens.",
]

MIC_CHUNK = 320  # 20 ms at 16 kHz


def answer(*phrases: str, flush: bool | None = None) -> list[Frame]:
    """An answer as the ``PhraseAggregator`` sends it to the TTS.

    Each phrase is a ``PhraseFrame``; it is flushed if ``flush`` says so, or (``None``) when it
    ends a sentence.
    """
    frames = [
        PhraseFrame(text=p, text_type="sentence", flush=p.endswith((".", "?", "!")) if flush is None else flush)
        for p in phrases
    ]
    return [LLMFullResponseStartFrame(), *frames, LLMFullResponseEndFrame()]


def mic(pcm: bytes, *, gain: float = 1.0, lead: float = 0.3, tail: float = 0.6, marks: dict | None = None) -> list:
    """The mic stream of 16 kHz ``pcm`` in 20 ms frames, paced in real time (``run_test`` input).

    ``marks`` maps a time (s from the stream start) to frames to send at that point.
    """
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) * gain
    audio = np.concatenate([np.zeros(int(MIC_RATE * lead)), samples, np.zeros(int(MIC_RATE * tail))])
    audio = np.clip(audio, -32768, 32767).astype("<i2")
    pending = sorted((marks or {}).items())
    out: list = []
    for i in range(0, len(audio) // MIC_CHUNK * MIC_CHUNK, MIC_CHUNK):
        t = i / MIC_RATE
        while pending and pending[0][0] <= t:
            out.extend(pending.pop(0)[1])
        out += [InputAudioRawFrame(audio=audio[i : i + MIC_CHUNK].tobytes(), sample_rate=MIC_RATE, num_channels=1),
                SleepFrame(MIC_CHUNK / MIC_RATE)]
    for _, frames in pending:
        out.extend(frames)
    return out


class MicCounter(FrameProcessor):
    """Counts microphone frames (and swallows them)."""

    def __init__(self):
        super().__init__()
        self.mic_frames = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.mic_frames += 1
            return
        await self.push_frame(frame, direction)


async def wait_until(cond: Callable[[], bool], timeout: float = 10) -> None:
    """Poll ``cond`` every 20 ms; ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)
