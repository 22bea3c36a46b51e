"""Run a pipecat pipeline to its end with pipecat's current API (``PipelineWorker`` + ``WorkerRunner``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner


def make_worker(pipeline: Pipeline | Sequence[FrameProcessor], *, in_rate: int = 16000, out_rate: int = 24000,
                observers: list[BaseObserver] | None = None, enable_metrics: bool = False) -> PipelineWorker:
    """A worker for ``pipeline`` (or a list of processors) that never ends on idleness."""
    if not isinstance(pipeline, Pipeline):
        pipeline = Pipeline([p for p in pipeline if p is not None])
    return PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=in_rate, audio_out_sample_rate=out_rate, enable_metrics=enable_metrics),
        idle_timeout_secs=None,
        enable_rtvi=False,
        observers=observers or [],
    )


async def run_worker(worker: PipelineWorker, *, timeout: float | None = None, handle_signals: bool = False) -> None:
    """Run ``worker`` until its pipeline ends (``timeout``: raise ``TimeoutError`` after that long)."""
    runner = WorkerRunner(handle_sigint=handle_signals, handle_sigterm=handle_signals)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), timeout)


async def run_pipeline(pipeline: Pipeline | Sequence[FrameProcessor], *, timeout: float | None = None,
                       in_rate: int = 16000, out_rate: int = 24000) -> None:
    """Build a worker for ``pipeline`` and run it to its end."""
    await run_worker(make_worker(pipeline, in_rate=in_rate, out_rate=out_rate), timeout=timeout)
