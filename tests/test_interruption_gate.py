"""PlaybackGate at frame level: just-in-time release, pause/resume, drop on interruption, word timing."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    SystemFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.frames.frames import TextType

from processors.interruption.frames import PlaybackPauseFrame, PlaybackResumeFrame, PlaybackStateFrame
from processors.playback.gate import PlaybackGate, PlaybackGateSettings

RATE = 24000


def tone(secs: float, amplitude: int = 8000) -> bytes:
    n = int(RATE * secs)
    return (np.sin(np.arange(n) * 2 * np.pi * 220 / RATE) * amplitude).astype("<i2").tobytes()


def audio(secs: float, ctx: str = "c1") -> TTSAudioRawFrame:
    return TTSAudioRawFrame(audio=tone(secs), sample_rate=RATE, num_channels=1, context_id=ctx)


def sentence(text: str, ctx: str = "c1") -> TTSTextFrame:
    return TTSTextFrame(text, text_type=TextType.SENTENCE, context_id=ctx)


class Recorder(FrameProcessor):
    """Notes when each frame leaves the gate (placed before it with ``UPSTREAM``: the gate's
    state reports)."""

    def __init__(self, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        super().__init__()
        self._direction = direction
        self.log: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == self._direction:
            self.log.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)

    def audio_secs(self, ctx: str | None = None) -> float:
        return sum(
            len(f.audio) / 2 / f.sample_rate
            for _, f in self.log
            if isinstance(f, TTSAudioRawFrame) and (ctx is None or f.context_id == ctx)
        )

    def words(self) -> list[str]:
        return [f.text for _, f in self.log if isinstance(f, TTSTextFrame)]

    def times(self, cls) -> list[float]:
        return [t for t, f in self.log if isinstance(f, cls)]


async def run_gate(frames, settings: PlaybackGateSettings | None = None):
    gate, rec = PlaybackGate(settings=settings), Recorder()
    t0 = time.monotonic()
    _, up = await run_test(Pipeline([gate, rec]), frames_to_send=frames)
    return gate, rec, up, t0


async def test_audio_is_released_just_in_time_in_small_slices():
    frames = [LLMFullResponseStartFrame(), TTSStartedFrame(context_id="c1"), audio(1.0),
              sentence("One two three four."), TTSStoppedFrame(context_id="c1"), LLMFullResponseEndFrame(),
              SleepFrame(1.2)]
    gate, rec, up, t0 = await run_gate(frames)
    slices = [f for _, f in rec.log if isinstance(f, TTSAudioRawFrame)]
    assert rec.audio_secs() == pytest.approx(1.0, abs=0.001)
    assert {len(f.audio) for f in slices[:-1]} == {int(RATE * 0.02) * 2}
    release_times = rec.times(TTSAudioRawFrame)
    # Paced like playback: the last slice goes ~1 s - lead after the first, not all at once and
    # not faster than it plays. An event-loop stall longer than the lead (a busy CI machine:
    # +87 ms once) restarts the playback clock, as a real output would underrun, so the span
    # can only grow by stalls; the upper bound still catches a gate that waits a slice too long.
    span = release_times[-1] - release_times[0]
    assert 1.0 - 0.04 - 0.02 - 0.08 <= span <= 1.0 + 0.2
    # Words are released one by one while the sentence plays, and everything keeps its order.
    assert rec.words() == ["One", "two", "three", "four."]
    word_times = rec.times(TTSTextFrame)
    assert word_times[0] - release_times[0] < 0.1 and word_times[-1] - release_times[0] > 0.5
    order = [type(f).__name__ for _, f in rec.log
             if not isinstance(f, (TTSAudioRawFrame, TTSTextFrame, SystemFrame, EndFrame))]
    assert order[:2] == ["LLMFullResponseStartFrame", "TTSStartedFrame"]
    assert order[-2:] == ["TTSStoppedFrame", "LLMFullResponseEndFrame"]
    states = [f for f in up if isinstance(f, PlaybackStateFrame)]
    assert states[0].busy and not states[-1].busy


async def test_pause_silences_within_the_lead_and_resume_loses_nothing():
    frames = [TTSStartedFrame(context_id="c1"), audio(1.0), sentence("Alpha beta gamma delta."),
              TTSStoppedFrame(context_id="c1"), SleepFrame(0.4), PlaybackPauseFrame(), SleepFrame(0.6),
              PlaybackResumeFrame(), SleepFrame(0.2)]
    gate, rec, up, t0 = await run_gate(frames)
    releases = rec.times(TTSAudioRawFrame)
    gaps = np.diff(releases)
    assert gaps.max() > 0.5, "playback did not pause"
    pause_at = releases[int(np.argmax(gaps))]
    # Nothing is lost: the whole answer and all its words came out, in order.
    assert rec.audio_secs() == pytest.approx(1.0, abs=0.001)
    assert rec.words() == ["Alpha", "beta", "gamma", "delta."]
    paused = [f for f in up if isinstance(f, PlaybackStateFrame) and f.paused]
    assert paused and paused[0].silent_at is not None
    # The output is silent at most lead + one slice after the pause.
    assert paused[0].silent_at - pause_at <= 0.04 + 0.02 + 0.01
    assert gate.stats.pauses == 1 and gate.stats.dropped_ms == 0


class LateAudioTTS(FrameProcessor):
    """Stands in for a TTS that keeps emitting audio of a context after an interruption."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self.create_task(self._late())

    async def _late(self):
        await asyncio.sleep(0.05)
        await self.push_frame(audio(0.5, "c1"))
        await self.push_frame(sentence("Late words never heard.", "c1"))
        await self.push_frame(TTSStoppedFrame(context_id="c1"))
        await self.push_frame(TTSStartedFrame(context_id="c2"))
        await self.push_frame(audio(0.3, "c2"))
        await self.push_frame(sentence("New answer.", "c2"))
        await self.push_frame(TTSStoppedFrame(context_id="c2"))


