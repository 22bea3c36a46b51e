"""Benchmark 9: real voices (``tests/data/speech``), ours vs stock pipecat, same run.

1. Transcripts: each clip (4 real Harvard sentences, 16 varied noise-free Piper clips) goes
   through the real VAD and STT in real time (:class:`testing.turn_path.TurnPath`), ours and
   stock; the reference is whole-utterance ``WhisperModel.transcribe`` (tiny.en) on the clip.
   WER, duplicated runs of words, transcript-ready time after the speech end.
2. Turn ends: the 60 s lecture (pauses inside sentences) and Piper sentences with a pause
   spliced in: turns closed inside a sentence, and how long a real sentence end takes to close.
3. Voice-to-voice over >= 30 turns of real speech (Harvard sentences and lecture sentences),
   the whole local stack over the WAV transport (:mod:`bench.voice_to_voice_bench`).

    .venv/bin/python -m bench --only real
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

import numpy as np

from bench.real_speech import (
    LECTURE, LECTURE_NEXT_STARTS_SECS, LECTURE_SENTENCE_ENDS_SECS, PAUSED_SENTENCES, RATE, harvard_clips, lecture_clips, pcm_of,
    piper_clips, write_wav,
)
from bench.records import record
from bench.voice_to_voice_bench import word_errors
from processors.streaming_whisper.text_checks import strip_repeats

LEAD_SECS = 0.5
INSIDE_GOAL = 0.10
V2V = {"p50": 800.0, "p90": 1200.0, "max": 2000.0}


def p90(values: list[float]) -> float | None:
    return float(np.percentile(values, 90)) if values else None


def speech_end_secs(pcm: bytes) -> float:
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, "<i2")) > 300)
    return (loud[-1] + 1) / RATE if loud.size else 0.0


async def _transcribe(variant: str, pcm: bytes, workdir: Path) -> tuple[str, float | None]:
    from pipecat.frames.frames import TranscriptionFrame

    from testing.turn_path import TurnPath

    path = TurnPath.ours(workdir) if variant == "ours" else TurnPath.stock(workdir)
    start = await path.run(pcm, lead_secs=LEAD_SECS, tail_secs=2.5)
    finals = path.times(TranscriptionFrame, stt=True)
    ready = (finals[-1] - start - speech_end_secs(pcm)) * 1000 if finals else None
    text = path.turns[-1][1] if path.turns else ""
    return text, ready


def has_duplicate(text: str) -> bool:
    return strip_repeats(text) != text


def transcript_records(clips: list[tuple[str, bytes, str]], label: str, workdir: Path, log=print) -> list[dict]:
    from faster_whisper import WhisperModel

    from runtime.models import whisper_model_path

    whole = WhisperModel(str(whisper_model_path()), compute_type="int8")
    stats: dict[str, dict] = {v: {"e": 0, "n": 0, "dup": 0, "ready": []} for v in ("ours", "stock", "whole")}
    for name, pcm, ref in clips:
        audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
        heard = {"whole": " ".join(s.text.strip() for s in whole.transcribe(audio, language="en")[0])}
        for variant in ("ours", "stock"):
            heard[variant], ready = asyncio.run(_transcribe(variant, pcm, workdir))
            if ready is not None:
                stats[variant]["ready"].append(ready)
        for variant, text in heard.items():
            e, n = word_errors(ref, text)
            stats[variant]["e"] += e
            stats[variant]["n"] += n
            stats[variant]["dup"] += has_duplicate(text)
        log(f"  {name}: ours [{heard['ours']}] whole [{heard['whole']}] stock [{heard['stock']}]")
    wer = {v: round(s["e"] / max(1, s["n"]), 4) for v, s in stats.items()}
    base = "whole-utterance tiny.en (WhisperModel.transcribe)"
    return [
        record(f"WER, {label}: ours vs whole-utterance", "fraction", wer["ours"], wer["whole"], target="<= whole-utterance",
               met=wer["ours"] <= wer["whole"], runs=len(clips), baseline=base, stock_pipecat=wer["stock"], with_ratio=False),
        record(f"duplicated text, {label}", "clips", stats["ours"]["dup"], stats["whole"]["dup"], target="0",
               met=stats["ours"]["dup"] == 0, runs=len(clips), baseline=base, stock_pipecat=stats["stock"]["dup"],
               with_ratio=False),
        record(f"transcript ready after speech end, {label}", "ms", stats["ours"]["ready"], stats["stock"]["ready"],
               baseline="stock WhisperSTTService"),
    ]


async def _turn_ends(variant: str, pcm: bytes, workdir: Path) -> tuple[list[float], int]:
    """Turn ends (s into ``pcm``) and how many of the turns were merged back into the next."""
    from testing.turn_path import TurnPath

    path = TurnPath.ours(workdir) if variant == "ours" else TurnPath.stock(workdir)
    await path.run(pcm, lead_secs=LEAD_SECS, tail_secs=3.0)
    return path.turn_ends_secs(), getattr(path.strategy, "merges", 0)


CLOSE_WINDOW_SECS = 2.5
"""A turn end this soon after a sentence end closes that sentence, even if the next sentence
has begun (the longest wait is 2 s of silence plus the grace for unconfirmed speech)."""


def classify(ends: list[float], sentence_ends: list[float], next_starts: list[float]) -> tuple[int, list[float]]:
    """(turn ends inside a sentence, close time of each sentence end that was closed, ms)."""
    spans = [(e, max(s, e + CLOSE_WINDOW_SECS)) for e, s in zip(sentence_ends, next_starts)]
    inside, closes = 0, []
    for t in ends:
        if not any(e <= t <= s for e, s in spans):
            inside += 1
    for e, s in spans:
        after = [t for t in ends if e <= t <= s]
        if after:
            closes.append((after[0] - e) * 1000)
    return inside, closes


def turn_end_records(workdir: Path, quick: bool, log=print) -> list[dict]:
    from bench.spoken_questions import spliced_pause

    cases = []  # (pcm, sentence ends, next speech starts)
    if not quick:
        pcm = pcm_of(LECTURE)
        cases.append(("lecture", pcm, list(LECTURE_SENTENCE_ENDS_SECS), list(LECTURE_NEXT_STARTS_SECS)))
    for text, after in PAUSED_SENTENCES[: 1 if quick else None]:
        for pause in (1.2,) if quick else (0.8, 1.2):
            sp = spliced_pause(text, after, pause, workdir / "pauses")
            pcm = pcm_of(sp.path)
            cases.append((f"pause {pause}s", pcm, [speech_end_secs(pcm)], [1e9]))
    out, split = {}, {}
    for variant in ("ours", "stock"):
        inside = total = merged = 0
        closes: list[float] = []
        for name, pcm, ends, nexts in cases:
            turn_ends, merges = asyncio.run(_turn_ends(variant, pcm, workdir))
            i, c = classify(turn_ends, ends, nexts)
            inside, total, closes, merged = inside + i, total + len(turn_ends), closes + c, merged + merges
            log(f"  {variant} {name}: {len(turn_ends)} turn ends, {i} inside a sentence, {merges} merged back, "
                f"at {[round(t, 2) for t in turn_ends]} s")
        out[variant] = (inside / max(1, total), closes, total)
        split[variant] = max(0, inside - merged) / max(1, total - merged)
    return [
        record("user turns split inside a sentence, after merges (lecture + Piper pauses)", "fraction",
               round(split["ours"], 3), round(split["stock"], 3), target=f"<= {INSIDE_GOAL}",
               met=split["ours"] <= INSIDE_GOAL, runs=out["ours"][2], baseline="stock turn strategies", with_ratio=False),
        record("turns closed inside a sentence (lecture + Piper pauses)", "fraction", round(out["ours"][0], 3),
               round(out["stock"][0], 3), target=f"<= {INSIDE_GOAL}", met=out["ours"][0] <= INSIDE_GOAL,
               runs=out["ours"][2], baseline="stock turn strategies", with_ratio=False),
        record("real sentence end -> turn closed", "ms", out["ours"][1], out["stock"][1], baseline="stock turn strategies"),
    ]


def v2v_turns(workdir: Path, rounds: int, variants: tuple[str, ...] = ("ours", "stock"), quick: bool = False,
              log=print) -> dict[str, list[dict]]:
    """Per variant, one dict per real-speech user turn: stage times (``ms``), transcript,
    the turn strategy's last verdict, whether the speculative answer was kept."""
    from bench.v2v_pipelines import SharedServers
    from bench.voice_to_voice_bench import _conversation, _order

    clips = harvard_clips() + lecture_clips()
    clips = clips[:1] if quick else clips
    inputs = [write_wav(workdir / "v2v" / f"clip{i}.wav", pcm) for i, (_, pcm, _) in enumerate(clips)]
    turns: dict[str, list[dict]] = {v: [] for v in variants}
    with SharedServers(workdir / "servers") as servers:
        for r in range(rounds):
            for variant in _order(variants, r):
                stages = asyncio.run(_conversation(variant, inputs, servers, workdir / f"v2v{r}-{variant}"))
                for (name, _, ref), t in zip(clips, stages):
                    turns[variant].append({"clip": name, "ref": ref, "ms": t.ms, "transcript": t.transcript,
                                           "verdict": t.verdict, "speculation_kept": t.speculation_kept})
                got = [round(t.ms["bot_audio"]) if "bot_audio" in t.ms else None for t in stages]
                log(f"  round {r + 1}/{rounds} {variant}: voice-to-voice ms {got}")
    return turns


