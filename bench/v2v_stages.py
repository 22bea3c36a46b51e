"""Where voice-to-voice time goes on real speech: per-stage p50/p90/max, ours vs variants.

Runs benchmark 9's voice-to-voice conversations (:func:`bench.real_speech_bench.v2v_turns`:
the Harvard sentences and four lecture sentences, the whole local stack over the WAV
transport, variants interleaved on the same servers) and prints every stage of
:data:`bench.v2v_timeline.DETAIL_STAGES` as ms after the speech end, p50/p90/max.
Experiments are ``ours`` with some slot keys changed, named on the command line::

    .venv/bin/python -m bench.v2v_stages --rounds 2 --variants ours \\
        --variant w10:stt.final_window_secs=10 --out /tmp/stages.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.v2v_timeline import DETAIL_STAGES


def stage_stats(turns: list[dict]) -> dict[str, dict[str, float | int]]:
    """Per stage: ``{n, p50, p90, max}`` of its ms after the speech end over ``turns``
    (dicts with an ``ms`` mapping, as :func:`bench.real_speech_bench.v2v_turns` returns)."""
    out = {}
    for stage in DETAIL_STAGES:
        values = [float(t["ms"][stage]) for t in turns if stage in t["ms"]]
        if values:
            out[stage] = {"n": len(values), "p50": round(float(np.median(values))),
                          "p90": round(float(np.percentile(values, 90))), "max": round(max(values))}
    return out


def stage_table(stats: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per stage, p50 / p90 / max per variant."""
    names = list(stats)
    rows = ["| stage (ms after speech end) | " + " | ".join(f"{n} p50 / p90 / max" for n in names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for stage in DETAIL_STAGES:
        if not any(stage in stats[n] for n in names):
            continue
        cells = []
        for n in names:
            s = stats[n].get(stage)
            cells.append(f"{s['p50']} / {s['p90']} / {s['max']}" + (f" (n={s['n']})" if s and s["n"] else "") if s else "–")
        rows.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _parse_variant(spec: str) -> tuple[str, dict[str, dict]]:
    """``name:slot.key=value,slot.key=value`` (values parsed as JSON when they can be)."""
    name, _, sets = spec.partition(":")
    extra: dict[str, dict] = {}
    for item in filter(None, sets.split(",")):
        key, _, raw = item.partition("=")
        slot, _, field = key.partition(".")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        extra.setdefault(slot, {})[field] = value
    return name, extra


def main(argv: list[str] | None = None) -> int:
    from loguru import logger

    from bench.real_speech_bench import v2v_turns
    from bench.v2v_pipelines import EXTRA_VARIANTS

    parser = argparse.ArgumentParser(prog="python -m bench.v2v_stages", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="conversations per variant (8 turns each)")
    parser.add_argument("--variants", nargs="+", default=["ours"], help="ours, stock and/or named --variant")
    parser.add_argument("--variant", action="append", default=[], help="NAME:slot.key=value,... (ours + changes)")
    parser.add_argument("--out", type=Path, default=None, help="write the turns and the stats here (JSON)")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    names = list(args.variants)
    for spec in args.variant:
        name, extra = _parse_variant(spec)
        EXTRA_VARIANTS[name] = extra
        if name not in names:
            names.append(name)
    workdir = Path(tempfile.mkdtemp(prefix="v2v-stages-"))
    turns = v2v_turns(workdir, args.rounds, tuple(names))
    stats = {n: stage_stats(turns[n]) for n in names}
    print(stage_table(stats))
    for n in names:
        kept = sum(t["speculation_kept"] for t in turns[n])
        print(f"{n}: speculative answer kept in {kept}/{len(turns[n])} turns; verdicts "
              f"{sorted({t['verdict'].split(' p=')[0] for t in turns[n] if t['verdict']})}")
    if args.out:
        args.out.write_text(json.dumps({"turns": turns, "stats": stats}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
