"""Bench: per-frame overhead of each custom processor vs a pass-through ``FrameProcessor``.

For every custom processor ``P`` two real pipecat pipelines run side by side for the whole
case, identical but for the middle processor: ``Pipeline([P, sink])`` and
``Pipeline([PassThrough(), sink])`` (a bare ``FrameProcessor`` that pushes every frame on),
each in a ``PipelineWorker`` under a ``WorkerRunner``; the sink is a direct-mode recorder. A
round queues N frames of the mix ``P`` sees most in the real pipeline at the head of one
pipeline and stops the clock when the last of them reaches the sink. After one untimed
warm-up round each, rounds alternate between the two pipelines (ours first, then the baseline
first, ...); 750 frames x 15 rounds (quick: 300 x 3). The result is the time per input
frame, median over the rounds; the target is ours <= 1.5x the pass-through.

Time is ``time.process_time()`` (CPU time of this process, all threads): every round is pure
CPU work in the event loop, so this equals the wall time on an idle machine, and it does not
count the time other processes hold the (shared) cores. ``time.perf_counter()`` wall time is
recorded too (``ours_wall_median``/``stock_wall_median``). Each round starts after a
``gc.collect()`` (garbage of earlier rounds is not collected on its time; its own is).

Mixes (N input frames a round; 16 kHz in, 24 kHz out as in ``pipelines/laptop.toml``):

- ``PhraseAggregator``: recorded SmolLM2 answers (``bench/data/token_streams.json``) as
  ``LLMFullResponseStartFrame``, ``LLMTextFrame``..., ``LLMFullResponseEndFrame``, answers
  repeated until N frames; out come fewer, longer ``PhraseFrame``\\ s.
- ``InterruptionHandler``: 20 ms ``InputAudioRawFrame``\\ s of quiet room noise, bot idle
  (nothing to interrupt: no scoring) and bot speaking, where every 32 ms window is scored so
  it can pause within one window of an onset. As in the product, it reads those scores from
  the VAD right before it (``SharedSileroVADAnalyzer``): both lanes then start with the same
  Silero ``VADProcessor``, and ``extra_us_per_frame`` is the handler's own cost. Alone, with a
  Silero of its own, it is recorded for information (no target).
- ``PlaybackGate``: 20 ms ``TTSAudioRawFrame``\\ s between ``TTSStartedFrame`` and
  ``TTSStoppedFrame`` (a new context each round). The gate paces audio to real time on
  purpose; the bench sets ``lead_secs`` to a day, so it never waits for playback and the
  round measures its processing (queueing, slicing, release), not the audio's duration.
- ``GradiumTTSService``: 20 ms ``InputAudioRawFrame``\\ s (the STT passes the mic audio on,
  so the TTS sees all of it), connected to the in-process local Gradium server
  (``runtime.tts_server``), no synthesis.
- ``StreamingWhisperSTTService``: 20 ms quiet ``InputAudioRawFrame``\\ s and no VAD speech,
  so no decoding runs: the cost of keeping the pre-roll.

Every round checks that the sink got every frame in order (audio bytes for the gate, words
for the aggregator), so a broken pipeline never yields a number.

``python -m bench.processor_overhead_bench [--quick] [--frames N] [--rounds R] [--only NAME]``;
:func:`bench_records` returns the records for ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from loguru import logger

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from bench.records import print_table, record
from testing.probe import BackgroundWorker

DATA_PATH = Path(__file__).parent / "data" / "token_streams.json"
TARGET = 1.5
BASELINE = "pass-through FrameProcessor"
FRAMES, QUICK_FRAMES = 750, 300
ROUNDS, QUICK_ROUNDS = 15, 3
RATE_IN, RATE_OUT = 16000, 24000
ROUND_TIMEOUT_S = 60.0
SETUP_TIMEOUT_S = 60.0

Check = Callable[[list[Frame], list[Frame]], "str | None"]


# -- frame mixes and delivery checks --------------------------------------------------------


def _noise(rate: int, n: int, seed: int = 0) -> list[bytes]:
    """``n`` 20 ms chunks of quiet noise (about -60 dBFS): a room with nobody talking."""
    rng = np.random.default_rng(seed)
    pcm = (rng.standard_normal(rate // 50 * n) * 30).astype("<i2").tobytes()
    size = rate // 50 * 2
    return [pcm[i * size:(i + 1) * size] for i in range(n)]


def mic_frames(n: int, _round: int) -> list[Frame]:
    return [InputAudioRawFrame(audio=a, sample_rate=RATE_IN, num_channels=1) for a in _noise(RATE_IN, n)]


def tts_frames(n: int, round_: int) -> list[Frame]:
    cid = f"bench-{round_}"
    audio = [TTSAudioRawFrame(audio=a, sample_rate=RATE_OUT, num_channels=1, context_id=cid)
             for a in _noise(RATE_OUT, max(n - 2, 1), seed=1)]
    return [TTSStartedFrame(context_id=cid), *audio, TTSStoppedFrame(context_id=cid)]


def load_answers(path: Path = DATA_PATH) -> list[list[str]]:
    """The recorded answers' tokens (answers with at least one token)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: cannot read token streams {path}: {e}") from None
    return [[text for _, text in s["tokens"]] for s in data["streams"] if s["tokens"]]


