"""The laptop transport on a real PortAudio stream (ALSA null device), and device errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from pipecat.frames.frames import EndWorkerFrame, Frame, StartFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection

from runtime.pipeline_runner import run_pipeline
from testing.frames import MicCounter

from runtime.transports.local_audio import NoAudioDeviceError, check_devices, list_devices, make_local_audio_transport


def test_devices_lists_the_null_device():
    devices, default_in, default_out = list_devices()
    names = {d.name for d in devices}
    assert "nullpcm" in names
    assert default_in is not None and default_out is not None


def test_devices_command_prints_indexes():
    out = subprocess.run([sys.executable, "-m", "agent.cli", "devices"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "nullpcm" in out.stdout and "(default in)" in out.stdout


def test_missing_device_index_says_what_to_do():
    with pytest.raises(NoAudioDeviceError, match="voice-agent devices"):
        check_devices(input_device=99)


def test_bad_device_on_the_command_line_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--input-device", "99", "--run-dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: audio input device 99")
    assert "Traceback" not in out.stderr


class SpeakingMicCounter(MicCounter):
    """Counts mic frames; says half a second of silence, then ends the pipeline."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self.create_task(self._speak_then_end())

    async def _speak_then_end(self):
        await self.push_frame(TTSAudioRawFrame(audio=bytes(24000), sample_rate=24000, num_channels=1))
        await asyncio.sleep(1.0)
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


@pytest.mark.parametrize("echo_cancellation", [False, True])
async def test_local_transport_streams_mic_and_plays_on_a_real_stream(echo_cancellation):
    transport = make_local_audio_transport(input_device=None, output_device=None, in_rate=16000, out_rate=24000,
                                           echo_cancellation=echo_cancellation)
    counter = SpeakingMicCounter()
    await run_pipeline([transport.input(), counter, transport.output()], timeout=30)
    assert counter.mic_frames > 10  # ~50 frames a second from the (null) microphone