def v2v_records(workdir: Path, quick: bool, log=print) -> list[dict]:
    from bench.v2v_stages import stage_stats, stage_table

    turns = v2v_turns(workdir, 1 if quick else 4, quick=quick, log=log)
    v2v = {v: [t["ms"]["bot_audio"] for t in ts if "bot_audio" in t["ms"]] for v, ts in turns.items()}
    ours = v2v["ours"]
    met = bool(ours and statistics.median(ours) < V2V["p50"] and p90(ours) <= V2V["p90"] and max(ours) <= V2V["max"])
    stages = {v: stage_stats(ts) for v, ts in turns.items()}
    log(stage_table(stages))
    return [record("voice-to-voice, real speech (speech end -> first bot audio)", "ms", ours, v2v["stock"],
                   target="p50 < 800, p90 <= 1200, max <= 2000", met=met, baseline="stock pipecat 1.14, same models",
                   stages_ms=stages, speculation_kept=sum(t["speculation_kept"] for t in turns["ours"]))]


def bench_records(quick: bool, workdir: Path | None = None, log=print) -> list[dict]:
    from loguru import logger

    workdir = Path(workdir or tempfile.mkdtemp(prefix="real-speech-bench-"))
    quiet = ("pipecat", "processors", "pipelines", "bench", "testing")
    for name in quiet:
        logger.disable(name)
    try:
        real = harvard_clips()
        piper = piper_clips(workdir / "piper", limit=1 if quick else None)
        records = transcript_records(real[:1] if quick else real, "real speech", workdir, log)
        records += transcript_records(piper, "varied Piper", workdir, log)
        records += turn_end_records(workdir, quick, log)
        records += v2v_records(workdir, quick, log)
    finally:
        for name in quiet:
            logger.enable(name)
    return records


if __name__ == "__main__":
    import sys

    from bench.records import print_table

    print_table(bench_records("--quick" in sys.argv))
