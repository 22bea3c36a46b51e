"""``max_audio_ahead_secs``: GradiumTTSService sends an answer's text only as fast as it is heard.

Against the real local server (Piper, ~10x faster than real time): a long answer whose text
is all there at once reaches the server bit by bit, the audio still comes before it is due
(no gap), and a barge-in finds little synthesized that nobody will hear.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from pipecat.frames.frames import (
    EndFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)

from processors.gradium.protocol import FLUSH_MARKER
from processors.gradium.settings import GradiumConnectionParams
from processors.gradium.tts import GradiumTTSService
from testing.frames import STORY_SENTENCES, answer
from testing.probe import PipelineProbe

TIMEOUT = 60
AHEAD_SECS = 1.0
SENTENCES = STORY_SENTENCES[:6]
# Piper speaks about 15 characters a second; 10 a second bounds one sentence's audio from above.
LONGEST_SENTENCE_SECS = max(len(s) for s in SENTENCES) / 10


def paced(url: str, ahead: float | None = AHEAD_SECS, held: float | None = AHEAD_SECS) -> GradiumTTSService:
    params = GradiumConnectionParams(max_audio_ahead_secs=ahead, held_audio_ahead_secs=held)
    return GradiumTTSService(url=url, connection=params)


def wire_chars(sentences: Sequence[str]) -> int:
    """Characters the server counts for ``sentences`` sent as one answer (one space between)."""
    return sum(len(s) for s in sentences) + len(sentences) - 1


def arrivals(probe: PipelineProbe, after: int = 0) -> list[tuple[float, float]]:
    """(arrival time, audio time at which the frame starts) of each audio frame, in order."""
    out, t = [], 0.0
    for r in probe.down.records[after:]:
        if isinstance(r.frame, TTSAudioRawFrame):
            out.append((r.at, t))
            t += probe.seconds([r.frame])
    return out


async def test_a_long_answer_is_sent_as_it_is_heard_and_plays_without_gaps(tts_server):
    tts = paced(tts_server.url)
    sentences = SENTENCES[:3]  # ~10 s of speech
    async with PipelineProbe(tts, sample_rate=24000) as probe:
        # A first request on a cold machine (files not yet in the page cache) was once seen to
        # take 4.7 s to its first audio, long enough for pacing to release all the text.
        await probe.push(*answer("Hello."))
        warm_end = (await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)).index + 1
        await probe.push(*answer(*sentences))  # the whole text at once, as from a fast LLM
        first = (await probe.down.wait_for(TTSAudioRawFrame, after=warm_end, timeout=TIMEOUT)).at
        request = list(tts_server.stats.requests.values())[-1]
        at_first_audio = request.text_chars
        await probe.down.wait_for(LLMFullResponseEndFrame, after=warm_end, timeout=TIMEOUT)
        frames = arrivals(probe, after=warm_end)
    total = wire_chars(sentences)
    assert request.state == "completed" and request.text_chars >= total, request
    # Held: the last sentence reached the server only after the first audio (unpaced, all of
    # the text is there before it: see the last test)...
    assert at_first_audio < request.text_chars, f"the server had all {at_first_audio} characters at the first audio"
    assert tts.stats.text_held_secs > 2.0
    # ...and every frame still came before a listener, playing from the first audio on, needed it.
    late = [(round(at - first - t, 3), round(t, 2)) for at, t in frames if at - first > t + 0.25]
    assert not late, f"audio arrived after it was due (seconds late, at audio time): {late[:5]}"


async def test_a_barge_in_finds_little_synthesized_ahead(tts_server):
    """Unpaced, the server would have made the whole ~25 s answer within a few seconds."""
    tts = paced(tts_server.url)
    async with PipelineProbe(tts, sample_rate=24000) as probe:
        await probe.push(*answer(*SENTENCES)[:-1])  # the answer goes on: no end yet
        first = (await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)).at
        await asyncio.sleep(max(0.0, first + 2.0 - time.monotonic()))
        heard = time.monotonic() - first
        await probe.push(InterruptionFrame())
        await asyncio.sleep(1.0)  # the server notices the closed socket and stops
        request = next(iter(tts_server.stats.requests.values()))
        made = request.audio_seconds
    assert request.state == "cancelled", request
    assert made <= heard + AHEAD_SECS + LONGEST_SENTENCE_SECS, (
        f"{made:.1f}s synthesized for an answer interrupted after {heard:.1f}s")


async def test_without_a_limit_the_whole_text_goes_out_at_once(tts_server):
    tts = paced(tts_server.url, ahead=None)
    async with PipelineProbe(tts, sample_rate=24000) as probe:
        await probe.push(*answer(*SENTENCES))
        await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)
        request = next(iter(tts_server.stats.requests.values()))
        chars = request.text_chars
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
    assert chars >= sum(len(s) for s in SENTENCES) and tts.stats.text_held_secs < 0.5


@pytest.mark.parametrize("held", [AHEAD_SECS, None], ids=["held", "paced-as-heard"])
async def test_an_answer_started_in_the_users_turn_is_synthesized_little_until_the_turn_ends(tts_server, held):
    """A speculative answer (its text starts while the user's turn is open, a playback gate
    holds it) gets one flushed sentence made until the turn ends, then the rest as it is heard.
    Paced as if heard from its first text, the server makes more with every second of the turn."""
    tts = paced(tts_server.url, held=held)
    async with PipelineProbe(tts, sample_rate=24000) as probe:
        await probe.push(UserStartedSpeakingFrame())
        await probe.push(*answer(*SENTENCES))
        await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)
        await asyncio.sleep(3.0)  # the user's turn stays open
        request = next(iter(tts_server.stats.requests.values()))
        chars_in_turn = request.text_chars
        turn_end, release = len(probe.down.records), time.monotonic()
        held_secs = probe.seconds([r.frame for r in probe.down.records if isinstance(r.frame, TTSAudioRawFrame)])
        await probe.push(UserStoppedSpeakingFrame())
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
        frames = arrivals(probe, after=turn_end)
    total = wire_chars(SENTENCES)
    assert request.state == "completed" and request.text_chars >= total, request
    if held is None:
        assert chars_in_turn > len(SENTENCES[0]) + len(SENTENCES[1]), chars_in_turn
        return
    first_on_wire = len(f"{SENTENCES[0]} {FLUSH_MARKER}")  # the server counts the wire text
    assert chars_in_turn <= first_on_wire, f"{chars_in_turn} characters sent in the user's turn"
    # After the turn end the rest comes before a listener, playing from the release on (the held
    # audio first), needs it.
    late = [(round(at - release - held_secs - t, 3), round(t, 2))
            for at, t in frames if at - release > held_secs + t + 0.25]
    assert not late, f"audio arrived after it was due (seconds late, at audio time): {late[:5]}"


async def test_a_pipeline_ending_in_the_users_turn_is_not_held_up_by_a_held_answer(tts_server):
    """At the session's end the user's turn may still be open (no ``UserStoppedSpeakingFrame``
    comes): the ``EndFrame`` queued behind the held answer releases it and the rest of its text
    goes out at once, so the pipeline ends instead of waiting on the hold (or on pacing)."""
    tts = paced(tts_server.url)
    async with PipelineProbe(tts, sample_rate=24000) as probe:
        await probe.push(UserStartedSpeakingFrame())
        await probe.push(*answer(*SENTENCES))
        await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)
        began = time.monotonic()
        await probe.push(EndFrame())
        await probe.down.wait_for(EndFrame, timeout=TIMEOUT)
        ended_after = time.monotonic() - began
    request = next(iter(tts_server.stats.requests.values()))
    total = wire_chars(SENTENCES)
    assert request.text_chars >= total, f"{request.text_chars} of {total} characters sent before the end"
    # ~25 s of speech: paced it would take about that long, synthesized at once a few seconds.
    assert ended_after < 12, f"the pipeline took {ended_after:.1f}s to end"
