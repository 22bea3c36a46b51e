"""``TurnMerger``: a turn closed too early is reopened when the user goes on.

A good listener who answered too soon stops and lets the speaker finish. So when the user's
turn was closed and the user speaks again within ``window_secs`` of that close, before more
than ``max_heard_secs`` of the answer has played, the two parts are one turn:

- the answer is dropped (the user's speech over it interrupts it as any barge-in does, or the
  LLM is still thinking and the new turn cancels it);
- the previous user message and whatever the dropped answer left in the context are taken out,
  and its text becomes the start of the new turn's aggregation (one user message, one
  transcript: "I'd like to book a table ... for two people.");
- the STT is told (:class:`~processors.turns.frames.UserTurnMergedFrame`) so it decodes the rest
  of the turn together with its beginning.

Invariant that makes the context surgery safe: it only removes the exact message object the
aggregator wrote for the closed turn (found by identity at the next turn start, by content
as a fallback) and assistant messages written after it, which belong to the dropped answer.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from processors.streaming_whisper.text_checks import norm_words


STALE_AFTER_SECS = 3.0
"""A merge decided at a speech start is void if the turn opens later than this past the window
(the speech was judged for that long: it was not a quick continuation)."""


class TurnMerger:
    """Decides and applies merges; driven by :class:`TranscriptAwareTurnStopStrategy`.

    Args:
        window_secs: Longest time from the turn's close to new speech for a merge (0: never).
        max_heard_secs: Most answer audio the user may have heard for a merge.
    """

    def __init__(self, window_secs: float = 1.5, max_heard_secs: float = 1.0):
        self.window_secs = window_secs
        self.max_heard_secs = max_heard_secs
        self._aggregator: Any = None
        self._closed_at: float | None = None  # time.time() of the last close
        self._closed_text = ""
        self._closed_message: Any = None
        self._bot_started_at: float | None = None
        self._pending = False
        self._tidy_from: int | None = None  # context index from which dropped-answer leftovers go
        self.merges = 0

    def attach(self, aggregator: Any) -> None:
        """The user aggregator (an ``LLMUserAggregator``): its context and its aggregation."""
        self._aggregator = aggregator

    @property
    def pending(self) -> bool:
        return self._pending

    def closed(self, text: str) -> None:
        """The strategy ended a turn with ``text``."""
        self._closed_at = time.time() if self.window_secs > 0 else None
        self._closed_text = text
        self._closed_message = None
        self._bot_started_at = None
        self._pending = False
        self._tidy_from = None

    def bot_started(self) -> None:
        if self._closed_at is not None and self._bot_started_at is None:
            self._bot_started_at = time.time()

    def speech_started(self, onset: float) -> bool:
        """New user speech began at ``onset`` (``time.time()``); True if it continues the turn."""
        if self._closed_at is None or self._aggregator is None:
            return False
        heard = 0.0 if self._bot_started_at is None else max(0.0, onset - self._bot_started_at)
        self._pending = onset - self._closed_at <= self.window_secs and heard <= self.max_heard_secs
        if not self._pending:
            self._closed_at = None
        else:
            self._closed_message = self._find_closed_message()
        return self._pending

    def speech_rejected(self) -> None:
        """The speech was not a turn (cough, backchannel): nothing to merge."""
        self._pending = False

    def turn_started(self) -> str | None:
        """The new turn opened: merge it into the closed one if pending; returns that text."""
        if not self._pending:  # (the VAD start that decides may come right after the turn start)
            return None
        if self._closed_at is None or time.time() - self._closed_at > self.window_secs + STALE_AFTER_SECS:
            self._pending = False
            self._closed_at = None
            return None
        self._pending = False
        self._closed_at = None
        context = self._aggregator.context
        messages = list(context.messages)
        message = self._closed_message or self._find_closed_message()
        index = next((i for i, m in enumerate(messages) if m is message), None)
        if index is not None:
            context.set_messages(messages[:index])  # its answer (if any) goes with it
            self._tidy_from = index
        from pipecat.utils.string import TextPartForConcatenation

        self._aggregator._aggregation.insert(0, TextPartForConcatenation(self._closed_text, includes_inter_part_spaces=False))
        self.merges += 1
        logger.debug(f"turn merge: [{self._closed_text}] continues (context had it at {index})")
        return self._closed_text

    def set_aggregation(self, text: str) -> None:
        """Make ``text`` the user turn's whole aggregation (a decoding of the whole turn)."""
        if self._aggregator is None:
            return
        from pipecat.utils.string import TextPartForConcatenation

        self._aggregator._aggregation[:] = [TextPartForConcatenation(text, includes_inter_part_spaces=False)]

    def tidy(self) -> None:
        """Drop what the dropped answer wrote after the merge (the assistant aggregator writes
        the words played when the interruption reaches it, which can be after the merge)."""
        if self._tidy_from is None or self._aggregator is None:
            return
        context = self._aggregator.context
        messages = list(context.messages)
        kept = messages[: self._tidy_from] + [m for m in messages[self._tidy_from:] if _role(m) != "assistant"]
        if len(kept) != len(messages):
            context.set_messages(kept)

    def turn_finished(self) -> None:
        self._tidy_from = None

    def _find_closed_message(self) -> Any:
        for m in reversed(list(self._aggregator.context.messages)):
            if _role(m) == "user":
                return m if norm_words(_content(m)) == norm_words(self._closed_text) else None
        return None


def _role(message: Any) -> str:
    return message.get("role", "") if isinstance(message, dict) else getattr(message, "role", "")


def _content(message: Any) -> str:
    content = message.get("content", "") if isinstance(message, dict) else getattr(message, "content", "")
    return content if isinstance(content, str) else ""