def token_frames(n: int, _round: int, answers: list[list[str]] | None = None) -> list[Frame]:
    """Whole answers (start, tokens, end), repeated until there are at least ``n`` frames."""
    frames: list[Frame] = []
    for tokens in itertools.cycle(answers or load_answers()):
        frames += [LLMFullResponseStartFrame(), *(LLMTextFrame(t) for t in tokens), LLMFullResponseEndFrame()]
        if len(frames) >= n:
            return frames
    raise AssertionError("unreachable")


def same_frames(pushed: list[Frame], received: list[Frame]) -> str | None:
    """Every pushed frame (the same objects) came out, in order."""
    ids = {id(f) for f in pushed}
    got = [f for f in received if id(f) in ids]
    if len(got) != len(pushed) or any(a is not b for a, b in zip(got, pushed)):
        return f"{len(got)} of {len(pushed)} frames came out, or out of order"
    return None


def same_audio(pushed: list[Frame], received: list[Frame]) -> str | None:
    """Start, all the audio (re-sliced, same bytes) and stop came out in order."""
    start, stop = pushed[0], pushed[-1]
    marks = [i for i, f in enumerate(received) if f is start or f is stop]
    if len(marks) != 2 or received[marks[0]] is not start:
        return "TTSStartedFrame/TTSStoppedFrame missing or out of order"
    inner = b"".join(f.audio for f in received[marks[0]:marks[1]] if isinstance(f, OutputAudioRawFrame))
    if inner != b"".join(f.audio for f in pushed[1:-1]):
        return "audio between start and stop differs from the audio pushed"
    return None


def same_words(pushed: list[Frame], received: list[Frame]) -> str | None:
    """Each answer's start and end came out in order with its (cleaned) words between them."""
    from processors.phrase.aggregator import PhraseFrame
    from processors.phrase.text_cleanup import clean_text

    def answers(frames, text_type):
        out, words = [], None
        for f in frames:
            if isinstance(f, LLMFullResponseStartFrame):
                words = []
            elif isinstance(f, text_type) and words is not None:
                words.append(f.text)
            elif isinstance(f, LLMFullResponseEndFrame) and words is not None:
                out.append((f, words))
                words = None
        return out

    sent, got = answers(pushed, LLMTextFrame), answers(received, PhraseFrame)
    if [e for e, _ in got] != [e for e, _ in sent] or any(a is not b for (a, _), (b, _) in zip(got, sent)):
        return f"{len(got)} of {len(sent)} answers came out, or out of order"
    for i, ((_, tokens), (_, phrases)) in enumerate(zip(sent, got)):
        if " ".join(phrases).split() != clean_text("".join(tokens)).split():
            return f"answer {i}: the phrases' words differ from the cleaned tokens"
    return None


# -- the processors -------------------------------------------------------------------------


async def _phrase(stack: AsyncExitStack) -> FrameProcessor:
    from processors import PhraseAggregator

    return PhraseAggregator()


async def _interruption(stack: AsyncExitStack) -> FrameProcessor:
    from processors import InterruptionHandler
    from processors.interruption.settings import InterruptionSettings

    return InterruptionHandler(settings=InterruptionSettings())


async def _interruption_busy(stack: AsyncExitStack) -> FrameProcessor:
    handler = await _interruption(stack)
    handler._bot_speaking = True  # as after a BotStartedSpeakingFrame: every window is scored
    return handler


async def _vad_then_interruption_busy(stack: AsyncExitStack) -> list[FrameProcessor]:
    from pipecat.processors.audio.vad_processor import VADProcessor

    from processors import InterruptionHandler
    from processors.vad.shared_silero import SharedSileroVADAnalyzer

    analyzer = SharedSileroVADAnalyzer()
    handler = InterruptionHandler(vad_analyzer=analyzer)
    handler._bot_speaking = True
    return [VADProcessor(vad_analyzer=analyzer), handler]


