"""Barge-in benchmark: speech onset → output silent, ours vs stock pipecat, in the same run.

Both variants run the same pipeline over the WAV transport (Silero VAD, Whisper, an
OpenAI-compatible scripted LLM on 127.0.0.1 with fixed long answers, Piper, WAV out); the user
(Piper speech) barges in at known times into each answer. ``handler`` adds the
InterruptionHandler and PlaybackGate; ``stock`` uses pipecat's default VAD/turn start
strategies (interrupt on the VAD's start). Prints per-barge-in latencies, medians, the ratio
and stale audio (the interrupted answer heard after the output fell silent).

    .venv/bin/python -m bench.interruption_bench [--barge-ins 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from loguru import logger

from bench.records import record

AUDIBLE_PEAK = 200  # a played chunk this loud is the bot being heard
GAP_SECS = 0.15  # silence this long ends "the bot still talking"
SYSTEM_PROMPT = "You are a friendly voice assistant."


# -- a scripted OpenAI-compatible LLM -------------------------------------------------------


@dataclass
class ScriptedAnswer:
    """One streamed answer: first word after ``ttft_secs``, then one word every ``word_secs``.

    ``when``: given to a request whose last user message contains this word (any case);
    answers without it are given in order to the other requests.
    """

    text: str
    ttft_secs: float = 0.2
    word_secs: float = 0.08
    when: str | None = None


@dataclass
class LLMRequest:
    messages: list[dict]
    answer: ScriptedAnswer
    words_sent: int = 0
    completed: bool = False


class ScriptedLLMServer:
    """``/v1/chat/completions`` (streamed) on 127.0.0.1, answering from a script."""

    def __init__(self, answers: list[ScriptedAnswer]):
        self.answers = answers
        self.requests: list[LLMRequest] = []
        self._in_order = [a for a in answers if a.when is None]
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> ScriptedLLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc):
        if self._runner:
            await self._runner.cleanup()

    def _pick(self, messages: list[dict]) -> ScriptedAnswer:
        last = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
        for answer in self.answers:
            if answer.when and answer.when.lower() in last.lower():
                return answer
        return self._in_order.pop(0) if self._in_order else ScriptedAnswer("That is all I know.")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        n = len(self.requests)
        answer = self._pick(body.get("messages", []))
        record = LLMRequest(messages=body.get("messages", []), answer=answer)
        self.requests.append(record)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict, finish: str | None = None):
            chunk = {"id": f"scripted-{n}", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": "scripted", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        try:
            await send({"role": "assistant", "content": ""})
            await asyncio.sleep(answer.ttft_secs)
            for i, word in enumerate(answer.text.split()):
                await send({"content": (" " if i else "") + word})
                record.words_sent += 1
                await asyncio.sleep(answer.word_secs)
            await send({}, "stop")
            await response.write(b"data: [DONE]\n\n")
            record.completed = True
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client cancelled the answer (an interruption)
        return response


# -- the pipeline -----------------------------------------------------------------------------


@dataclass
class Conversation:
    pipeline: object
    transport: object
    context: object
    handler: object | None = None
    gate: object | None = None
    run_dir: Path | None = None
    turns: list[tuple[str, str]] = field(default_factory=list)


def build_conversation(
    run_dir: Path,
    utterances: list,
    *,
    llm_base_url: str,
    variant: str = "handler",
    echo_gain: float = 0.0,
    echo_delay_secs: float = 0.06,
    echo_cancellation: bool = False,
    interruption: dict | None = None,
    turn_stop_secs: float = 0.6,
) -> Conversation:
    """The product's pipeline (builder order) over WAV files; ``variant`` ``handler`` or ``stock``."""
    import pipelines.components  # noqa: F401
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from runtime.transports.wav_file import WavFileParams, WavFileTransport
    from pipelines.components import interruption as barge_in
    from processors.interruption.turns import handler_turn_strategies
    from pipelines.components.llm import _openai_llm
    from pipelines.registry import BuildContext, build_slot

    if variant not in ("handler", "stock"):
        raise ValueError(f"variant must be 'handler' or 'stock', got {variant!r}")
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = BuildContext(config_path=run_dir / "bench.toml", run_dir=run_dir)
    in_filter, out_filter = barge_in.echo_cancel_filters(echo_cancellation)
    transport = WavFileTransport(WavFileParams(
        audio_in_enabled=True, audio_out_enabled=True, audio_in_sample_rate=16000, audio_out_sample_rate=24000,
        inputs=utterances, output_path=run_dir / "bot.wav", realtime=True, gap_secs=0.5,
        answer_timeout_secs=30.0, end_grace_secs=1.0, echo_gain=echo_gain, echo_delay_secs=echo_delay_secs,
        audio_in_filter=in_filter, audio_out_filter=out_filter,
    ))
    strategies = UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=turn_stop_secs)])
    vad = build_slot("vad", {"type": "silero"}, ctx)  # first: the handler reads its scores
    handler = gate = None
    if variant == "handler":
        handler = build_slot("interruption", {"type": "handler", **(interruption or {})}, ctx)
        gate = build_slot("playback", {"type": "gate"}, ctx)
        strategies = handler_turn_strategies(strategies)
    context = LLMContext()
    aggregators = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(user_turn_strategies=strategies))
    llm = _openai_llm(base_url=llm_base_url, api_key="scripted", model="scripted", system_prompt=SYSTEM_PROMPT,
                      temperature=0.0, max_tokens=200)
    steps = [
        transport.input(),
        vad,
        handler,
        build_slot("stt", {"type": "whisper"}, ctx),
        aggregators.user(),
        llm,
        build_slot("tts", {"type": "piper"}, ctx),
        gate,
        transport.output(),
        aggregators.assistant(),
    ]
    conv = Conversation(Pipeline([s for s in steps if s is not None]), transport, context, handler, gate, run_dir)

    @aggregators.assistant().event_handler("on_assistant_turn_stopped")
    async def _assistant(_agg, message):
        conv.turns.append(("assistant" + (" (interrupted)" if message.interrupted else ""), message.content))

    @aggregators.user().event_handler("on_user_turn_stopped")
    async def _user(_agg, _strategy, message):
        conv.turns.append(("user", message.content or ""))

    return conv


