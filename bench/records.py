"""The benchmark record: one metric, ours vs the baseline measured in the same run.

Every benchmark returns a list of these dicts; ``python -m bench`` collects them into
``bench/results/results.json``. Keys: ``metric, unit, ours_median, stock_median, ratio, target,
met, runs`` plus ``ours_p90/ours_min/ours_max`` (and the same for stock) when there are samples, and
``baseline`` (what the "stock" column is).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from typing import Any, TextIO

Samples = Sequence[float] | float | int | None


def _spread(prefix: str, value: Samples) -> dict[str, Any]:
    """``{prefix_median, prefix_min, prefix_max}`` of samples (or of one value)."""
    if value is None:
        return {f"{prefix}_median": None}
    if isinstance(value, (int, float)):
        return {f"{prefix}_median": value}
    values = [float(v) for v in value if v is not None]
    if not values:
        return {f"{prefix}_median": None}
    return {f"{prefix}_median": statistics.median(values), f"{prefix}_p90": _p90(values),
            f"{prefix}_min": min(values), f"{prefix}_max": max(values)}


def _p90(values: list[float]) -> float:
    """90th percentile, linear between samples (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * 0.9
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def record(
    metric: str,
    unit: str,
    ours: Samples,
    stock: Samples = None,
    *,
    target: float | str | None = None,
    met: bool | None = None,
    runs: int | None = None,
    baseline: str = "stock pipecat 1.14",
    with_ratio: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A record from samples (or single values) of ours and of the baseline.

    ``ratio`` is ours / baseline (medians); ``with_ratio=False`` leaves it out where a ratio
    means nothing (differences, counts that may be 0). ``met`` defaults to ``ratio <= target`` when the
    target is a number; pass ``met`` for any other rule. ``runs`` defaults to the number of our
    samples.
    """
    rec: dict[str, Any] = {"metric": metric, "unit": unit, **_spread("ours", ours), **_spread("stock", stock)}
    o, s = rec["ours_median"], rec["stock_median"]
    rec["ratio"] = round(o / s, 3) if with_ratio and o is not None and s else None
    if met is None and isinstance(target, (int, float)) and rec["ratio"] is not None:
        met = rec["ratio"] <= target
    if runs is None:
        runs = len(ours) if isinstance(ours, Sequence) else 1
    rec.update(target=target, met=met, runs=runs, baseline=baseline, **extra)
    return rec


def fmt(value: Any) -> str:
    """A table cell: 3 significant digits below 100, whole numbers above."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _range(r: dict, prefix: str) -> str:
    lo, hi = r.get(f"{prefix}_min"), r.get(f"{prefix}_max")
    return "" if lo is None or hi is None else f"{fmt(lo)}–{fmt(hi)}"


def markdown_table(records: list[dict]) -> str:
    """Every record as a markdown row: medians (p50), p90, min–max, ratio, target, met, runs, baseline."""
    rows = ["| metric | unit | ours p50 | ours p90 | ours min–max | stock p50 | stock p90 | stock min–max | ratio | target | met | runs | baseline |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        met = {True: "yes", False: "**no**"}.get(r.get("met"), "–")
        rows.append(
            f"| {r['metric']} | {r.get('unit', '')} | {fmt(r.get('ours_median'))} | {fmt(r.get('ours_p90'))} | {_range(r, 'ours')} | "
            f"{fmt(r.get('stock_median'))} | {fmt(r.get('stock_p90'))} | {_range(r, 'stock')} | {fmt(r.get('ratio'))} | {fmt(r.get('target'))} | "
            f"{met} | {fmt(r.get('runs'))} | {r.get('baseline', '')} |"
        )
    return "\n".join(rows) + "\n"


def print_table(records: list[dict], out: TextIO = sys.stdout) -> None:
    """The markdown table on a terminal (a bench module's CLI output)."""
    print(markdown_table(records), file=out)


def all_met(records: list[dict]) -> bool:
    """No record missed its target (records without a target do not count)."""
    return all(r.get("met") is not False for r in records)


def quiet_logs() -> None:
    """Pipeline logs off on the terminal, warnings and errors kept (a bench module's CLI)."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def report(records: list[dict], as_json: bool = False) -> int:
    """Print the records (table, or JSON); the CLI's exit code: 1 if a target is missed."""
    if as_json:
        import json

        print(json.dumps(records, indent=1))
    else:
        print_table(records)
    return 0 if all_met(records) else 1

