"""The product's turn path on real audio, in real time: VAD → STT → user aggregator → sink.

``TurnPath.ours(run_dir)`` builds the slots from the registry as ``pipelines/*.toml`` name them
(Silero, streaming Whisper, transcript-aware turns, with the aggregator attached for turn
merging); ``TurnPath.stock(run_dir)`` is pipecat 1.14's defaults with the same models
(``SileroVADAnalyzer``, ``WhisperSTTService``, the default turn strategies). ``run(pcm)``
feeds 16 kHz PCM as 20 ms frames at the real pace and records every frame, every user turn
(time, text) and, for ours, every turn verdict.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

RATE = 16000
FRAME = RATE // 50 * 2  # 20 ms of 16-bit PCM


class TurnPath:
    """VAD → STT → user aggregator → sink (see the module docstring)."""

    def __init__(self, vad: Any, stt: Any, user_params: Any):
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

        self.vad, self.stt = vad, stt
        self.context = LLMContext()
        self.user = LLMContextAggregatorPair(self.context, user_params=user_params).user()
        stops = getattr(getattr(user_params, "user_turn_strategies", None), "stop", None) or []
        self.strategy = stops[0] if stops else None
        if hasattr(self.strategy, "attach_aggregator"):
            self.strategy.attach_aggregator(self.user)
        self.frames: list[tuple[float, object]] = []
        self.stt_frames: list[tuple[float, object]] = []
        self.turns: list[tuple[float, str]] = []
        self.verdicts: list[tuple[float, dict]] = []
        self.started_at = 0.0

        @self.user.event_handler("on_user_turn_stopped")
        async def _stopped(_agg, _strategy, message):
            self.turns.append((time.monotonic(), message.content or ""))

        if self.strategy is not None and "on_verdict" in getattr(self.strategy, "_event_handlers", {}):
            @self.strategy.event_handler("on_verdict")
            async def _verdict(_s, info):
                self.verdicts.append((time.monotonic(), info))

    @classmethod
    def ours(cls, run_dir: Path, turns: dict | None = None, stt: dict | None = None) -> TurnPath:
        import pipelines.components  # noqa: F401  (registers the slot types)
        from pipelines.registry import BuildContext, build_slot

        ctx = BuildContext(config_path=run_dir / "test.toml", run_dir=run_dir)
        return cls(build_slot("vad", {"type": "silero"}, ctx),
                   build_slot("stt", {"type": "streaming-whisper", **(stt or {})}, ctx),
                   build_slot("turns", {"type": "transcript-aware", **(turns or {})}, ctx))

    @classmethod
    def stock(cls, run_dir: Path) -> TurnPath:
        from pipecat.audio.vad.silero import SileroVADAnalyzer
        from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
        from pipecat.processors.audio.vad_processor import VADProcessor
        from pipecat.services.whisper.stt import WhisperSTTService

        from runtime.models import whisper_model_path

        stt = WhisperSTTService(settings=WhisperSTTService.Settings(model=str(whisper_model_path())))
        return cls(VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, LLMUserAggregatorParams())

    async def run(self, pcm: bytes, *, lead_secs: float = 0.5, tail_secs: float = 3.0) -> float:
        """Say ``pcm`` after ``lead_secs`` of silence (then ``tail_secs`` more) in real time;
        returns the ``time.monotonic()`` at which ``pcm`` started."""
        from pipecat.frames.frames import InputAudioRawFrame
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameProcessor

        from testing.probe import BackgroundWorker

        class Tap(FrameProcessor):
            def __init__(self, into: list):
                super().__init__()
                self.into = into

            async def process_frame(self, frame, direction):
                await super().process_frame(frame, direction)
                self.into.append((time.monotonic(), frame))
                await self.push_frame(frame, direction)

        # stt_frames: what the STT pushed (the aggregator consumes transcripts); frames: after it.
        worker = PipelineWorker(Pipeline([self.vad, self.stt, Tap(self.stt_frames), self.user, Tap(self.frames)]),
                                params=PipelineParams(audio_in_sample_rate=RATE),
                                cancel_on_idle_timeout=False, enable_rtvi=False)
        background = BackgroundWorker(worker)
        await background.start(60)
        lead = bytes(int(lead_secs * RATE) * 2)
        audio = lead + pcm + bytes(int(tail_secs * RATE) * 2)
        t0 = next_t = time.monotonic()
        self.started_at = t0 + len(lead) / 2 / RATE
        for i in range(0, len(audio), FRAME):
            await worker.queue_frame(InputAudioRawFrame(audio=audio[i:i + FRAME].ljust(FRAME, b"\0"),
                                                        sample_rate=RATE, num_channels=1))
            next_t += FRAME / 2 / RATE
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
        await background.stop(60)
        return self.started_at

    def times(self, cls, *, stt: bool = False) -> list[float]:
        """When frames of ``cls`` left the aggregator (or, with ``stt``, the STT)."""
        return [t for t, f in (self.stt_frames if stt else self.frames) if isinstance(f, cls)]

    def turn_ends_secs(self) -> list[float]:
        """Each user turn's end, in seconds from the start of the fed ``pcm``."""
        return [t - self.started_at for t, _ in self.turns]
