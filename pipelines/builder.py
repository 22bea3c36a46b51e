"""Turn a pipeline config into a pipecat pipeline.

The shape is the product's: ``input → vad → [interruption] → stt → user context → llm →
[phrase aggregator] → tts → [playback gate] → output → assistant context``; what fills each
slot comes from the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.child_process import ManagedProcess
from runtime.model_cache import ModelCache
from runtime.supervision import SupervisionSettings
from pipelines.config import ConfigError, load_toml, parse_options
from runtime.transcript import TranscriptWriter
from pipelines.registry import BuildContext, build_slot

SLOTS = ("pipeline", "transport", "vad", "interruption", "stt", "turns", "llm", "phrase_aggregator", "tts", "playback", "supervision")


@dataclass
class PipelineOptions:
    """``[pipeline]``: the whole pipeline.

    Parameters:
        name: Shown in logs and run folders.
        description: One line for ``voice-agent run --help``-style listings.
        audio_in_sample_rate: Microphone/VAD/STT rate (Hz).
        audio_out_sample_rate: Speaker rate (Hz); TTS audio is resampled to it.
    """

    name: str = "pipeline"
    description: str = ""
    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000


@dataclass
class BuiltPipeline:
    """A pipeline ready to run, and what must be started/stopped around it."""

    pipeline: Any
    transport: Any
    config_path: Path
    run_dir: Path
    options: PipelineOptions
    context: Any = None
    aggregators: Any = None
    transcript: TranscriptWriter | None = None
    child_processes: list[ManagedProcess] = field(default_factory=list)
    processors: dict[str, Any] = field(default_factory=dict)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)


def supervision_of(config: PipelineConfig) -> SupervisionSettings:
    """``[supervision]``: how the run restarts its child servers (defaults without the table)."""
    return parse_options(SupervisionSettings, config.tables.get("supervision", {}), config.path, "supervision")


def _options_and_context(config: PipelineConfig, run_dir: Path,
                         models: ModelCache | None = None) -> tuple[PipelineOptions, BuildContext]:
    options = parse_options(PipelineOptions, config.tables.get("pipeline", {}), config.path, "pipeline")
    ctx = BuildContext(
        config_path=config.path,
        run_dir=run_dir,
        audio_in_sample_rate=options.audio_in_sample_rate,
        audio_out_sample_rate=options.audio_out_sample_rate,
        models=models,
    )
    return options, ctx


def vad_analyzer_of(vad: Any) -> Any:
    """The analyzer inside a ``[vad]`` slot's processor (``None`` for one without)."""
    controller = getattr(vad, "_vad_controller", None)  # pipecat's VADProcessor keeps it there
    return getattr(controller, "_vad_analyzer", None)


@dataclass
class PipelineConfig:
    """A pipeline config, read once: its file and its tables (with any per-run overrides)."""

    path: Path
    tables: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    def with_overrides(self, overrides: dict[str, dict] | None) -> PipelineConfig:
        """The same config with whole tables replaced by ``overrides``."""
        return PipelineConfig(self.path, {**self.tables, **(overrides or {})})


def load_config(config: str | Path | PipelineConfig, overrides: dict[str, dict] | None = None) -> PipelineConfig:
    """Read a config (a preset name, a path, or one already read) and apply per-slot overrides."""
    if not isinstance(config, PipelineConfig):
        path, tables = load_toml(config)
        for key in tables:
            if key not in SLOTS:
                raise ConfigError(path, key, f"unknown section (valid: {', '.join(SLOTS)})")
        config = PipelineConfig(path, tables)
    return config.with_overrides(overrides)


