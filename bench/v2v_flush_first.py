"""Benchmark-only: ``PhraseAggregator`` that also flushes the first phrase of each answer.

The early first phrase ("Paris is the capital") is cut after a few words, but without
``<flush>`` the TTS server keeps it until the sentence ends, so the first audio waits for the
whole first sentence. Flushing it makes the server speak it at once. This measures what a
``flush_first_phrase`` option in :class:`processors.phrase_rules.PhraseSettings` would give
(``[phrase_aggregator] type = "bench.v2v_flush_first:FlushFirstPhraseAggregator"``).
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, LLMFullResponseStartFrame
from pipecat.processors.frame_processor import FrameDirection

from processors.phrase_aggregator import PhraseAggregator, PhraseFrame


class FlushFirstPhraseAggregator(PhraseAggregator):
    """The product's aggregator; the first phrase of every answer carries ``flush``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._first = True

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, LLMFullResponseStartFrame):
            self._first = True
        await super().process_frame(frame, direction)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, PhraseFrame) and self._first:
            frame.flush, self._first = True, False
        await super().push_frame(frame, direction)
