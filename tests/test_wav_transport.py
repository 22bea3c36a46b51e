"""The WAV transport: a live 20 ms mic stream with turn-taking, and a paced, timeline WAV out."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import soundfile as sf

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    StartFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from runtime.pipeline_runner import run_pipeline as run_processors

from runtime.transports.wav_file import WavFileParams, WavFileTransport


class MicListener(FrameProcessor):
    """Records the mic stream; optionally "answers" each utterance like a bot would."""

    def __init__(self, answer_after_secs: float | None = None):
        super().__init__()
        self.frames: list[tuple[float, InputAudioRawFrame]] = []
        self.answer_after_secs = answer_after_secs
        self._loud = False
        self._answering: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.frames.append((time.monotonic(), frame))
            loud = np.abs(np.frombuffer(frame.audio, "<i2")).max() > 1000
            if self._loud and not loud and self.answer_after_secs is not None and not self._answering:
                self._answering = self.create_task(self._answer())
            self._loud = loud or (self._loud and self._answering is None)
            return
        await self.push_frame(frame, direction)

    async def _answer(self):
        await asyncio.sleep(0.3)
        await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)
        await asyncio.sleep(self.answer_after_secs)
        await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
        self._answering = None
        self._loud = False


async def run_pipeline(processors, params: WavFileParams, timeout: float = 60):
    await run_processors(processors, timeout=timeout)


def utterance_onsets(frames) -> list[float]:
    onsets, loud_before = [], False
    for t, f in frames:
        loud = np.abs(np.frombuffer(f.audio, "<i2")).max() > 1000
        if loud and not loud_before and (not onsets or t - onsets[-1] > 1.0):
            onsets.append(t)
        loud_before = loud
    return onsets


async def test_mic_stream_is_20ms_frames_and_ends_by_itself(spoken, tmp_path):
    wav = spoken("Testing one two three.")
    duration = sf.info(str(wav)).duration
    params = WavFileParams(audio_in_enabled=True, audio_in_sample_rate=16000, inputs=[wav],
                           realtime=False, answer_timeout_secs=0.3, end_grace_secs=0.2)
    transport = WavFileTransport(params)
    listener = MicListener()
    await run_pipeline([transport.input(), listener], params)
    frames = [f for _, f in listener.frames]
    assert frames, "no audio came out of the mic"
    assert {f.sample_rate for f in frames} == {16000}
    assert {len(f.audio) for f in frames} == {640}  # 20 ms of 16-bit mono at 16 kHz
    total = sum(len(f.audio) for f in frames) / 2 / 16000
    assert total >= duration + params.lead_in_secs
    assert utterance_onsets(listener.frames), "the utterance never reached the mic stream"


async def test_next_turn_waits_for_the_bots_answer(spoken, tmp_path):
    wav = spoken("Hi.")
    params = WavFileParams(audio_in_enabled=True, audio_in_sample_rate=16000, inputs=[wav, wav],
                           realtime=True, gap_secs=0.2, answer_timeout_secs=20, end_grace_secs=0.2)
    listener = MicListener(answer_after_secs=2.0)
    await run_pipeline([WavFileTransport(params).input(), listener], params)
    onsets = utterance_onsets(listener.frames)
    assert len(onsets) == 2
    first_len = sf.info(str(wav)).duration
    # The second turn comes only after the first utterance, the bot's 2 s answer and the gap.
    assert onsets[1] - onsets[0] >= first_len + 2.0 + 0.2


class Speaker(FrameProcessor):
    """Says two 0.5 s tones, the second one second after the first started."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._speak())

    async def _speak(self):
        tone = (np.sin(np.arange(12000) * 2 * np.pi * 440 / 24000) * 8000).astype("<i2").tobytes()
        await self.push_frame(TTSAudioRawFrame(audio=tone, sample_rate=24000, num_channels=1))
        await asyncio.sleep(1.5)
        await self.push_frame(TTSAudioRawFrame(audio=tone, sample_rate=24000, num_channels=1))


async def test_output_is_paced_and_keeps_the_silence_between_answers(tmp_path):
    out = tmp_path / "bot.wav"
    params = WavFileParams(audio_out_enabled=True, audio_in_enabled=True, audio_out_sample_rate=24000,
                           output_path=out, inputs=[], lead_in_secs=3.0, end_grace_secs=0.0)
    transport = WavFileTransport(params)
    await run_pipeline([transport.input(), Speaker(), transport.output()], params)
    audio, rate = sf.read(str(out), dtype="int16")
    assert rate == 24000
    block = rate // 100  # 10 ms envelope
    env = np.abs(audio[: len(audio) // block * block].reshape(-1, block)).max(axis=1)
    loud = np.concatenate([[False], env > 1000])
    starts = np.flatnonzero(np.diff(loud.astype(int)) == 1)
    # Two tones of 0.5 s, the second starting ~1.5 s after the first, on the wall-clock timeline.
    assert loud.sum() / 100 == pytest.approx(1.0, abs=0.1)
    assert len(starts) == 2
    assert (starts[1] - starts[0]) / 100 == pytest.approx(1.5, abs=0.3)
