"""Property tests (hypothesis) for the phrase aggregator: chunks rebuild the cleaned text,
no chunk splits a word, every answer ends with a flushed final chunk, the token split never
matters, and no control tag ever survives."""

from __future__ import annotations

import asyncio
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipecat.frames.frames import LLMFullResponseEndFrame, LLMFullResponseStartFrame, LLMTextFrame
from pipecat.tests.utils import run_test
from processors.phrase.aggregator import PhraseAggregator, PhraseFrame
from processors.phrase.rules import PhraseSettings, PhraseStream
from processors.phrase.text_cleanup import TextCleaner, clean_text

# Anything that could open a control tag: "<" followed by other than whitespace, digit, "=".
TAG = re.compile(r"<[^\s\d=]")

# LLM-ish text: words, numbers, abbreviations, URLs, markdown, emoji, tags, odd whitespace.
PIECES = st.sampled_from(
    [
        "Hello", "world", "the", "of", "Paris", "snake_case", "3.5", "6.", "10:30", "v1.2",
        "Dr.", "e.g.", "U.S.", "J.", "a.m.", "https://example.com/a.b?c=1", "me@mail.org",
        ".", ",", "!", "?", ";", ":", "—", "-", "...", "…", "(", ")", "\"", "'", "2 * 3",
        "**", "*", "__", "_", "~~", "~", "`", "```", "```py", "#", "## ", "- ", "* ", "+ ",
        "> ", "1. ", "|", "---", "<flush>", "</speak>", "<speak>", "<", ">", "<b>", "< 5",
        "😀", "👍🏽", "🇫🇷", "✨", " ", "  ", "\n", "\n\n", "\t", "A",
        "verylongword" * 9,
    ]
)
TEXTS = st.lists(PIECES, min_size=0, max_size=60).map("".join)
SETTINGS = st.builds(
    PhraseSettings,
    max_chars=st.integers(10, 120),
    clause_min_chars=st.integers(0, 60),
    first_chunk_words=st.integers(0, 6),
    first_chunk_max_words=st.integers(0, 10),
    first_clause_min_words=st.integers(0, 3),
    flush_first_sentence=st.booleans(),
    flush_min_chars=st.integers(0, 300),
)


def split_points(text: str, data) -> list[str]:
    """Split ``text`` into tokens at hypothesis-chosen points."""
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=len(text) + 1)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def run_stream(tokens: list[str], phrase_settings: PhraseSettings | None = None):
    stream = PhraseStream(phrase_settings)
    phrases = []
    for tok in tokens:
        phrases += stream.push(tok)
    return phrases + stream.finish()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, data=st.data())
def test_cleaner_output_does_not_depend_on_token_split(text, data):
    cleaner = TextCleaner()
    streamed = "".join(cleaner.feed(tok) for tok in split_points(text, data)) + cleaner.finish()
    assert streamed == clean_text(text)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_cleaned_text_has_no_tags_and_normalised_whitespace(text):
    cleaned = clean_text(text)
    assert not TAG.search(cleaned)
    assert cleaned == cleaned.strip()
    assert not re.search(r"[ \t]{2}|\n{3}| \n|\n ", cleaned)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, data=st.data(), phrase_settings=SETTINGS)
def test_chunks_rebuild_the_cleaned_text_and_never_split_words(text, data, phrase_settings):
    phrases = run_stream(split_points(text, data), phrase_settings)
    cleaned = clean_text(text)
    texts = [p.text for p in phrases]
    # Joining the chunks gives back the cleaned input text (whitespace runs become one space).
    assert " ".join(texts) == " ".join(cleaned.split())
    # No chunk splits a word: every chunk is whole words of the cleaned text, in order.
    assert [w for t in texts for w in t.split()] == cleaned.split()
    for t in texts:
        assert t and t == t.strip() and "\n" not in t
        assert not TAG.search(t) and "<flush>" not in t
    # Length limit on word boundaries: a longer chunk is a single word.
    for t in texts:
        assert len(t) <= phrase_settings.max_chars or " " not in t


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, data=st.data(), phrase_settings=SETTINGS)
def test_last_chunk_is_final_and_flushed_and_split_does_not_matter(text, data, phrase_settings):
    phrases = run_stream(split_points(text, data), phrase_settings)
    if clean_text(text):
        assert phrases, "an answer with words produces at least one chunk"
        assert phrases[-1].final and phrases[-1].flush
    assert all(not p.final for p in phrases[:-1])
    # The same answer in one piece or char by char gives the same chunks.
    one_piece = run_stream([text], phrase_settings)
    by_char = run_stream(list(text), phrase_settings)
    assert [(p.text, p.flush, p.final) for p in phrases] == [
        (p.text, p.flush, p.final) for p in one_piece
    ] == [(p.text, p.flush, p.final) for p in by_char]


def run_frames(answers: list[list[str]]) -> list:
    """Push answers (token lists) through a PhraseAggregator in one pipeline run."""
    frames = []
    for tokens in answers:
        frames += [LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in tokens],
                   LLMFullResponseEndFrame()]
    down, _ = asyncio.run(run_test(PhraseAggregator(), frames_to_send=frames))
    return down


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXTS, min_size=1, max_size=3), data=st.data())
def test_frames_every_answer_ends_with_a_flushed_final_phrase(texts, data):
    down = run_frames([split_points(t, data) for t in texts])
    # Split the downstream frames into answers at each LLMFullResponseEndFrame.
    answers, current = [], []
    for f in down:
        if isinstance(f, PhraseFrame):
            current.append(f)
        elif isinstance(f, LLMFullResponseEndFrame):
            answers.append(current)
            current = []
    assert len(answers) == len(texts)
    for text, phrases in zip(texts, answers):
        cleaned = clean_text(text)
        assert " ".join(p.text for p in phrases) == " ".join(cleaned.split())
        if cleaned:
            assert phrases[-1].final and phrases[-1].flush  # the TTS appends " <flush>"
        assert [p.final for p in phrases[:-1]] == [False] * (len(phrases) - 1)
        assert all("<flush>" not in p.text for p in phrases)
