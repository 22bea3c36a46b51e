"""Bench: PhraseAggregator vs pipecat's own TTS text aggregation (SENTENCE and TOKEN mode).

Replays recorded LLM token streams (``bench/data/token_streams.json``, recorded from the local
SmolLM2 by ``bench/record_token_streams.py``) with their real inter-token timing into three
pipelines that end in the same real pipecat ``TTSService`` subclass (its ``run_tts`` only
records the time and text it is asked to speak):

- ``phrase``:   ``PhraseAggregator -> TTS(SENTENCE)`` (the TTS speaks our frames as they are);
- ``sentence``: ``TTS(SENTENCE)`` (pipecat's default: its sentence aggregator);
- ``token``:    ``TTS(TOKEN)`` (every token is sent to the TTS at once).

Per answer it measures the time from the first LLM token to the first ``run_tts`` call, and the
number of ``run_tts`` calls (chunks). Target: median first-chunk delay <= 0.5x SENTENCE mode.

``python -m bench.phrase_aggregator_bench [--quick] [--json]``; :func:`bench_records` returns
the records for ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from pipecat.frames.frames import (
    EndFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TextAggregationMode, TTSService
from pipecat.workers.runner import WorkerRunner

from processors.phrase_aggregator import PhraseAggregator

DATA_PATH = Path(__file__).parent / "data" / "token_streams.json"
TARGET_RATIO = 0.5
VARIANTS = ("phrase", "sentence", "token")
QUICK_STREAMS = 4
RUN_TIMEOUT_S = 60.0


class TimingTTS(TTSService):
    """A real pipecat TTS service whose synthesis only records when it was asked for what."""

    def __init__(self, mode: TextAggregationMode):
        super().__init__(
            text_aggregation_mode=mode,
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=16000,
            settings=TTSSettings(model=None, voice=None, language=None),
        )
        self.calls: list[tuple[float, str]] = []

    async def run_tts(self, text: str, context_id: str):
        self.calls.append((time.perf_counter(), text))
        yield TTSAudioRawFrame(b"\0\0" * 160, 16000, 1, context_id=context_id)


@dataclass
class AnswerResult:
    """One replayed answer in one variant."""

    first_chunk_delay_s: float | None
    chunks: int
    texts: list[str] = field(default_factory=list)


async def replay(variant: str, tokens: list[list]) -> AnswerResult:
    """Replay one answer's ``[[offset_s, text], ...]`` with real timing through ``variant``."""
    mode = TextAggregationMode.TOKEN if variant == "token" else TextAggregationMode.SENTENCE
    tts = TimingTTS(mode)
    processors = [PhraseAggregator(), tts] if variant == "phrase" else [tts]
    worker = PipelineWorker(Pipeline(processors), cancel_on_idle_timeout=False)
    started = asyncio.Event()
    t_first: list[float] = []

    @worker.event_handler("on_pipeline_started")
    async def _on_started(_worker, _frame):
        started.set()

    async def feed():
        await asyncio.wait_for(started.wait(), timeout=10.0)
        await worker.queue_frame(LLMFullResponseStartFrame())
        base = tokens[0][0]
        t0 = time.perf_counter()
        for offset, text in tokens:
            delay = t0 + (offset - base) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not t_first:
                t_first.append(time.perf_counter())
            await worker.queue_frame(LLMTextFrame(text))
        await worker.queue_frame(LLMFullResponseEndFrame())
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(asyncio.gather(runner.run(), feed()), timeout=RUN_TIMEOUT_S)
    texts = [t for _, t in tts.calls]
    delay = tts.calls[0][0] - t_first[0] if tts.calls and t_first else None
    return AnswerResult(delay, len(tts.calls), texts)


def load_streams(path: Path = DATA_PATH) -> list[dict]:
    """The recorded answers with at least one token."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read token streams {path}: {e}") from None
    return [s for s in data["streams"] if s["tokens"]]


async def run_all(streams: list[dict]) -> dict[str, list[AnswerResult]]:
    """Replay every stream through every variant (one after another, never concurrently)."""
    results: dict[str, list[AnswerResult]] = {v: [] for v in VARIANTS}
    for stream in streams:
        for variant in VARIANTS:
            results[variant].append(await replay(variant, stream["tokens"]))
    return results


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _record(
    metric: str, unit: str, ours: float | None, stock: float | None, target: float | None,
    runs: int, baseline: str,
) -> dict:
    ratio = ours / stock if ours is not None and stock else None
    met = None if target is None or ratio is None else ratio <= target
    return {
        "metric": metric, "unit": unit, "ours_median": ours, "stock_median": stock,
        "ratio": ratio, "target": target, "met": met, "runs": runs, "baseline": baseline,
    }


def make_records(results: dict[str, list[AnswerResult]]) -> list[dict]:
    """Median records (ours vs SENTENCE with the target; ours vs TOKEN for reference)."""
    def delays(v):
        return [r.first_chunk_delay_s * 1000 for r in results[v]
                if r.first_chunk_delay_s is not None]

    def chunks(v):
        return [float(r.chunks) for r in results[v]]

    runs = len(results["phrase"])
    return [
        _record("phrase_first_chunk_delay", "ms", _median(delays("phrase")),
                _median(delays("sentence")), TARGET_RATIO, runs, "pipecat SENTENCE"),
        _record("phrase_first_chunk_delay_vs_token", "ms", _median(delays("phrase")),
                _median(delays("token")), None, runs, "pipecat TOKEN"),
        _record("phrase_chunks_per_answer", "chunks", _median(chunks("phrase")),
                _median(chunks("sentence")), None, runs, "pipecat SENTENCE"),
        _record("phrase_chunks_per_answer_vs_token", "chunks", _median(chunks("phrase")),
                _median(chunks("token")), None, runs, "pipecat TOKEN"),
    ]


def bench_records(quick: bool = False, path: Path = DATA_PATH) -> list[dict]:
    """Run the bench and return ``[{metric, unit, ours_median, stock_median, ratio, target,
    met, runs, baseline}]``. ``quick`` replays only the first few answers."""
    streams = load_streams(path)
    if quick:
        streams = streams[:QUICK_STREAMS]
    return make_records(asyncio.run(run_all(streams)))


def _fmt(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def print_table(records: list[dict], out=sys.stdout) -> None:
    """Medians, ratio and target as a plain-text table."""
    print(f"{'metric':36s} {'unit':6s} {'ours':>8s} {'stock':>8s} {'ratio':>6s}  "
          f"{'target':>6s}  met   baseline (runs)", file=out)
    for r in records:
        target = "-" if r["target"] is None else f"<={r['target']}"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['metric']:36s} {r['unit']:6s} {_fmt(r['ours_median']):>8s} "
              f"{_fmt(r['stock_median']):>8s} {_fmt(r['ratio'], '.2f'):>6s}  {target:>6s}  "
              f"{met:4s}  {r['baseline']} ({r['runs']})", file=out)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table (or JSON records); exit 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_STREAMS} answers only")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--data", type=Path, default=DATA_PATH, help="recorded token streams")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    records = bench_records(quick=args.quick, path=args.data)
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print_table(records)
    return 0 if all(r["met"] is not False for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
