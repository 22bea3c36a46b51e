"""Where to cut cleaned LLM text into TTS phrases: the pure (frame-free) part of the aggregator.

:class:`PhraseChunker` takes cleaned text (see :mod:`processors.phrase.text_cleanup`: whitespace is
``" "``, ``"\\n"`` or ``"\\n\\n"``) and yields :class:`Phrase` objects. It only cuts at whitespace
and only once the first character after that whitespace has arrived, so a chunk is always a run
of complete words (a token such as ``"3"`` + ``"."`` + ``"5"`` can never be cut as ``"3."``),
and the last phrase of an answer always comes from :meth:`PhraseChunker.finish`.

Cut rules (thresholds in :class:`PhraseSettings`):

- sentence end: a word ending in ``.``, ``?``, ``!`` (closing quotes/brackets allowed after it),
  except abbreviations (``Dr.``, ``e.g.``), initials (``J.``, ``U.S.``, ``a.m.``), a list
  number that starts a line or sentence (``6. Mix``) and a ``.`` followed by a lower-case
  word (``approx. five``). Decimals, times, versions, URLs and e-mail addresses (``3.5``,
  ``10:30``, ``v1.2``) hold no whitespace, so they are never cut;
- line break (list items, headings, paragraphs): always;
- clause: a word ending in ``,``, ``;``, ``:``, ``…``/``...``, or a dash (``-``, ``–``, ``—``);
- length: when a chunk would pass ``max_chars``, at the last word boundary that fits.

The first phrase of an answer is cut early: at its first sentence end or clause, or after
``first_chunk_words`` words (not after a function word such as "the", at the latest after
``first_chunk_max_words``). ``flush`` is set at sentence ends (and paragraph breaks) when at
least ``flush_min_chars`` were spoken since the previous flush (the answer's first sentence end
may flush at once, ``flush_first_sentence``), and always on the final phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from processors.phrase.text_cleanup import TextCleaner

DEFAULT_ABBREVIATIONS: frozenset[str] = frozenset(
    """mr mrs ms dr prof sr jr st mt rev gen col capt lt sgt hon gov sen rep
    e.g i.e cf vs approx fig vol dept""".split()
)

FUNCTION_WORDS: frozenset[str] = frozenset(
    """a an the of to in on at by for from with into onto about as and or but nor so if than
    that which who whom whose my your his her its our their this these those is are was were
    be been am i you we they he she it not very""".split()
)

_CLOSERS = "\"')]}»”’"
_OPENERS = "\"'([{«“‘"
_SENTENCE_END = re.compile(rf"[.?!]+[{re.escape(_CLOSERS)}]*$")
_ELLIPSIS = re.compile(rf"(?:\.\.\.|…)[{re.escape(_CLOSERS)}]*$")
_CLAUSE_END = re.compile(rf"[,;:—–]+[{re.escape(_CLOSERS)}]*$")
_DASH = re.compile(r"(?:-{1,3}|[–—])")
_INITIALS = re.compile(r"(?:[A-Za-z]\.){2,}|[A-HJ-Z]\.")  # "U.S.", "a.m.", "J." (not "I.")
_LIST_NUMBER = re.compile(r"(?:\d{1,3}|[A-Za-z])[.)]")
_BOUNDARY = re.compile(r"\s+(?=\S)")


@dataclass
class PhraseSettings:
    """Thresholds of the phrase rules (all lengths in characters of cleaned text).

    Parameters:
        max_chars: Length limit of a phrase; cut at the last word boundary that fits.
            A single longer word (a URL) becomes a phrase of its own.
        clause_min_chars: After the first phrase, cut at a clause boundary only once the
            phrase is at least this long (short clauses ride along for better prosody).
        first_chunk_words: The first phrase of an answer may be cut after this many words,
            at a boundary not preceded by a function word. 0 disables the early cut.
        first_chunk_max_words: The first phrase is cut after at most this many words
            (any boundary except inside an abbreviation). 0 disables.
        first_clause_min_words: The first phrase is cut at a clause/sentence end once it has
            at least this many words.
        flush_first_sentence: Flush at the first sentence end of an answer (audio starts
            sooner), regardless of ``flush_min_chars``.
        flush_min_chars: Minimum characters between two flushes inside an answer.
        flush_first_phrase: Flush the answer's first phrase too, so a TTS that holds text
            until a sentence end speaks it at once (first audio sooner; see docs/benchmarks.md).
        abbreviations: Words after which a ``.`` is not a sentence end (case and a final
            ``.`` are ignored); a list given here replaces :data:`DEFAULT_ABBREVIATIONS`.
    """

    max_chars: int = 80
    clause_min_chars: int = 30
    first_chunk_words: int = 3
    first_chunk_max_words: int = 6
    first_clause_min_words: int = 1
    flush_first_sentence: bool = True
    flush_min_chars: int = 160
    flush_first_phrase: bool = False
    abbreviations: frozenset[str] = field(default_factory=lambda: DEFAULT_ABBREVIATIONS)

    def __post_init__(self):
        cls = type(self).__name__
        for name in ("max_chars", "clause_min_chars", "first_chunk_words",
                     "first_chunk_max_words", "first_clause_min_words", "flush_min_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{cls}.{name} must be an integer >= 0, got {value!r}")
        if self.max_chars < 1:
            raise ValueError(f"{cls}.max_chars must be >= 1, got {self.max_chars}")
        if isinstance(self.abbreviations, str) or not all(
            isinstance(a, str) for a in self.abbreviations
        ):
            raise ValueError(
                f"{cls}.abbreviations must be a list of words, got {self.abbreviations!r}"
            )
        self.abbreviations = frozenset(a.lower().rstrip(".") for a in self.abbreviations)


@dataclass
class Phrase:
    """One chunk for the TTS: complete words, no leading/trailing whitespace."""

    text: str
    flush: bool = False
    final: bool = False
    reason: str = ""  # "sentence", "clause", "line", "paragraph", "words", "length", "end"


@dataclass
class _Boundary:
    start: int  # whitespace start in the buffer (= end of the phrase if cut here)
    end: int  # first character after the whitespace
    kind: str  # "sentence", "clause", "line", "paragraph", "word", "protected"
    words: int  # words in buffer[:start]
    word: str  # the word just before the boundary


class PhraseChunker:
    """Incremental phrase cutter over cleaned text; one instance per stream of answers."""

    def __init__(self, settings: PhraseSettings | None = None):
        """Args:
        settings: Thresholds; defaults to :class:`PhraseSettings()`.
        """
        self.settings = settings or PhraseSettings()
        self.reset()

    def reset(self) -> None:
        """Drop buffered text and start a new answer."""
        self._buf = ""
        self._bounds: list[_Boundary] = []
        self._scan = 0  # buffer offset up to which boundaries are classified
        self._sentence_first = True  # the next word starts a line or sentence
        self._phrases_in_answer = 0
        self._flushes_in_answer = 0
        self._chars_since_flush = 0

    @property
    def pending_text(self) -> str:
        """Buffered text not yet emitted."""
        return self._buf

    def push(self, text: str) -> list[Phrase]:
        """Add cleaned text; return the phrases that are now complete."""
        if not self._buf:
            text = text.lstrip()
        self._buf += text
        self._classify_new_boundaries()
        phrases = []
        while (phrase := self._next_cut()) is not None:
            phrases.append(phrase)
        return phrases

    def finish(self) -> list[Phrase]:
        """End of answer: the rest of the buffer; the last phrase is ``final`` and flushed."""
        phrases = []
        self._buf = self._buf.rstrip()
        while len(self._buf) > self.settings.max_chars and self._bounds:
            j = self._length_cut(len(self._bounds))
            phrases.append(self._cut(j if j < len(self._bounds) else 0, "length"))
        if self._buf:
            phrases.append(Phrase(self._buf, flush=True, final=True, reason="end"))
        self.reset()
        return phrases

    # -- classification ------------------------------------------------------------------

    def _classify_new_boundaries(self) -> None:
        for m in _BOUNDARY.finditer(self._buf, self._scan):
            start, end = m.span()
            prev_end = self._bounds[-1].end if self._bounds else 0
            word = self._buf[prev_end:start]
            ws = m.group()
            kind = self._kind(word, ws, self._buf[end], self._sentence_first)
            words = (self._bounds[-1].words if self._bounds else 0) + 1
            self._bounds.append(_Boundary(start, end, kind, words, word))
            self._sentence_first = kind in ("sentence", "line", "paragraph")
            self._scan = end

    def _kind(self, word: str, ws: str, next_char: str, sentence_first: bool) -> str:
        if "\n\n" in ws:
            return "paragraph"
        if "\n" in ws:
            return "line"
        if _ELLIPSIS.search(word):
            return "clause"
        if _SENTENCE_END.search(word):
            ends_with_period = word.rstrip(_CLOSERS).endswith(".")
            if ends_with_period and self._protected(word, next_char, sentence_first):
                return "protected"
            return "sentence"
        if _CLAUSE_END.search(word) or _DASH.fullmatch(word):
            return "clause"
        return "word"

    def _protected(self, word: str, next_char: str, sentence_first: bool) -> bool:
        """Whether a word ending in "." is not a sentence end."""
        core = word.lstrip(_OPENERS).rstrip(_CLOSERS)
        if sentence_first and _LIST_NUMBER.fullmatch(core):
            return True  # "6. Mix the flour" (a list item number starts its sentence)
        if core[:-1].lower() in self.settings.abbreviations or _INITIALS.fullmatch(core):
            return True
        return next_char.islower()  # "approx. five", "3 p.m. today"

    # -- cutting ---------------------------------------------------------------------------

    def _next_cut(self) -> Phrase | None:
        s = self.settings
        first = self._phrases_in_answer == 0
        for i, b in enumerate(self._bounds):
            if b.start > s.max_chars:
                return self._cut(self._length_cut(i), "length")
            if b.kind in ("line", "paragraph"):
                return self._cut(i, b.kind)
            if b.kind == "sentence":
                if not first or b.words >= s.first_clause_min_words:
                    return self._cut(i, "sentence")
            if b.kind == "clause":
                if (first and b.words >= s.first_clause_min_words) or (
                    not first and b.start >= s.clause_min_chars
                ):
                    return self._cut(i, "clause")
            if first and b.kind != "protected" and self._early_cut(b):
                return self._cut(i, "words")
        return None

    def _early_cut(self, b: _Boundary) -> bool:
        s = self.settings
        if s.first_chunk_max_words and b.words >= s.first_chunk_max_words:
            return True
        word = b.word.strip(_OPENERS + _CLOSERS).lower()
        return bool(s.first_chunk_words) and b.words >= s.first_chunk_words and (
            word not in FUNCTION_WORDS
        )

    def _length_cut(self, i: int) -> int:
        """Index of the boundary to cut at when boundary ``i`` is past ``max_chars``."""
        fitting = [j for j in range(i) if self._bounds[j].start <= self.settings.max_chars]
        if not fitting:
            return i  # one word longer than max_chars
        half = self.settings.max_chars // 2
        for j in reversed(fitting):
            b = self._bounds[j]
            if b.start < half:
                break
            if b.kind != "protected" and b.word.lower() not in FUNCTION_WORDS:
                return j
        return fitting[-1]

    def _cut(self, i: int, reason: str) -> Phrase:
        b = self._bounds[i]
        text = self._buf[: b.start]
        flush = self._want_flush(b)
        # Flushing the first phrase makes a TTS that waits for a sentence end speak it at once;
        # it does not count as the answer's sentence flush.
        early = not flush and self._phrases_in_answer == 0 and self.settings.flush_first_phrase
        self._buf = self._buf[b.end :]
        self._scan -= b.end
        rest = self._bounds[i + 1 :]
        for r in rest:
            r.start -= b.end
            r.end -= b.end
            r.words -= b.words
        self._bounds = rest
        self._phrases_in_answer += 1
        self._chars_since_flush += len(text) + 1
        if flush:
            self._flushes_in_answer += 1
            self._chars_since_flush = 0
        return Phrase(text, flush=flush or early, final=False, reason=reason)

    def _want_flush(self, b: _Boundary) -> bool:
        natural = b.kind in ("sentence", "paragraph") or (
            b.kind == "line" and _SENTENCE_END.search(b.word) is not None
        )
        if not natural:
            return False
        if self._flushes_in_answer == 0 and self.settings.flush_first_sentence:
            return True
        spoken = self._chars_since_flush + b.start
        return spoken >= self.settings.flush_min_chars


class PhraseStream:
    """Raw LLM text in, phrases out: :class:`~processors.phrase.text_cleanup.TextCleaner` feeding a
    :class:`PhraseChunker`. The frame-free core of ``PhraseAggregator``."""

    def __init__(self, settings: PhraseSettings | None = None, *, max_tag_chars: int = 64):
        """Args:
        settings: Phrase thresholds.
        max_tag_chars: Longest ``<...>`` removed as control text.
        """
        self._cleaner = TextCleaner(max_tag_chars=max_tag_chars)
        self._chunker = PhraseChunker(settings)

    @property
    def pending_text(self) -> str:
        """Cleaned text buffered and not yet emitted."""
        return self._chunker.pending_text

    def push(self, text: str) -> list[Phrase]:
        """Add a token of raw LLM text; return the phrases now complete."""
        return self._chunker.push(self._cleaner.feed(text))

    def finish(self) -> list[Phrase]:
        """End of answer: the remaining phrases, the last one ``final`` (and flushed)."""
        return self._chunker.push(self._cleaner.finish()) + self._chunker.finish()

    def reset(self) -> None:
        """Drop everything buffered (interruption) and start a new answer."""
        self._cleaner.reset()
        self._chunker.reset()
