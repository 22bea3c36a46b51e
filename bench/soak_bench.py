"""Bench: a barge-in storm. Many turns with random interruptions, then nothing may be left behind.

The answer half of the agent runs as in the product: recorded LLM token streams
(``bench/data/token_streams.json``, their first 30 tokens, replayed at 10x their recorded pace) go
through ``PhraseAggregator`` into ``GradiumTTSService``, which talks to the local Gradium-compatible
server started as a child process (as the app does; its text pacing off, so turns that run to their end follow each other at the server's speed). About ``--barge-in`` of the turns are
cut by an ``InterruptionFrame`` at a random moment of their first second (before or during the audio); the others
run to their end. Turns follow each other without a pause.

Measured: the agent's RSS growth from after a warm-up (10% of the turns) to the end (memory
must stay flat), the server's RSS growth likewise, and what is left once the pipeline and the
server are stopped compared with before they started: asyncio tasks, open sockets (from
``/proc/self/fd``) and child processes. Also counted: errors, and stale audio (audio of an
interrupted answer arriving after its interruption). Targets: growth < 5 MB, 0 leaked, 0
errors, 0 stale frames.

``python -m bench.soak_bench [--quick] [--turns N] [--seed S] [--json]``; :func:`bench_records`
returns the records for ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger

from bench.records import all_met, record

from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    StartFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

STREAMS = Path(__file__).parent / "data" / "token_streams.json"
TURNS_FULL, TURNS_QUICK = 500, 6
TARGET_RSS_GROWTH_MB = 5.0
CUT_WITHIN_S = 1.0  # a barge-in comes within this long of the answer's start (before or during its audio)
TURN_TIMEOUT_S = 60.0
MAX_TOKENS = 30  # answers are cut to their first 30 tokens (~8 s of speech) to keep turns short


@dataclass
class SoakResult:
    """What one storm measured (see the module docstring)."""

    turns: int = 0
    interrupted: int = 0
    completed: int = 0
    errors: int = 0
    stale_audio_frames: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    server_rss_warm_mb: float = 0.0
    server_rss_end_mb: float = 0.0
    leaked_tasks: int = 0
    leaked_sockets: int = 0
    leaked_children: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_warm_mb

    @property
    def server_rss_growth_mb(self) -> float:
        return self.server_rss_end_mb - self.server_rss_warm_mb


# -- process accounting (Linux /proc) ------------------------------------------------------


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_sockets() -> int:
    """Sockets among this process's open file descriptors."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def child_pids() -> set[int]:
    """Live child processes of this process (zombies not counted)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    live = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                live.add(pid)
        except OSError:
            pass
    return live


def other_tasks() -> int:
    """asyncio tasks other than the caller's."""
    return len(asyncio.all_tasks() - {asyncio.current_task()})


# -- the pipeline --------------------------------------------------------------------------


class ErrorCounter(FrameProcessor):
    """Head of the pipeline: counts the ErrorFrames that come back upstream."""

    def __init__(self):
        super().__init__(enable_direct_mode=True)
        self.errors: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, ErrorFrame) and direction == FrameDirection.UPSTREAM:
            self.errors.append(frame.error)
        await self.push_frame(frame, direction)


