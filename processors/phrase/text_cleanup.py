"""Streaming clean-up of LLM text for a TTS: markdown, emoji and control tags out, words kept.

:class:`TextCleaner` works on a token stream. It holds back only the few characters whose
meaning depends on what follows (``*`` vs ``**``, a ``<`` that may open a tag, a line start that
may be a bullet), so its output never depends on how the stream was split into tokens:
``feed(a) + feed(b) + finish() == clean_text(a + b)``.

What it does:

- Markdown: drops heading marks (``# ``), list bullets (``- ``, ``* ``, ``+ ``, ``•``), block
  quotes (``> ``), code-fence lines (```` ``` ````), horizontal rules and table rules,
  emphasis/strike/inline-code marks (``**``, ``*``, ``__``, ``_``, ``~~``, `````) and table
  bars (``|``, which become spaces).
  ``snake_case``, ``2 * 3`` and a single ``~`` are kept. Numbered lists (``1. ``) are kept.
- Emoji (pictographs, dingbats, flags, skin tones, ZWJ/variation selectors) are dropped.
- Control text: every tag-shaped ``<...>`` (``<flush>``, ``</speak>``, ``<break time="1s"/>``,
  ``<!-- x -->``; at most ``max_tag_chars`` long) is dropped and acts as a word separator. Any
  other ``<`` is kept only before whitespace, a digit or ``=`` (``3 < 5``, ``<3``, ``<=``) and
  dropped otherwise, so the output never holds ``<`` followed by anything that could start a
  tag: nothing the LLM writes can reach the TTS as a control marker.
- Whitespace is normalised: a run becomes ``" "``, ``"\\n"`` (line break) or ``"\\n\\n"``
  (paragraph break); no leading or trailing whitespace is emitted.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"<[A-Za-z/!?][^<>\n]*>")
_TAG_PREFIX = re.compile(r"<(?:[A-Za-z/!?][^<>\n]*)?")
_FENCE = ("```", "~~~")
_HEADING = re.compile(r"#{1,6}[ \t]")
_HEADING_PREFIX = re.compile(r"#{1,6}")
_BULLET = re.compile(r"(?:[-*+•‣◦▪]|>+)[ \t]")
_BULLET_PREFIX = re.compile(r"[-*+•‣◦▪]|>+")
# A line made only of rule characters: "---", "***", "___", "===", "|---|:---:|".
_RULE_CHARS = re.compile(r"[-*_=|: \t]*")
_RULE_LINE = re.compile(r"(?=(?:.*[-*_=]){3})[-*_=|: \t]+")
_SPACE = " \t\r\f\v\u00a0"
_CLOSING_PUNCT = ".,;:!?)]}"

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # mahjong .. symbols & pictographs ext-A (incl. flags, skin tones)
    (0x2600, 0x27BF),  # misc symbols, dingbats
    (0x2B00, 0x2BFF),  # arrows/stars used as emoji (⭐, ⬆)
    (0x2300, 0x23FF),  # misc technical (⌚, ⏰)
    (0xFE00, 0xFE0F),  # variation selectors
    (0xE0020, 0xE007F),  # tag characters (subdivision flags)
    (0x200D, 0x200D),  # zero-width joiner
    (0x20E3, 0x20E3),  # combining keycap
)


def is_emoji(char: str) -> bool:
    """Whether ``char`` is an emoji code point (or an emoji joiner/modifier)."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES)


_WS_RANK = {"": 0, " ": 1, "\n": 2, "\n\n": 3}


def _stronger(a: str, b: str) -> str:
    """The stronger of two normalised whitespace runs ("" < " " < "\\n" < "\\n\\n")."""
    return a if _WS_RANK[a] >= _WS_RANK[b] else b


