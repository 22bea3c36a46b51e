"""A barge-in storm (the soak benchmark, fewer turns): afterwards nothing is left behind.

``bench/soak_bench.py`` runs the full storm (500 turns) and also checks that memory stays flat;
this test runs it short and asserts what must hold on any machine: every turn ended, no
error, no stale audio, and no leaked asyncio task, socket or child process.
"""

from __future__ import annotations

import pytest

from bench.soak_bench import run_storm

pytestmark = pytest.mark.slow


async def test_a_barge_in_storm_leaves_nothing_behind():
    result = await run_storm(40, seed=11)
    assert result.turns == 40 and result.interrupted >= 10 and result.completed >= 5
    assert result.errors == 0, result.error_samples
    assert result.stale_audio_frames == 0
    assert result.audio_seconds > 30
    assert (result.leaked_tasks, result.leaked_sockets, result.leaked_children) == (0, 0, 0)
