"""Barge-in end to end over the WAV transport: Piper-made user speech over long bot answers.

The real pipeline (Silero VAD → InterruptionHandler → Whisper → user context → OpenAI LLM
service → Piper → PlaybackGate → WAV out → assistant context) runs against a scripted
OpenAI-compatible server on 127.0.0.1, so answers are long and known and the LLM is still
streaming when the user barges in.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from runtime.transports.wav_file import UserUtterance
from testing.conversation import AUDIBLE_PEAK, audible, build_conversation, measure_barge_in, run_conversation
from testing.fake_openai_server import FakeOpenAIServer, ScriptedAnswer

pytestmark = pytest.mark.e2e

OCEAN = (
    "The ocean is huge, deep and full of life. It covers most of our planet and holds a huge variety of life, from tiny plankton drifting "
    "near the surface to giant whales that travel thousands of miles every year. Scientists believe that "
    "most of the deep sea has never been explored, and new species are found there every single year."
)
MOUNTAINS = (
    "Mountains form when the plates of the earth push against each other over millions of years. The "
    "highest of them all is Mount Everest, which rises almost nine kilometers above the sea, and every "
    "year many climbers try to reach its snowy summit."
)
RIVERS = (
    "Rivers carry fresh water from the hills down to the sea, and they have shaped valleys, fed farms and "
    "carried boats for as long as people have lived beside them. The longest river in the world is the "
    "Nile, which flows north through Africa."
)
FORESTS = "Forests are full of tall trees and quiet animals."


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def assistant_texts(conv) -> list[str]:
    return [str(m["content"]) for m in conv.context.get_messages() if m.get("role") == "assistant"]


def user_texts(conv) -> list[str]:
    return [str(m["content"]) for m in conv.context.get_messages() if m.get("role") == "user"]


def audible_secs(pcm: np.ndarray, rate: int, block_secs: float = 0.02) -> float:
    block = int(rate * block_secs)
    peaks = np.abs(pcm[: len(pcm) // block * block].reshape(-1, block)).max(axis=1)
    return float((peaks >= AUDIBLE_PEAK).sum()) * block_secs


@pytest.fixture(scope="module")
def piper_seconds(tmp_path_factory):
    """``piper_seconds(text)``: audible seconds of ``text`` in the bundled voice."""
    from runtime.speech import speak_to_wav

    folder = tmp_path_factory.mktemp("answers")

    def measure(text: str) -> float:
        audio, rate = sf.read(str(speak_to_wav(text, folder / f"{abs(hash(text))}.wav")), dtype="int16")
        return audible_secs(audio, rate)

    return measure


def heard_secs(played, start: float, end: float) -> float:
    return sum(min(e, end) - max(s, start) for s, e in audible(played) if s < end and e > start)


def check_heard_words(context_text: str, full_text: str, heard: float, full_secs: float):
    """The context holds a prefix of the answer, as many words as the audio heard covers."""
    said, full = words(context_text), words(full_text)
    assert said, "nothing of the interrupted answer reached the context"
    assert said == full[: len(said)], f"not a prefix of the answer: {context_text!r}"
    assert len(said) < len(full), "the whole answer is in the context although it was cut short"
    expected = heard / full_secs * len(full)
    assert abs(len(said) - expected) <= max(3.0, 0.15 * expected), (len(said), expected, context_text)


async def test_barge_ins_stop_playback_and_the_context_keeps_only_heard_words(spoken, piper_seconds, tmp_path):
    utterances = [
        UserUtterance(path=spoken("Tell me about the ocean.")),
        # While the LLM is still streaming the first answer.
        UserUtterance(path=spoken("Please tell me about mountains instead."), bot_started_secs=1.5),
        # A backchannel: playback pauses, then goes on where it stopped. ("Okay", not Piper's
        # "Mm-hmm", which tiny.en hears as "in a month" 7 times in 10: three words, rightly an
        # interruption under min_words=2.)
        UserUtterance(path=spoken("Okay."), bot_started_secs=1.5),
        UserUtterance(path=spoken("What about the rivers?"), after_secs=3.0),
        # Two in a row: the next answer has barely started.
        UserUtterance(path=spoken("Talk about forests now."), bot_started_secs=0.6),
    ]
    answers = [ScriptedAnswer(OCEAN, word_secs=0.15, when="ocean"), ScriptedAnswer(MOUNTAINS, when="mountain"),
               ScriptedAnswer(RIVERS, when="river"), ScriptedAnswer(FORESTS, when="talk about")]
    async with FakeOpenAIServer(answers=answers) as llm:
        conv = build_conversation(tmp_path, utterances, llm_base_url=llm.base_url)
        await run_conversation(conv)
    said, played = conv.transport.input().said, conv.transport.output().played
    assert len(said) == 5
    q, b1, mm, b2, b3 = said

    # Playback stops at once at each barge-in, and nothing of the cut answer comes back.
    for barge_in in (b1, b2, b3):
        result = measure_barge_in(played, barge_in.speech_onset, barge_in.end)
        assert result.bot_audible, "the bot was not talking when the user barged in"
        assert result.latency_ms < 250, result
        assert result.stale_ms == 0, result
    # The first answer was cut while the LLM was still streaming it.
    ocean_request = next(r for r in llm.requests if r.answer.text == OCEAN)
    assert not ocean_request.completed

    # The backchannel only paused the second answer: it went on, and was no interruption.
    assert any(not r.interrupted for r in conv.handler.records if abs(r.onset_at - mm.speech_onset) < 0.3)
    assert not any(r.interrupted for r in conv.handler.records if abs(r.onset_at - mm.speech_onset) < 0.3)
    resumed = next(r for r in conv.handler.records if abs(r.onset_at - mm.speech_onset) < 0.3)
    print(f"backchannel: resumed {resumed.decided_at - mm.end:.2f}s after it ended ({resumed.reason})")
    assert heard_secs(played, mm.end, b2.speech_onset) > 0.5, "playback did not resume after the backchannel"

    # The next answer plays: the last one in full.
    assert heard_secs(played, b3.end, b3.end + 30) == pytest.approx(piper_seconds(FORESTS), rel=0.2, abs=0.3)

    # The context: each cut answer holds just the words heard, the user turns hold no backchannel.
    texts = assistant_texts(conv)
    by_answer = {name: next(t for t in texts if words(t)[:2] == words(full)[:2])
                 for name, full in (("ocean", OCEAN), ("mountains", MOUNTAINS), ("rivers", RIVERS))}
    starts = {"ocean": q.end, "mountains": b1.end, "rivers": b2.end}
    ends = {"ocean": b1.speech_onset + 0.3, "mountains": b2.speech_onset + 0.3, "rivers": b3.speech_onset + 0.3}
    for name, full in (("ocean", OCEAN), ("mountains", MOUNTAINS), ("rivers", RIVERS)):
        check_heard_words(by_answer[name], full, heard_secs(played, starts[name], ends[name]), piper_seconds(full))
    assert words(texts[-1]) == words(FORESTS)
    users = " ".join(user_texts(conv)).lower()
    # (Keys the scripted answers also match on: tiny.en sometimes hears "forests" as "force".)
    assert "mountains" in users and "rivers" in users and "talk about" in users
    assert "okay" not in words(users)
    # What the LLM was sent after each interruption is that same heard-words context.
    forests_request = next(r for r in llm.requests if r.answer.text == FORESTS)
    sent = [m["content"] for m in forests_request.messages if m["role"] == "assistant"]
    assert [words(t) for t in sent] == [words(by_answer[n]) for n in ("ocean", "mountains", "rivers")]


async def test_barge_in_before_the_first_audio_cancels_the_answer_for_good(spoken, piper_seconds, tmp_path):
    utterances = [
        UserUtterance(path=spoken("Tell me about the ocean.")),
        UserUtterance(path=spoken("Tell me about mountains instead."), after_secs=1.5),
    ]
    answers = [ScriptedAnswer(OCEAN, ttft_secs=3.0, when="ocean"), ScriptedAnswer(MOUNTAINS, when="mountain")]
    async with FakeOpenAIServer(answers=answers) as llm:
        conv = build_conversation(tmp_path, utterances, llm_base_url=llm.base_url)
        await run_conversation(conv)
    q, b1 = conv.transport.input().said
    played = conv.transport.output().played
    print("turns", conv.turns)
    print("records", [(round(r.onset_at - q.start, 2), r.reason, r.interrupted) for r in conv.handler.records])
    print("said", [(round(u.speech_onset - q.start, 2), round(u.end - q.start, 2)) for u in (q, b1)])
    ocean = next(r for r in llm.requests if r.answer.text == OCEAN)
    assert ocean.words_sent == 0 and not ocean.completed, "the first answer was not cancelled"
    assert [r for r in conv.handler.records if r.interrupted], "the barge-in was not an interruption"
    # Not a sound of the first answer, ever: the bot only says the second one, once, in full.
    assert heard_secs(played, 0, b1.end + 0.3) == 0
    assert heard_secs(played, b1.end, b1.end + 60) == pytest.approx(piper_seconds(MOUNTAINS), rel=0.15)
    assert [words(t) for t in assistant_texts(conv)] == [words(MOUNTAINS)]
    assert conv.gate.stats.late_dropped_ms == 0 or not any(words(OCEAN)[0] in words(t) for t in assistant_texts(conv))


async def test_barge_in_just_as_the_answer_ends(spoken, piper_seconds, tmp_path):
    short = "The ocean is deep and blue and very old."
    duration = piper_seconds(short)
    utterances = [
        UserUtterance(path=spoken("Tell me about the ocean.")),
        UserUtterance(path=spoken("Now tell me about mountains please."), bot_started_secs=max(0.0, duration - 0.15)),
    ]
    answers = [ScriptedAnswer(short, when="ocean"), ScriptedAnswer(MOUNTAINS, when="mountain")]
    async with FakeOpenAIServer(answers=answers) as llm:
        conv = build_conversation(tmp_path, utterances, llm_base_url=llm.base_url)
        await run_conversation(conv)
    q, b1 = conv.transport.input().said
    played = conv.transport.output().played
    result = measure_barge_in(played, b1.speech_onset, b1.end)
    assert result.stale_ms == 0
    if result.bot_audible:
        assert result.latency_ms < 250
    # The first answer is in the context up to what was heard (nearly all of it), never more.
    first = words(assistant_texts(conv)[0])
    assert first == words(short)[: len(first)] and len(first) >= len(words(short)) - 2
    # And the answer to the barge-in plays in full.
    assert words(assistant_texts(conv)[-1]) == words(MOUNTAINS)
    assert heard_secs(played, b1.end, b1.end + 60) == pytest.approx(piper_seconds(MOUNTAINS), rel=0.15)
