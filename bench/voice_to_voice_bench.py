"""Benchmark 5: voice-to-voice on the fully local stack, ours vs stock pipecat, same run.

Voice-to-voice is the time from the moment the user stops speaking to the first bot audio at
the output transport. Both pipelines (:mod:`bench.v2v_pipelines`) hear the same Piper-spoken
questions through the WAV transport in real time, one conversation per run, ours and stock
interleaved (ABBA order) on the same llama.cpp and TTS servers. The speech end is read from the
injected audio (last loud sample), the same for both; every stage is reported against it
(:mod:`bench.v2v_timeline`): VAD stop, final transcript, user turn end, LLM start/first token
(released to the pipeline), first phrase, first TTS audio, first bot audio.

Also measured: word error rate of the transcripts (ours vs stock, same audio), the
mid-sentence pause case ("I'd like to book a table ... for two people", a 0.8 s pause spliced
in), and the end-of-turn trade-off (:mod:`bench.turn_end_tradeoff`).

    .venv/bin/python -m bench.voice_to_voice_bench [--quick] [--rounds 2] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

from bench.records import record
from bench.spoken_questions import PAUSE_SENTENCE, QUESTIONS, spliced_pause, spoken
from bench.v2v_timeline import STAGES, turn_stages

TARGET_MS = 800.0
TARGET_RATIO = 0.7
PAUSE_SECS = 0.8


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("’", "'")).split()


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(word edit distance, reference words)."""
    r, h = _words(ref), _words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)], len(r)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


async def _conversation(variant: str, inputs: list[Path], servers, run_dir: Path):
    from bench.v2v_pipelines import build_variant, run_pipeline

    return turn_stages(await run_pipeline(build_variant(variant, run_dir, inputs, servers)))


def _order(variants: tuple[str, ...], r: int) -> tuple[str, ...]:
    """Round ``r``'s order: rotated every round, so no variant always runs first."""
    k = r % len(variants)
    return variants[k:] + variants[:k]


def run_rounds(questions: list[str], rounds: int, workdir: Path, servers, variants: tuple[str, ...] = ("ours", "stock"),
               log=print) -> dict[str, list[dict]]:
    """Interleaved conversations; per variant, one dict per user turn (stages, transcript, ref)."""
    inputs = [spoken(q, workdir / "speech") for q in questions]
    turns: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(rounds):
        for variant in _order(variants, r):
            run_dir = workdir / f"r{r}-{variant.replace('+', '-')}"
            stages = asyncio.run(_conversation(variant, inputs, servers, run_dir))
            if len(stages) != len(questions):
                log(f"  {variant} round {r}: heard {len(stages)} utterances for {len(questions)} questions")
            for q, t in zip(questions, stages):
                turns[variant].append({"question": q, "ms": t.ms, "transcript": t.transcript, "cut_off": t.cut_off})
            v2v = [round(float(t.ms["bot_audio"])) if "bot_audio" in t.ms else None for t in stages]
            log(f"  round {r + 1}/{rounds} {variant:10s}: voice-to-voice ms {v2v}")
    return turns


def pause_case(rounds: int, workdir: Path, servers, log=print) -> dict[str, list[dict]]:
    """The mid-sentence pause sentence, one conversation per variant and round."""
    text, after = PAUSE_SENTENCE
    speech = spliced_pause(text, after, PAUSE_SECS, workdir / "speech")
    out: dict[str, list[dict]] = {"ours": [], "stock": []}
    for r in range(rounds):
        for variant in _order(("ours", "stock"), r):
            stages = asyncio.run(_conversation(variant, [speech.path], servers, workdir / f"pause{r}-{variant}"))
            t = stages[0] if stages else None
            out[variant].append({"cut_off": bool(t and t.cut_off), "ms": t.ms if t else {},
                                 "transcript": t.transcript if t else ""})
            log(f"  pause case {variant:5s}: sentence split at the pause: {out[variant][-1]['cut_off']}, "
                f"heard [{out[variant][-1]['transcript']}]")
    return out


def breakdown(turns: dict[str, list[dict]]) -> dict[str, dict[str, float | None]]:
    """Median ms after the speech end per stage and variant."""
    return {stage: {v: _median([float(t["ms"][stage]) for t in turns[v] if stage in t["ms"]]) for v in turns}
            for stage in STAGES}


def wer(turns: list[dict]) -> float:
    errors = total = 0
    for t in turns:
        e, n = word_errors(t["question"], t["transcript"])
        errors, total = errors + e, total + n
    return errors / max(1, total)


