"""A WAV-file transport: user turns read from WAV files, the bot's voice written to a WAV file.

It behaves like a person at a microphone: the input is a live 20 ms audio stream (silence
between utterances), each utterance is "said" only after the bot has finished answering the
previous one, and the conversation ends once the last answer has been heard. The output is
paced like a sound card (one chunk per chunk-duration of wall-clock time) so barge-in timing is
real, and is written on a wall-clock timeline so silences between answers are kept.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from loguru import logger

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

CHUNK_SECS = 0.02


def read_wav_pcm16(path: Path, sample_rate: int) -> bytes:
    """Read a WAV (any rate, any channels) as mono 16-bit PCM at ``sample_rate``."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"cannot read WAV file {path}: {e}") from e
    mono = data.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate)
    return (np.clip(mono, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class WavFileParams(TransportParams):
    """Settings of the WAV transport (on top of pipecat's ``TransportParams``).

    Parameters:
        inputs: WAV files, one user turn each, said in order.
        output_path: Where the bot's voice is written (16-bit mono WAV).
        realtime: Pace the user audio in real time (True) or feed each utterance as fast as
            the pipeline takes it (False). Waiting for the bot is always real time.
        lead_in_secs: Silence before the first utterance.
        gap_secs: Silence between the end of the bot's answer and the next utterance.
        answer_timeout_secs: Give up waiting for an answer after this long and go on.
        end_grace_secs: After the last answer, how long to stay silent before ending
            (lets a late answer or its tail be heard).
    """

    inputs: list[Path] = []
    output_path: Path | None = None
    realtime: bool = True
    lead_in_secs: float = 0.5
    gap_secs: float = 0.8
    answer_timeout_secs: float = 60.0
    end_grace_secs: float = 1.0


class WavFileInputTransport(BaseInputTransport):
    """Feeds the user's turns from WAV files as a live microphone stream would."""

    _params: WavFileParams

    def __init__(self, params: WavFileParams, **kwargs):
        super().__init__(params, **kwargs)
        self._feeder: asyncio.Task | None = None
        self._bot_speaking = False
        self._bot_answered = asyncio.Event()
        self.turns_said = 0

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)
        if not self._feeder:
            self._feeder = self.create_task(self._feed(), name="wav-input-feeder")

    async def stop(self, frame: EndFrame):
        await self._stop_feeder()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame):
        await self._stop_feeder()
        await super().cancel(frame)

    async def _stop_feeder(self):
        if self._feeder:
            await self.cancel_task(self._feeder)
            self._feeder = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            self._bot_answered.set()
        await super().process_frame(frame, direction)

    async def _silence(self, secs: float):
        await self._stream(bytes(int(self.sample_rate * secs) * 2), realtime=True)

    async def _stream(self, pcm: bytes, *, realtime: bool):
        step = int(self.sample_rate * CHUNK_SECS) * 2
        next_t = time.monotonic()
        for i in range(0, len(pcm), step):
            chunk = pcm[i : i + step].ljust(step, b"\0")
            await self.push_audio_frame(
                InputAudioRawFrame(audio=chunk, sample_rate=self.sample_rate, num_channels=1)
            )
            if realtime:
                next_t += CHUNK_SECS
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            else:
                await asyncio.sleep(0)

    async def _wait_for_answer(self):
        """Keep the mic live (silence) until the bot has spoken and stopped, or time out."""
        deadline = time.monotonic() + self._params.answer_timeout_secs
        while time.monotonic() < deadline:
            if self._bot_answered.is_set() and not self._bot_speaking:
                return True
            await self._silence(CHUNK_SECS * 5)
        return False

    async def _feed(self):
        p = self._params
        await self._silence(p.lead_in_secs)
        for n, path in enumerate(p.inputs, start=1):
            pcm = read_wav_pcm16(Path(path), self.sample_rate)
            logger.info(f"user turn {n}/{len(p.inputs)}: {Path(path).name} ({len(pcm) / 2 / self.sample_rate:.1f}s)")
            self._bot_answered.clear()
            await self._stream(pcm, realtime=p.realtime)
            self.turns_said += 1
            if not await self._wait_for_answer():
                logger.warning(f"no answer to user turn {n} within {p.answer_timeout_secs:.0f}s; going on")
            await self._silence(p.gap_secs if n < len(p.inputs) else p.end_grace_secs)
        logger.info("sample conversation finished")
        await self.push_frame(EndWorkerFrame(reason="wav input finished"), FrameDirection.UPSTREAM)


class WavFileOutputTransport(BaseOutputTransport):
    """Plays the bot's audio into a WAV file, paced and placed on a wall-clock timeline."""

    _params: WavFileParams

    def __init__(self, params: WavFileParams, **kwargs):
        super().__init__(params, **kwargs)
        self._wav: wave.Wave_write | None = None
        self._t0: float | None = None
        self._written_frames = 0
        self._next_send_time = 0.0

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if self._wav is None and self._params.output_path:
            path = Path(self._params.output_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._wav = wave.open(str(path), "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self.sample_rate)
            self._t0 = time.monotonic()
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame):
        await super().stop(frame)
        self._close()

    async def cancel(self, frame: CancelFrame):
        await super().cancel(frame)
        self._close()

    def _close(self):
        if self._wav:
            self._wav.close()
            self._wav = None
            logger.info(f"bot audio written to {self._params.output_path}")

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if self._wav is not None and self._t0 is not None:
            # Fill the wall-clock gap since the last write with silence, then the audio.
            due = int((time.monotonic() - self._t0) * self.sample_rate)
            if due > self._written_frames + self.sample_rate // 10:
                self._wav.writeframes(bytes((due - self._written_frames) * 2))
                self._written_frames = due
            self._wav.writeframes(frame.audio)
            self._written_frames += len(frame.audio) // 2
        await self._sleep_like_a_sound_card(len(frame.audio) / 2 / self.sample_rate)
        return True

    async def _sleep_like_a_sound_card(self, secs: float):
        """Return when a sound card would take the next chunk (one chunk buffered)."""
        wait = max(0.0, self._next_send_time - time.monotonic())
        await asyncio.sleep(wait)
        self._next_send_time = (time.monotonic() if wait == 0 else self._next_send_time) + secs


class WavFileTransport(BaseTransport):
    """WAV files in, WAV file out: the same pipeline as the laptop, without a sound card."""

    def __init__(self, params: WavFileParams, **kwargs):
        super().__init__(**kwargs)
        self._params = params
        self._input: WavFileInputTransport | None = None
        self._output: WavFileOutputTransport | None = None

    def input(self) -> FrameProcessor:
        if not self._input:
            self._input = WavFileInputTransport(self._params, name=f"{self}#input")
        return self._input

    def output(self) -> FrameProcessor:
        if not self._output:
            self._output = WavFileOutputTransport(self._params, name=f"{self}#output")
        return self._output
