"""Turn-end trade-off on real speech: what the turn rule knew at every VAD stop, and what any
setting of it would have done.

1. ``record``: each case (the lecture, Piper sentences with a spliced pause, Harvard sentences)
   goes once through the product's turn path in real time (:class:`testing.turn_path.TurnPath`)
   with a rule that never ends a turn before 3 s of silence, so every VAD stop is judged on the
   whole turn so far, as a rule that waited would see it. Per stop: the speech end, Smart Turn's
   probability, the eager and final transcripts and when they were judged, the pause that
   followed (speech end -> the next speech onset, from the VAD). Saved as JSON.
2. ``sweep``: replays the stops through :func:`processors.turns.transcript_aware.turn_wait` with
   each candidate setting: a stop closes the turn when its wait is shorter than the pause that
   followed it. Reported per setting: closes inside a sentence (the bench's
   :func:`bench.real_speech_bench.classify`), real end -> close p50/p90/max.

The replay is an approximation (after a close the next stops would be judged on a new turn);
the chosen setting is then checked in real time by ``python -m bench --only real``.

    flock /tmp/heavy.lock .venv/bin/python -m bench.turn_end_sweep record OUT.json
    flock /tmp/heavy.lock .venv/bin/python -m bench.turn_end_sweep record HELD.json held-out   # or held-out-2
    .venv/bin/python -m bench.turn_end_sweep sweep OUT.json [HELD.json ...]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

VAD_LAG_SECS = 0.065  # speech onset/end -> the VAD's frame, beyond start_secs/stop_secs
RECORD_TURNS = {"complete_silence_secs": 3.0, "uncertain_silence_secs": 3.0, "continues_silence_secs": 3.0,
                "incomplete_silence_secs": 3.0, "merge_window_secs": 0.0}


@dataclass
class Stop:
    case: str
    speech_end: float  # s into the case's audio
    probability: float
    eager_text: str
    final_text: str
    final_after: float  # s from the speech end to the final transcript's verdict
    next_onset: float  # s into the audio; 1e9 if none
    words: int = 0  # words of the turn so far
    speech_secs: float = 0.0  # voiced time of the turn so far
    text_end: float | None = None  # the language model's end probability on final_text

    @property
    def gap(self) -> float:
        return self.next_onset - self.speech_end


@dataclass
class Case:
    name: str
    sentence_ends: list[float]
    next_starts: list[float]
    stops: list[Stop]
    duration: float


def cases(workdir: Path, which: str = "bench") -> list[tuple[str, bytes, list[float], list[float]]]:
    """(name, PCM, sentence ends, next starts) of a case set: ``bench`` (the bench's turn-end
    cases), ``held-out`` (Harvard sentences and other paused sentences) or ``held-out-2``
    (paused sentences written after the text end model was chosen)."""
    from bench.real_speech import LECTURE, LECTURE_NEXT_STARTS_SECS, LECTURE_SENTENCE_ENDS_SECS, PAUSED_SENTENCES, harvard_clips, pcm_of
    from bench.real_speech_bench import speech_end_secs
    from bench.spoken_questions import spliced_pause

    out = []
    if which == "bench":
        out.append(("lecture", pcm_of(LECTURE), list(LECTURE_SENTENCE_ENDS_SECS), list(LECTURE_NEXT_STARTS_SECS)))
    elif which == "held-out":
        out += [(name, pcm, [speech_end_secs(pcm)], [1e9]) for name, pcm, _ in harvard_clips()]
    paused = {"bench": PAUSED_SENTENCES, "held-out": HELD_OUT_PAUSES, "held-out-2": HELD_OUT_PAUSES_2}[which]
    for text, after in paused:
        for pause in (0.8, 1.2):
            pcm = pcm_of(spliced_pause(text, after, pause, workdir / "pauses").path)
            out.append((f"{after} {pause}s", pcm, [speech_end_secs(pcm)], [1e9]))
    return out


HELD_OUT_PAUSES: tuple[tuple[str, str], ...] = (
    ("Please set a timer for ten minutes.", "timer"),
    ("I need a recipe that uses chicken and rice.", "recipe"),
    ("Tell me a short story about a brave little mouse.", "story"),
    ("Remind me to call the dentist on Monday morning.", "call"),
)
"""Paused sentences not used to choose the Smart Turn and wait settings (but seen when the text
end model was chosen)."""


HELD_OUT_PAUSES_2: tuple[tuple[str, str], ...] = (
    ("I think we should leave early, because the traffic will be bad.", "early,"),
    ("When you get a chance, could you read me the news?", "chance,"),
    ("Could you turn off the lights before we leave?", "lights"),
    ("What should I wear to the wedding next week?", "wedding"),
    ("Play some music that helps me focus.", "music"),
    ("Find me a cheap flight to Lisbon in March.", "flight"),
    ("How many calories are there in a banana?", "there"),
    ("Send a message to my brother saying I will be late.", "brother"),
)
"""Paused sentences written after the settings were chosen: pauses after a comma (as people
make them) and after complete-sounding first halves."""


async def _record_case(name: str, pcm: bytes, workdir: Path) -> list[Stop]:
    from pipecat.frames.frames import VADUserStartedSpeakingFrame

    from testing.turn_path import TurnPath

    path = TurnPath.ours(workdir, turns=RECORD_TURNS)
    strategy = path.strategy
    verdicts: list[tuple[float, float, dict]] = []  # (time.time(), speech_end time.time(), info)

    @strategy.event_handler("on_verdict")
    def _v(_s, info):
        verdicts.append((time.time(), strategy._speech_end, dict(info)))

    offset = time.time() - time.monotonic()
    start = await path.run(pcm, lead_secs=0.5, tail_secs=3.5)
    t0 = start + offset  # time.time() of the audio's first sample
    onsets = [f.timestamp - f.start_secs - VAD_LAG_SECS - t0 for _, f in path.stt_frames
              if isinstance(f, VADUserStartedSpeakingFrame)]
    by_end: dict[float, list[tuple[float, dict]]] = {}
    for t, end, info in verdicts:
        by_end.setdefault(round(end, 4), []).append((t, info))
    stops = []
    for end, items in sorted(by_end.items()):
        finals = [(t, i) for t, i in items if i.get("final")]
        last_t, last = (finals or items)[-1]
        eager = next((i["text"] for _, i in items if not i.get("final")), last["text"])
        speech_end = end - t0
        later = [o for o in onsets if o > speech_end + 0.05]
        stop = Stop(case=name, speech_end=round(speech_end, 3), probability=last["probability"], eager_text=eager,
                    final_text=last["text"], final_after=round(last_t - end, 3),
                    next_onset=round(later[0], 3) if later else 1e9, words=len(last["text"].split()),
                    text_end=last.get("text_end"))
        stops.append(stop)
    return stops


def record(out: Path, which: str = "bench") -> list[Case]:
    from loguru import logger

    from bench.real_speech_bench import speech_end_secs  # noqa: F401

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="turn-sweep-"))
    result = []
    for name, pcm, ends, nexts in cases(workdir, which):
        stops = asyncio.run(_record_case(name, pcm, workdir))
        result.append(Case(name, ends, nexts, stops, len(pcm) / 2 / 16000))
        for s in stops:
            lm = "-" if s.text_end is None else f"{s.text_end:.3f}"
            print(f"{name:14s} end {s.speech_end:6.2f} gap {s.gap:5.2f} p {s.probability:.2f} lm {lm} "
                  f"final+{s.final_after:.2f} [{s.final_text[-50:]}]", flush=True)
    out.write_text(json.dumps([asdict(c) for c in result], indent=1))
    return result


def load(path: Path) -> list[Case]:
    raw = json.loads(path.read_text())
    known = set(Stop.__dataclass_fields__)
    return [Case(c["name"], c["sentence_ends"], c["next_starts"],
                 [Stop(**{k: v for k, v in s.items() if k in known}) for s in c["stops"]], c["duration"])
            for c in raw]


def replay(case: Case, settings, text_model: bool = True) -> list[float]:
    """Turn closes (s into the audio) under ``settings``: a stop closes when its wait is shorter
    than the pause after it (``text_model``: with the recorded language-model end probability)."""
    from processors.turns.transcript_aware import turn_decision

    closes = [s.speech_end + max(turn_decision(s.probability, s.final_text, settings,
                                               s.text_end if text_model else None)[1], s.final_after)
              for s in case.stops]
    return [close for close, s in zip(closes, case.stops) if close < s.next_onset]


def evaluate(all_cases: list[Case], settings, text_model: bool = True) -> dict:
    from bench.real_speech_bench import classify

    inside = total = 0
    closes: list[float] = []
    for case in all_cases:
        ends = replay(case, settings, text_model)
        i, c = classify(ends, case.sentence_ends, case.next_starts)
        inside, total, closes = inside + i, total + len(ends), closes + c
    pct = lambda q: round(float(np.percentile(closes, q))) if closes else None
    return {"inside": inside, "closes": total, "inside_frac": round(inside / max(1, total), 3),
            "p50": pct(50), "p90": pct(90), "max": round(max(closes)) if closes else None, "ends_closed": len(closes)}


GRID: tuple[dict, ...] = (
    {"text_model": False, "no_text_model_silence_secs": 0.5},
    {"text_model": False, "no_text_model_silence_secs": 1.0},
    {"text_model": False},  # the rule before the text model (every wait 1.3 s)
    {"complete_silence_secs": 0.0},
    {"complete_silence_secs": 0.3},
    {},  # the defaults
    {"complete_silence_secs": 0.7},
    {"uncertain_silence_secs": 1.3},
    {"continues_silence_secs": 1.2},
    {"continues_probability": 0.01},
    {"continues_probability": 0.05},
    {"text_end_probability": 0.05},
    {"text_end_probability": 0.2},
    {"smart_turn_veto": 0.0},
    {"smart_turn_veto": 0.5},
)
"""Settings the sweep replays: changes from the defaults (``text_model``: False replays the rule
without the language model)."""


def sweep(*paths: Path) -> list[dict]:
    """The trade-off curve: one row per :data:`GRID` setting, on each recorded case set."""
    from processors.turns.transcript_aware import TranscriptAwareTurnSettings

    sets = {p.stem: load(p) for p in paths}
    rows = []
    for change in GRID:
        change = dict(change)
        text_model = change.pop("text_model", True)
        settings = TranscriptAwareTurnSettings(**change)
        row = {"text_model": text_model, **change}
        line = f"{'text model' if text_model else 'no text model'} {change or '(defaults)'}"
        for name, cases_ in sets.items():
            r = evaluate(cases_, settings, text_model)
            row[name] = r
            line += (f"\n    {name:12s}: inside {r['inside']}/{r['closes']} = {r['inside_frac']:.2f}, "
                     f"real end -> close p50/p90/max {r['p50']}/{r['p90']}/{r['max']} ms")
        print(line)
        rows.append(row)
    return rows


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "bench")
    else:
        sweep(*(Path(a) for a in sys.argv[2:]))


def pitch_track(pcm: bytes, rate: int = 16000, hop: float = 0.01, win: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """(F0 in Hz or 0 when unvoiced, RMS) per ``hop`` (autocorrelation, 70-400 Hz)."""
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    n, h = int(win * rate), int(hop * rate)
    lo, hi = rate // 400, rate // 70
    f0, rms = [], []
    for i in range(0, len(x) - n, h):
        f = x[i:i + n] - x[i:i + n].mean()
        e = float(np.sqrt(np.mean(f * f)))
        rms.append(e)
        if e < 0.005:
            f0.append(0.0)
            continue
        ac = np.correlate(f, f, "full")[n - 1:]
        ac /= ac[0] + 1e-9
        lag = lo + int(np.argmax(ac[lo:hi]))
        f0.append(rate / lag if ac[lag] > 0.5 else 0.0)
    return np.array(f0), np.array(rms)


def final_pitch_semitones(f0: np.ndarray, end_s: float, turn_start_s: float, hop: float = 0.01) -> float | None:
    """The last 150 ms of voiced pitch before ``end_s`` vs the turn's median, in semitones."""
    a, b = int(turn_start_s / hop), int(end_s / hop)
    voiced = f0[a:b][f0[a:b] > 0]
    tail = f0[max(a, b - 40):b]
    tail = tail[tail > 0][-15:]
    if len(voiced) < 10 or len(tail) < 3:
        return None
    return float(12 * np.log2(np.median(tail) / np.median(voiced)))
