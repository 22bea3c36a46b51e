"""``TextEndModel`` on the bundled SmolLM2-135M: complete-sounding first halves read as going
on, whole sentences as ended; the turns slot wires it in."""

from __future__ import annotations

import pytest

from processors.turns.text_end import TextEndModel


@pytest.fixture(scope="module")
def model() -> TextEndModel:
    from runtime.models import smollm2_gguf_path

    return TextEndModel(smollm2_gguf_path())


@pytest.mark.parametrize("half, whole", [
    ("I'd like to book a table.", "I'd like to book a table for two people."),
    ("Can you tell me the way?", "Can you tell me the way to the nearest train station?"),
    ("I was wondering.", "I was wondering whether you could help me with my homework."),
    ("I need a recipe.", "I need a recipe that uses chicken and rice."),
])
def test_a_first_half_reads_as_going_on_and_the_whole_sentence_as_ended(model, half, whole):
    from processors.turns.transcript_aware import TranscriptAwareTurnSettings

    s = TranscriptAwareTurnSettings()
    p_half, p_whole = model.end_probability(half), model.end_probability(whole)
    assert p_half < s.continues_probability < s.text_end_probability <= p_whole, (p_half, p_whole)


def test_trailing_punctuation_is_ignored_and_results_are_cached(model):
    p = model.end_probability("What is the capital of France?")
    assert p > 0.5
    assert model.cached_probability("What is the capital of France") == p  # Whisper's '?' or not
    assert model.cached_probability("Something never read before") is None
    assert model.end_probability("  ...") == 0.0


def test_the_turns_slot_reads_the_transcript_with_the_text_model_unless_turned_off(tmp_path):
    import pipelines.components  # noqa: F401  (registers the types)
    from pipelines.registry import BuildContext, build_slot
    from runtime.model_cache import ModelCache

    ctx = BuildContext(config_path=tmp_path / "x.toml", run_dir=tmp_path, models=ModelCache())
    (on,) = build_slot("turns", {"type": "transcript-aware"}, ctx).user_turn_strategies.stop
    (again,) = build_slot("turns", {"type": "transcript-aware"}, ctx).user_turn_strategies.stop
    (off,) = build_slot("turns", {"type": "transcript-aware", "text_end_model": False}, ctx).user_turn_strategies.stop
    assert isinstance(on._text_model, TextEndModel) and again._text_model is on._text_model  # loaded once
    assert off._text_model is None
