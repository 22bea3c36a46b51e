"""Barge-in benchmark: speech onset → output silent, ours vs stock pipecat, in the same run.

Both variants run the product pipeline, built by the builder (:mod:`testing.conversation`),
over the WAV transport (Silero VAD, Whisper, an OpenAI-compatible scripted LLM on 127.0.0.1
with fixed long answers, Piper, WAV out); the user
(Piper speech) barges in at known times into each answer. ``handler`` adds the
InterruptionHandler and PlaybackGate; ``stock`` uses pipecat's default VAD/turn start
strategies (interrupt on the VAD's start). Prints per-barge-in latencies, medians, the ratio
and stale audio (the interrupted answer heard after the output fell silent).

    .venv/bin/python -m bench.interruption_bench [--barge-ins 6]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from loguru import logger

from bench.records import record
from testing.conversation import BargeIn, build_conversation, measure_barge_in, run_conversation, underrun_ms
from testing.fake_openai_server import FakeOpenAIServer, ScriptedAnswer

# -- the benchmark --------------------------------------------------------------------------

LONG_ANSWER = (
    "The ocean covers most of our planet and holds a huge variety of life, from tiny plankton "
    "drifting near the surface to giant whales that travel thousands of miles every year, and "
    "scientists believe that most of the deep sea has still never been explored by anyone."
)
SHORT_LAST_ANSWER = "Sure, here you go."
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
    # Every answer the user barges into is long; the one after the last barge-in is only
    # played out (not measured), so it is short.
    answers = [ScriptedAnswer(LONG_ANSWER) for _ in range(barge_ins)] + [ScriptedAnswer(SHORT_LAST_ANSWER)]
    async with FakeOpenAIServer(answers=answers) as llm:
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
    results = asyncio.run(main_async(1 if quick else 5))
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
