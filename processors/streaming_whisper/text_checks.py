"""Checks on Whisper's text: repeated sentences, known hallucinations, the new words of a turn.

Greedy Whisper decoding on a window padded with silence sometimes restarts the sentence instead
of ending it ("Thanks, what should I cook for dinner tonight? Thanks, what should I cook"), and
on a short noisy segment it may produce a video outro ("Thanks for watching."). Both are cut
here, on the text alone, so every pass (fast or full window) is checked the same way.
"""

from __future__ import annotations

import difflib
import re

_NORM = re.compile(r"[^a-z0-9']+")

MIN_REPEAT_WORDS = 3
"""A repeat must be at least this many words (shorter echoes are real speech: "no, no")."""

HALLUCINATIONS: frozenset[str] = frozenset({
    "thanks for watching", "thank you for watching", "thanks for watching bye",
    "please subscribe", "subscribe to my channel", "like and subscribe",
    "subtitles by the amara org community", "transcription by castingwords",
})
"""Whole-text outputs that Whisper is known to invent for silence or noise (normalized)."""


def norm_word(word: str) -> str:
    return _NORM.sub("", word.lower().replace("’", "'"))


def norm_words(text: str) -> list[str]:
    return [w for w in (norm_word(t) for t in text.split()) if w]


def strip_repeats(text: str) -> str:
    """Cut a restart of the text: keep ``words[:k]`` when ``words[k:]`` (>= 3 words) repeats
    the text's own beginning, or when a trailing run of >= 3 words repeats the run before it."""
    tokens = text.split()
    words = [norm_word(t) for t in tokens]
    n = len(words)
    for k in range(MIN_REPEAT_WORDS, n - MIN_REPEAT_WORDS + 1):
        tail = words[k:]
        if tail == words[: len(tail)]:  # the sentence started again from its first word
            return " ".join(tokens[:k])
    for size in range(MIN_REPEAT_WORDS, n // 2 + 1):  # "... for dinner tonight for dinner tonight"
        if words[n - size:] == words[n - 2 * size: n - size]:
            return strip_repeats(" ".join(tokens[: n - size]))
    return text


def is_hallucination(text: str) -> bool:
    """True for a whole text that is a known invention (see :data:`HALLUCINATIONS`)."""
    return " ".join(norm_words(text)) in HALLUCINATIONS


def new_words(said: str, heard: str) -> str:
    """The part of ``heard`` (a decoding of the whole turn) after what ``said`` already covers.

    ``said`` is the text already pushed in this turn, from earlier decodings; ``heard`` may
    spell its words a little differently ("table" / "tables"). The end of ``said`` is aligned
    to ``heard`` word by word and everything after it is new.
    """
    old, tokens = norm_words(said), heard.split()
    if not old:
        return heard.strip()
    new = [norm_word(t) for t in tokens]
    end = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal" or (tag == "delete" and i2 == len(old)):
            end = max(end, j2)
        elif tag == "replace" and i2 == len(old):  # respelled last words: as many as were said
            end = max(end, min(j2, j1 + (i2 - i1)))
    return " ".join(tokens[end:])
