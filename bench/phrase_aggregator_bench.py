"""Bench: first LLM token -> first TTS audio, PhraseAggregator vs pipecat's own text aggregation.

Replays recorded LLM token streams (``bench/data/token_streams.json``, recorded from the local
SmolLM2 by ``bench/record_token_streams.py``) with their real inter-token timing
(``LLMFullResponseStartFrame``, ``LLMTextFrame``..., ``LLMFullResponseEndFrame``) into three
pipelines, all talking to one in-process local Gradium-compatible server
(:class:`runtime.tts_server.TTSServer`, Piper):

- ``ours``:     ``PhraseAggregator`` (the ``[phrase_aggregator]`` settings of
  ``pipelines/file.toml``, e.g. ``flush_first_phrase = true``) -> our ``GradiumTTSService``
  (built as the ``[tts] type = "gradium"`` slot builds it);
- ``sentence``: pipecat's stock ``GradiumTTSService`` (its default SENTENCE aggregation);
- ``token``:    the stock service in ``TextAggregationMode.TOKEN`` (every token sent at once).

One pipeline per variant serves every answer (warm sockets, as in a session; one unmeasured
warm-up answer each). Answers never overlap: the next starts once the previous one's audio has
all come out and the server is idle; each answer rotates the variant order. A full run replays
all 12 recorded answers (~1.5-2 min on 2 cores); ``--quick`` the 2 shortest (~15 s).

Two measures per answer:

- **first token -> first audio** (headline): from pushing the first ``LLMTextFrame`` to the
  first ``TTSAudioRawFrame`` of that answer out of the TTS. Target: median <= 0.5x SENTENCE.
- **first token -> first TTS text** (secondary, text only): to the TTS's first ``run_tts`` call,
  and the number of ``run_tts`` calls per answer. Plus, from the server's counters, its first
  text -> first audio (how long the server holds and synthesizes the first text).

``python -m bench.phrase_aggregator_bench [--quick] [--streams N] [--json]``;
:func:`bench_records` returns the records for ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path


from pipelines.config import load_toml, parse_options
from runtime.tts_server import TTSServer
from bench.records import quiet_logs, record, report
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
)
from pipecat.services.gradium.tts import GradiumTTSService as StockGradiumTTSService
from pipecat.services.tts_service import TextAggregationMode
from testing.probe import PipelineProbe
from processors.gradium.settings import GradiumConnectionParams
from processors.gradium.tts import GradiumTTSService
from processors.phrase.aggregator import PhraseAggregator, PhraseAggregatorSettings

DATA_PATH = Path(__file__).parent / "data" / "token_streams.json"
PRODUCT_CONFIG = "file"  # pipelines/file.toml: its [phrase_aggregator] and [tts] sections
TARGET_RATIO = 0.5
VARIANTS = ("ours", "sentence", "token")
QUICK_STREAMS = 2  # --quick: the shortest answers (by token count)
SAMPLE_RATE = 24000
ANSWER_TIMEOUT_S = 60.0
WARMUP_TOKENS = [[0.0, "Hello"], [0.02, " there"], [0.04, "."], [0.06, " Warming"], [0.08, " up."]]


class _RunTTSLog:
    """Mixin: notes each ``run_tts`` call (time, context, text); synthesis is unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tts_calls: list[tuple[float, str, str]] = []

    async def run_tts(self, text: str, context_id: str):
        self.tts_calls.append((time.monotonic(), context_id, text))
        async for frame in super().run_tts(text, context_id):
            yield frame


class OursTTS(_RunTTSLog, GradiumTTSService):
    """Our service with its ``run_tts`` calls noted."""


class StockTTS(_RunTTSLog, StockGradiumTTSService):
    """pipecat's service with its ``run_tts`` calls noted."""