def build_pipeline(config: str | Path | PipelineConfig, run_dir: Path,
                   overrides: dict[str, dict] | None = None, *, models: ModelCache | None = None) -> BuiltPipeline:
    """Build the pipeline a config describes; nothing is started yet.

    ``models``: models loaded once and shared with other pipelines built with the same cache
    (``voice-agent serve``); without it each build loads its own."""
    import pipelines.components  # noqa: F401  (registers the built-in types)
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

    config = load_config(config, overrides)
    path, tables = config.path, config.tables
    options, ctx = _options_and_context(config, run_dir, models)
    supervision = supervision_of(config)
    if "transport" not in tables:
        raise ConfigError(path, "transport", "required section is missing")
    built: dict[str, Any] = {}
    for slot, default in (
        ("transport", None), ("vad", "silero"), ("interruption", None), ("stt", "whisper"),
        ("turns", "pipecat"), ("llm", "local"), ("phrase_aggregator", None), ("tts", "piper"), ("playback", None),
    ):
        if slot == "interruption":
            # The handler reads the VAD's Silero scores instead of running a second model.
            ctx.vad_analyzer = vad_analyzer_of(built["vad"])
        built[slot] = build_slot(slot, tables.get(slot), ctx, default=default)
    if built["interruption"] is not None:
        from processors.interruption.turns import handler_turn_strategies

        if built["playback"] is None:
            raise ConfigError(path, "playback", 'the interruption handler needs [playback] type = "gate"')
        if built["turns"] is None:
            from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams

            built["turns"] = LLMUserAggregatorParams()
        # Turn starts are the handler's decision (no stock VAD interruption); stops are kept.
        built["turns"].user_turn_strategies = handler_turn_strategies(built["turns"].user_turn_strategies)

    _stream_speculative_answers(built)

    context = LLMContext()
    aggregators = LLMContextAggregatorPair(context, user_params=built["turns"])
    strategies = getattr(built["turns"], "user_turn_strategies", None)
    for strategy in getattr(strategies, "stop", None) or []:
        if hasattr(strategy, "attach_aggregator"):  # turn merging rewrites the user turn
            strategy.attach_aggregator(aggregators.user())
    transport = built["transport"]
    run_dir.mkdir(parents=True, exist_ok=True)
    transcript = TranscriptWriter(run_dir / "transcript.jsonl")
    transcript.attach(aggregators)

    steps = [
        transport.input(),
        built["vad"],
        built["interruption"],
        built["stt"],
        aggregators.user(),
        built["llm"],
        built["phrase_aggregator"],
        built["tts"],
        built["playback"],
        transport.output(),
        aggregators.assistant(),
    ]
    return BuiltPipeline(
        pipeline=Pipeline([s for s in steps if s is not None]),
        transport=transport,
        context=context,
        aggregators=aggregators,
        transcript=transcript,
        config_path=path,
        run_dir=run_dir,
        options=options,
        child_processes=ctx.child_processes,
        processors={k: v for k, v in built.items() if v is not None},
        supervision=supervision,
    )


def _stream_speculative_answers(built: dict[str, Any]) -> None:
    """A playback gate that holds answers started in the user's turn lets the LLM stream its
    speculative answer, so the TTS synthesizes it while the turn is still open."""
    from processors.playback.gate import PlaybackGate
    from processors.playback.speculation import stream_speculative_answers

    gate = built["playback"]
    if isinstance(gate, PlaybackGate) and gate.settings.hold_in_user_turn and built["llm"] is not None:
        stream_speculative_answers(built["llm"])


def build_tts_pipeline(config: str | Path | PipelineConfig, run_dir: Path, *, after_tts: Sequence[Any] = (),
                       to_speaker: bool = False) -> BuiltPipeline:
    """The config's ``[tts]`` alone (for ``voice-agent say``): ``tts → after_tts → [speaker]``."""
    import pipelines.components  # noqa: F401
    from pipecat.pipeline.pipeline import Pipeline

    config = load_config(config)
    options, ctx = _options_and_context(config, run_dir)
    tts = build_slot("tts", config.tables.get("tts"), ctx, default="piper")
    transport = build_slot("transport", {"type": "local", "echo_cancellation": False}, ctx) if to_speaker else None
    steps = [tts, *after_tts, transport.output() if transport else None]
    return BuiltPipeline(
        pipeline=Pipeline([s for s in steps if s is not None]),
        transport=transport,
        config_path=config.path,
        run_dir=run_dir,
        options=options,
        child_processes=ctx.child_processes,
        processors={"tts": tts},
    )