async def _vad_then_pass_through(stack: AsyncExitStack) -> list[FrameProcessor]:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.processors.audio.vad_processor import VADProcessor

    return [VADProcessor(vad_analyzer=SileroVADAnalyzer()), PassThrough()]


async def _pass_through(stack: AsyncExitStack) -> list[FrameProcessor]:
    return [PassThrough()]


async def _gate(stack: AsyncExitStack) -> FrameProcessor:
    from processors.playback.gate import PlaybackGate, PlaybackGateSettings

    return PlaybackGate(settings=PlaybackGateSettings(lead_secs=86400.0))


async def _gradium(stack: AsyncExitStack) -> FrameProcessor:
    from runtime.tts_server import TTSServer
    from processors import GradiumTTSService

    server = await stack.enter_async_context(TTSServer())
    return GradiumTTSService(url=server.url)


async def _stt(stack: AsyncExitStack) -> FrameProcessor:
    from runtime.models import whisper_model_path
    from processors.streaming_whisper.stt import StreamingWhisperSTTService

    return StreamingWhisperSTTService(model=whisper_model_path())


Make = Callable[[AsyncExitStack], Awaitable["FrameProcessor | list[FrameProcessor]"]]


@dataclass(frozen=True)
class Case:
    """One processor: how to build it, a round's frames and how to check what came out.

    ``make`` and ``baseline`` build the processors before the sink; a case that needs
    upstream processors (the VAD) has the same ones in both lanes.
    """

    key: str
    label: str
    make: Make
    frames: Callable[[int, int], list[Frame]]
    check: Check = same_frames
    ready: Callable[[FrameProcessor], bool] | None = None  # wait for it before timing
    baseline: Make = _pass_through
    baseline_label: str = BASELINE
    target: float | None = TARGET


CASES: tuple[Case, ...] = (
    Case("phrase", "PhraseAggregator (LLM tokens)", _phrase, token_frames, same_words),
    Case("interruption", "InterruptionHandler (mic audio, bot idle)", _interruption, mic_frames),
    Case("interruption-busy", "InterruptionHandler (mic audio, bot speaking, own Silero)", _interruption_busy,
         mic_frames, target=None),
    Case("interruption-shared", "InterruptionHandler (mic audio, bot speaking, after the VAD, shared Silero)",
         _vad_then_interruption_busy, mic_frames, baseline=_vad_then_pass_through,
         baseline_label=f"Silero VADProcessor + {BASELINE}"),
    Case("gate", "PlaybackGate (TTS audio)", _gate, tts_frames, same_audio),
    Case("gradium", "GradiumTTSService (mic audio passing through)", _gradium, mic_frames,
         ready=lambda tts: tts.spare_socket is not None),
    Case("stt", "StreamingWhisperSTTService (quiet mic audio, no speech)", _stt, mic_frames),
)


# -- the harness ----------------------------------------------------------------------------


class PassThrough(FrameProcessor):
    """The baseline: pipecat's ``FrameProcessor`` pushing every frame on unchanged."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class _Sink(FrameProcessor):
    """Records the downstream frames of a round; signals when the round's last frame arrives."""

    def __init__(self):
        super().__init__(enable_direct_mode=True)
        self.received: list[Frame] = []
        self.target: Frame | None = None
        self.arrived = asyncio.Event()

    def expect(self, last: Frame) -> None:
        self.received, self.target = [], last
        self.arrived.clear()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.received.append(frame)
            if frame is self.target:
                self.arrived.set()
        await self.push_frame(frame, direction)


class Lane:
    """``Pipeline([processor, sink])`` running in the background; rounds are timed through it."""

    def __init__(self, processors: FrameProcessor | list[FrameProcessor]):
        processors = processors if isinstance(processors, list) else [processors]
        self.processor = processors[-1]
        self.sink = _Sink()
        self.worker = PipelineWorker(
            Pipeline([*processors, self.sink]),
            params=PipelineParams(audio_in_sample_rate=RATE_IN, audio_out_sample_rate=RATE_OUT),
            cancel_on_idle_timeout=False, enable_rtvi=False, enable_turn_tracking=False,
        )
        self._background = BackgroundWorker(self.worker)

    async def start(self, ready: Callable[[FrameProcessor], bool] | None = None) -> None:
        await self._background.start(SETUP_TIMEOUT_S)
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            while ready and not ready(self.processor):
                await asyncio.sleep(0.01)

    async def run(self, frames: list[Frame]) -> tuple[float, float, list[Frame]]:
        """Push ``frames``; (CPU seconds, wall seconds, frames received) once the last arrives."""
        self.sink.expect(frames[-1])
        gc.collect()  # no garbage of earlier rounds collected on this round's time
        c0, w0 = time.process_time(), time.perf_counter()
        await self.worker.queue_frames(frames)
        try:
            await asyncio.wait_for(self.sink.arrived.wait(), ROUND_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"{self.processor}: the round's last frame did not reach the sink "
                               f"within {ROUND_TIMEOUT_S:.0f} s") from None
        return time.process_time() - c0, time.perf_counter() - w0, self.sink.received

    async def stop(self) -> None:
        await self._background.stop(20.0)


