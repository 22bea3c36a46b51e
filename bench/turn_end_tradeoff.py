"""End-of-turn trade-off: how often a mid-sentence pause is taken for the end, and how fast a
real end is taken, for stock pipecat's rule and ours, on the same audio and model outputs.

Every word boundary of every sentence is a candidate mid-sentence pause (Piper speech cut
there, followed by the VAD's 0.2 s of silence); each sentence's real end is the other case.
Smart Turn v3 scores the audio (the same model for both), our streaming decoder transcribes
it, then:

- stock (``TurnAnalyzerUserTurnStopStrategy`` + Smart Turn): ends at the VAD stop if the
  probability is > 0.5, else after Smart Turn's 3 s silence timeout;
- ours (:func:`processors.turns.transcript_aware.turn_decision`): ends after the wait of its
  decision (end / uncertain / continues / incomplete; see ``TranscriptAwareTurnSettings``),
  with the language model's end probability on the transcript
  (:class:`~processors.turns.text_end.TextEndModel`), as shipped.

A pause of ``pause_secs`` is cut off when the rule ends the turn before the pause is over.

    .venv/bin/python -m bench.turn_end_tradeoff [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass

import numpy as np

from bench.records import record
from bench.spoken_questions import QUESTIONS

SENTENCES: tuple[str, ...] = QUESTIONS + (
    "I'd like to book a table for two people.",
    "I need a recipe that uses chicken and rice.",
    "Please set a timer for ten minutes.",
    "I want to know the weather in Paris tomorrow.",
    "Tell me a short story about a brave little mouse.",
    "Can you tell me how to get to the train station?",
    "My sister is coming to visit us next weekend.",
    "Remind me to call the dentist on Monday morning.",
)
VAD_STOP_SECS = 0.2  # silence the VAD needs before it stops (both pipelines)
VAD_STOP_LATENCY_SECS = 0.265  # measured: speech end -> VAD stop with stop_secs=0.2
STOCK_TIMEOUT_SECS = 3.0  # Smart Turn's own silence timeout when it says "incomplete"
PAUSE_SECS = (0.6, 1.2)


@dataclass
class Point:
    sentence: str
    words: int  # words said before the stop
    real_end: bool
    probability: float
    text: str
    text_end: float | None = None  # the language model's end probability on ``text``

    def stock_wait(self) -> float:
        """Silence (from the speech end) after which stock ends the turn."""
        return VAD_STOP_LATENCY_SECS if self.probability > 0.5 else STOCK_TIMEOUT_SECS

    def ours_wait(self, settings) -> float:
        from processors.turns.transcript_aware import turn_decision

        _, wait = turn_decision(self.probability, self.text, settings, self.text_end)
        return max(VAD_STOP_LATENCY_SECS, wait)


def evaluate(sentences: tuple[str, ...], decoder=None, analyzer=None, text_model=None) -> list[Point]:
    """Smart Turn probability, transcript and its language-model end probability at every word
    boundary and at each real end."""
    import soxr

    from bench.spoken_questions import word_boundaries
    from processors.turns.smart_analyzer import TurnSmartAnalyzer
    from processors.turns.text_end import TextEndModel
    from runtime.models import smollm2_gguf_path

    text_model = text_model or TextEndModel(smollm2_gguf_path())

    if decoder is None:
        from runtime.models import whisper_model_path
        from processors.streaming_whisper.decoder import WindowedWhisperDecoder

        decoder = WindowedWhisperDecoder(whisper_model_path())
    analyzer = analyzer or TurnSmartAnalyzer()
    analyzer.set_sample_rate(16000)
    lead = np.zeros(8000, np.float32)  # Smart Turn hears 0.5 s before the speech
    tail = np.zeros(int(VAD_STOP_SECS * 16000), np.float32)
    points = []
    for sentence in sentences:
        audio, rate, bounds = word_boundaries(sentence, strict=False)
        audio = soxr.resample(audio, rate, 16000).astype(np.float32)
        cuts = [b * 16000 // rate for b in bounds] + [len(audio)]
        for n, cut in enumerate(cuts, start=1):
            heard = np.concatenate([lead, audio[:cut], tail])
            probability = analyzer._predict_endpoint(heard)["probability"]
            text = decoder.transcribe(np.concatenate([lead[:4800], audio[:cut], tail])).text
            points.append(Point(sentence, n, n == len(cuts), probability, text, text_model.end_probability(text)))
    return points


def summarize(points: list[Point], settings=None) -> dict[str, dict[str, float]]:
    """Per rule: cut-off rate at mid-sentence pauses, and turn end after real ends."""
    from processors.turns.transcript_aware import TranscriptAwareTurnSettings

    settings = settings or TranscriptAwareTurnSettings()
    mid = [p for p in points if not p.real_end]
    ends = [p for p in points if p.real_end]
    out: dict[str, dict[str, float]] = {}
    for rule, wait in (("stock", lambda p: p.stock_wait()), ("ours", lambda p: p.ours_wait(settings))):
        row: dict[str, float] = {"mid_points": len(mid), "ends": len(ends)}
        for pause in PAUSE_SECS:
            row[f"cut_off_at_{pause}s_pause"] = sum(wait(p) < pause for p in mid) / max(1, len(mid))
        waits = [wait(p) for p in ends]
        row["ends_at_vad_stop"] = sum(w <= VAD_STOP_LATENCY_SECS for w in waits) / max(1, len(ends))
        row["end_wait_median_ms"] = statistics.median(waits) * 1000 if waits else float("nan")
        row["end_wait_mean_ms"] = statistics.fmean(waits) * 1000 if waits else float("nan")
        out[rule] = row
    return out


def tradeoff_records(quick: bool) -> list[dict]:
    """Benchmark records (see ``bench/__main__.py``)."""
    sentences = SENTENCES[:1] if quick else SENTENCES
    s = summarize(evaluate(sentences))
    o, k = s["ours"], s["stock"]
    n = int(o["mid_points"])
    records = []
    for pause in PAUSE_SECS:
        key = f"cut_off_at_{pause}s_pause"
        records.append(record(f"turn end: mid-sentence {pause} s pause taken for the end", "fraction",
                              round(o[key], 3), round(k[key], 3), target="< stock", met=o[key] < k[key], runs=n,
                              baseline="stock turn rule (Smart Turn > 0.5)"))
    records.append(record("turn end: real end, turn closed at the VAD stop", "fraction", round(o["ends_at_vad_stop"], 3),
                          round(k["ends_at_vad_stop"], 3), target="informational", runs=int(o["ends"]),
                          baseline="stock turn rule (Smart Turn > 0.5)",
                          mean_end_wait_ms={"ours": round(o["end_wait_mean_ms"]), "stock": round(k["end_wait_mean_ms"])}))
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_end_tradeoff", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every point")
    args = parser.parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    points = evaluate(SENTENCES[:1] if args.quick else SENTENCES)
    if args.verbose:
        from processors.turns.transcript_aware import TranscriptAwareTurnSettings, turn_decision

        for p in points:
            d, _ = turn_decision(p.probability, p.text, TranscriptAwareTurnSettings(), p.text_end)
            print(f"{'END' if p.real_end else '   '} p={p.probability:.2f} lm={p.text_end:.3f} {d:10s} {p.text}")
    for rule, row in summarize(points).items():
        print(rule, {k: round(v, 3) for k, v in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