class TextCleaner:
    """Incremental TTS clean-up; see the module docstring for the rules."""

    def __init__(self, *, max_tag_chars: int = 64):
        """Args:
        max_tag_chars: Longest ``<...>`` (brackets included) removed as a tag.
        """
        self._max_tag_chars = max_tag_chars
        self.reset()

    def reset(self) -> None:
        """Forget everything (new answer, interruption)."""
        self._raw = ""
        self._line_start = True
        self._pending_ws = ""
        self._last = ""  # last emitted character ("" before any output)
        self._dropped_after_ws = False  # an emoji was dropped after the pending whitespace

    def feed(self, text: str) -> str:
        """Add raw LLM text; return the cleaned text that is now certain."""
        self._raw += text
        return self._run(final=False)

    def finish(self) -> str:
        """End of stream: return whatever is still held back, cleaned. Resets the cleaner."""
        out = self._run(final=True)
        self.reset()
        return out

    # -- internals -------------------------------------------------------------------------

    def _run(self, *, final: bool) -> str:
        out: list[str] = []
        while self._raw:
            step = self._line_prefix(final) if self._line_start else self._inline(final, out)
            if step is None:  # undecided until more text arrives
                break
            self._raw = self._raw[step:]
        return "".join(out)

    def _emit(self, out: list[str], text: str) -> None:
        # "Enjoy ✨!" -> "Enjoy!": no space is left before punctuation where an emoji was.
        glue = (
            self._dropped_after_ws and self._pending_ws == " " and text[0] in _CLOSING_PUNCT
            and self._last != "<"  # "< 😀!" must not become "<!"
        )
        if self._last and self._pending_ws and not glue:
            out.append(self._pending_ws)
        self._pending_ws = ""
        self._dropped_after_ws = False
        out.append(text)
        self._last = text[-1]

    def _add_ws(self, ws: str) -> None:
        self._pending_ws = _stronger(self._pending_ws, ws)

    def _line_prefix(self, final: bool) -> int | None:
        """Consume markdown block syntax at a line start; return chars consumed or None."""
        raw = self._raw
        indent = len(raw) - len(raw.lstrip(" \t"))
        rest = raw[indent:]
        if not rest:
            return None if not final else indent
        line, newline, _ = rest.partition("\n")
        # Code fence line (``` or ```python): drop the whole line.
        if rest.startswith(_FENCE):
            if not newline and not final:
                return None
            self._line_start = False
            return indent + len(line)
        if not final and not newline and any(f.startswith(rest) for f in _FENCE):
            return None
        # Horizontal rule / table rule: only decidable once the line is complete.
        if _RULE_CHARS.fullmatch(line):
            if not newline and not final:
                return None
            if _RULE_LINE.fullmatch(line):
                self._line_start = False
                return indent + len(line)
        # Headings, bullets, block quotes.
        m = _HEADING.match(rest) or _BULLET.match(rest)
        if m:
            self._line_start = False
            return indent + m.end()
        if not final and (_HEADING_PREFIX.fullmatch(rest) or _BULLET_PREFIX.fullmatch(rest)):
            return None
        self._line_start = False
        return indent

    def _inline(self, final: bool, out: list[str]) -> int | None:
        raw = self._raw
        c = raw[0]
        if c == "\n":
            self._add_ws("\n\n" if "\n" in self._pending_ws else "\n")
            self._line_start = True
            return 1
        if c in _SPACE or c == "|":  # table cell bars separate words
            self._add_ws(" ")
            return 1
        if c == "<":
            return self._tag(final, out)
        if c in "*_~`":
            run = len(raw) - len(raw.lstrip(c))
            if run == len(raw) and not final:
                return None  # need the character after the run
            nxt = raw[run] if run < len(raw) else " "
            prev = " " if (self._pending_ws or not self._last) else self._last
            if self._keep_mark(c, run, prev, nxt):
                self._emit(out, c * run)
            return run
        if is_emoji(c):
            self._dropped_after_ws = self._dropped_after_ws or bool(self._pending_ws)
            return 1
        self._emit(out, c)
        return 1

    def _tag(self, final: bool, out: list[str]) -> int | None:
        raw = self._raw
        m = _TAG.match(raw)
        if m and m.end() <= self._max_tag_chars:
            self._add_ws(" ")  # a dropped tag separates words
            return m.end()
        p = _TAG_PREFIX.match(raw)
        if not final and p.end() == len(raw) and len(raw) < self._max_tag_chars:
            return None  # may still become a tag
        # Not a tag. Keep "<" only where nothing can turn it into one ("3 < 5", "<3", "<=");
        # "<**flush>" or "<😀flush>" would become "<flush>" once the marks are gone.
        nxt = raw[1] if len(raw) > 1 else ""
        if not nxt or nxt.isspace() or nxt.isdigit() or nxt == "=":
            self._emit(out, "<")
        return 1

    @staticmethod
    def _keep_mark(c: str, run: int, prev: str, nxt: str) -> bool:
        """Whether a run of ``*``, ``_``, ``~`` or backticks is text rather than markdown."""
        if c == "`":
            return False
        if c == "~":
            return run == 1
        if c == "_":
            return prev.isalnum() and nxt.isalnum()  # snake_case
        # "*": keep arithmetic ("2 * 3", "2*3"), drop emphasis.
        return (prev.isspace() and nxt.isspace()) or (prev.isdigit() and nxt.isdigit())


def clean_text(text: str) -> str:
    """Clean a whole text at once (same result as streaming it through :class:`TextCleaner`)."""
    cleaner = TextCleaner()
    return cleaner.feed(text) + cleaner.finish()
