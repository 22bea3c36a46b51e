"""A mid-sentence pause does not end the user's turn (real speech, real models, real time).

"I'd like to book a table ... for two people." is spoken by Piper in one go and a real pause
is spliced in after "table" (at the word boundary from Piper's alignment, so the sentence keeps
its mid-sentence prosody). It is fed in real time, 20 ms frames, through the product's turn
path: Silero VAD → StreamingWhisperSTTService → user aggregator with the ``transcript-aware``
turns (Smart Turn v3 + transcript ending, preemptive LLM). The VAD stops during the pause; the
turn must not end there, and the turn that ends must hold the whole sentence.
"""

from __future__ import annotations

import pytest

from runtime.transports.wav_file import read_wav_pcm16

from testing.turn_path import RATE, TurnPath


@pytest.fixture(scope="module")
def paused_sentence(tmp_path_factory):
    from bench.spoken_questions import PAUSE_SENTENCE, spliced_pause

    text, after = PAUSE_SENTENCE
    return spliced_pause(text, after, 0.8, tmp_path_factory.mktemp("pause"))


async def test_mid_sentence_pause_gives_one_turn_with_the_whole_sentence(paused_sentence, tmp_path):
    """Whether the rule waits through the pause or closes the turn and reopens it when the
    user goes on (a merge), the user turn the LLM answers is the whole sentence, once."""
    from pipecat.frames.frames import LLMContextFrame, VADUserStoppedSpeakingFrame

    path = TurnPath.ours(tmp_path)
    pcm = read_wav_pcm16(paused_sentence.path, RATE)
    start = await path.run(pcm)
    pause_start = start + paused_sentence.pause_start
    pause_end = start + paused_sentence.pause_end
    speech_end = start + len(pcm) / 2 / RATE

    # The VAD did stop during the pause (so the turn rule had to decide there) ...
    assert any(pause_start < t < pause_end for t in path.times(VADUserStoppedSpeakingFrame))
    # ... and the context holds one user message: the whole sentence, decoded as one.
    users = [m for m in path.context.messages if m["role"] == "user"]
    assert len(users) == 1, path.context.messages
    words = users[0]["content"].lower()
    assert "table" in words and "two people" in words and words.count("table") == 1, words
    ended_at, text = path.turns[-1]
    assert text == users[0]["content"] and ended_at > pause_end
    assert len(path.turns) == 1 + path.strategy.merges
    # The answer that stands was started on the whole sentence.
    contexts = [f for t, f in path.frames if isinstance(f, LLMContextFrame) and t > pause_end]
    assert contexts and "people" in contexts[-1].context.messages[-1]["content"].lower()
    # ... and it did end once the user was done (after the complete-sounding wait).
    assert ended_at < speech_end + path.strategy.settings.complete_silence_secs + 0.7


async def test_a_turn_closed_too_early_is_merged_with_what_follows(tmp_path):
    """A complete-sounding first half, a 1 s pause (the turn closes), then the rest: the two
    become one user turn and one context message, decoded on the whole audio."""
    from bench.spoken_questions import spliced_pause

    speech = spliced_pause("I would like a coffee with milk please.", "coffee", 1.0, tmp_path)
    path = TurnPath.ours(tmp_path)
    await path.run(read_wav_pcm16(speech.path, RATE))
    users = [m["content"] for m in path.context.messages if m["role"] == "user"]
    assert len(users) == 1, path.context.messages
    assert "coffee" in users[0].lower() and "milk" in users[0].lower()
    if len(path.turns) > 1:  # the first half was closed: it must have been merged
        assert path.strategy.merges == len(path.turns) - 1


async def test_no_merge_after_the_window(spoken, tmp_path):
    """A new question 3 s after the last one is a new turn, not a continuation."""
    first = read_wav_pcm16(spoken("What time is it?"), RATE)
    second = read_wav_pcm16(spoken("Where is the station?"), RATE)
    path = TurnPath.ours(tmp_path)
    await path.run(first + bytes(3 * RATE * 2) + second)
    users = [m["content"] for m in path.context.messages if m["role"] == "user"]
    assert len(users) == 2 and path.strategy.merges == 0, users


async def test_a_plain_question_ends_after_the_short_wait_with_the_answer_already_started(spoken, tmp_path):
    from pipecat.frames.frames import LLMContextFrame, UserStoppedSpeakingFrame

    path = TurnPath.ours(tmp_path)
    await path.run(read_wav_pcm16(spoken("What is the capital of France?"), RATE), tail_secs=2.0)
    assert len(path.turns) == 1 and "capital" in path.turns[0][1].lower()
    # Judged complete at every look: on the eager transcript too when Smart Turn's score came
    # before the final one (timing), and last on the final transcript.
    decisions = [v["decision"] for _, v in path.verdicts]
    assert decisions and set(decisions) == {"end"} and path.verdicts[-1][1]["final"], path.verdicts
    (turn_end,) = path.times(UserStoppedSpeakingFrame)
    contexts = [(t, f) for t, f in path.frames if isinstance(f, LLMContextFrame)]
    # Preemptive: the (speculative) inference went out before the turn was confirmed, and the
    # confirmation did not start a second one.
    assert len(contexts) == 1 and contexts[0][1].speculation and contexts[0][0] < turn_end
