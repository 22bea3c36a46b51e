"""PhraseAggregator at frame level (pipecat ``run_test``): where it cuts, what it cleans, when it
flushes, how it handles interruptions and ends, and what a real TTS + assistant context get."""

from __future__ import annotations

import re

import pytest

from pipecat.frames.frames import (
    EndFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.tests.utils import SleepFrame, run_test
from processors import PhraseAggregator
from processors.phrase.aggregator import PhraseAggregatorSettings, PhraseFrame


def llm_tokens(text: str) -> list[str]:
    """Split like an LLM tokenizer: words with their leading space, punctuation and digits alone."""
    tokens = re.findall(r"\s*[^\W\d]+|\s*\d|\s*[^\w\s]|\s+", text)
    assert "".join(tokens) == text
    return tokens


def answer(tokens: list[str]) -> list:
    text_frames = [LLMTextFrame(t) for t in tokens]
    return [LLMFullResponseStartFrame(), *text_frames, LLMFullResponseEndFrame()]


async def phrases_for(tokens: list[str], settings: PhraseAggregatorSettings | None = None):
    down, _ = await run_test(PhraseAggregator(settings=settings), frames_to_send=answer(tokens))
    return [f for f in down if isinstance(f, PhraseFrame)]


# (id, LLM tokens, expected [(phrase, flush)], settings or None). Default settings unless given.
CASES = [
    (
        "sentence_ends",
        llm_tokens("Hi there. How are you? I am fine!"),
        [("Hi there.", True), ("How are you?", False), ("I am fine!", True)],
        None,
    ),
    (
        "first_chunk_at_first_clause",
        llm_tokens("Well, I think the answer is yes, because it works."),
        [("Well,", False), ("I think the answer is yes, because it works.", True)],
        None,
    ),
    (
        "first_chunk_after_a_few_words_not_on_a_function_word",
        llm_tokens("The capital of France is Paris and it is lovely."),
        [("The capital of France", False), ("is Paris and it is lovely.", True)],
        None,
    ),
    (
        "first_chunk_word_limit",
        llm_tokens("to be or not to be that is the question"),
        [("to be or not to be", False), ("that is the question", True)],
        None,
    ),
    (
        "later_clauses_need_clause_min_chars",
        llm_tokens("Yes. First, we go home, and then, after a long and quiet dinner, we sleep."),
        [
            ("Yes.", True),
            ("First, we go home, and then, after a long and quiet dinner,", False),
            ("we sleep.", True),
        ],
        None,
    ),
    (
        "dashes_are_clause_boundaries",
        llm_tokens("Okay — so the plan is simple - we leave early and come back — late."),
        [("Okay —", False), ("so the plan is simple - we leave early and come back —", False),
         ("late.", True)],
        None,
    ),
    (
        "length_limit_on_a_word_boundary",
        llm_tokens(
            "Sure. This sentence keeps going without any punctuation at all so the aggregator "
            "has to cut it somewhere sensible near eighty characters and then it goes on"
        ),
        [
            ("Sure.", True),
            ("This sentence keeps going without any punctuation at all so the aggregator has",
             False),
            ("to cut it somewhere sensible near eighty characters and then it goes on", True),
        ],
        None,
    ),
    (
        "numbers_decimals_times_versions",
        llm_tokens("It costs 3.5 dollars at 10:30 on v1.2 today. Add 6.5 grams. Done."),
        [("It costs 3.5", False), ("dollars at 10:30 on v1.2 today.", True),
         ("Add 6.5 grams.", False), ("Done.", True)],
        None,
    ),
    (
        "number_then_period_waits_for_the_next_token",
        ["Add", " 6", ".", "5", " grams", " of", " salt", "."],
        [("Add 6.5 grams", False), ("of salt.", True)],
        None,
    ),
    (
        "abbreviations_and_initials",
        llm_tokens(
            "Dr. Smith and J. R. R. Tolkien met in the U.S. at 9 a.m. today, e.g. on Monday. "
            "Then they left."
        ),
        [
            ("Dr. Smith and J. R. R. Tolkien", False),
            ("met in the U.S. at 9 a.m. today,", False),
            ("e.g. on Monday.", True),
            ("Then they left.", True),
        ],
        None,
    ),
    (
        "urls_and_emails",
        llm_tokens(
            "See https://example.com/docs/v1.2/index.html?q=a.b for details. "
            "Or mail help@example.co.uk today."
        ),
        [
            ("See https://example.com/docs/v1.2/index.html?q=a.b for details.", True),
            ("Or mail help@example.co.uk today.", True),
        ],
        None,
    ),
    (
        "numbered_list_lines",
        llm_tokens("Steps:\n1. Boil water.\n2. Add the tea.\n3. Wait 3 minutes."),
        [("Steps:", False), ("1. Boil water.", True), ("2. Add the tea.", False),
         ("3. Wait 3 minutes.", True)],
        None,
    ),
    (
        "markdown_headings_bullets_emphasis_code_fences",
        llm_tokens(
            "# Tea\n**Green** tea is *great* for `you`.\n- Hot water\n* Two __minutes__\n"
            "```text\nsteep well\n```\nEnjoy!"
        ),
        [("Tea", False), ("Green tea is great for you.", True), ("Hot water", False),
         ("Two minutes", False), ("steep well", False), ("Enjoy!", True)],
        None,
    ),
    (
        "emoji_dropped_words_kept",
        ["Great", " job", " 🎉", "!", " You", " did", " it", " 👍🏽", "."],
        [("Great job!", True), ("You did it.", True)],
        None,
    ),
    (
        "llm_control_text_is_never_passed_through",
        ["Sure", ".", " <", "flush", ">", " Next", " <speak>", "step", "</speak>", " <**flush**>",
         " please", "<flush>"],
        [("Sure.", True), ("Next step flush> please", True)],
        None,
    ),
    (
        "flush_not_more_often_than_flush_min_chars",
        llm_tokens("One. Two. Three. Four. Five. Six."),
        [("One.", True), ("Two.", False), ("Three.", False), ("Four.", True), ("Five.", False),
         ("Six.", True)],
        PhraseAggregatorSettings(flush_min_chars=15),
    ),
    (
        "flush_first_sentence_can_be_disabled",
        llm_tokens("One. Two. Three."),
        [("One.", False), ("Two.", False), ("Three.", True)],
        PhraseAggregatorSettings(flush_first_sentence=False),
    ),
    (
        "early_first_chunk_can_be_disabled",
        llm_tokens("The capital of France is Paris, of course. Yes."),
        [("The capital of France is Paris,", False), ("of course.", True), ("Yes.", True)],
        PhraseAggregatorSettings(first_chunk_words=0, first_chunk_max_words=0, clause_min_chars=10),
    ),
]


@pytest.mark.parametrize("tokens, expected, settings", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_phrases(tokens, expected, settings):
    frames = await phrases_for(tokens, settings)
    assert [(f.text, f.flush) for f in frames] == expected
    assert [f.final for f in frames] == [False] * (len(frames) - 1) + [True]
    # Whatever the token split, the same phrases come out.
    by_char = await phrases_for(list("".join(tokens)), settings)
    assert [(f.text, f.flush, f.final) for f in by_char] == [
        (f.text, f.flush, f.final) for f in frames
    ]


async def test_final_phrase_precedes_response_end_and_frames_pass_through():
    speak = TTSSpeakFrame("Hello")
    skipped = LLMTextFrame("not for speech")
    skipped.skip_tts = True
    frames = [LLMFullResponseStartFrame(), LLMTextFrame("Hi"), speak, skipped,
              LLMTextFrame(" there"), LLMFullResponseEndFrame()]
    down, _ = await run_test(PhraseAggregator(), frames_to_send=frames)
    assert [type(f) for f in down] == [
        LLMFullResponseStartFrame, TTSSpeakFrame, LLMTextFrame, PhraseFrame,
        LLMFullResponseEndFrame,
    ]
    assert down[1] is speak and down[2] is skipped
    assert (down[3].text, down[3].flush, down[3].final) == ("Hi there", True, True)


async def test_upstream_frames_pass_through():
    _, up = await run_test(PhraseAggregator(), frames_to_send=[LLMTextFrame("up")],
                           frames_to_send_direction=FrameDirection.UPSTREAM)
    assert [type(f) for f in up] == [LLMTextFrame]


async def test_end_frame_flushes_before_ending():
    frames = [LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in llm_tokens("Bye now")],
              EndFrame()]
    down, _ = await run_test(PhraseAggregator(), frames_to_send=frames, send_end_frame=False)
    assert [type(f) for f in down] == [LLMFullResponseStartFrame, PhraseFrame, EndFrame]
    assert (down[1].text, down[1].flush, down[1].final) == ("Bye now", True, True)


async def test_interruption_drops_the_buffer_and_restarts_first_chunk_rules():
    frames = [
        *answer(llm_tokens("Well, this is the first answer."))[:-1],  # no response end
        LLMFullResponseStartFrame(),  # ...a new answer starts: the old one is finished
        *[LLMTextFrame(t) for t in llm_tokens("This will be interrupted")],
        SleepFrame(0.1),
        InterruptionFrame(),
        *answer(llm_tokens("Okay, new answer.")),
    ]
    down, _ = await run_test(PhraseAggregator(), frames_to_send=frames)
    phrases = [(f.text, f.final) for f in down if isinstance(f, PhraseFrame)]
    assert phrases == [
        ("Well,", False), ("this is the first answer.", True), ("Okay,", False),
        ("new answer.", True),
    ]
    assert any(isinstance(f, InterruptionFrame) for f in down)


class UpstreamInterrupter(FrameProcessor):
    """Sends an ``InterruptionFrame`` upstream when it sees ``TTSSpeakFrame("interrupt")``."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSSpeakFrame) and frame.text == "interrupt":
            await self.push_frame(InterruptionFrame(), FrameDirection.UPSTREAM)
        else:
            await self.push_frame(frame, direction)


async def test_interruption_coming_upstream_also_drops_the_buffer():
    frames = [LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in llm_tokens("Half a")],
              SleepFrame(0.1), TTSSpeakFrame("interrupt"), SleepFrame(0.1)]
    down, up = await run_test(Pipeline([PhraseAggregator(), UpstreamInterrupter()]),
                              frames_to_send=frames)
    assert any(isinstance(f, InterruptionFrame) for f in up)
    assert not any(isinstance(f, PhraseFrame) for f in down)  # "Half a" was dropped


async def test_answer_without_words_produces_no_phrase():
    frames = answer(["🎉", " ", "**", "<flush>"])
    down, _ = await run_test(PhraseAggregator(), frames_to_send=frames)
    assert [type(f) for f in down] == [LLMFullResponseStartFrame, LLMFullResponseEndFrame]


async def test_on_phrase_event():
    aggregator = PhraseAggregator()
    seen = []

    @aggregator.event_handler("on_phrase")
    async def on_phrase(processor, frame):
        seen.append(frame.text)

    await run_test(aggregator, frames_to_send=answer(llm_tokens("Hello there. Bye.")))
    assert seen == ["Hello there.", "Bye."]


@pytest.mark.parametrize(
    "kwargs", [{"max_chars": 0}, {"flush_min_chars": -1}, {"first_chunk_words": "3"},
               {"max_tag_chars": 1}, {"abbreviations": "dr"}]
)
def test_bad_settings_fail_with_one_clear_line(kwargs):
    with pytest.raises(ValueError) as e:
        PhraseAggregatorSettings(**kwargs)
    assert "\n" not in str(e.value) and next(iter(kwargs)) in str(e.value)


# -- with a real pipecat TTSService and the assistant context ---------------------------------


class RecordingTTS(TTSService):
    """A real ``TTSService``: records what ``run_tts`` is asked to say, yields a bit of silence."""

    def __init__(self, **kwargs):
        super().__init__(
            push_start_frame=True, push_stop_frames=True, sample_rate=16000,
            settings=TTSSettings(model=None, voice=None, language=None), **kwargs,
        )
        self.spoken: list[str] = []

    async def run_tts(self, text: str, context_id: str):
        self.spoken.append(text)
        yield TTSAudioRawFrame(b"\0\0" * 160, 16000, 1, context_id=context_id)


async def test_tts_speaks_phrases_as_is_and_context_gets_clean_text():
    text = (
        "Hello, **world**! The capital of France is Paris. <flush> It is famous for the "
        "Eiffel Tower,\nthe Louvre, and cafés 🥐. Dr. Smith said so at 10:30."
    )
    context = LLMContext()
    tts = RecordingTTS()
    down, _ = await run_test(
        Pipeline([PhraseAggregator(), tts, LLMAssistantAggregator(context)]),
        frames_to_send=answer(llm_tokens(text)),
    )
    clean = (
        "Hello, world! The capital of France is Paris. It is famous for the Eiffel Tower, "
        "the Louvre, and cafés. Dr. Smith said so at 10:30."
    )
    # The TTS does not re-aggregate: one synthesis per phrase, with the phrase's exact text.
    assert tts.spoken == ["Hello,", "world!", "The capital of France is Paris.",
                          "It is famous for the Eiffel Tower,", "the Louvre, and cafés.",
                          "Dr. Smith said so at 10:30."]
    # The assistant context gets the cleaned answer with single spaces, no control text.
    assert context.get_messages() == [{"role": "assistant", "content": clean}]
    assert not any("<" in f.text for f in down if isinstance(f, TTSTextFrame))


def test_phrase_frame_is_an_aggregated_text_frame_that_tts_skips_aggregating():
    from pipecat.frames.frames import AggregatedTextFrame

    frame = PhraseFrame(text="Hi.", text_type="sentence", flush=True)
    assert isinstance(frame, AggregatedTextFrame) and frame.append_to_context
    assert not frame.includes_inter_frame_spaces


async def test_piper_speaks_phrases_without_control_text():
    """A stock pipecat TTS (Piper, bundled voice) speaks every phrase; no '<flush>' is read."""
    pytest.importorskip("piper")
    from runtime.models import ModelNotFoundError, piper_voice_path
    from pipecat.services.piper.tts import PiperTTSService

    try:
        voice = piper_voice_path()
    except ModelNotFoundError as e:
        pytest.skip(str(e))
    tts = PiperTTSService(
        settings=PiperTTSService.Settings(voice=voice.stem), download_dir=voice.parent
    )
    requests: list[str] = []

    @tts.event_handler("on_tts_request")
    async def on_request(service, context_id, text):
        requests.append(text)

    context = LLMContext()
    tokens = llm_tokens("Sure. <flush> The tea is ready. Enjoy it!") + ["<flush>"]
    down, _ = await run_test(
        Pipeline([PhraseAggregator(), tts, LLMAssistantAggregator(context)]),
        frames_to_send=answer(tokens),
    )
    assert requests == ["Sure.", "The tea is ready.", "Enjoy it!"]
    audio = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    # About 3 s of speech at 16-bit mono; at least 1 s proves every phrase was spoken.
    assert len(audio) >= 2 * tts.sample_rate
    assert context.get_messages() == [
        {"role": "assistant", "content": "Sure. The tea is ready. Enjoy it!"}
    ]