@dataclass
class AnswerResult:
    """One replayed answer in one variant (seconds from the first pushed LLM token)."""

    first_audio_secs: float
    first_text_secs: float
    chunks: int
    server_text_to_audio_secs: float | None = None
    texts: list[str] = field(default_factory=list)


def product_settings(config: str = PRODUCT_CONFIG) -> tuple[PhraseAggregatorSettings, dict]:
    """The shipped ``[phrase_aggregator]`` settings (parsed as the builder parses them) and ``[tts]``."""
    path, tables = load_toml(config)
    table = {k: v for k, v in tables.get("phrase_aggregator", {}).items() if k not in ("type", "enabled")}
    return parse_options(PhraseAggregatorSettings, table, path, "phrase_aggregator"), tables.get("tts", {})


def make_processors(variant: str, url: str) -> tuple[list, _RunTTSLog]:
    """The processors of one variant's pipeline, and its TTS service."""
    if variant == "ours":
        settings, tts_table = product_settings()
        # Text pacing off: it never delays the first phrase (what is measured), but would make
        # every replayed answer last as long as it takes to speak.
        tts = OursTTS(api_key="", url=url, output_format=tts_table.get("output_format"),
                      settings=GradiumTTSService.Settings(multiplex=bool(tts_table.get("multiplex", False))),
                      connection=GradiumConnectionParams(max_audio_ahead_secs=None))
        return [PhraseAggregator(settings=settings), tts], tts
    mode = TextAggregationMode.TOKEN if variant == "token" else TextAggregationMode.SENTENCE
    tts = StockTTS(api_key="local", url=url, text_aggregation_mode=mode)
    return [tts], tts


async def _server_idle(server: TTSServer, known: set, timeout: float = ANSWER_TIMEOUT_S) -> list:
    """Wait until the server's requests opened since ``known`` are all finished; return them."""
    async with asyncio.timeout(timeout):
        while True:
            new = [r for rid, r in list(server.stats.requests.items()) if rid not in known]
            if new and all(r.state != "active" and not r.synthesizing for r in new):
                return new
            await asyncio.sleep(0.02)


async def replay(probe: PipelineProbe, tts: _RunTTSLog, server: TTSServer, tokens: list[list]) -> AnswerResult:
    """Replay one answer's ``[[offset_secs, text], ...]`` with real timing; wait until it is all out."""
    mark, calls_mark = len(probe.down.records), len(tts.tts_calls)
    old = {f.context_id for f in probe.audio()}
    known = set(server.stats.requests)
    await probe.push(LLMFullResponseStartFrame())
    t0 = time.monotonic()
    base = tokens[0][0]
    for offset, text in tokens:
        delay = t0 + (offset - base) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await probe.push(LLMTextFrame(text))
    await probe.push(LLMFullResponseEndFrame())
    await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=ANSWER_TIMEOUT_S)
    requests = await _server_idle(server, known)
    if probe.errors():
        raise RuntimeError(f"TTS error during the bench: {probe.errors()[-1].error}")
    audio = next((r for r in probe.down.records[mark:]
                  if isinstance(r.frame, TTSAudioRawFrame) and r.frame.context_id not in old), None)
    calls = tts.tts_calls[calls_mark:]
    if audio is None or not calls:
        raise RuntimeError(f"no audio for the answer {''.join(t for _, t in tokens)[:40]!r}")
    # t0 is taken just before the first token is pushed (its delay is 0).
    firsts = [r for r in requests if r.first_text_at is not None and r.first_audio_at is not None]
    server_secs = min(firsts, key=lambda r: r.first_text_at).first_audio_latency_secs if firsts else None
    return AnswerResult(audio.at - t0, calls[0][0] - t0, len(calls), server_secs, [t for _, _, t in calls])


