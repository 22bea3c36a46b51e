"""The end-of-turn rule: transcript endings and the decision table (pure functions)."""

from __future__ import annotations

import pytest

from processors.turns.text_rules import text_completeness
from processors.turns.transcript_aware import TranscriptAwareTurnSettings, turn_decision


@pytest.mark.parametrize("text, expected", [
    ("What is the capital of France?", "complete"),
    ("Give me a quick tip for sleeping better.", "complete"),
    ("Where are you from?", "complete"),            # a preposition may end a question
    ("I'd like to book a table for", "incomplete"),
    ("I went to.", "incomplete"),                   # ... but not a statement
    ("I need a recipe that uses chicken and", "incomplete"),
    ("Can you tell me how to get to the...", "incomplete"),
    ("My favorite color is blue,", "incomplete"),
    ("My f-", "incomplete"),
    ("I'd like.", "incomplete"),
    ("What is the best", "unknown"),
    ("", "incomplete"),
    ("Um", "incomplete"),
])
def test_text_completeness(text, expected):
    assert text_completeness(text) == expected


S = TranscriptAwareTurnSettings()


@pytest.mark.parametrize("probability, text, decision", [
    (0.98, "Why is the sky blue?", "end"),
    (0.6, "How many minutes should I boil an egg?", "end"),        # a question needs >= 0.5
    (0.3, "Can you recommend a good book for a long flight?", "uncertain"),
    (0.97, "Give me a quick tip for sleeping better.", "end"),       # a statement needs >= 0.95
    (0.90, "I'd like to book a table.", "uncertain"),               # the mid-sentence pause
    (0.99, "I need a recipe that uses chicken and", "incomplete"),  # text wins over audio
    (0.3, "What is the best", "incomplete"),
    (0.8, "What is the best", "uncertain"),
])
def test_turn_decision_without_a_text_model(probability, text, decision):
    got, wait = turn_decision(probability, text, S)
    assert got == decision
    # Smart Turn alone cannot tell a complete-sounding half from an end: only the long wait.
    assert wait == (S.incomplete_silence_secs if got == "incomplete" else S.no_text_model_silence_secs)


_WAITS = {"end": S.complete_silence_secs, "uncertain": S.uncertain_silence_secs,
          "continues": S.continues_silence_secs, "incomplete": S.incomplete_silence_secs}


@pytest.mark.parametrize("probability, text, text_end, decision", [
    (0.97, "Give me a quick tip for sleeping better.", 0.3, "end"),
    (0.17, "The pencils have all been used.", 0.14, "end"),          # Smart Turn unsure, text ended
    (0.05, "That is to say much of political philosophy.", 0.37, "uncertain"),  # Smart Turn vetoes
    (0.96, "I'd like to book a table.", 0.001, "continues"),         # the language model expects more
    (0.96, "Can you tell me the way?", 0.005, "continues"),
    (0.95, "Can pair's lackful flavor.", 0.036, "uncertain"),       # neither sure
    (0.99, "I need a recipe that uses chicken and", 0.5, "incomplete"),  # a dangling word wins
    (0.3, "What is the best", 0.05, "incomplete"),
    (0.3, "What is the best", 0.01, "incomplete"),                  # a surer "goes on" never waits less
    (0.8, "What is the best", 0.05, "uncertain"),
    (0.8, "What is the best", 0.01, "continues"),
])
def test_turn_decision_with_the_text_end_probability(probability, text, text_end, decision):
    got, wait = turn_decision(probability, text, S, text_end)
    assert got == decision
    assert wait == _WAITS[got]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="within 0..1"):
        TranscriptAwareTurnSettings(complete_probability=1.5)
    with pytest.raises(ValueError, match="within 0..1"):
        TranscriptAwareTurnSettings(text_end_probability=-0.1)
    with pytest.raises(ValueError, match="uncertain_silence_secs"):
        TranscriptAwareTurnSettings(uncertain_silence_secs=3.0, incomplete_silence_secs=2.0)
    with pytest.raises(ValueError, match="continues_silence_secs"):
        TranscriptAwareTurnSettings(continues_silence_secs=0)
    with pytest.raises(ValueError, match="continues_probability <= text_end_probability"):
        TranscriptAwareTurnSettings(continues_probability=0.2, text_end_probability=0.1)
    with pytest.raises(ValueError, match="complete_silence_secs"):
        TranscriptAwareTurnSettings(complete_silence_secs=2.5, incomplete_silence_secs=2.0)


def test_turns_component_is_registered_and_validates(tmp_path):
    import pipelines.components  # noqa: F401  (registers the types)
    from pipelines.config import ConfigError
    from pipelines.registry import BuildContext, build_slot
    from processors.turns.transcript_aware import TranscriptAwareTurnStopStrategy

    ctx = BuildContext(config_path=tmp_path / "x.toml", run_dir=tmp_path)
    params = build_slot("turns", {"type": "transcript-aware", "uncertain_silence_secs": 0.8}, ctx)
    (strategy,) = params.user_turn_strategies.stop
    assert isinstance(strategy, TranscriptAwareTurnStopStrategy)
    assert strategy.settings.uncertain_silence_secs == 0.8
    with pytest.raises(ConfigError, match="uncertain_silence_secs"):
        build_slot("turns", {"type": "transcript-aware", "uncertain_silence_secs": 5.0}, ctx)


def test_stt_component_is_registered_and_validates(tmp_path):
    import pipelines.components  # noqa: F401  (registers the types)
    from pipelines.config import ConfigError
    from pipelines.registry import BuildContext, build_slot

    ctx = BuildContext(config_path=tmp_path / "x.toml", run_dir=tmp_path)
    with pytest.raises(ConfigError, match="beam_size"):
        build_slot("stt", {"type": "streaming-whisper", "beam_size": 0}, ctx)
    with pytest.raises(ConfigError, match="model folder not found"):
        build_slot("stt", {"type": "streaming-whisper", "model": str(tmp_path / "nope")}, ctx)
