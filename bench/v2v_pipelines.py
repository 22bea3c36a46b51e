"""The two pipelines of the voice-to-voice benchmark, over the WAV transport, sharing servers.

- ``ours``: the product config (``pipelines/file.toml``) built by the registry, with the
  streaming STT and transcript-aware turns (:data:`OURS_SLOTS`), i.e. Silero → streaming
  Whisper → transcript-aware turn end (preemptive LLM) → LLM → PhraseAggregator →
  our GradiumTTSService.
- ``stock``: pipecat 1.14's defaults with the same models: ``VADProcessor(SileroVADAnalyzer())``,
  ``WhisperSTTService`` (tiny.en, default compute type and decoding), the default user-turn
  strategies (VAD start; Smart Turn v3 stop), ``OpenAILLMService``, pipecat's own
  ``GradiumTTSService`` with its default sentence aggregation.

Both talk to one llama.cpp server (SmolLM2, warmed once) and one local Gradium-compatible TTS
server (Piper joe voice), so the models, the machine and the servers are the same.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import load_toml
from pipelines.registry import BuildContext, build_slot, register

FILE_TOML = Path(__file__).resolve().parent.parent / "pipelines" / "file.toml"

OURS_SLOTS: dict[str, dict] = {
    "stt": {"type": "streaming-whisper"},
    "turns": {"type": "transcript-aware"},
}
"""What ours changes in the product config (the TOML sections to switch to)."""

VARIANTS = ("ours", "stock")
EXTRA_VARIANTS: dict[str, dict[str, dict]] = {}
"""Named experiments: slot tables merged over ``ours``'s (``{"ours-w10": {"stt": {...}}}``),
for measuring one change against ``ours`` in the same run (``python -m bench.v2v_stages``)."""
# Answers are cut at this many tokens for both variants: only the start of an answer is
# measured, and the whole answer is heard before the next question (keeps `make bench` short).
BENCH_MAX_TOKENS = 32


@dataclass
class SharedLLMOptions:
    """The benchmark's already running llama.cpp server (both variants use it).

    Parameters:
        base_url: Its ``/v1`` root.
        system_prompt: The assistant's instructions.
        temperature: Sampling temperature.
        max_tokens: Longest answer, in tokens.
    """

    base_url: str
    system_prompt: str = ""
    temperature: float = 0.3
    max_tokens: int = 120


@register("llm", "bench-shared", SharedLLMOptions, "benchmark only: an already running local server")
def _shared_llm(opts: SharedLLMOptions, ctx: BuildContext):
    from pipelines.components.llm import _openai_llm

    return _openai_llm(base_url=opts.base_url, api_key="local-no-key", model="local",
                       system_prompt=opts.system_prompt, temperature=opts.temperature,
                       max_tokens=opts.max_tokens, developer_role=False)


class SharedServers:
    """One llama.cpp server and one local Gradium-compatible TTS server for both variants."""

    def __init__(self, workdir: Path | None = None):
        from runtime.llm_server import LocalLLMServer
        from runtime.tts_server_process import LocalTTSServer

        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="v2v-servers-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        _, tables = load_toml(FILE_TOML)
        self.llm_table = tables["llm"]
        self.tts_table = tables.get("tts", {"type": "gradium"})
        self.llm = LocalLLMServer(log_path=self.workdir / "llm-server.log")
        self.tts = LocalTTSServer(log_path=self.workdir / "tts-server.log")

    @property
    def system_prompt(self) -> str:
        from pipelines.components.llm import DEFAULT_PROMPT

        return self.llm_table.get("system_prompt", DEFAULT_PROMPT)

    def __enter__(self) -> SharedServers:
        self.llm.start()
        try:
            self.tts.start()
        except Exception:
            self.llm.stop()
            raise
        self.warm_llm()
        return self

    def __exit__(self, *exc):
        self.tts.stop()
        self.llm.stop()

    def warm_llm(self) -> None:
        """One short completion with the system prompt: the server's first request is slow."""
        body = json.dumps({
            "model": "local", "max_tokens": 4, "stream": False,
            "messages": [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": "Hello."}],
        }).encode()
        req = urllib.request.Request(f"{self.llm.base_url}/chat/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()

    def llm_slot(self) -> dict:
        keys = ("system_prompt", "temperature")
        return {"type": "bench-shared", "base_url": self.llm.base_url, "max_tokens": BENCH_MAX_TOKENS,
                **{k: v for k, v in self.llm_table.items() if k in keys}}


@dataclass
class Variant:
    """A built pipeline and the parts the benchmark looks into."""

    pipeline: Any
    transport: Any
    stt: Any = None
    turn_strategy: Any = None


def _wav_transport(inputs: list[Path], ctx: BuildContext):
    return build_slot("transport", {
        "type": "wav", "inputs": [str(p) for p in inputs], "output": "bot.wav",
        "realtime": True, "gap_secs": 0.8, "answer_timeout_secs": 30.0,
    }, ctx)


def build_ours(run_dir: Path, inputs: list[Path], servers: SharedServers, extra: dict[str, dict] | None = None):
    """``pipelines/file.toml`` + :data:`OURS_SLOTS` (+ ``extra`` keys per slot), on the shared servers. """
    from pipelines.builder import build_pipeline

    _, tables = load_toml(FILE_TOML)
    slots = dict(OURS_SLOTS)
    for k, v in (extra or {}).items():
        slots[k] = {**slots.get(k, tables.get(k, {})), **v}
    overrides = {
        "transport": {"type": "wav", "inputs": [str(p) for p in inputs], "output": "bot.wav",
                      "realtime": True, "gap_secs": 0.8, "answer_timeout_secs": 30.0},
        **slots,
        "llm": {**servers.llm_slot(), **slots.get("llm", {})},
        "tts": {**servers.tts_table, "url": servers.tts.url} if servers.tts_table.get("type") == "gradium"
        else servers.tts_table,
    }
    built = build_pipeline(FILE_TOML, run_dir, overrides)
    strategies = getattr(built.processors.get("turns"), "user_turn_strategies", None)
    return Variant(built.pipeline, built.transport, stt=built.processors.get("stt"),
                   turn_strategy=(strategies.stop or [None])[0] if strategies else None)


def build_stock(run_dir: Path, inputs: list[Path], servers: SharedServers):
    """pipecat's defaults with the same models, on the shared servers. """
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.services.gradium.tts import GradiumTTSService as StockGradiumTTSService
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.whisper.stt import WhisperSTTService

    from runtime.models import whisper_model_path

    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(config_path=FILE_TOML, run_dir=run_dir)
    transport = _wav_transport(inputs, ctx)
    stt = WhisperSTTService(settings=WhisperSTTService.Settings(model=str(whisper_model_path())))
    llm_opts = servers.llm_slot()
    llm = OpenAILLMService(
        api_key="local-no-key",
        base_url=servers.llm.base_url,
        settings=OpenAILLMService.Settings(
            model="local", system_instruction=llm_opts.get("system_prompt", servers.system_prompt),
            temperature=llm_opts.get("temperature", 0.3), max_tokens=llm_opts.get("max_tokens", 120),
        ),
    )
    tts = StockGradiumTTSService(api_key="local", url=servers.tts.url)
    aggregators = LLMContextAggregatorPair(LLMContext())
    pipeline = Pipeline([
        transport.input(), VADProcessor(vad_analyzer=SileroVADAnalyzer()), stt, aggregators.user(),
        llm, tts, transport.output(), aggregators.assistant(),
    ])
    return Variant(pipeline, transport, stt=stt)


def build_variant(name: str, run_dir: Path, inputs: list[Path], servers: SharedServers) -> Variant:
    """One of :data:`VARIANTS`."""
    if name == "stock":
        return build_stock(run_dir, inputs, servers)
    if name == "ours":
        return build_ours(run_dir, inputs, servers)
    if name in EXTRA_VARIANTS:
        return build_ours(run_dir, inputs, servers, EXTRA_VARIANTS[name])
    raise ValueError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")


async def run_pipeline(variant: Variant, timeout: float = 600.0):
    """Run to the end of the conversation; returns the :class:`~bench.v2v_timeline.Timeline`.

    Our STT's passes and our turn strategy's verdicts are added to it (``stt_pass``,
    ``verdict`` events) for the breakdown.
    """
    import time

    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner

    from bench.v2v_timeline import Event, StageClock, StageObserver
    from processors.streaming_whisper.stt import StreamingWhisperSTTService
    from processors.turns.transcript_aware import TranscriptAwareTurnStopStrategy

    clock = StageClock()
    observer = StageObserver(clock)
    events = observer.timeline.events
    if isinstance(variant.stt, StreamingWhisperSTTService):
        @variant.stt.event_handler("on_pass")
        async def _on_pass(_stt, info):
            events.append(Event(time.monotonic(), "stt_pass", f"{info['kind']} {info['secs']:.3f}s {info['text']}"))
    if isinstance(variant.turn_strategy, TranscriptAwareTurnStopStrategy):
        @variant.turn_strategy.event_handler("on_verdict")
        async def _on_verdict(_strategy, info):
            events.append(Event(time.monotonic(), "verdict", f"{info['decision']} p={info['probability']}"))
    worker = PipelineWorker(
        variant.pipeline,
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000, enable_metrics=True),
        clock=clock,
        observers=[observer],
        idle_timeout_secs=None,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), timeout)
    return observer.timeline
