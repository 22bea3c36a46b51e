"""Incremental text segmentation: turn streamed text chunks into phrases ready to synthesize.

A segment is released at a sentence end (``. ! ? …`` then space or end of buffer), at a phrase
break (``, ; :`` or a newline) once the phrase has ``min_phrase_chars``, when the buffer grows
past ``max_chars`` (cut at the last space), at ``<flush>`` and at ``end_of_stream``.
"""

from __future__ import annotations

import re

from runtime.tts_server.protocol import FLUSH_MARKER

_SENTENCE_END = ".!?…"
_PHRASE_END = ",;:"
_CLOSERS = "\"')]}»”’"
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no"}
_SPEAKABLE = re.compile(r"\w")


def _speakable(text: str) -> bool:
    return bool(_SPEAKABLE.search(text))


class TextSegmenter:
    """Buffers text of one request and releases phrase/sentence segments."""

    def __init__(self, min_phrase_chars: int = 20, max_chars: int = 200):
        self.min_phrase_chars = min_phrase_chars
        self.max_chars = max_chars
        self._buf = ""

    @property
    def pending(self) -> str:
        """Text not yet released."""
        return self._buf

    def push(self, text: str) -> list[str]:
        """Add a chunk; return the segments that are complete. ``<flush>`` releases everything."""
        out: list[str] = []
        parts = text.split(FLUSH_MARKER)
        for i, part in enumerate(parts):
            self._buf += part
            out += self._cut()
            if i < len(parts) - 1:
                out += self.flush()
        return out

    def flush(self) -> list[str]:
        """Release whatever is buffered (``<flush>`` / ``end_of_stream``)."""
        text, self._buf = self._buf.strip(), ""
        return [text] if _speakable(text) else []

    def _cut(self) -> list[str]:
        out: list[str] = []
        while True:
            pos = self._boundary()
            if pos is None:
                break
            seg, self._buf = self._buf[:pos].strip(), self._buf[pos:].lstrip()
            if _speakable(seg):
                out.append(seg)
            elif seg and out:  # stray punctuation: keep it with the previous segment
                out[-1] += seg
        return out

    def _boundary(self) -> int | None:
        """Index just after the first boundary in the buffer, or None."""
        buf = self._buf
        n = len(buf)
        # A boundary past max_chars is never used: the hard cut below comes first.
        for i, ch in enumerate(buf[: self.max_chars + 1]):
            if ch == "\n" and i > 0 and _speakable(buf[:i]):
                return i + 1
            is_sentence = ch in _SENTENCE_END
            if not is_sentence and ch not in _PHRASE_END:
                continue
            j = i + 1
            while j < n and buf[j] in _CLOSERS:
                j += 1
            if j < n and not buf[j].isspace():
                continue  # "3.5", "e.g.", "a,b": not a boundary
            if j == n and i > 0 and buf[i - 1].isdigit():
                continue  # "3." might continue as "3.5" in the next chunk
            if is_sentence and ch == "." and self._is_abbreviation(buf[:i]):
                continue
            if not is_sentence and len(buf[:i].strip()) < self.min_phrase_chars:
                continue
            return j
        if n > self.max_chars:
            cut = buf.rfind(" ", 0, self.max_chars)
            return cut if cut > 0 else self.max_chars
        return None

    @staticmethod
    def _is_abbreviation(before: str) -> bool:
        word = before.rsplit(None, 1)[-1].lower() if before.strip() else ""
        return word in _ABBREVIATIONS