async def run_conversation(conv: Conversation, timeout: float = 240.0):
    from runtime.pipeline_runner import run_pipeline

    await run_pipeline(conv.pipeline, timeout=timeout)


# -- measurements ---------------------------------------------------------------------------


@dataclass
class BargeIn:
    onset: float
    speech_end: float
    bot_audible: bool
    silent_at: float | None = None
    stale_ms: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        return None if self.silent_at is None else (self.silent_at - self.onset) * 1000


def audible(played) -> list[tuple[float, float]]:
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


# -- the benchmark --------------------------------------------------------------------------

LONG_ANSWER = (
    "The ocean covers most of our planet and holds a huge variety of life, from tiny plankton "
    "drifting near the surface to giant whales that travel thousands of miles every year, and "
    "scientists believe that most of the deep sea has still never been explored by anyone."
)
BARGE_INS = [
    "Wait, tell me about mountains instead.",
    "Hold on, what about the rivers?",
    "Sorry, can you talk about forests?",
    "Actually, tell me about the deserts.",
    "Stop, what about the polar ice?",
    "Wait a moment, what about volcanoes?",
    "Hang on, tell me about the islands.",
    "Excuse me, what about the sky?",
]


async def bench_variant(variant: str, barge_ins: int, workdir: Path, offsets: list[float]) -> list[BargeIn]:
    from runtime.speech import speak_to_wav
    from runtime.transports.wav_file import UserUtterance

    folder = workdir / "speech"
    question = speak_to_wav("Tell me about the ocean.", folder / "q.wav")
    utterances = [UserUtterance(path=question)]
    for i in range(barge_ins):
        wav = speak_to_wav(BARGE_INS[i % len(BARGE_INS)], folder / f"b{i}.wav")
        utterances.append(UserUtterance(path=wav, bot_started_secs=offsets[i % len(offsets)]))
    answers = [ScriptedAnswer(LONG_ANSWER) for _ in range(barge_ins + 1)]
    async with ScriptedLLMServer(answers) as llm:
        conv = build_conversation(workdir / variant, utterances, llm_base_url=llm.base_url, variant=variant)
        await run_conversation(conv)
    said = conv.transport.input().said
    played = conv.transport.output().played
    results = [measure_barge_in(played, s.speech_onset, s.end) for s in said[1:]]
    if conv.gate is not None:
        s = conv.gate.stats
        print(f"  gate: dropped {s.dropped_ms:.0f} ms buffered on interruptions, {s.late_dropped_ms:.0f} ms arriving "
              f"after them; {s.pauses} pauses; output underruns {underrun_ms(played):.0f} ms")
    if conv.handler is not None and logger_level() == "DEBUG":
        t0 = said[0].start
        print("  said at", ", ".join(f"{s.speech_onset - t0:.2f}-{s.end - t0:.2f}" for s in said))
        for r in conv.handler.records:
            s = min(said, key=lambda u: abs(u.speech_onset - r.onset_at))
            print(f"  episode at {r.onset_at - t0:.2f}: detected {(r.onset_at - s.speech_onset) * 1000:+.0f} ms, "
                  f"paused {(r.paused_at - s.speech_onset) * 1000:+.0f}, reported silent "
                  f"{((r.output_silent_at or 0) - s.speech_onset) * 1000:+.0f}, {r.reason} {r.words}")
        print(f"  underruns: {underrun_ms(played):.0f} ms; gate {conv.gate.stats}")
    return results