def _v2v_record(metric: str, ours_turns: list[dict], stock_turns: list[dict]) -> dict:
    v2v = {k: [float(t["ms"]["bot_audio"]) for t in turns if "bot_audio" in t["ms"]]
           for k, turns in (("ours", ours_turns), ("stock", stock_turns))}
    rec = record(metric, "ms", v2v["ours"], v2v["stock"], target=f"< {TARGET_MS:.0f} ms and <= {TARGET_RATIO}x stock",
                 runs=min(len(v2v["ours"]), len(v2v["stock"])), baseline="stock pipecat 1.14, same models")
    rec["met"] = bool(rec["ours_median"] and rec["ratio"] is not None and rec["ours_median"] < TARGET_MS
                      and rec["ratio"] <= TARGET_RATIO)
    return rec


def records_from(turns: dict[str, list[dict]], pause: dict[str, list[dict]] | None) -> list[dict]:
    """Benchmark records (see ``bench/__main__.py``) from measured turns."""
    main = _v2v_record("voice-to-voice (speech end -> first bot audio)", turns["ours"], turns["stock"])
    main["breakdown_ms"] = breakdown(turns)
    records = [main]
    w_ours, w_stock = wer(turns["ours"]), wer(turns["stock"])
    records.append(record("transcript word error rate (benchmark questions)", "fraction", round(w_ours, 4),
                          round(w_stock, 4), target="<= stock", met=w_ours <= w_stock, runs=len(turns["ours"]),
                          baseline="stock WhisperSTTService"))
    if pause:
        cut = {v: sum(p["cut_off"] for p in pause[v]) / max(1, len(pause[v])) for v in ("ours", "stock")}
        rec = record(f"mid-sentence {PAUSE_SECS} s pause: sentence split into two turns", "fraction", cut["ours"],
                     cut["stock"], target="0 (ours waits for the whole sentence)", met=cut["ours"] == 0,
                     runs=len(pause["ours"]), baseline="stock turn strategies",
                     heard={v: [p["transcript"] for p in pause[v]] for v in ("ours", "stock")}, with_ratio=False)
        records.append(rec)
    return records


def bench_records(quick: bool, rounds: int | None = None, workdir: Path | None = None,
                  variants: tuple[str, ...] | None = None, log=print) -> list[dict]:
    """Benchmark 5 records; ``quick`` checks the harness (1 question, 1 round, no numbers)."""
    from loguru import logger

    from bench.turn_end_tradeoff import tradeoff_records
    from bench.v2v_pipelines import SharedServers

    workdir = Path(workdir or tempfile.mkdtemp(prefix="v2v-bench-"))
    questions = list(QUESTIONS[:1] if quick else QUESTIONS)
    rounds = rounds or (1 if quick else 2)
    variants = variants or ("ours", "stock")
    quiet = ("pipecat", "processors", "agent", "pipelines", "bench")
    for name in quiet:  # per-frame debug logs would cost CPU in the measured runs
        logger.disable(name)
    try:
        with SharedServers(workdir / "servers") as servers:
            turns = run_rounds(questions, rounds, workdir, servers, variants, log)
            pause = pause_case(1, workdir, servers, log)
        records = records_from(turns, pause) + tradeoff_records(quick)
    finally:
        for name in quiet:
            logger.enable(name)
    (workdir / "turns.json").write_text(json.dumps({"turns": turns, "pause": pause}, indent=1))
    log(f"  raw turns: {workdir / 'turns.json'}")
    return records


def format_breakdown(record: dict) -> str:
    """The per-stage table (markdown) of a voice-to-voice record."""
    names = list(next(iter(record["breakdown_ms"].values())))
    rows = ["| stage (ms after speech end, median) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for stage, v in record["breakdown_ms"].items():
        rows.append(f"| {stage} | " + " | ".join(str(v[n]) for n in names) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_to_voice_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 question, 1 round: checks the harness")
    parser.add_argument("--rounds", type=int, default=None, help="conversations per variant (default 2)")
    parser.add_argument("--variants", nargs="+", choices=("ours", "stock"), default=None,
                        help="pipelines to compare (default: all three; ours and stock are required)")
    parser.add_argument("--out", type=Path, default=None, help="also write the records here (JSON)")
    args = parser.parse_args(argv)
    if args.variants and not {"ours", "stock"} <= set(args.variants):
        parser.error("--variants must include ours and stock")
    records = bench_records(args.quick, rounds=args.rounds, variants=tuple(args.variants) if args.variants else None)
    for r in records:
        extra = {k: v for k, v in r.items() if k not in ("metric", "breakdown_ms")}
        print(f"{r['metric']}: {json.dumps(extra)}")
    print(format_breakdown(records[0]))
    if args.out:
        args.out.write_text(json.dumps(records, indent=2))
    return 0 if records[0]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
