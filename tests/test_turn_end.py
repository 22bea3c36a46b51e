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
def test_turn_decision(probability, text, decision):
    got, wait = turn_decision(probability, text, S)
    assert got == decision
    assert wait == {"end": S.complete_silence_secs, "uncertain": S.uncertain_silence_secs,
                    "incomplete": S.incomplete_silence_secs}[got]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="within 0..1"):
        TranscriptAwareTurnSettings(complete_probability=1.5)
    with pytest.raises(ValueError, match="uncertain_silence_secs"):
        TranscriptAwareTurnSettings(uncertain_silence_secs=3.0, incomplete_silence_secs=2.0)
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
