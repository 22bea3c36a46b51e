"""`python -m bench --quick`: the benchmark harness runs and writes well-formed results (not timing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.__main__ import BENCHES

REQUIRED = {"metric", "unit", "ours_median", "stock_median", "ratio", "target", "met", "runs"}


@pytest.mark.timeout(1500)  # runs every benchmark's quick variant (several minutes on 2 cores)
def test_quick_bench_writes_results(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    records = json.loads((tmp_path / "results.json").read_text())
    assert records and all(REQUIRED <= set(r) for r in records)
    assert {r["bench"] for r in records} == set(BENCHES)  # every benchmark reported
    assert all(r["runs"] > 0 and "error" not in r for r in records)
    assert "| metric |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "ratios.png").read_bytes()[:4] == b"\x89PNG"
