"""A WAV-file transport: user turns read from WAV files, the bot's voice written to a WAV file.

It behaves like a person at a microphone: the input is a live 20 ms audio stream (silence
between utterances), each utterance is "said" only after the bot has finished answering the
previous one, and the conversation ends once the last answer has been heard. The output is
paced like a sound card (one chunk per chunk-duration of wall-clock time) so barge-in timing is
real, and is written on a wall-clock timeline so silences between answers are kept.

For barge-in tests an utterance can instead be said at a fixed time (``UserUtterance``: some
seconds after the bot starts its next answer, or after the previous utterance), whatever the
bot is doing; and the bot's own output can be fed back into the mic (``echo_gain``,
``echo_delay_secs``) like laptop speakers heard by the laptop's microphone. Both transports
log what was said and played (``said``, ``played``; ``time.monotonic()`` times).
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
from pydantic import BaseModel

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
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

CHUNK_SECS = 0.02
SPEECH_PEAK = 300  # a sample this loud starts the speech of an utterance


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


class UserUtterance(BaseModel):
    """One thing the user says, and when.

    Parameters:
        path: The WAV file.
        bot_started_secs: Say it this long after the bot starts speaking its next answer
            (a barge-in), without waiting for the answer to end.
        after_secs: Say it this long after the previous utterance ended, whatever the bot does.

    With neither, it is said after the bot has answered the previous one (turn-taking).
    """

    path: Path
    bot_started_secs: float | None = None
    after_secs: float | None = None

    @property
    def turn_taking(self) -> bool:
        return self.bot_started_secs is None and self.after_secs is None


class SaidUtterance(BaseModel):
    """When an utterance went into the mic stream (``time.monotonic()``).

    Parameters:
        path: The WAV file.
        start: Capture time of its first sample.
        speech_onset: Capture time of its first loud sample (the speech onset).
        end: Capture time of its last sample.
    """

    path: Path
    start: float
    speech_onset: float
    end: float


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
        echo_gain: Feed the bot's output back into the mic at this gain (0: no echo).
        echo_delay_secs: Delay of that echo (speaker → mic).
        audio_out_10ms_chunks: Output chunk (×10 ms); small, so a pause is heard at once.
    """

    inputs: list[Path | UserUtterance] = []
    output_path: Path | None = None
    realtime: bool = True
    lead_in_secs: float = 0.5
    gap_secs: float = 0.8
    answer_timeout_secs: float = 60.0
    end_grace_secs: float = 1.0
    echo_gain: float = 0.0
    echo_delay_secs: float = 0.06
    audio_out_10ms_chunks: int = 2


class WavFileInputTransport(BaseInputTransport):
    """Feeds the user's turns from WAV files as a live microphone stream would."""

    _params: WavFileParams

    def __init__(self, params: WavFileParams, echo=None, **kwargs):
        super().__init__(params, **kwargs)
        self._feeder: asyncio.Task | None = None
        self._bot_speaking = False
        self._bot_answered = asyncio.Event()
        self._bot_started = asyncio.Event()
        self._echo = echo
        self._mic_clock = 0.0
        self.turns_said = 0
        self.said: list[SaidUtterance] = []

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
            self._bot_started.set()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            self._bot_answered.set()
        await super().process_frame(frame, direction)

    async def _silence(self, secs: float):
        await self._stream(bytes(int(self.sample_rate * secs) * 2), realtime=True)

    async def _stream(self, pcm: bytes, *, realtime: bool) -> float:
        """Stream ``pcm`` as 20 ms mic frames; returns the capture time of its first sample."""
        step = int(self.sample_rate * CHUNK_SECS) * 2
        now = time.monotonic()
        # Like a sound card, the mic runs on its own steady clock across utterances (after a
        # stall it delivers the backlog at once, as a device's buffer would).
        next_t = self._mic_clock if realtime and abs(self._mic_clock - now) < 1.0 else now
        first = next_t - CHUNK_SECS
        for i in range(0, len(pcm), step):
            chunk = pcm[i : i + step].ljust(step, b"\0")
            if self._echo is not None:
                # A mic frame arrives once captured: it holds the 20 ms before it was due.
                captured_from = (next_t if realtime else time.monotonic()) - CHUNK_SECS
                chunk = self._echo.mix(chunk, self.sample_rate, captured_from)
            await self.push_audio_frame(
                InputAudioRawFrame(audio=chunk, sample_rate=self.sample_rate, num_channels=1)
            )
            if realtime:
                next_t += CHUNK_SECS
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            else:
                await asyncio.sleep(0)
        self._mic_clock = next_t
        return first

    async def _wait_for_answer(self):
        """Keep the mic live (silence) until the bot has spoken and stopped, or time out."""
        deadline = time.monotonic() + self._params.answer_timeout_secs
        while time.monotonic() < deadline:
            if self._bot_answered.is_set() and not self._bot_speaking:
                return True
            await self._silence(CHUNK_SECS * 5)
        return False

    async def _wait_for_cue(self, utterance: UserUtterance):
        """Keep the mic live until it is time to say a timed utterance."""
        if utterance.after_secs is not None:
            await self._silence(utterance.after_secs)
            return
        if utterance.bot_started_secs is not None:
            deadline = time.monotonic() + self._params.answer_timeout_secs
            while not self._bot_started.is_set():
                if time.monotonic() > deadline:
                    logger.warning(f"the bot never started answering; saying {utterance.path.name} anyway")
                    break
                await self._silence(CHUNK_SECS)
            await self._silence(utterance.bot_started_secs)

    async def _say(self, utterance: UserUtterance, n: int):
        p = self._params
        pcm = read_wav_pcm16(Path(utterance.path), self.sample_rate)
        secs = len(pcm) / 2 / self.sample_rate
        logger.info(f"user turn {n}/{len(p.inputs)}: {Path(utterance.path).name} ({secs:.1f}s)")
        samples = np.abs(np.frombuffer(pcm, "<i2"))
        loud = np.flatnonzero(samples > SPEECH_PEAK)
        onset = (loud[0] if loud.size else 0) / self.sample_rate
        start = await self._stream(pcm, realtime=p.realtime)
        # What the bot does from now on answers this (an answer it was giving, and stopped
        # while the user spoke, doesn't count).
        self._bot_started.clear()
        self._bot_answered.clear()
        self.said.append(SaidUtterance(path=utterance.path, start=start, speech_onset=start + onset, end=start + secs))
        self.turns_said += 1

    async def _feed(self):
        p = self._params
        items = [i if isinstance(i, UserUtterance) else UserUtterance(path=i) for i in p.inputs]
        await self._silence(p.lead_in_secs)
        for n, utterance in enumerate(items, start=1):
            await self._wait_for_cue(utterance)
            await self._say(utterance, n)
            if n < len(items) and not items[n].turn_taking:
                continue  # the next one is said at its own time, over the bot if need be
            if not await self._wait_for_answer():
                logger.warning(f"no answer to user turn {n} within {p.answer_timeout_secs:.0f}s; going on")
            await self._silence(p.gap_secs if n < len(items) else p.end_grace_secs)
        logger.info("sample conversation finished")
        await self.push_frame(EndWorkerFrame(reason="wav input finished"), FrameDirection.UPSTREAM)


