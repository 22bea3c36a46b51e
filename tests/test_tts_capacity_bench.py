"""The TTS capacity bench's harness (not its timing): the player's underrun accounting on
hand-made arrival timelines, the phrase schedule, the ladder and record logic on made-up
levels, the settings handed to a variant server, and real streams against the local TTS
server (as shipped, and with ``onnx_threads=0``) in child processes."""

from __future__ import annotations

import json

import pytest

from bench.tts_capacity_bench import (
    ANSWERS,
    ONNX_DEFAULT,
    QUICK_ANSWERS,
    Level,
    Run,
    SingleCost,
    Variant,
    capacity,
    comparison_ladder,
    make_records,
    main,
    run_level,
    server_settings,
    shipped_server,
    variant_server,
)
from bench.tts_capacity_client import StreamResult, Underruns, phrase_schedule, playback_underruns


def frames(every_secs: float, frame_secs: float, n: int, start: float = 0.0) -> list[tuple[float, float]]:
    """``n`` audio messages of ``frame_secs`` seconds, one every ``every_secs`` seconds."""
    return [(start + i * every_secs, (i + 1) * frame_secs) for i in range(n)]


def test_no_underrun_when_audio_comes_at_least_in_real_time():
    assert playback_underruns([]).count == 0
    assert playback_underruns(frames(0.08, 0.08, 50), jitter_secs=0.1).count == 0  # exactly 1x
    burst = frames(0.001, 0.08, 30) + frames(0.001, 0.08, 30, start=2.3)  # 2.4 s, then the rest
    burst = [(t, a + (2.4 if i >= 30 else 0.0)) for i, (t, a) in enumerate(burst)]
    assert playback_underruns(burst, jitter_secs=0.1).count == 0


def test_too_slow_schedule_is_flagged_with_the_missing_time():
    # 80 ms of audio every 100 ms: the player (1x) runs dry; by the last message at 1.9 s it
    # has played all 1.52 s received before it, so it stalled 1.9 - 0.1 - 1.52 = 0.28 s.
    slow = playback_underruns(frames(0.1, 0.08, 20), jitter_secs=0.1)
    assert slow.count >= 5
    assert slow.total_secs == pytest.approx(0.28, abs=1e-9)


def test_one_late_sentence_is_one_stall_of_its_lateness():
    late = [(0.0, 0.5), (1.0, 1.0), (1.2, 1.5)]  # plays 0.1..0.6, nothing until 1.0
    u = playback_underruns(late, jitter_secs=0.1)
    assert (u.count, u.total_secs) == (1, pytest.approx(0.4))
    assert playback_underruns(late, jitter_secs=0.5).count == 0  # a bigger buffer rides it out


def test_phrase_schedule_sends_the_whole_answer_in_order():
    for answer in ANSWERS:
        schedule = phrase_schedule(answer, words_per_s=40.0)
        offsets = [t for t, _ in schedule]
        assert offsets == sorted(offsets) and len(schedule) >= 3
        assert schedule[-1][1].endswith("<flush>")
        sent = "".join(text for _, text in schedule).replace(" <flush>", "")
        assert sent.split() == answer.split()


def level(k: int, clean: bool, cpu_secs: float = 1.0, ttfa_secs: float = 0.2) -> Level:
    """K made-up streams of 10 s audio each; one stalls unless ``clean``."""
    streams = [StreamResult(ttfa_secs=ttfa_secs, audio_secs=10.0, stop_s=10.0, eos=True) for _ in range(k)]
    if not clean:
        streams[0].underruns = Underruns(1, 0.3)
    return Level(k, streams, wall_secs=5.0, cpu_secs=cpu_secs)


def test_capacity_is_the_largest_k_clean_in_every_repeat():
    assert capacity([]) == 0
    assert capacity([level(1, True), level(1, True), level(2, True), level(2, False)]) == 1
    assert capacity([level(1, True), level(2, True), level(4, True)]) == 4
    assert capacity([level(1, False)]) == 0


def test_comparison_ladder_stops_at_the_rung_above_the_shipped_capacity():
    ladder = [1, 2, 4, 8, 12, 16]
    assert comparison_ladder(ladder, 4) == [1, 2, 4, 8]
    assert comparison_ladder(ladder, 0) == [1]
    assert comparison_ladder(ladder, 16) == ladder  # nothing above: the whole ladder