class AudioSink(FrameProcessor):
    """Tail of the pipeline: keeps no frames, only counts audio and spots stale audio."""

    def __init__(self):
        super().__init__(enable_direct_mode=True)
        self.audio_seconds = 0.0
        self.stale_frames = 0
        self.ends = 0
        self._contexts: set[str] = set()
        self._dead: set[str] = set()
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, TTSAudioRawFrame):
                if frame.context_id in self._dead:
                    self.stale_frames += 1
                self._contexts.add(frame.context_id)
                self.audio_seconds += len(frame.audio) / 2 / frame.sample_rate
                return  # dropped here: nothing accumulates
            if isinstance(frame, InterruptionFrame):
                self._dead |= self._contexts
                self._contexts.clear()
            elif isinstance(frame, LLMFullResponseEndFrame):
                self.ends += 1
                self.changed.set()
        if not isinstance(frame, StartFrame) or direction == FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)

    async def wait_ends(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self.ends < count:
                self.changed.clear()
                await self.changed.wait()


def load_streams() -> list[list[tuple[float, str]]]:
    """The recorded token streams: (seconds from the first token, text) each."""
    data = json.loads(STREAMS.read_text())
    streams = []
    for s in data["streams"]:
        t0 = s["tokens"][0][0]
        streams.append([(t - t0, text) for t, text in s["tokens"][:MAX_TOKENS]])
    return streams


async def _turn(worker: PipelineWorker, sink: AudioSink, stream, rng: random.Random, speed: float,
                barge_in: float, result: SoakResult) -> None:
    """One answer: stream its tokens; maybe interrupt it at a random moment."""
    cut_at = rng.uniform(0.05, CUT_WITHIN_S) if rng.random() < barge_in else None
    started = time.monotonic()
    ends = sink.ends
    await worker.queue_frame(LLMFullResponseStartFrame())
    for at, text in stream:
        if cut_at is not None and time.monotonic() - started >= cut_at:
            break
        await asyncio.sleep(max(0.0, started + at / speed - time.monotonic()))
        await worker.queue_frame(LLMTextFrame(text))
    if cut_at is None:
        await worker.queue_frame(LLMFullResponseEndFrame())
        await sink.wait_ends(ends + 1, TURN_TIMEOUT_S)
        result.completed += 1
        return
    await asyncio.sleep(max(0.0, started + cut_at - time.monotonic()))  # maybe during the audio
    await worker.queue_frame(InterruptionFrame())
    await worker.queue_frame(LLMFullResponseEndFrame())  # the cut LLM response still ends
    await sink.wait_ends(ends + 1, TURN_TIMEOUT_S)
    result.interrupted += 1


async def run_storm(turns: int, *, seed: int = 7, speed: float = 10.0, barge_in: float = 0.6,
                    on_turn=None) -> SoakResult:
    """Run the storm and measure it (see the module docstring)."""
    from runtime.tts_server_process import LocalTTSServer
    from processors.gradium.settings import GradiumConnectionParams
    from processors.gradium.tts import GradiumTTSService
    from processors.phrase.aggregator import PhraseAggregator

    rng = random.Random(seed)
    streams = load_streams()
    result = SoakResult()
    gc.collect()
    tasks0, sockets0, children0 = other_tasks(), open_sockets(), child_pids()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server = LocalTTSServer(log_path=Path(tmp) / "tts-server.log")
        await asyncio.to_thread(server.start)
        try:
            counter, sink = ErrorCounter(), AudioSink()
            # Text pacing off: the turns that run to their end follow each other at the
            # server's speed, not at the speed of speech (nobody listens here).
            tts = GradiumTTSService(url=server.url, connection=GradiumConnectionParams(max_audio_ahead_secs=None))
            worker = PipelineWorker(
                Pipeline([counter, PhraseAggregator(), tts, sink]),
                params=PipelineParams(audio_out_sample_rate=24000),
                idle_timeout_secs=None, enable_rtvi=False,
            )
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            running = asyncio.create_task(runner.run())
            started = time.monotonic()
            warmup = max(3, turns // 10)
            for i in range(turns):
                if i == warmup:
                    gc.collect()
                    result.rss_warm_mb, result.server_rss_warm_mb = rss_mb(), rss_mb(server.pid)
                await _turn(worker, sink, rng.choice(streams), rng, speed, barge_in, result)
                result.turns += 1
                if on_turn:
                    on_turn(result, server.pid)
            gc.collect()
            result.rss_end_mb, result.server_rss_end_mb = rss_mb(), rss_mb(server.pid)
            result.seconds = time.monotonic() - started
            await worker.queue_frame(EndFrame())
            await asyncio.wait_for(running, 30)
        finally:
            await asyncio.to_thread(server.stop)
    result.errors = len(counter.errors)
    result.error_samples = counter.errors[:5]
    result.stale_audio_frames = sink.stale_frames
    result.audio_seconds = sink.audio_seconds
    await asyncio.sleep(0.5)  # closing handshakes finish
    gc.collect()
    result.leaked_tasks = other_tasks() - tasks0
    result.leaked_sockets = open_sockets() - sockets0
    result.leaked_children = len(child_pids() - children0)
    return result


# -- records -------------------------------------------------------------------------------


def _record(metric: str, unit: str, value: float, target: float | None, runs: int, *, base: float | None = None,
            baseline: str = "") -> dict:
    """A single-value record; met when ``value <= target``."""
    return record(metric, unit, value, base, target=target, met=None if target is None else value <= target,
                  runs=runs, baseline=baseline)


def make_records(r: SoakResult) -> list[dict]:
    """One record per measure; ``runs`` is the number of turns."""
    n = r.turns
    return [
        _record("soak_rss_growth", "MB", round(r.rss_growth_mb, 2), TARGET_RSS_GROWTH_MB, n,
                base=round(r.rss_warm_mb, 1), baseline="RSS after warm-up"),
        _record("soak_leaked_asyncio_tasks", "count", r.leaked_tasks, 0, n, baseline="before the pipeline"),
        _record("soak_leaked_sockets", "count", r.leaked_sockets, 0, n, baseline="before the pipeline"),
        _record("soak_leaked_child_processes", "count", r.leaked_children, 0, n, baseline="before the server"),
        _record("soak_errors", "count", r.errors, 0, n),
        _record("soak_stale_audio_frames", "count", r.stale_audio_frames, 0, n),
        _record("soak_server_rss_growth", "MB", round(r.server_rss_growth_mb, 2), None, n,
                base=round(r.server_rss_warm_mb, 1), baseline="server RSS after warm-up"),
        _record("soak_interrupted_turns", "count", r.interrupted, None, n, baseline=f"{r.completed} completed"),
        _record("soak_turns_per_second", "1/s", round(n / r.seconds, 2) if r.seconds else 0.0, None, n),
    ]


def bench_records(quick: bool = False, turns: int | None = None, seed: int = 7) -> list[dict]:
    """Run the storm (``TURNS_FULL`` turns, ``TURNS_QUICK`` when quick) and return its records."""
    return make_records(asyncio.run(run_storm(turns or (TURNS_QUICK if quick else TURNS_FULL), seed=seed)))


def main(argv: list[str] | None = None) -> int:
    """CLI: print the records; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{TURNS_QUICK} turns instead of {TURNS_FULL}")
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the raw measurements as JSON")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    result = asyncio.run(run_storm(args.turns or (TURNS_QUICK if args.quick else TURNS_FULL), seed=args.seed))
    records = make_records(result)
    if args.json:
        print(json.dumps({**asdict(result), "records": records}, indent=1))
    else:
        for r in records:
            target = "" if r["target"] is None else f"target <= {r['target']}"
            met = "" if r["met"] is None else ("ok" if r["met"] else "MISSED")
            print(f"{r['metric']:30s} {r['ours_median']!s:>8} {r['unit']:6s} {target:14s} {met}")
    return 0 if all_met(records) else 1


if __name__ == "__main__":
    sys.exit(main())
