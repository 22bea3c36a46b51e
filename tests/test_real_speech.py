"""Real voices through the real VAD and STT (``tests/data/speech``), and the STT's text checks.

The Harvard sentences are read by two real speakers; each goes through Silero VAD →
StreamingWhisperSTTService → transcript-aware turns in real time. The transcript must be as
good as whole-utterance Whisper tiny.en on the same clip (the reference the issue names), with
no repeated text.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.real_speech import LECTURE, harvard_clips, pcm_of
from bench.voice_to_voice_bench import word_errors
from processors.streaming_whisper.text_checks import is_hallucination, new_words, strip_repeats
from testing.turn_path import RATE, TurnPath


def test_restarted_sentences_are_cut():
    assert strip_repeats("Thanks, what should I cook for dinner tonight? Thanks, what should I cook") == \
        "Thanks, what should I cook for dinner tonight?"
    assert strip_repeats("What is the capital of France? What is the capital of France?") == "What is the capital of France?"
    assert strip_repeats("No, no, I said yes.") == "No, no, I said yes."


def test_known_inventions_and_new_words():
    assert is_hallucination("Thanks for watching!") and not is_hallucination("Thank you.")
    assert new_words("I'd like to book a table", "I'd like to book a tables for two people.") == "for two people."
    assert new_words("Okay.", "Okay, can you tell me the joke?") == "can you tell me the joke?"
    assert new_words("Why is the sky blue?", "Why is the sky blue?") == ""


@pytest.fixture(scope="module")
def whole_utterance():
    from faster_whisper import WhisperModel

    from runtime.models import whisper_model_path

    model = WhisperModel(str(whisper_model_path()), compute_type="int8")
    return lambda pcm: " ".join(s.text.strip() for s in model.transcribe(
        np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0, language="en")[0])


@pytest.mark.parametrize("name,pcm,ref", harvard_clips(), ids=lambda v: v if isinstance(v, str) and v.endswith(".wav") else "")
async def test_real_voice_transcript_is_as_good_as_whole_utterance(name, pcm, ref, whole_utterance, tmp_path):
    path = TurnPath.ours(tmp_path)
    await path.run(pcm, tail_secs=2.5)
    assert len(path.turns) == 1, path.turns
    ours = path.turns[0][1]
    assert strip_repeats(ours) == ours
    assert word_errors(ref, ours)[0] <= word_errors(ref, whole_utterance(pcm))[0], (ours, ref)


async def test_the_vad_hears_the_pauses_inside_the_lecture(tmp_path):
    """Real VAD on real speech: the lecture's first 10 s hold three sentences with pauses
    inside them; Silero stops more often than there are sentence ends, and the transcript
    of the turns holds the words."""
    from pipecat.frames.frames import VADUserStoppedSpeakingFrame

    pcm = pcm_of(LECTURE)[: 10 * RATE * 2]
    path = TurnPath.ours(tmp_path)
    await path.run(pcm, tail_secs=2.5)
    assert len(path.times(VADUserStoppedSpeakingFrame)) >= 3
    heard = " ".join(text for _, text in path.turns).lower()
    assert "dublin" in heard and "answer" in heard