async def test_interruption_drops_buffered_and_late_audio_and_unheard_words():
    gate, rec = PlaybackGate(), Recorder()
    frames = [TTSStartedFrame(context_id="c1"), audio(2.0), sentence("One two three four five six seven eight."),
              SleepFrame(0.5), PlaybackPauseFrame(), SleepFrame(0.2), InterruptionFrame(), SleepFrame(0.8)]
    await run_test(Pipeline([LateAudioTTS(), gate, rec]), frames_to_send=frames)
    played_c1 = rec.audio_secs("c1")
    assert 0.4 <= played_c1 <= 0.6, played_c1
    assert rec.audio_secs("c2") == pytest.approx(0.3, abs=0.001)
    words = rec.words()
    assert words[-2:] == ["New", "answer."]
    heard = words[:-2]
    # Only the words whose audio had started: ~0.5 s of a 2 s sentence of 8 words.
    assert heard == "One two three four five six seven eight.".split()[: len(heard)]
    assert 1 <= len(heard) <= 3
    assert gate.stats.dropped_ms == pytest.approx((2.0 - played_c1) * 1000, abs=25)
    assert gate.stats.late_dropped_ms == pytest.approx(500, abs=1)
    assert "Late" not in " ".join(words)


class WordTimestampTTS(FrameProcessor):
    """Like a TTS with word timestamps: words with PTS from the first audio, then the audio."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TTSStartedFrame):
            base = self.get_clock().get_time()
            for i, word in enumerate(["zero", "point", "four", "six"]):
                w = TTSTextFrame(word, text_type=TextType.WORD, context_id="c1")
                w.pts = base + int(i * 0.2 * 1e9)
                await self.push_frame(w)
            await self.push_frame(audio(1.0))
            await self.push_frame(TTSStoppedFrame(context_id="c1"))


async def test_timestamped_words_are_released_when_playback_reaches_them():
    gate, rec = PlaybackGate(), Recorder()
    await run_test(Pipeline([WordTimestampTTS(), gate, rec]),
                   frames_to_send=[TTSStartedFrame(context_id="c1"), SleepFrame(1.2)])
    first_audio = rec.times(TTSAudioRawFrame)[0]
    offsets = [t - first_audio for t in rec.times(TTSTextFrame)]
    assert rec.words() == ["zero", "point", "four", "six"]
    assert all(f.pts is None for _, f in rec.log if isinstance(f, TTSTextFrame))
    # Each goes right after the slice its audio starts in, which is released ~lead (40 ms)
    # before it plays: 0.2 s apart, like their timestamps.
    assert offsets[0] < 0.03
    assert offsets[1:] == pytest.approx([0.2 - 0.05, 0.4 - 0.05, 0.6 - 0.05], abs=0.035)


def test_settings_reject_a_lead_shorter_than_a_slice():
    with pytest.raises(ValueError, match="chunk_secs"):
        PlaybackGateSettings(lead_secs=0.01, chunk_secs=0.02)


async def test_finished_answers_are_forgotten_and_their_words_all_delivered():
    """A long session keeps no state for answers already played out (each new answer drops
    them), and every word of every answer still reaches the assistant side."""
    frames = []
    for i in range(5):
        ctx = f"answer-{i}"
        frames += [LLMFullResponseStartFrame(), TTSStartedFrame(context_id=ctx), sentence(f"answer {i}.", ctx),
                   audio(0.05, ctx), TTSStoppedFrame(context_id=ctx), LLMFullResponseEndFrame(),
                   SleepFrame(sleep=0.2)]  # played out before the next answer
    gate, rec, _, _ = await run_gate(frames, PlaybackGateSettings(lead_secs=60.0))
    assert list(gate._contexts) == ["answer-4"]
    assert rec.words() == [f"answer {i}." for i in range(5)]


def held_answer(ctx: str, secs: float, text: str) -> list[Frame]:
    return [LLMFullResponseStartFrame(), TTSStartedFrame(context_id=ctx), audio(secs, ctx), sentence(text, ctx),
            TTSStoppedFrame(context_id=ctx), LLMFullResponseEndFrame()]


async def test_an_answer_started_in_the_user_turn_is_held_until_the_turn_ends():
    """A speculative answer: synthesized while the user's turn is open, nothing of it (audio,
    words, response frames) goes out and the gate does not report the bot busy until the turn
    ends; then all of it plays at once, already synthesized."""
    gate, rec, up = PlaybackGate(), Recorder(), Recorder(FrameDirection.UPSTREAM)
    frames = [UserStartedSpeakingFrame(), *held_answer("c1", 0.5, "Held until the end."), SleepFrame(0.6),
              UserStoppedSpeakingFrame(), SleepFrame(0.8)]
    await run_test(Pipeline([up, gate, rec]), frames_to_send=frames)
    (turn_end,) = rec.times(UserStoppedSpeakingFrame)
    answer = [(t, f) for t, f in rec.log if isinstance(f, (LLMFullResponseStartFrame, TTSStartedFrame,
                                                           TTSAudioRawFrame, TTSTextFrame, LLMFullResponseEndFrame))]
    assert answer and all(t >= turn_end for t, _ in answer), "part of the held answer went out before the turn end"
    assert rec.audio_secs("c1") == pytest.approx(0.5, abs=0.001)
    assert rec.words() == ["Held", "until", "the", "end."]
    assert rec.times(TTSAudioRawFrame)[0] - turn_end < 0.1
    busy_before = [f for t, f in up.log if isinstance(f, PlaybackStateFrame) and f.busy and t < turn_end]
    assert not busy_before and any(f.busy for _, f in up.log if isinstance(f, PlaybackStateFrame))
    assert (gate.stats.held, gate.stats.held_released) == (1, 1)
    assert gate.stats.held_ready_ms == pytest.approx(500, abs=1)


async def test_a_held_answer_is_dropped_on_interruption_and_the_next_one_plays():
    gate, rec = PlaybackGate(), Recorder()
    frames = [UserStartedSpeakingFrame(), *held_answer("c1", 0.5, "Never heard."), SleepFrame(0.3),
              InterruptionFrame(), SleepFrame(0.1), *held_answer("c2", 0.3, "Heard."), SleepFrame(0.2),
              UserStoppedSpeakingFrame(), SleepFrame(0.6)]
    await run_test(Pipeline([gate, rec]), frames_to_send=frames)
    assert rec.audio_secs("c1") == 0 and rec.audio_secs("c2") == pytest.approx(0.3, abs=0.001)
    assert rec.words() == ["Heard."]
    assert (gate.stats.held, gate.stats.held_released) == (2, 1)


async def test_an_answer_outside_a_user_turn_or_with_the_hold_off_plays_at_once():
    for settings, frames in (
        (None, [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(), *held_answer("c1", 0.3, "At once.")]),
        (PlaybackGateSettings(hold_in_user_turn=False), [UserStartedSpeakingFrame(), *held_answer("c1", 0.3, "At once.")]),
    ):
        gate, rec, _, t0 = await run_gate([*frames, SleepFrame(0.5)], settings)
        assert rec.audio_secs("c1") == pytest.approx(0.3, abs=0.001) and gate.stats.held == 0
        assert rec.times(TTSAudioRawFrame)[0] - t0 < 0.2


async def test_the_end_of_the_pipeline_drops_a_held_answer_without_waiting():
    """Its turn never ended: the answer is dropped (as pipecat's own gate does), and the
    pipeline ends at once instead of draining for the gate's 120 s limit."""
    t0 = time.monotonic()
    gate, rec, _, _ = await run_gate([UserStartedSpeakingFrame(), *held_answer("c1", 1.0, "Never."), SleepFrame(0.2)])
    assert rec.audio_secs() == 0 and gate.stats.dropped_ms == pytest.approx(1000, abs=1)
    assert time.monotonic() - t0 < 10