def test_records_compare_with_the_onnx_default_server_at_the_k_both_served():
    cost = SingleCost(cpu_rtf=[0.1, 0.1], wall_rtf=[0.1, 0.1])
    shipped = Run("shipped", cost, [level(1, True, ttfa_secs=0.1), level(2, True, cpu_secs=2.0, ttfa_secs=0.3),
                                    level(4, False, cpu_secs=4.0)], ladder=[1, 2, 4, 8])
    old = Run("old", SingleCost([0.15], [0.15]), [level(1, True, ttfa_secs=0.4), level(2, False, cpu_secs=3.0)],
              ladder=[1, 2, 4])
    recs = {r["metric"]: r for r in make_records(shipped, old, load=0.5, quick=False)}
    head = recs["tts_capacity_streams"]
    assert (head["ours_median"], head["stock_median"], head["met"]) == (2, 20, False)  # ideal: 2 cores / 0.1
    assert head["budget_cut"] is False and head["ladder_top"] == 4
    assert recs["tts_capacity_server_cores_at_overload"]["ours_median"] == pytest.approx(0.8)
    vs = recs["tts_capacity_streams_vs_onnx_default"]
    assert (vs["ours_median"], vs["stock_median"]) == (2, 1) and vs["onnx_default_ideal"] == 13
    ttfa = recs["tts_capacity_ttfa_at_capacity_vs_onnx_default"]  # K=1: the old server failed K=2
    assert (ttfa["ours_median"], ttfa["stock_median"]) == (pytest.approx(100), pytest.approx(400))
    loaded = recs["tts_capacity_rtf_cpu_loaded_vs_onnx_default"]  # K=2: the largest both ran
    assert (loaded["ours_median"], loaded["stock_median"]) == (pytest.approx(0.1), pytest.approx(0.15))
    assert recs["tts_capacity_rtf_cpu_vs_onnx_default"]["ratio"] == pytest.approx(0.667, abs=1e-3)
    assert not any(k.endswith("_vs_onnx_default") for k in
                   (r["metric"] for r in make_records(shipped, None, load=0.5, quick=True)))


def test_a_budget_cut_ladder_is_flagged():
    cost = SingleCost([0.1], [0.1])
    assert Run("a", cost, [level(1, True), level(2, True)], ladder=[1, 2, 4]).budget_cut
    assert not Run("b", cost, [level(1, True), level(2, False)], ladder=[1, 2, 4]).budget_cut
    assert not Run("c", cost, [level(1, True), level(2, True)], ladder=[1, 2]).budget_cut


def test_variant_settings_reach_the_child_as_server_settings(tmp_path):
    server = variant_server(tmp_path, 4, ONNX_DEFAULT)
    given = json.loads(server.cmd[server.cmd.index("--settings-json") + 1])
    settings = server_settings(given, 4)
    assert settings.onnx_threads == 0 and settings.max_connections == 8
    assert settings.synthesis_workers == server_settings({}, 4).synthesis_workers  # nothing else changed
    assert str(Variant.of(synthesis_workers=3, onnx_threads=0)) == "onnx_threads=0, synthesis_workers=3"
    with pytest.raises(ValueError, match="no field 'onnx_thread'"):
        variant_server(tmp_path, 4, Variant.of(onnx_thread=0))
    with pytest.raises(ValueError, match="must be int"):
        server_settings({"onnx_threads": "two"}, 4)


def test_cli_rejects_bad_settings_with_one_line(capsys):
    assert main(["--set", "no_such_field=1"]) == 1
    assert main(["--onnx-threads", "-1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "no_such_field" in err[0]


def _check_streams(level: Level) -> None:
    for s in level.streams:
        assert s.error is None and s.eos
        assert s.audio_secs > 1.0  # the short answer is ~2.5 s of speech
        assert s.audio_secs == pytest.approx(s.stop_s, abs=0.01)  # bytes agree with the timeline
        assert 0 < s.ttfa_secs < 30
        assert s.underruns.count >= 0 and s.underruns.total_secs >= 0
        assert (s.underruns.count == 0) == (s.underruns.total_secs == 0)
    assert level.cpu_secs > 0 and level.wall_secs > 0
    assert capacity([level]) == (level.k if level.clean else 0)


async def _serve_level(server, k: int):
    server.start()
    try:
        return await run_level(server.url, server.pid, k, QUICK_ANSWERS)
    finally:
        server.stop()


async def test_two_streams_get_all_their_audio_and_are_accounted(tmp_path):
    lv = await _serve_level(shipped_server(tmp_path, max_streams=2), 2)
    assert len(lv.streams) == 2
    _check_streams(lv)


async def test_the_onnx_default_variant_server_serves_streams(tmp_path):
    lv = await _serve_level(variant_server(tmp_path, 1, ONNX_DEFAULT), 1)
    assert len(lv.streams) == 1
    _check_streams(lv)
