"""A running pipeline around a TTS service, for tests and benchmarks.

``PipelineProbe(tts)`` runs ``Pipeline([upstream_recorder, tts, downstream_recorder])`` in
the background (a :class:`BackgroundWorker`, which other harnesses use on their own); push frames in, then wait for the frames that come out (with arrival
times) without sleeping for fixed times::

    async with PipelineProbe(tts, sample_rate=24000) as probe:
        await probe.push(LLMFullResponseStartFrame())
        first = await probe.wait_for(TTSAudioRawFrame)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipecat.frames.frames import EndFrame, ErrorFrame, Frame, StartFrame, TTSAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

Predicate = Callable[[Frame], bool]


@dataclass
class Record:
    """A frame, when it arrived (``time.monotonic()``) and its position among the records."""

    at: float
    frame: Frame
    index: int


class FrameRecorder(FrameProcessor):
    """Passes frames on and records those going one way."""

    def __init__(self, direction: FrameDirection, **kwargs):
        super().__init__(enable_direct_mode=True, **kwargs)
        self._direction = direction
        self.records: list[Record] = []
        self._changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == self._direction and not isinstance(frame, StartFrame):
            self.records.append(Record(time.monotonic(), frame, len(self.records)))
            self._changed.set()
        await self.push_frame(frame, direction)

    async def wait_for(self, match: type[Frame] | Predicate, *, after: int = 0, timeout: float = 10.0) -> Record:
        """The first record at index >= ``after`` matching a frame type or predicate."""
        pred = match if not isinstance(match, type) else (lambda f, t=match: isinstance(f, t))
        async with asyncio.timeout(timeout):
            i = after
            while True:
                while i < len(self.records):
                    if pred(self.records[i].frame):
                        return self.records[i]
                    i += 1
                self._changed.clear()
                await self._changed.wait()


class BackgroundWorker:
    """``worker`` run by its own ``WorkerRunner`` in a background task, for harnesses that feed it.

    :meth:`start` returns once the pipeline has started; :meth:`stop` ends it with an
    ``EndFrame`` and cancels it if that takes longer than ``timeout``.
    """

    def __init__(self, worker: PipelineWorker):
        self.worker = worker
        self._runner = WorkerRunner(handle_sigint=False)
        self._task: asyncio.Task | None = None

    async def start(self, timeout: float = 60.0) -> None:
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _started(_worker, _frame):
            started.set()

        await self._runner.add_workers(self.worker)
        self._task = asyncio.create_task(self._runner.run())
        await asyncio.wait_for(started.wait(), timeout)

    async def stop(self, timeout: float = 20.0) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        if not task.done():
            await self.worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            await self._runner.cancel(f"{self.worker} did not stop within {timeout:.0f} s")
            await task


class PipelineProbe:
    """Runs a processor in a pipeline; see the module docstring."""

    def __init__(self, *processors: FrameProcessor, sample_rate: int = 24000):
        self.up = FrameRecorder(FrameDirection.UPSTREAM)
        self.down = FrameRecorder(FrameDirection.DOWNSTREAM)
        self._pipeline = Pipeline([self.up, *processors, self.down])
        self._worker = PipelineWorker(
            self._pipeline,
            params=PipelineParams(audio_out_sample_rate=sample_rate),
            cancel_on_idle_timeout=False,
        )
        self._background = BackgroundWorker(self._worker)

    async def __aenter__(self) -> PipelineProbe:
        await self._background.start(timeout=10)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def push(self, *frames: Frame) -> None:
        """Queue frames at the head of the pipeline (downstream)."""
        for frame in frames:
            await self._worker.queue_frame(frame)

    async def stop(self, timeout: float = 20.0) -> None:
        """End the pipeline gracefully (cancel it if that takes longer than ``timeout``)."""
        await self._background.stop(timeout)

    def audio(self, after: int = 0, until: int | None = None) -> list[TTSAudioRawFrame]:
        """Audio frames that came out, between two record indexes."""
        return [r.frame for r in self.down.records[after:until] if isinstance(r.frame, TTSAudioRawFrame)]

    def errors(self) -> list[ErrorFrame]:
        """Error frames pushed upstream so far."""
        return [r.frame for r in self.up.records if isinstance(r.frame, ErrorFrame)]

    @staticmethod
    def seconds(frames: list[TTSAudioRawFrame]) -> float:
        """Total duration of audio frames."""
        return sum(len(f.audio) / 2 / f.num_channels / f.sample_rate for f in frames)
