"""The phrase bench's harness (bench/phrase_aggregator_bench.py), not its timing: a tiny token
stream through the three real pipelines and the in-process local Gradium-compatible server."""

from __future__ import annotations

import json

import pytest

from bench import phrase_aggregator_bench as bench

SENTENCE_1 = "Well, the quick brown fox jumps over the lazy dog today."
SENTENCE_2 = "Then it runs away."
WORDS = (SENTENCE_1 + " " + SENTENCE_2).split(" ")
TOKENS = [[0.01 * i, ("" if i == 0 else " ") + w] for i, w in enumerate(WORDS)]


@pytest.fixture(scope="module")
def results() -> dict[str, list[bench.AnswerResult]]:
    import asyncio

    return asyncio.run(bench.run_all([{"tokens": TOKENS}]))


def test_every_variant_gets_audio_after_its_first_text(results):
    for variant in bench.VARIANTS:
        (answer,) = results[variant]
        assert 0 <= answer.first_text_secs < answer.first_audio_secs < 10, variant
        assert answer.server_text_to_audio_secs is not None and answer.server_text_to_audio_secs > 0


def test_each_variant_chunks_text_its_own_way(results):
    ours, sentence, token = (results[v][0] for v in bench.VARIANTS)
    # Ours speaks an early first phrase; stock SENTENCE waits for the whole first sentence.
    assert SENTENCE_1.startswith(ours.texts[0]) and len(ours.texts[0]) < len(SENTENCE_1)
    assert sentence.texts[0] == SENTENCE_1
    assert "".join(sentence.texts).replace(" ", "") == "".join(WORDS)
    # TOKEN mode hands every token to the TTS as it comes.
    assert token.chunks == len(TOKENS)
    assert ours.chunks > sentence.chunks == 2


def test_records_from_the_run(results):
    records = {r["metric"]: r for r in bench.make_records(results)}
    head = records["first_token_to_first_audio"]
    assert head["target"] == bench.TARGET_RATIO and head["baseline"] == "stock GradiumTTSService, SENTENCE"
    assert head["runs"] == 1 and head["ours_min"] == head["ours_max"] == head["ours_median"] > 0
    assert head["met"] is (head["ratio"] <= bench.TARGET_RATIO)
    assert records["first_token_to_first_audio_vs_token"]["target"] is None
    assert records["tts_text_chunks_per_answer_vs_token"]["stock_median"] == len(TOKENS)


def test_uses_the_shipped_phrase_settings():
    from pipelines.config import load_toml

    settings, tts = bench.product_settings()
    _, tables = load_toml("file")
    for key, value in tables["phrase_aggregator"].items():
        if key != "type":
            assert getattr(settings, key) == value
    assert tts["type"] == "gradium"


def test_bad_token_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "streams.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read token streams"):
        bench.main(["--data", str(bad)])


def test_empty_streams_are_dropped(tmp_path):
    path = tmp_path / "streams.json"
    path.write_text(json.dumps({"streams": [{"tokens": []}, {"tokens": TOKENS}]}))
    assert bench.load_streams(path) == [{"tokens": TOKENS}]
