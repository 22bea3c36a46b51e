"""The processor-overhead bench harness (not its timings): records and frame delivery."""

from __future__ import annotations

import pytest

from bench.processor_overhead_bench import CASES, TARGET, bench_records, run_case

FRAMES = 20


@pytest.mark.timeout(120)
def test_one_well_formed_record_per_processor():
    records = bench_records(quick=True, frames=FRAMES, rounds=1)
    assert [r["metric"] for r in records] == [f"per-frame overhead: {c.label}" for c in CASES]
    assert sum(c.target is None for c in CASES) == 1  # only the handler with its own Silero
    for case, r in zip(CASES, records):
        assert r["unit"] == "µs/frame" and r["baseline"] == case.baseline_label and r["target"] == case.target
        assert r["runs"] == 1 and r["frames"] >= FRAMES
        assert r["ours_median"] > 0 and r["stock_median"] > 0
        assert r["ratio"] == pytest.approx(r["ours_median"] / r["stock_median"], abs=1e-3)
        assert r["met"] is (None if case.target is None else r["ratio"] <= TARGET)
        assert r["extra_us_per_frame"] == pytest.approx(r["ours_median"] - r["stock_median"])
        assert r["ours_wall_median"] > 0 and r["stock_wall_median"] > 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
async def test_every_frame_pushed_reaches_the_sink_in_order(case):
    result = await run_case(case, FRAMES, 1)
    pushed, received = result.pushed, result.received
    assert len(pushed) == result.frames >= FRAMES
    assert case.check(pushed, received) is None
    # The check is not vacuous: a lost last frame or a reordered output is caught.
    assert case.check(pushed, [f for f in received if f is not pushed[-1]]) is not None
    assert case.check(pushed, received[::-1]) is not None
