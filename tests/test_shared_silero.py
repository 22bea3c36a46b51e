"""One Silero for the VAD and the interruption handler: same scores, same VAD decisions, one model run."""

from __future__ import annotations

import numpy as np
import pytest

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import InputAudioRawFrame, InterruptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.tests.utils import run_test

from runtime.transports.wav_file import read_wav_pcm16
from pipelines.builder import build_pipeline
from processors import InterruptionHandler
from processors.interruption.frames import PlaybackPauseFrame, PlaybackResumeFrame, PlaybackStateFrame
from processors.interruption.onset import SpeechOnsetDetector, confidence_value
from processors.vad.shared_silero import SharedSileroVADAnalyzer
from testing.frames import mic

RATE, CHUNK = 16000, 640  # 20 ms of 16-bit audio


class RecordingSilero(SileroVADAnalyzer):
    """pipecat's Silero VAD alone, recording every window's score."""

    def __init__(self):
        super().__init__(sample_rate=RATE)
        self.scores: list[float] = []

    def voice_confidence(self, buffer) -> float:
        score = super().voice_confidence(buffer)
        self.scores.append(confidence_value(score))
        return score


@pytest.fixture(scope="module")
def stream(spoken) -> list[bytes]:
    """Quiet, a question, quiet, a second one: the mic in 20 ms chunks."""
    quiet = bytes(RATE // 2 * 2)
    pcm = quiet + read_wav_pcm16(spoken("What is the tallest mountain?"), RATE) + quiet
    pcm += read_wav_pcm16(spoken("Hold on, that is not what I asked."), RATE) + quiet
    return [pcm[i : i + CHUNK] for i in range(0, len(pcm) - CHUNK + 1, CHUNK)]


def vad(analyzer: SileroVADAnalyzer) -> SileroVADAnalyzer:
    analyzer.set_sample_rate(RATE)
    return analyzer


def test_the_vad_decides_as_alone_and_the_reader_gets_the_same_scores(stream):
    alone = vad(RecordingSilero())
    shared = vad(SharedSileroVADAnalyzer(sample_rate=RATE))
    reader = SpeechOnsetDetector(RATE, shared=shared)
    idle = range(len(stream) // 3, len(stream) // 2)  # the bot idle: the reader only counts windows
    alone_states, shared_states, before, after = [], [], [], []
    for i, chunk in enumerate(stream):
        alone_states.append(alone._run_analyzer(chunk))
        read = before if i < idle.start else after
        if i % 2:  # the handler reaches this chunk's windows before the VAD does...
            read += reader.feed(chunk, score=i not in idle)
            shared_states.append(shared._run_analyzer(chunk))
        else:  # ... or after
            shared_states.append(shared._run_analyzer(chunk))
            read += reader.feed(chunk, score=i not in idle)
    assert shared_states == alone_states
    assert shared._scored == len(alone.scores)  # the model scored every window once
    assert reader.shared and shared.sharing
    assert max(w.confidence for w in before + after) > 0.9  # it did hear speech
    # The reader's scores are the VAD's, window for window, before and after the idle stretch.
    assert [w.confidence for w in before] == pytest.approx(alone.scores[: len(before)], abs=1e-6)
    assert [w.confidence for w in after] == pytest.approx(alone.scores[len(alone.scores) - len(after) :], abs=1e-6)
    assert abs(len(alone.scores) - len(before) - len(after) - len(idle) * CHUNK / 1024) <= 1


def test_a_reader_fed_other_audio_stops_sharing_and_scores_for_itself(stream):
    shared = vad(SharedSileroVADAnalyzer(sample_rate=RATE))
    reader = SpeechOnsetDetector(RATE, shared=shared)
    for chunk in stream[:30]:
        shared._run_analyzer(chunk)
        quieter = (np.frombuffer(chunk, "<i2") // 2).astype("<i2").tobytes()
        reader.feed(quieter)
    assert not shared.sharing and not reader.shared
    states = [shared._run_analyzer(chunk) for chunk in stream[30:]]  # the VAD goes on alone
    assert len(states) == len(stream) - 30


async def test_handler_after_a_shared_vad_pauses_and_interrupts_without_a_model_of_its_own(spoken):
    analyzer = SharedSileroVADAnalyzer()
    handler = InterruptionHandler(vad_analyzer=analyzer)
    pcm = read_wav_pcm16(spoken("Hold on, that is not what I asked for."), RATE)
    frames = [PlaybackStateFrame(busy=True), *mic(pcm)]
    down, _ = await run_test(Pipeline([VADProcessor(vad_analyzer=analyzer), handler]), frames_to_send=frames)
    seq = [type(f) for f in down if not isinstance(f, InputAudioRawFrame)]
    assert PlaybackPauseFrame in seq and InterruptionFrame in seq
    assert seq.index(PlaybackPauseFrame) < seq.index(InterruptionFrame)
    assert PlaybackResumeFrame not in seq
    assert handler.scores_shared and analyzer.sharing
    record = handler.records[0]
    assert record.interrupted and record.reason in ("speech", "words")


def test_the_builder_hands_the_vad_analyzer_to_the_handler(tmp_path):
    built = build_pipeline("laptop", tmp_path / "run", {"transport": {"type": "wav", "inputs": []}})
    handler = built.processors["interruption"]
    assert isinstance(handler._vad_analyzer, SharedSileroVADAnalyzer)
    assert built.processors["vad"]._vad_controller._vad_analyzer is handler._vad_analyzer


def test_windows_are_never_scored_out_of_order(stream):
    shared = vad(SharedSileroVADAnalyzer(sample_rate=RATE))
    window = b"".join(stream[:2])[:1024]
    assert shared.shared_confidence(3, window) is None  # windows 0-2 not scored yet
    assert shared._scored == 0
    assert shared.shared_confidence(0, window) is not None
    assert shared.shared_confidence(0, window) == shared.shared_confidence(0, window)  # cached, not rescored
    assert shared._scored == 1 and shared.sharing
