"""Voice-to-voice through a browser (``voice-agent serve`` + headless Chromium) vs through the
WAV transport, on the same spoken questions, in the same run, on the fully local stack.

- WAV: the ``file`` pipeline hears the questions from WAV files in real time.
- Browser: ``voice-agent serve`` (the ``browser`` preset, same stack) takes one call from a
  headless Chromium whose fake mic plays the same questions, 12 s apart.

Reported per turn (p50 / p90 / max over the turns):
``wav`` and ``browser (server)``: the pipeline's own voice-to-voice from ``metrics.jsonl``
(speech end by the VAD → the first bot audio at the output transport); ``browser (heard)``:
measured in the page, on one clock: the mic's last loud sample of the question → the first loud
sample of the bot's track as the browser plays it (both network legs and the browser's jitter
buffer included).

``stages_ms``: where the pipeline's voice-to-voice goes, per transport: each stage's time after
the VAD's speech end (``transcript``, ``user_turn_end``, ``llm_first_token``, ``first_phrase``,
``tts_first_audio``, ``speaker_first_audio``), p50 / p90 / max over the turns.

    .venv/bin/python -m bench.browser_v2v_bench [--rounds 1] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

QUESTIONS = ("What is the capital of France?", "Why is the sky blue?", "How far is the moon from the earth?")
LEAD_SECS = 6.0
GAP_SECS = 12.0  # a question's end to the next question: the answer is over by then


def spread(values: list[float]) -> dict[str, float | int | None]:
    """p50 / p90 / max (ms) and the count."""
    if not values:
        return {"n": 0, "p50": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"n": len(values), "p50": round(statistics.median(values)), "p90": round(p90), "max": round(max(values))}


def questions_wavs(folder: Path) -> list[Path]:
    from runtime.speech import speak_to_wav

    return [speak_to_wav(q, folder / f"q{i}.wav", varied=False) for i, q in enumerate(QUESTIONS)]


STAGE_NAMES = ("transcript", "user_turn_end", "llm_first_token", "first_phrase", "tts_first_audio",
               "speaker_first_audio")
STAGES: dict[str, dict[str, list[float]]] = {}  # transport -> stage -> ms after the speech end, every turn


def metrics_v2v(run_dir: Path, kind: str | None = None) -> list[float]:
    """The run's per-turn voice-to-voice (ms); with ``kind``, its stages go to ``STAGES[kind]``."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        v2v = record["latency_ms"].get("voice_to_voice")
        if v2v is None:
            continue
        out.append(v2v)
        if kind is not None:
            stages = STAGES.setdefault(kind, {})
            end = record.get("speech_end")
            for name in STAGE_NAMES:
                t = record.get(name)
                if t is not None and end is not None:
                    stages.setdefault(name, []).append((t - end) * 1000)
    return out


def wav_round(wavs: list[Path], run_dir: Path) -> list[float]:
    """The ``file`` pipeline over the questions; its per-turn voice-to-voice (ms)."""
    from agent.app import run_built
    from pipelines.builder import build_pipeline

    built = build_pipeline("file", run_dir, {"transport": {"type": "wav", "inputs": [str(w) for w in wavs],
                                                           "realtime": True, "gap_secs": 1.0}})
    asyncio.run(run_built(built))
    return metrics_v2v(run_dir, "wav")


def heard_v2v(recording: np.ndarray) -> list[float]:
    """Per question: its speech end in the mic → the bot's first audio after it (ms)."""
    from testing.browser import loud_spans

    mic, bot = loud_spans(recording[:, 0], gap_secs=1.0), loud_spans(recording[:, 1], gap_secs=1.0)
    out = []
    for _, end in mic:
        first = next((start for start, _ in bot if start > end), None)
        if first is not None:
            out.append((first - end) * 1000)
    return out


async def browser_round(wavs: list[Path], folder: Path, calls: int = 1) -> tuple[list[float], list[float]]:
    """``calls`` browsers at once, each one call over the questions (``serve --max-calls calls``):
    (server-side, heard) voice-to-voice of all their turns (ms)."""
    from testing.browser import Chromium, padded_wav, read_wav
    from testing.serve import ServeProcess

    folder.mkdir(parents=True, exist_ok=True)
    first, rate = read_wav(wavs[0])
    at, then = LEAD_SECS + len(first) / rate + GAP_SECS, []
    for wav in wavs[1:]:
        then.append((wav, at))
        at += len(read_wav(wav)[0]) / rate + GAP_SECS
    mic = padded_wav(wavs[0], folder / "mic.wav", lead_secs=LEAD_SECS, tail_secs=GAP_SECS, then=tuple(then))
    total_secs = len(read_wav(mic)[0]) / rate
    async def one_call(server: ServeProcess) -> list[float]:
        async with Chromium(fake_mic=mic) as browser:
            await browser.goto(f"{server.url}/client")
            await browser.click("#talk")
            await browser.wait_for("voiceAgent.connection === 'connected' && voiceAgent.remoteStream"
                                   " && voiceAgent.botState === 'listening'", 60)
            await browser.start_recording()
            await asyncio.sleep(total_secs)
            recording = await browser.recording()
            await browser.click("#talk")
        return heard_v2v(recording)

    with ServeProcess(folder / "runs", pipeline="browser", max_calls=calls) as server:
        heard = [v for h in await asyncio.gather(*(one_call(server) for _ in range(calls))) for v in h]
        ended = server.wait_status(lambda s: not s["calls"], 15)["ended"]
    return [v for call in ended for v in metrics_v2v(Path(call["run_dir"]), "browser")], heard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (WAV, browser), alternating order")
    parser.add_argument("--concurrent", type=int, default=0,
                        help="instead: N browser calls at once (serve --max-calls N), one round")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    from testing.browser import find_chromium

    if not find_chromium():
        print("error: Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    wav, server_side, heard = [], [], []
    with tempfile.TemporaryDirectory(prefix="browser-v2v-") as tmp:
        work = Path(tmp)
        wavs = questions_wavs(work / "speech")
        if args.concurrent:
            print(f"{args.concurrent} browser calls at once ...", flush=True)
            server_side, heard = asyncio.run(browser_round(wavs, work / "concurrent", args.concurrent))
        for r in range(0 if args.concurrent else args.rounds):
            order = ("wav", "browser") if r % 2 == 0 else ("browser", "wav")
            for kind in order:
                print(f"round {r + 1}: {kind} ...", flush=True)
                if kind == "wav":
                    wav += wav_round(wavs, work / f"r{r}-wav")
                else:
                    s, h = asyncio.run(browser_round(wavs, work / f"r{r}-browser"))
                    server_side += s
                    heard += h
    results = {"questions": list(QUESTIONS), "rounds": args.rounds, "concurrent_calls": args.concurrent or 1,
               "voice_to_voice_ms": {
        "wav": spread(wav), "browser (server)": spread(server_side), "browser (heard)": spread(heard)},
               "stages_ms": {kind: {name: spread(v) for name, v in stages.items()} for kind, stages in STAGES.items()}}
    print("| voice-to-voice (ms) | n | p50 | p90 | max |\n|---|---|---|---|---|")
    for name, s in results["voice_to_voice_ms"].items():
        print(f"| {name} | {s['n']} | {s['p50']} | {s['p90']} | {s['max']} |")
    print("\n| stage after speech end (ms, p50 / p90) | " + " | ".join(results["stages_ms"]) + " |")
    for name in STAGE_NAMES:
        cells = [f"{k[name]['p50']} / {k[name]['p90']}" if name in k else "-" for k in results["stages_ms"].values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
