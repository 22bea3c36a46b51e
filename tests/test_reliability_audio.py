"""Sound devices that are missing or vanish mid-run: one clear error and the run ends, never a hang.

Real PortAudio streams on the ALSA null device (see conftest.py). A device that vanishes is
simulated by closing or stopping its PortAudio stream under the transport, which makes
PortAudio fail the way it does when a device is unplugged. Missing devices at start-up on
the command line are covered by tests/test_local_audio.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest
from loguru import logger

from runtime.transports.local_audio import make_local_audio_transport
from runtime.transports.local_audio_guard import GuardedAudioInput, GuardedAudioOutput
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.workers.runner import WorkerRunner
from testing.frames import MicCounter

END_WITHIN_S = 6.0  # from the fault to the end of the run


class ErrorCollector(BaseObserver):
    def __init__(self):
        super().__init__()
        self.errors: list[ErrorFrame] = []

    async def on_push_frame(self, data: FramePushed):
        if isinstance(data.frame, ErrorFrame) and data.frame not in self.errors:
            self.errors.append(data.frame)


class Run:
    """The laptop transport (mic → counter → speaker) running in the background."""

    def __init__(self, mic_class: type[GuardedAudioInput] = GuardedAudioInput):
        self.transport = make_local_audio_transport(input_device=None, output_device=None, in_rate=16000, out_rate=24000)
        self.transport._input = mic_class(self.transport._pyaudio, self.transport._params)
        self.mic: GuardedAudioInput = self.transport.input()
        self.speaker: GuardedAudioOutput = self.transport.output()
        self.counter = MicCounter()
        self.observer = ErrorCollector()
        self.worker = PipelineWorker(Pipeline([self.mic, self.counter, self.speaker]), params=PipelineParams(),
                                     idle_timeout_secs=None, enable_rtvi=False, observers=[self.observer])
        self.runner = WorkerRunner(handle_sigint=False)
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Run:
        await self.runner.add_workers(self.worker)
        self.task = asyncio.create_task(self.runner.run())
        async with asyncio.timeout(10):
            while self.counter.mic_frames < 5:  # the microphone is streaming
                await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc) -> None:
        if not self.task.done():
            await self.runner.cancel("test over")
        await asyncio.wait_for(self.task, 10)

    async def ends(self, timeout: float = END_WITHIN_S) -> float:
        """Seconds until the run ends by itself."""
        started = time.monotonic()
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        return time.monotonic() - started


@pytest.mark.parametrize("how", ["close", "stop"])
async def test_a_vanished_microphone_ends_the_run_with_one_error(how):
    async with Run() as run:
        stream = run.mic._in_stream
        stream.close() if how == "close" else stream.stop_stream()
        await run.ends()
    assert len(run.observer.errors) == 1
    error = run.observer.errors[0].error
    assert error.startswith("the microphone stopped working (") and error.endswith("; ending the conversation")
    assert "\n" not in error
    assert run.transport.device_error.startswith("the microphone stopped working (")  # the run fails


class WedgedMic(GuardedAudioInput):
    """A microphone whose driver wedges on demand: the stream stays active, no audio comes."""

    wedged = False

    def _audio_in_callback(self, in_data, frame_count, time_info, status):
        if self.wedged:
            return None, 0  # paContinue, and nothing delivered
        return super()._audio_in_callback(in_data, frame_count, time_info, status)


async def test_a_microphone_that_goes_silent_ends_the_run():
    run = Run(mic_class=WedgedMic)
    run.mic._silence_secs = 0.5
    async with run:
        run.mic.wedged = True
        wedged_at = time.monotonic()
        await run.ends()
    assert time.monotonic() - wedged_at < 2.0
    errors = [e.error for e in run.observer.errors]
    assert len(errors) == 1 and errors[0].startswith("the microphone stopped working (no audio for 0."), errors


@pytest.mark.parametrize("how", ["close", "stop"])
async def test_a_vanished_speaker_is_one_error_not_one_per_frame(how):
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        async with Run() as run:
            stream = run.speaker._out_stream
            stream.close() if how == "close" else stream.stop_stream()
            for _ in range(25):  # a second of the bot's voice, 40 ms frames
                await run.worker.queue_frame(TTSAudioRawFrame(audio=bytes(1920), sample_rate=24000, num_channels=1))
            await run.ends()
    finally:
        logger.remove(sink)
    errors = [e.error for e in run.observer.errors]
    assert len(errors) == 1 and errors[0].startswith("the speaker stopped working ([Errno"), errors
    assert not [line for line in lines if "Error writing" in line or "unexpected exception" in line]


async def test_a_hung_speaker_is_one_error_after_the_write_timeout():
    async with Run() as run:
        stream = run.speaker._out_stream
        real_write = stream.write
        stream.write = lambda data, *a, **k: time.sleep(4) or real_write(data)  # the device stops taking audio
        run.speaker._write_timeout_secs = 0.5
        await run.worker.queue_frame(TTSAudioRawFrame(audio=bytes(1920), sample_rate=24000, num_channels=1))
        await run.ends()
    assert [e.error for e in run.observer.errors] == [
        "the speaker stopped working (no progress for 0.5s); ending the conversation"
    ]


def test_a_device_gone_before_its_stream_opens_is_one_error_not_a_crash():
    """PortAudio segfaults opening a device index that doesn't exist; the guard never lets it.

    (Run in a child process so a regression can't take the test session down with it.)
    """
    script = textwrap.dedent("""
        import asyncio, sys, time
        import tests.conftest  # the ALSA null device
        from loguru import logger
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.transports.local.audio import LocalAudioTransportParams
        from pipecat.workers.runner import WorkerRunner
        from runtime.transports.local_audio_guard import GuardedLocalAudioTransport

        logger.remove()
        logger.add(sys.stdout, level="ERROR", format="{message}")

        async def main():
            # As if device 99 had passed check_devices() and vanished right after.
            t = GuardedLocalAudioTransport(LocalAudioTransportParams(
                audio_in_enabled=True, audio_out_enabled=True, input_device_index=99, output_device_index=98))
            worker = PipelineWorker(Pipeline([t.input(), t.output()]), params=PipelineParams(),
                                    idle_timeout_secs=None, enable_rtvi=False)
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            await asyncio.wait_for(runner.run(), 10)
            print("device error:", t.device_error)  # what makes `voice-agent run` fail
            print("run ended")

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "audio input device 99 is not available (unplugged?)" in out
    assert "audio output device 98 is not available (unplugged?)" in out
    assert "device error: audio input device 99 is not available" in out
    assert out.strip().endswith("run ended")
