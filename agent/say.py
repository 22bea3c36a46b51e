"""``voice-agent say TEXT``: speak through the pipeline's configured TTS, to the speaker or a WAV."""

from __future__ import annotations

import wave
from pathlib import Path

from pipecat.frames.frames import EndFrame, Frame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.builder import build_tts_pipeline
from runtime.children import ChildServers
from runtime.pipeline_runner import make_worker, run_worker


class AudioCollector(FrameProcessor):
    """Keeps the TTS audio that reaches it (and passes everything on)."""

    def __init__(self):
        super().__init__()
        self.audio = bytearray()
        self.sample_rate: int | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
            self.sample_rate = frame.sample_rate
        await self.push_frame(frame, direction)


async def say(text: str, *, pipeline: str = "laptop", out: Path | None = None, run_dir: Path) -> Path | None:
    """Speak ``text``; with ``out`` write a 16-bit mono WAV there and return its path."""
    collector = AudioCollector()
    built = build_tts_pipeline(pipeline, run_dir, after_tts=[collector], to_speaker=out is None)
    rate = built.options.audio_out_sample_rate
    async with ChildServers(built.child_processes):
        worker = make_worker(built.pipeline, out_rate=rate)
        await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
        await run_worker(worker, handle_signals=True)
    if out is None:
        return None
    if not collector.audio:
        raise RuntimeError("the TTS produced no audio")
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(collector.sample_rate or rate)
        wav.writeframes(bytes(collector.audio))
    return out
