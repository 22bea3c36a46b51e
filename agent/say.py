"""``voice-agent say TEXT``: speak through the pipeline's configured TTS, to the speaker or a WAV."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from pipecat.frames.frames import EndFrame, Frame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from runtime.pipeline_runner import make_worker, run_worker

from pipelines.builder import load_tables
from pipelines.registry import BuildContext, build_slot


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
    import pipelines.components  # noqa: F401

    path, tables = load_tables(pipeline)
    rate = int(tables.get("pipeline", {}).get("audio_out_sample_rate", 24000))
    ctx = BuildContext(config_path=path, run_dir=run_dir, audio_out_sample_rate=rate)
    tts = build_slot("tts", tables.get("tts"), ctx, default="piper")
    collector = AudioCollector()
    steps: list[FrameProcessor] = [tts, collector]
    if out is None:
        from runtime.transports.local_audio import make_local_audio_transport

        transport = make_local_audio_transport(input_device=None, output_device=None, in_rate=16000, out_rate=rate)
        steps.append(transport.output())
    try:
        for child in ctx.child_processes:
            await asyncio.to_thread(child.start)
        worker = make_worker(steps, out_rate=rate)
        await worker.queue_frames([TTSSpeakFrame(text), EndFrame()])
        await run_worker(worker, handle_signals=True)
    finally:
        for child in reversed(ctx.child_processes):
            await asyncio.to_thread(child.stop)
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
