"""Config files: errors name the file and the key; ``${VAR}`` interpolation; slot swapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import ConfigError, load_toml
from pipelines.builder import build_pipeline, load_config

MINIMAL = """
[transport]
type = "wav"
inputs = []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key, words",
    [
        (MINIMAL + '[stt]\ntype = "whisper"\nbeam_sise = 1\n', "stt.beam_sise", "unknown key"),
        (MINIMAL + '[stt]\ntype = "whisper"\ncompute_type = 8\n', "stt.compute_type", "expected str"),
        (MINIMAL + '[vad]\ntype = "silero"\nstop_secs = "fast"\n', "vad.stop_secs", "expected float"),
        (MINIMAL + '[tts]\ntype = "espeak"\n', "tts.type", "unknown tts type 'espeak'"),
        (MINIMAL + '[turns]\nstop = "never"\n', "turns.stop", "must be one of"),
        (MINIMAL + '[tts]\ntype = "nosuchmodule:Thing"\n', "tts.type", "cannot import"),
        (MINIMAL + "[speaker]\nvolume = 3\n", "speaker", "unknown section"),
        ('[pipeline]\nname = "x"\n', "transport", "required section"),
        (MINIMAL + '[transport]\ntype = "wav"\n', "", "invalid TOML"),
        (MINIMAL.replace("inputs = []", 'inputs = ["missing.wav"]'), "transport.inputs[0]", "file not found"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        build_pipeline(path, tmp_path / "run")
    message = str(err.value)
    assert str(path) in message
    assert err.value.key == key
    assert words in message
    assert "\n" not in message.strip()


def test_unknown_pipeline_name_lists_known_ones():
    with pytest.raises(ConfigError) as err:
        load_toml("no-such-pipeline")
    assert "laptop" in str(err.value) and "file" in str(err.value)


def test_env_interpolation_with_default_and_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VA_MODEL", "from-env")
    monkeypatch.delenv("VA_UNSET", raising=False)
    (tmp_path / ".env").write_text("VA_DOTENV=from-dotenv\n")
    path = write(tmp_path, MINIMAL + '[llm]\ntype = "openai"\nmodel = "${VA_MODEL}"\n'
                 'base_url = "${VA_UNSET:-http://x}"\nsystem_prompt = "${VA_DOTENV}"\n')
    tables = load_config(path).tables
    assert tables["llm"] == {
        "type": "openai", "model": "from-env", "base_url": "http://x", "system_prompt": "from-dotenv",
    }


def test_missing_env_var_names_variable_and_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VA_NOPE", raising=False)
    path = write(tmp_path, MINIMAL + '[llm]\ntype = "openai"\nmodel = "${VA_NOPE}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "llm.model" and "VA_NOPE" in str(err.value)


def test_missing_cloud_key_says_which_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = write(tmp_path, MINIMAL + '[llm]\ntype = "openai"\n')
    with pytest.raises(ConfigError) as err:
        build_pipeline(path, tmp_path / "run")
    assert "OPENAI_API_KEY" in str(err.value) and "laptop" in str(err.value)


def test_slot_swaps_by_config_only(tmp_path):
    """A processor named by import path replaces a built-in one, with its keys as arguments."""
    path = write(tmp_path, MINIMAL + '[vad]\ntype = "pipecat.processors.frame_processor:FrameProcessor"\nname = "my-vad"\n'
                 '[llm]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "HOME"\n')
    built = build_pipeline(path, tmp_path / "run")
    names = [p.name for p in built.pipeline.processors]
    assert "my-vad" in names
    assert not built.child_processes  # the cloud LLM needs no local server


def test_shipped_pipelines_build(tmp_path):
    for name in ("file", "laptop"):
        overrides = {"transport": {"type": "wav", "inputs": []}} if name == "laptop" else None
        built = build_pipeline(name, tmp_path / name, overrides)
        kinds = [type(p).__name__ for p in built.pipeline.processors]
        for kind in ("VADProcessor", "StreamingWhisperSTTService", "LlamaCppLLMService", "PhraseAggregator", "GradiumTTSService"):
            assert kind in kinds
        assert kinds.index("LlamaCppLLMService") < kinds.index("PhraseAggregator") < kinds.index("GradiumTTSService")
        assert sorted(c.name for c in built.child_processes) == ["llm-server", "tts-server"]


def test_every_shipped_config_parses():
    from pipelines.config import PIPELINES_DIR

    for path in PIPELINES_DIR.glob("*.toml"):
        tables = load_config(path).tables
        assert "transport" in tables and "llm" in tables, path


def test_a_module_class_path_from_the_flat_layout_still_resolves(tmp_path):
    path = write(tmp_path, MINIMAL + '[phrase_aggregator]\ntype = "processors.phrase_aggregator:PhraseAggregator"\n')
    from processors import PhraseAggregator

    built = build_pipeline(path, tmp_path / "run")
    assert isinstance(built.processors["phrase_aggregator"], PhraseAggregator)


def test_a_module_class_path_that_never_existed_names_the_key(tmp_path):
    path = write(tmp_path, MINIMAL + '[phrase_aggregator]\ntype = "processors.nowhere:Nothing"\n')
    with pytest.raises(ConfigError) as err:
        build_pipeline(path, tmp_path / "run")
    assert err.value.key == "phrase_aggregator.type" and "processors.nowhere:Nothing" in str(err.value)