@dataclass
class CaseResult:
    """Per-round CPU and wall microseconds per input frame, ours and the baseline's."""

    frames: int
    ours_cpu: list[float] = field(default_factory=list)
    stock_cpu: list[float] = field(default_factory=list)
    ours_wall: list[float] = field(default_factory=list)
    stock_wall: list[float] = field(default_factory=list)
    pushed: list[Frame] = field(default_factory=list)  # ours, last round: what went in
    received: list[Frame] = field(default_factory=list)  # ... and what reached the sink


async def run_case(case: Case, frames: int, rounds: int) -> CaseResult:
    """Warm both lanes up, then time ``rounds`` interleaved rounds of each."""
    async with AsyncExitStack() as stack:
        ours = Lane(await case.make(stack))
        stock = Lane(await case.baseline(stack))
        await ours.start(case.ready)
        stack.push_async_callback(ours.stop)
        await stock.start()
        stack.push_async_callback(stock.stop)
        n = len(case.frames(frames, 0))
        result = CaseResult(frames=n)
        for r in range(rounds + 1):  # round 0 warms up (model sessions, caches)
            order = [(ours, True), (stock, False)]
            for lane, is_ours in order if r % 2 else order[::-1]:
                pushed = case.frames(frames, r)
                cpu, wall, received = await lane.run(pushed)
                problem = (case.check if is_ours else same_frames)(pushed, received)
                if problem:
                    side = "ours" if is_ours else "baseline"
                    raise RuntimeError(f"{case.label} ({side}), round {r}: {problem}")
                if is_ours:
                    result.pushed, result.received = pushed, list(received)
                if r:
                    (result.ours_cpu if is_ours else result.stock_cpu).append(cpu / n * 1e6)
                    (result.ours_wall if is_ours else result.stock_wall).append(wall / n * 1e6)
        return result


def make_record(case: Case, res: CaseResult) -> dict:
    """The case's record: CPU µs per input frame; wall-clock medians as extra keys."""
    return record(
        f"per-frame overhead: {case.label}", "µs/frame", res.ours_cpu, res.stock_cpu,
        target=case.target, runs=len(res.ours_cpu), baseline=case.baseline_label, frames=res.frames,
        clock="process_time", ours_wall_median=statistics.median(res.ours_wall),
        stock_wall_median=statistics.median(res.stock_wall),
        extra_us_per_frame=statistics.median(res.ours_cpu) - statistics.median(res.stock_cpu),
    )


async def run_all(cases: list[Case], frames: int, rounds: int) -> list[dict]:
    return [make_record(case, await run_case(case, frames, rounds)) for case in cases]


def bench_records(quick: bool = False, *, frames: int | None = None, rounds: int | None = None,
                  only: list[str] | None = None) -> list[dict]:
    """One record per processor: µs per input frame, ours vs the pass-through (CPU time)."""
    frames = frames or (QUICK_FRAMES if quick else FRAMES)
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    cases = [c for c in CASES if not only or c.key in only]
    return asyncio.run(run_all(cases, frames, rounds))


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table; exit 1 if a processor misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES} frames, {QUICK_ROUNDS} rounds")
    parser.add_argument("--frames", type=int, help=f"input frames per round (default {FRAMES})")
    parser.add_argument("--rounds", type=int, help=f"timed rounds per pipeline (default {ROUNDS})")
    parser.add_argument("--only", nargs="+", choices=[c.key for c in CASES], help="these processors only")
    args = parser.parse_args(argv)
    for name in ("frames", "rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    try:
        records = bench_records(args.quick, frames=args.frames, rounds=args.rounds, only=args.only)
    except (RuntimeError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_table(records)
    for r in records:
        print(f"{r['metric']}: wall {r['ours_wall_median']:.1f} vs {r['stock_wall_median']:.1f} µs/frame")
    return 0 if all(r["met"] is not False for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