class WavFileOutputTransport(BaseOutputTransport):
    """Plays the bot's audio into a WAV file, paced and placed on a wall-clock timeline."""

    _params: WavFileParams

    def __init__(self, params: WavFileParams, echo=None, **kwargs):
        super().__init__(params, **kwargs)
        self._echo = echo
        self.played: list[tuple[float, float, int]] = []
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
        now = time.monotonic()
        if self._wav is not None and self._t0 is not None:
            # Fill the wall-clock gap since the last write with silence, then the audio.
            due = int((now - self._t0) * self.sample_rate)
            if due > self._written_frames + self.sample_rate // 10:
                self._wav.writeframes(bytes((due - self._written_frames) * 2))
                self._written_frames = due
            self._wav.writeframes(frame.audio)
            self._written_frames += len(frame.audio) // 2
        # Like a sound card with one chunk buffered: this chunk plays once the previous one
        # has, and the call returns when it starts.
        secs = len(frame.audio) / 2 / self.sample_rate
        start = max(now, self._next_send_time)
        peak = int(np.abs(np.frombuffer(frame.audio, "<i2")).max()) if frame.audio else 0
        self.played.append((start, start + secs, peak))
        if self._echo is not None:
            self._echo.played(frame.audio, self.sample_rate, start)
        await asyncio.sleep(start - now)
        self._next_send_time = start + secs
        return True


class EchoPath:
    """Speaker → microphone: what the output plays comes back into the mic, delayed and quieter."""

    def __init__(self, gain: float, delay_secs: float):
        from processors.echo_cancel.filters import EchoReference

        self.gain = gain
        self.delay_secs = delay_secs
        self._played = EchoReference()

    def played(self, pcm: bytes, sample_rate: int, start: float):
        if self._played.sample_rate:
            self._played.add(pcm, sample_rate, start)

    def mix(self, chunk: bytes, sample_rate: int, captured_from: float) -> bytes:
        """``chunk`` (captured from ``captured_from``) plus the echo that reached the mic then."""
        self._played.sample_rate = self._played.sample_rate or sample_rate
        near = np.frombuffer(chunk, "<i2").astype(np.float32)
        echo = self._played.read(captured_from - self.delay_secs, len(near)) * self.gain
        return np.clip(near + echo, -32768, 32767).astype("<i2").tobytes()


class WavFileTransport(BaseTransport):
    """WAV files in, WAV file out: the same pipeline as the laptop, without a sound card."""

    def __init__(self, params: WavFileParams, **kwargs):
        super().__init__(**kwargs)
        self._params = params
        self._echo = EchoPath(params.echo_gain, params.echo_delay_secs) if params.echo_gain > 0 else None
        self._input: WavFileInputTransport | None = None
        self._output: WavFileOutputTransport | None = None

    def input(self) -> WavFileInputTransport:
        if not self._input:
            self._input = WavFileInputTransport(self._params, echo=self._echo, name=f"{self}#input")
        return self._input

    def output(self) -> WavFileOutputTransport:
        if not self._output:
            self._output = WavFileOutputTransport(self._params, echo=self._echo, name=f"{self}#output")
        return self._output
