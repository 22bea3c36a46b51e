"""``make bench`` / ``python -m bench [--quick] [--only NAME ...]``: run every benchmark, side by
side with stock pipecat in the same run, and write ``bench/results/`` (JSON, markdown, PNG).

Each benchmark module exposes ``bench_records(quick: bool) -> list[dict]`` returning records with
at least ``metric, unit, ours_median, stock_median, ratio, target, met, runs``. With ``--only``
the results file keeps the other benchmarks' records and replaces those of the ones run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.records import markdown_table

RESULTS = Path(__file__).parent / "results"

# name -> module; run in this order.
BENCHES: dict[str, str] = {
    "phrase": "bench.phrase_aggregator_bench",  # 1. first token -> first phrase
    "interruption": "bench.interruption_bench",  # 2. barge-in onset -> silence, stale audio
    "gradium": "bench.gradium_tts_bench",  # 3. audio after interruption, 4. answer after barge-in
    "v2v": "bench.voice_to_voice_bench",  # 5. voice-to-voice on the local stack
    "overhead": "bench.processor_overhead_bench",  # 6. per-frame overhead
    "capacity": "bench.tts_capacity_bench",  # 7. local TTS server capacity
    "soak": "bench.soak_bench",  # 8. 500-turn barge-in storm
    "real": "bench.real_speech_bench",  # 9. real voices: WER, turn ends, voice-to-voice
}


def ratio_plot(records: list[dict], path: Path) -> None:
    """Every ratio with a positive value on a log scale: green target met, red missed, grey
    for reference comparisons without a target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in records if isinstance(r.get("ratio"), (int, float)) and r["ratio"] > 0]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.32 * len(rows)))
    colors = [{True: "tab:green", False: "tab:red"}.get(r.get("met"), "tab:gray") for r in rows]
    ax.barh([r["metric"] for r in rows], [r["ratio"] for r in rows], color=colors)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("ours / baseline, log scale (green: target met, red: missed, grey: no target)")
    ax.set_title("voice-agent vs its baseline, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _merged(path: Path, records: list[dict], names: list[str]) -> list[dict]:
    """``--only``: the new records replace those benchmarks' records in the results file; the
    other benchmarks' records of the last full run stay (in :data:`BENCHES` order)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return records
    kept = [r for r in old if r.get("bench") not in names]
    order = list(BENCHES)
    merged = kept + records
    merged.sort(key=lambda r: order.index(r["bench"]) if r.get("bench") in order else len(order))
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs: checks the harness, not the numbers")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument("-v", "--verbose", action="store_true", help="pipeline logs (DEBUG; they cost CPU)")
    args = parser.parse_args(argv)
    if not args.verbose:  # per-frame debug logs would be measured too
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")

    names = args.only or list(BENCHES)
    begun = time.monotonic()
    records: list[dict] = []
    failed: list[str] = []
    for i, name in enumerate(names, start=1):
        print(f"[{i}/{len(names)}] {name} ...", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(BENCHES[name])
            new = module.bench_records(quick=args.quick)
        except Exception as e:  # one failing bench must not lose the others' results
            traceback.print_exc()
            failed.append(name)
            new = [{"metric": f"{name}: failed", "unit": "", "ours_median": None, "stock_median": None,
                    "ratio": None, "target": "", "met": False, "runs": 0, "error": f"{type(e).__name__}: {e}"}]
        for r in new:
            r.setdefault("bench", name)
        records += new
        print(f"[{i}/{len(names)}] {name} done in {time.monotonic() - started:.0f}s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    if args.only and not args.quick:
        records = _merged(args.out / "results.json", records, names)
    (args.out / "results.json").write_text(json.dumps(records, indent=2))
    table = markdown_table(records)
    (args.out / "results.md").write_text(("Quick run (harness check; numbers not meaningful).\n\n" if args.quick else "") + table)
    ratio_plot(records, args.out / "ratios.png")
    print("\n" + table)
    print(f"wrote {args.out}/results.json, results.md, ratios.png ({(time.monotonic() - begun) / 60:.1f} min)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
