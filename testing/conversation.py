"""A spoken conversation through the product's builder over WAV files, and what it sounded like.

:func:`build_conversation` builds the product pipeline (``pipelines.builder``) from tables:
WAV transport, Silero VAD, stock Whisper, an OpenAI-compatible LLM at ``llm_base_url`` (a
:class:`testing.fake_openai_server.FakeOpenAIServer`), Piper; ``variant="handler"`` adds the
``InterruptionHandler`` and ``PlaybackGate``, ``"stock"`` uses pipecat's own VAD-start
interruptions. :func:`measure_barge_in` reads onset → silence and stale audio off what played.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUDIBLE_PEAK = 200  # a played chunk this loud is the bot being heard
GAP_SECS = 0.15  # silence this long ends "the bot still talking"
SYSTEM_PROMPT = "You are a friendly voice assistant."


@dataclass
class Conversation:
    """A built conversation: the pipeline, its parts, and the turns as they close."""

    built: Any
    turns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pipeline(self):
        return self.built.pipeline

    @property
    def transport(self):
        return self.built.transport

    @property
    def context(self):
        return self.built.context

    @property
    def handler(self):
        return self.built.processors.get("interruption")

    @property
    def gate(self):
        return self.built.processors.get("playback")

    @property
    def run_dir(self) -> Path:
        return self.built.run_dir


def conversation_tables(utterances: list, *, llm_base_url: str, variant: str = "handler", echo_gain: float = 0.0,
                        echo_delay_secs: float = 0.06, echo_cancellation: bool = False,
                        interruption: dict | None = None, turn_stop_secs: float = 0.6) -> dict[str, dict]:
    """The config tables of a barge-in conversation (see the module docstring)."""
    if variant not in ("handler", "stock"):
        raise ValueError(f"variant must be 'handler' or 'stock', got {variant!r}")
    tables: dict[str, dict] = {
        "pipeline": {"name": f"conversation-{variant}", "audio_in_sample_rate": 16000, "audio_out_sample_rate": 24000},
        "transport": {
            "type": "wav", "inputs": [u.model_dump(mode="json", exclude_none=True) for u in utterances],
            "realtime": True, "gap_secs": 0.5, "answer_timeout_secs": 30.0, "end_grace_secs": 1.0,
            "echo_gain": echo_gain, "echo_delay_secs": echo_delay_secs, "echo_cancellation": echo_cancellation,
        },
        "vad": {"type": "silero"},
        "stt": {"type": "whisper"},
        "turns": {"type": "pipecat", "stop": "speech-timeout", "speech_timeout_secs": turn_stop_secs},
        "llm": {"type": "openai", "base_url": llm_base_url, "model": "scripted", "system_prompt": SYSTEM_PROMPT,
                "temperature": 0.0, "max_tokens": 200},
        "tts": {"type": "piper"},
    }
    if variant == "handler":
        tables["interruption"] = {"type": "handler", **(interruption or {})}
        tables["playback"] = {"type": "gate"}
    return tables


def build_conversation(run_dir: Path, utterances: list, **options) -> Conversation:
    """Build (not start) the conversation; ``options`` as :func:`conversation_tables`."""
    from pipelines.builder import PipelineConfig, build_pipeline

    run_dir.mkdir(parents=True, exist_ok=True)
    config = PipelineConfig(run_dir / "conversation.toml", conversation_tables(utterances, **options))
    conv = Conversation(build_pipeline(config, run_dir))
    aggregators = conv.built.aggregators

    @aggregators.assistant().event_handler("on_assistant_turn_stopped")
    async def _assistant(_agg, message):
        conv.turns.append(("assistant" + (" (interrupted)" if message.interrupted else ""), message.content))

    @aggregators.user().event_handler("on_user_turn_stopped")
    async def _user(_agg, _strategy, message):
        conv.turns.append(("user", message.content or ""))

    return conv


async def run_conversation(conv: Conversation, timeout: float = 240.0) -> None:
    """Run the conversation to its end (the WAV transport ends it after the last answer)."""
    from runtime.pipeline_runner import run_pipeline

    try:
        await run_pipeline(conv.pipeline, timeout=timeout)
    finally:
        conv.built.transcript.close()


@dataclass
class BargeIn:
    """One barge-in as heard: was the bot talking, when it fell silent, stale audio after."""

    onset: float
    speech_end: float
    bot_audible: bool
    silent_at: float | None = None
    stale_ms: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        return None if self.silent_at is None else (self.silent_at - self.onset) * 1000


def audible(played) -> list[tuple[float, float]]:
    """The ``(start, end)`` of played chunks loud enough to be heard."""
    return sorted((s, e) for s, e, peak in played if peak >= AUDIBLE_PEAK)


def measure_barge_in(played, onset: float, speech_end: float, *, next_answer_after: float = 0.3) -> BargeIn:
    """How long the bot was still heard after ``onset``, and what of it came back later.

    The bot counts as talking at the onset if it was heard within ``GAP_SECS`` before it.
    Audio heard after it fell silent and before ``speech_end + next_answer_after`` (too early
    to be the answer to this speech) is stale: the interrupted answer coming back.
    """
    chunks = audible(played)
    before = [e for s, e in chunks if s <= onset]
    talking = bool(before) and max(before) >= onset - GAP_SECS
    result = BargeIn(onset=onset, speech_end=speech_end, bot_audible=talking)
    if not talking:
        return result
    silent_at = onset
    for s, e in chunks:
        if e <= onset:
            continue
        if s > silent_at + GAP_SECS:
            break
        silent_at = max(silent_at, e)
    result.silent_at = silent_at
    window_end = speech_end + next_answer_after
    result.stale_ms = sum(max(0.0, min(e, window_end) - max(s, silent_at)) for s, e in chunks if s > silent_at) * 1000
    return result


def underrun_ms(played) -> float:
    """Gaps shorter than a pause inside the bot's speech (the output ran dry mid-answer)."""
    chunks = sorted((s, e) for s, e, _ in played)
    gaps = [b[0] - a[1] for a, b in zip(chunks, chunks[1:])]
    return sum(g for g in gaps if 0.002 < g < GAP_SECS) * 1000
