"""``PhraseAggregator``: LLM tokens in, TTS-ready phrases out (between the LLM and the TTS).

Place it right after the LLM service and before the TTS service::

    Pipeline([..., llm, PhraseAggregator(), tts, transport.output(), assistant_aggregator])

It cleans the streamed ``LLMTextFrame`` text (:mod:`processors.phrase.text_cleanup`: markdown marks,
bullets, code fences, emoji and every ``<...>`` tag out, words kept) and cuts it into phrases of
complete words (:mod:`processors.phrase.rules`: sentence ends, clauses, line breaks, a length
limit; an early first phrase so speech starts sooner).
Thresholds: :class:`PhraseAggregatorSettings`.

Frame contract (for ``GradiumTTSService`` and any other TTS)
-------------------------------------------------------------
Each phrase is pushed downstream as a :class:`PhraseFrame`, a subclass of pipecat's
``AggregatedTextFrame`` (``text_type="sentence"``):

- ``text``: the phrase to speak: complete words with their punctuation, no leading or
  trailing whitespace, no newline, never any ``<...>`` control text. It is exactly what the
  assistant context should get; pipecat's ``TTSService`` takes ``AggregatedTextFrame`` as it
  is (its own SENTENCE/TOKEN aggregator is skipped) and, for services without word timestamps,
  pushes ``TTSTextFrame(text)`` after the audio; the assistant aggregator joins those with one
  space (``includes_inter_frame_spaces=False``), which gives back the cleaned answer.
  Keep the TTS in its default ``TextAggregationMode.SENTENCE``: in TOKEN mode pipecat
  concatenates frames without spaces.
- ``flush`` (bool): the TTS should end this phrase with its flush control; for Gradium the
  ``text`` message is ``frame.text + " <flush>"``. ``<flush>`` exists only on the wire: never
  in ``frame.text``, a ``TTSTextFrame`` or a transcript. Stock TTS services ignore the flag.
  Phrases carry no outer whitespace, so a TTS that streams them into one request must put a
  space between consecutive messages (``GradiumTTSService`` does).
- ``final`` (bool): the last phrase of the answer (LLM response end or ``EndFrame``);
  ``final`` implies ``flush``. It is followed by the ``LLMFullResponseEndFrame`` (if any).

Because ``TTSService.run_tts(text, context_id)`` never sees the frame, a subclass records the
flag just before the base class speaks the frame (``process_frame`` runs ``run_tts`` inline)::

    async def process_frame(self, frame, direction):
        self._flush_next = getattr(frame, "flush", False)   # consumed (and reset) by run_tts
        await super().process_frame(frame, direction)

Other frames: ``LLMFullResponseStartFrame`` starts a new answer (first-phrase rules apply
again); ``LLMFullResponseEndFrame`` and ``EndFrame`` push the rest of the buffer as the final
phrase before themselves; ``InterruptionFrame``/``CancelFrame`` drop the buffer at once.
``LLMTextFrame``s marked ``skip_tts`` and all other frames pass through unchanged.

Events: ``on_phrase(aggregator, frame)`` after each ``PhraseFrame`` is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from pipecat.frames.frames import (
    AggregatedTextFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.text.base_text_aggregator import TextType

from processors.phrase.rules import Phrase, PhraseSettings, PhraseStream

__all__ = ["PhraseAggregator", "PhraseAggregatorSettings", "PhraseFrame"]


@dataclass
class PhraseFrame(AggregatedTextFrame):
    """A phrase for the TTS; see the module docstring for the contract.

    Parameters:
        flush: Append the TTS flush control (Gradium: ``" <flush>"``) when sending it.
        final: Last phrase of the answer (implies ``flush``).
    """

    flush: bool = False
    final: bool = False


@dataclass
class PhraseAggregatorSettings(PhraseSettings):
    """Settings of :class:`PhraseAggregator` (see :class:`~processors.phrase.rules.PhraseSettings`).

    Parameters:
        max_tag_chars: Longest ``<...>`` that is removed as control text.
    """

    max_tag_chars: int = 64

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.max_tag_chars, int) or self.max_tag_chars < 3:
            raise ValueError(
                f"PhraseAggregatorSettings.max_tag_chars must be an integer >= 3, "
                f"got {self.max_tag_chars!r}"
            )


class PhraseAggregator(FrameProcessor):
    """Turns streamed LLM text into :class:`PhraseFrame` phrases for a streaming TTS."""

    Settings = PhraseAggregatorSettings

    def __init__(self, *, settings: PhraseAggregatorSettings | None = None, **kwargs):
        """Args:
        settings: Thresholds; defaults to ``PhraseAggregator.Settings()``.
        **kwargs: Passed to ``FrameProcessor``.
        """
        super().__init__(**kwargs)
        self._settings = settings or PhraseAggregatorSettings()
        self._stream = PhraseStream(self._settings, max_tag_chars=self._settings.max_tag_chars)
        self._register_event_handler("on_phrase")

    @property
    def settings(self) -> PhraseAggregatorSettings:
        """The settings in use."""
        return self._settings

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        """Aggregate LLM text; flush on response end / ``EndFrame``; drop on interruption."""
        await super().process_frame(frame, direction)

        if isinstance(frame, (InterruptionFrame, CancelFrame)):  # either direction
            self._reset()
            await self.push_frame(frame, direction)
        elif direction != FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, LLMTextFrame) and not frame.skip_tts:
            for phrase in self._stream.push(frame.text):
                await self._push_phrase(phrase)
        elif isinstance(frame, LLMFullResponseStartFrame):
            await self._finish_answer()  # an answer that never got its end frame
            await self.push_frame(frame, direction)
        elif isinstance(frame, (LLMFullResponseEndFrame, EndFrame)):
            await self._finish_answer()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    def _reset(self) -> None:
        if self._stream.pending_text:
            logger.debug(f"{self}: interrupted, dropping [{self._stream.pending_text}]")
        self._stream.reset()

    async def _finish_answer(self) -> None:
        for phrase in self._stream.finish():
            await self._push_phrase(phrase)

    async def _push_phrase(self, phrase: Phrase) -> None:
        frame = PhraseFrame(
            text=phrase.text, text_type=TextType.SENTENCE, flush=phrase.flush, final=phrase.final
        )
        await self.push_frame(frame)
        await self._call_event_handler("on_phrase", frame)
