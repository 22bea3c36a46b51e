"""The bot never speaks over a user who is still mid-sentence: the whole product pipeline.

The shipped ``file`` preset (WAV transport in real time, real Silero VAD, streaming Whisper,
the ``transcript-aware`` turns with Smart Turn v3, the interruption handler and the playback
gate), with two swaps that keep it cheap and deterministic: the LLM is a scripted
OpenAI-compatible server on 127.0.0.1 that answers at once, and the TTS is Piper in process.
The user says one sentence with a real pause spliced in at a word boundary (Piper's
alignment, so the first half keeps its mid-sentence prosody). Nothing of the bot may be heard
from the user's first word to the end of the sentence, and the LLM must get one user turn
holding the whole sentence. Costs ~15 s (one ~5 s utterance, a short answer, model loads).

It guards the property, not one mechanism: run once with the old fast close
(``complete_silence_secs = 0``, uncertain 1.0 s) it passed too (2026-12-01), since the answer
started in the pause was not yet audible when the user went on and the turn merge dropped it.
"""

from __future__ import annotations

import re

import pytest

from runtime.transports.wav_file import UserUtterance
from testing.conversation import audible
from testing.fake_openai_server import FakeOpenAIServer, ScriptedAnswer

pytestmark = pytest.mark.e2e

SENTENCE, PAUSE_AFTER, PAUSE_SECS = "I'd like to book a table for two people.", "table", 1.2
ANSWER = "Sure, a table for two. What time would you like?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def test_the_bot_never_speaks_over_a_user_who_is_mid_sentence(tmp_path):
    from bench.spoken_questions import spliced_pause
    from pipelines.builder import build_pipeline, load_config
    from runtime.pipeline_runner import run_pipeline

    speech = spliced_pause(SENTENCE, PAUSE_AFTER, PAUSE_SECS, tmp_path / "speech")
    async with FakeOpenAIServer(answers=[ScriptedAnswer(ANSWER, ttft_secs=0.05, word_secs=0.02)]) as llm:
        config = load_config("file", overrides={
            "transport": {"type": "wav", "inputs": [UserUtterance(path=speech.path).model_dump(mode="json", exclude_none=True)],
                          "realtime": True, "gap_secs": 0.5, "answer_timeout_secs": 20.0, "end_grace_secs": 1.0},
            "llm": {"type": "openai", "base_url": llm.base_url, "model": "scripted", "temperature": 0.0,
                    "max_tokens": 60},
            "tts": {"type": "piper"},
        })
        built = build_pipeline(config, tmp_path / "run")
        try:
            await run_pipeline(built.pipeline, timeout=90.0)
        finally:
            built.transcript.close()
    (said,) = built.transport.input().said
    played = audible(built.transport.output().played)
    pause_start, pause_end = said.start + speech.pause_start, said.start + speech.pause_end

    # The VAD did stop inside the sentence, so the turn rule had to judge the pause ...
    assert pause_end - pause_start == pytest.approx(PAUSE_SECS, abs=0.01)
    # ... and no bot audio was heard from the first word to the end of the sentence.
    over = [(round(s - said.speech_onset, 2), round(e - said.speech_onset, 2))
            for s, e in played if s < said.end and e > said.speech_onset]
    assert not over, f"bot audio over the user (s after the first word): {over}"
    # The bot did answer, after the user finished.
    assert played and played[0][0] >= said.end

    # One user turn with the whole sentence reached the LLM, and the answer that played was
    # generated on it.
    users = [m for m in built.context.get_messages() if m.get("role") == "user"]
    assert len(users) == 1, built.context.get_messages()
    heard = words(str(users[0]["content"]))
    assert "table" in heard and "two" in heard and "people" in heard and heard.count("table") == 1, heard
    completed = [r for r in llm.requests if r.completed]
    assert completed, llm.requests
    last_user = [m for m in completed[-1].messages if m.get("role") == "user"]
    assert len(last_user) == 1 and "people" in words(str(last_user[0]["content"])), completed[-1].messages

    # The answer that played was started while the turn was still open (preemptive) and held
    # by the playback gate until the turn ended (processors/playback/speculation.py); any
    # answer started in the pause was dropped, never released.
    gate = built.processors["playback"]
    assert gate.stats.held >= 1 and gate.stats.held_released == 1, gate.stats
