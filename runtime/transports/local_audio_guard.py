"""pipecat's ``LocalAudioTransport``, made to fail loudly when a sound device is missing or vanishes.

Stock behaviour on this machine: PortAudio segfaults when asked to open a device index that
does not exist; a speaker that goes away logs one error per audio frame while the bot speaks
into nothing; a microphone that goes away just stops delivering audio, so the agent waits in
silence forever. Here each becomes one clear error: a missing device is refused before its stream opens, and a device
that stops working mid-run pushes one ``ErrorFrame`` and ends the conversation (the transcript
and run files are kept). A device that is gone by the time its stream would open (after
:func:`~runtime.transports.local_audio.check_devices` passed) is reported the same way, instead
of letting PortAudio open it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from loguru import logger

from pipecat.frames.frames import EndWorkerFrame, OutputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.local.audio import (
    LocalAudioInputTransport,
    LocalAudioOutputTransport,
    LocalAudioTransport,
    LocalAudioTransportParams,
)

MIC_SILENCE_SECS = 2.0  # the microphone delivers a buffer every 20 ms; this long without one = gone
WRITE_TIMEOUT_SECS = 2.0  # one speaker write takes about one 40 ms chunk


def missing_device(py_audio, index: int | None, kind: str) -> str | None:
    """Why ``index`` (None: the default) is not a usable ``kind`` device, or None if it is."""
    key = "maxInputChannels" if kind == "input" else "maxOutputChannels"
    try:
        if index is None:
            info = py_audio.get_default_input_device_info() if kind == "input" else py_audio.get_default_output_device_info()
        else:
            info = py_audio.get_device_info_by_index(index)
    except (OSError, ValueError):
        info = None
    if info and int(info.get(key, 0)) >= 1:
        return None
    which = "default" if index is None else str(index)
    return (f"audio {kind} device {which} is not available (unplugged?); see `voice-agent devices`, "
            f"pick one with --{kind}-device N, or use the WAV pipeline: --pipeline file")


async def device_lost(processor: FrameProcessor, message: str) -> None:
    """Report a device that stopped working and end the conversation (the run then fails:
    :attr:`GuardedLocalAudioTransport.device_error`)."""
    processor.device_error = message
    await processor.push_error(f"{message}; ending the conversation", force_treat_as_permanent=True)
    await processor.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


class GuardedAudioInput(LocalAudioInputTransport):
    """The microphone, with a check at start-up and a watchdog while it runs."""

    def __init__(self, py_audio, params: LocalAudioTransportParams, *, silence_secs: float = MIC_SILENCE_SECS):
        super().__init__(py_audio, params)
        self._silence_secs = silence_secs
        self._last_audio = time.monotonic()
        self._watchdog: asyncio.Task | None = None
        self._missing: str | None = None

    async def setup(self, setup: FrameProcessorSetup):
        self._missing = missing_device(self._py_audio, self._params.input_device_index, "input")
        if self._missing:  # set up everything but the stream (PortAudio may crash opening it)
            await BaseInputTransport.setup(self, setup)
            return
        await super().setup(setup)

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if self._missing:
            await device_lost(self, self._missing)
            return
        self._last_audio = time.monotonic()
        if self._in_stream and not self._watchdog:
            self._watchdog = self.create_task(self._watch(), f"{self}::mic-watchdog")

    async def stop(self, frame):
        await self._stop_watchdog()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._stop_watchdog()
        await super().cancel(frame)

    async def cleanup(self):
        await self._stop_watchdog()
        try:
            await super().cleanup()
        except OSError as e:  # the stream went away with its device
            logger.debug(f"{self}: closing the microphone stream: {e}")
            self._in_stream = None

    def _audio_in_callback(self, in_data, frame_count, time_info, status):
        self._last_audio = time.monotonic()
        return super()._audio_in_callback(in_data, frame_count, time_info, status)

    def problem(self) -> str | None:
        """Why the microphone isn't working, or None."""
        try:
            active = self._in_stream is not None and self._in_stream.is_active()
        except OSError as e:
            return f"its stream failed: {e}"
        if not active:
            return "its stream stopped"
        silent = time.monotonic() - self._last_audio
        return f"no audio for {silent:.1f}s" if silent > self._silence_secs else None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._silence_secs / 4)
            why = self.problem()
            if why:
                await device_lost(self, f"the microphone stopped working ({why})")
                return

    async def _stop_watchdog(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task and task is not asyncio.current_task():
            await self.cancel_task(task)


class GuardedAudioOutput(LocalAudioOutputTransport):
    """The speaker, with a check at start-up and one clear error when writing fails or hangs."""

    def __init__(self, py_audio, params: LocalAudioTransportParams, *, write_timeout_secs: float = WRITE_TIMEOUT_SECS):
        super().__init__(py_audio, params)
        self._write_timeout_secs = write_timeout_secs
        self.lost = False
        self._missing: str | None = None

    async def setup(self, setup: FrameProcessorSetup):
        self._missing = missing_device(self._py_audio, self._params.output_device_index, "output")
        if self._missing:  # set up everything but the stream (PortAudio may crash opening it)
            await BaseOutputTransport.setup(self, setup)
            return
        await super().setup(setup)

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if self._missing:
            self.lost = True
            await device_lost(self, self._missing)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if self.lost:
            return False
        try:
            async with asyncio.timeout(self._write_timeout_secs):
                return await super().write_audio_frame(frame)
        except (OSError, TimeoutError) as e:
            self.lost = True
            why = f"no progress for {self._write_timeout_secs:g}s" if isinstance(e, TimeoutError) else str(e)
            await device_lost(self, f"the speaker stopped working ({why})")
            return False

    async def cleanup(self):
        with contextlib.suppress(OSError):  # the stream went away with its device
            await super().cleanup()


class GuardedLocalAudioTransport(LocalAudioTransport):
    """``LocalAudioTransport`` with :class:`GuardedAudioInput` and :class:`GuardedAudioOutput`."""

    def input(self) -> FrameProcessor:
        if not self._input:
            self._input = GuardedAudioInput(self._pyaudio, self._params)
        return self._input

    def output(self) -> FrameProcessor:
        if not self._output:
            self._output = GuardedAudioOutput(self._pyaudio, self._params)
        return self._output

    @property
    def device_error(self) -> str | None:
        """Why the conversation ended early, if a device was missing or stopped working."""
        for side in (self._input, self._output):
            if error := getattr(side, "device_error", None):
                return error
        return None