def load_streams(path: Path = DATA_PATH) -> list[dict]:
    """The recorded answers with at least one token."""
    try:
        data = json.loads(path.read_text())
        return [s for s in data["streams"] if s["tokens"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: cannot read token streams {path}: {e}") from None


async def run_all(streams: list[dict]) -> dict[str, list[AnswerResult]]:
    """Every stream through every variant, one answer at a time, variant order rotated."""
    results: dict[str, list[AnswerResult]] = {v: [] for v in VARIANTS}
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(TTSServer())
        probes = {}
        for variant in VARIANTS:
            processors, tts = make_processors(variant, server.url)
            probe = await stack.enter_async_context(PipelineProbe(*processors, sample_rate=SAMPLE_RATE))
            probes[variant] = (probe, tts)
        for variant in VARIANTS:  # sockets open, Piper warm; not measured
            await replay(*probes[variant], server, WARMUP_TOKENS)
        for i, stream in enumerate(streams):
            for variant in VARIANTS[i % 3:] + VARIANTS[:i % 3]:
                results[variant].append(await replay(*probes[variant], server, stream["tokens"]))
    return results


def make_records(results: dict[str, list[AnswerResult]]) -> list[dict]:
    """Headline: first token -> first audio, ours vs SENTENCE (target) and vs TOKEN (reference);
    then the text-only first-chunk records and the server's own first text -> first audio."""

    def ms(variant: str, name: str) -> list[float]:
        values = [getattr(r, name) for r in results[variant]]
        return [v * 1000 for v in values if v is not None]

    def chunks(variant: str) -> list[int]:
        return [r.chunks for r in results[variant]]

    sentence, token = "stock GradiumTTSService, SENTENCE", "stock GradiumTTSService, TOKEN"
    return [
        record("first_token_to_first_audio", "ms", ms("ours", "first_audio_secs"), ms("sentence", "first_audio_secs"),
               target=TARGET_RATIO, baseline=sentence),
        record("first_token_to_first_audio_vs_token", "ms", ms("ours", "first_audio_secs"),
               ms("token", "first_audio_secs"), baseline=token),
        record("first_token_to_first_tts_text", "ms", ms("ours", "first_text_secs"), ms("sentence", "first_text_secs"),
               baseline=f"{sentence} (text only: first run_tts call)"),
        record("first_token_to_first_tts_text_vs_token", "ms", ms("ours", "first_text_secs"),
               ms("token", "first_text_secs"), baseline=f"{token} (text only: first run_tts call)"),
        record("tts_text_chunks_per_answer", "chunks", chunks("ours"), chunks("sentence"),
               baseline=f"{sentence} (run_tts calls)"),
        record("tts_text_chunks_per_answer_vs_token", "chunks", chunks("ours"), chunks("token"),
               baseline=f"{token} (run_tts calls)"),
        record("server_first_text_to_first_audio", "ms", ms("ours", "server_text_to_audio_secs"),
               ms("sentence", "server_text_to_audio_secs"), baseline=f"{sentence} (local server's counters)"),
    ]


def bench_records(quick: bool = False, path: Path = DATA_PATH, streams: int | None = None) -> list[dict]:
    """Run the bench and return ``[{metric, unit, ours_median, stock_median, ratio, target,
    met, runs, baseline}]``. ``quick`` replays only the few shortest answers; ``streams`` replays
    only the first N."""
    data = load_streams(path)
    if quick and streams is None:
        data = sorted(data, key=lambda s: len(s["tokens"]))[:QUICK_STREAMS]
    return make_records(asyncio.run(run_all(data[:streams] if streams else data)))


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table (or JSON records); exit 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"the {QUICK_STREAMS} shortest answers only")
    parser.add_argument("--streams", type=int, default=None, help="replay only the first N answers")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--data", type=Path, default=DATA_PATH, help="recorded token streams")
    args = parser.parse_args(argv)
    if args.streams is not None and args.streams < 1:
        parser.error("--streams must be >= 1")
    quiet_logs()
    records = bench_records(quick=args.quick, path=args.data, streams=args.streams)
    return report(records, args.json)


if __name__ == "__main__":
    sys.exit(main())