_LEVEL = "WARNING"


def logger_level() -> str:
    return _LEVEL


def summarize(name: str, results: list[BargeIn]) -> float | None:
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    stale = sum(r.stale_ms for r in results)
    shown = ", ".join(f"{x:.0f}" for x in latencies)
    median = statistics.median(latencies) if latencies else None
    print(f"{name:8s} onset→silent ms: [{shown}]  median {median if median is None else f'{median:.0f}'}"
          f"  stale audio {stale:.0f} ms  ({len(latencies)}/{len(results)} barge-ins over audible bot)")
    return median


async def main_async(barge_ins: int) -> dict[str, list[BargeIn]]:
    offsets = [1.2, 1.7, 2.3, 1.45, 2.0, 2.6]
    with tempfile.TemporaryDirectory(prefix="interruption-bench-") as tmp:
        results = {}
        for variant in ("handler", "stock"):
            results[variant] = await bench_variant(variant, barge_ins, Path(tmp), offsets)
    print()
    ours = summarize("handler", results["handler"])
    stock = summarize("stock", results["stock"])
    if ours is not None and stock:
        print(f"ratio handler/stock (median): {ours / stock:.2f}  (target <= 0.30; handler median target <= 100 ms)")
    return results


def bench_records(quick: bool = False) -> list[dict]:
    """Records for ``make bench``: onset → output silent (ours vs stock) and stale audio."""
    results = asyncio.run(main_async(2 if quick else 5))
    lat = {v: [r.latency_ms for r in rs if r.latency_ms is not None] for v, rs in results.items()}
    stale = {v: [r.stale_ms for r in rs] for v, rs in results.items()}
    silence = record("bargein_onset_to_silence", "ms", lat["handler"], lat["stock"],
                     target="<= 100 ms and <= 0.3x stock", baseline="stock VAD + turn strategies",
                     stock_runs=len(lat["stock"]))
    silence["met"] = bool(silence["ours_median"] is not None and silence["ours_median"] <= 100
                          and silence["ratio"] is not None and silence["ratio"] <= 0.3)
    stale_rec = record("bargein_stale_audio", "ms", stale["handler"], stale["stock"], target="0 ms",
                       met=sum(stale["handler"]) == 0, baseline="stock VAD + turn strategies", with_ratio=False)
    return [silence, stale_rec]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barge-ins", type=int, default=6, help="barge-ins per variant")
    parser.add_argument("--verbose", action="store_true", help="show pipeline logs")
    parser.add_argument("--breakdown", action="store_true", help="print the handler's own timings")
    args = parser.parse_args()
    global _LEVEL
    _LEVEL = "DEBUG" if args.breakdown else "WARNING"
    if not args.verbose:
        import sys

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    asyncio.run(main_async(args.barge_ins))


if __name__ == "__main__":
    main()
