"""A mid-sentence pause does not end the user's turn (real speech, real models, real time).

"I'd like to book a table ... for two people." is spoken by Piper in one go and a real pause
is spliced in after "table" (at the word boundary from Piper's alignment, so the sentence keeps
its mid-sentence prosody). It is fed in real time, 20 ms frames, through the product's turn
path: Silero VAD → StreamingWhisperSTTService → user aggregator with the ``transcript-aware``
turns (Smart Turn v3 + transcript ending, preemptive LLM). The VAD stops during the pause; the
turn must not end there, and the turn that ends must hold the whole sentence.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime.transports.wav_file import read_wav_pcm16

RATE = 16000
FRAME = RATE // 50 * 2


class TurnPath:
    """VAD → streaming STT → user aggregator (transcript-aware turns) → sink, in real time."""

    def __init__(self, tmp_path):
        import pipelines.components  # noqa: F401  (registers the types)
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair

        from pipelines.registry import BuildContext, build_slot

        ctx = BuildContext(config_path=tmp_path / "test.toml", run_dir=tmp_path)
        self.vad = build_slot("vad", {"type": "silero"}, ctx)
        self.stt = build_slot("stt", {"type": "streaming-whisper"}, ctx)
        params = build_slot("turns", {"type": "transcript-aware"}, ctx)
        self.strategy = params.user_turn_strategies.stop[0]
        self.user = LLMContextAggregatorPair(LLMContext(), user_params=params).user()
        self.frames: list[tuple[float, object]] = []
        self.turns: list[tuple[float, str]] = []
        self.verdicts: list[tuple[float, dict]] = []

        @self.user.event_handler("on_user_turn_stopped")
        async def _stopped(_agg, _strategy, message):
            self.turns.append((time.monotonic(), message.content or ""))

        @self.strategy.event_handler("on_verdict")
        async def _verdict(_s, info):
            self.verdicts.append((time.monotonic(), info))

    async def run(self, pcm: bytes, tail_secs: float = 3.0) -> float:
        """Say ``pcm`` (then ``tail_secs`` of silence) in real time; returns its start time."""
        from pipecat.frames.frames import InputAudioRawFrame
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameProcessor
        from testing.probe import BackgroundWorker

        frames = self.frames

        class Sink(FrameProcessor):
            async def process_frame(self, frame, direction):
                await super().process_frame(frame, direction)
                frames.append((time.monotonic(), frame))
                await self.push_frame(frame, direction)

        worker = PipelineWorker(Pipeline([self.vad, self.stt, self.user, Sink()]),
                                params=PipelineParams(audio_in_sample_rate=RATE),
                                cancel_on_idle_timeout=False, enable_rtvi=False)
        background = BackgroundWorker(worker)
        await background.start(60)
        audio = bytes(RATE // 2 * 2) + pcm + bytes(int(tail_secs * RATE) * 2)
        t0 = next_t = time.monotonic()
        for i in range(0, len(audio), FRAME):
            await worker.queue_frame(InputAudioRawFrame(audio=audio[i:i + FRAME].ljust(FRAME, b"\0"),
                                                        sample_rate=RATE, num_channels=1))
            next_t += FRAME / 2 / RATE
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
        await background.stop(60)
        return t0 + 0.5  # the speech starts after 0.5 s of silence

    def times(self, cls) -> list[float]:
        return [t for t, f in self.frames if isinstance(f, cls)]


@pytest.fixture(scope="module")
def paused_sentence(tmp_path_factory):
    from bench.spoken_questions import PAUSE_SENTENCE, spliced_pause

    text, after = PAUSE_SENTENCE
    return spliced_pause(text, after, 0.8, tmp_path_factory.mktemp("pause"))


async def test_mid_sentence_pause_does_not_end_the_turn(paused_sentence, tmp_path):
    from pipecat.frames.frames import LLMContextFrame, VADUserStoppedSpeakingFrame

    path = TurnPath(tmp_path)
    pcm = read_wav_pcm16(paused_sentence.path, RATE)
    start = await path.run(pcm)
    pause_start = start + paused_sentence.pause_start
    pause_end = start + paused_sentence.pause_end
    speech_end = start + len(pcm) / 2 / RATE

    # The VAD did stop during the pause (so the turn rule had to decide there) ...
    assert any(pause_start < t < pause_end for t in path.times(VADUserStoppedSpeakingFrame))
    # ... and decided to wait: the only turn ends after the whole sentence, with all of it.
    at_pause = [v for t, v in path.verdicts if pause_start < t < pause_end]
    assert at_pause and all(v["decision"] != "end" for v in at_pause), at_pause
    assert len(path.turns) == 1, path.turns
    ended_at, text = path.turns[0]
    assert ended_at > pause_end
    words = text.lower()
    assert "table" in words and "two people" in words, text
    # The answer was started on the whole sentence, never on the half before the pause.
    contexts = [f for t, f in path.frames if isinstance(f, LLMContextFrame) and t > pause_end]
    assert contexts and "people" in contexts[-1].context.messages[-1]["content"].lower()
    assert ended_at < speech_end + 1.5  # and it did end once the user was done


async def test_a_plain_question_ends_at_the_vad_stop_with_the_answer_already_started(spoken, tmp_path):
    from pipecat.frames.frames import LLMContextFrame, UserStoppedSpeakingFrame

    path = TurnPath(tmp_path)
    await path.run(read_wav_pcm16(spoken("What is the capital of France?"), RATE), tail_secs=1.5)
    assert len(path.turns) == 1 and "capital" in path.turns[0][1].lower()
    assert [v["decision"] for _, v in path.verdicts] == ["end"]
    (turn_end,) = path.times(UserStoppedSpeakingFrame)
    contexts = [(t, f) for t, f in path.frames if isinstance(f, LLMContextFrame)]
    # Preemptive: the (speculative) inference went out before the turn was confirmed, and the
    # confirmation did not start a second one.
    assert len(contexts) == 1 and contexts[0][1].speculation and contexts[0][0] < turn_end
