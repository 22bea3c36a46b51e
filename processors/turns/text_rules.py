"""Does a transcript read like a finished utterance? (the text half of the end-of-turn rule)

``text_completeness(text)`` returns ``"incomplete"`` when the words cannot end a sentence: a
trailing article, conjunction, determiner or filler; a trailing preposition, auxiliary or
pronoun unless it is a question ("Where are you from?"); a trailing demonstrative unless
Whisper closed the sentence ("Good luck with that." is whole, "I think that" is not); a
trailing comma, dash or ellipsis, which Whisper writes for trailing-off speech. ``"complete"`` when Whisper closed it with
``.``, ``?`` or ``!``, and ``"unknown"`` otherwise (no punctuation).
"""

from __future__ import annotations

import re
from typing import Literal

Completeness = Literal["complete", "incomplete", "unknown"]

DANGLING_WORDS: frozenset[str] = frozenset(
    """a an the and or but nor so if because than which whose my your his her our their
    its um uh er erm""".split()
)
"""Words that never end a sentence."""

DANGLING_UNLESS_CLOSED: frozenset[str] = frozenset("that this these those".split())
"""Determiners that are also pronouns: they end a sentence Whisper closed ("I like that.")."""

DANGLING_UNLESS_QUESTION: frozenset[str] = frozenset(
    """of to in on at by for from with into onto about as is are was were be been am do does
    did can could would should will shall may might must have has had i you we they he she
    who like very really just""".split()
)
"""Words that end only a question ("What is it for?"), not a statement ("I went to.")."""

_TRAILING_OFF = re.compile(r"(?:\.\.\.|…|[,;:\-–—])[\"')\]]*$")
_CLOSED = re.compile(r"[.?!][\"')\]]*$")
_WORD = re.compile(r"[A-Za-z']+")


def last_word(text: str) -> str:
    words = _WORD.findall(text)
    return words[-1].lower() if words else ""


def text_completeness(text: str) -> Completeness:
    """Classify the end of ``text`` (see the module docstring)."""
    text = text.strip()
    if not text or _TRAILING_OFF.search(text):
        return "incomplete"
    word = last_word(text)
    question = text.rstrip("\"')]").endswith("?")
    closed = bool(_CLOSED.search(text))
    if word in DANGLING_WORDS or (word in DANGLING_UNLESS_QUESTION and not question):
        return "incomplete"
    if word in DANGLING_UNLESS_CLOSED and not closed:
        return "incomplete"
    return "complete" if closed else "unknown"
