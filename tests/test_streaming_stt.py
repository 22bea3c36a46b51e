"""StreamingWhisperSTTService and its decoder, on real Piper speech and the bundled tiny.en.

The service is driven like the pipeline drives it (20 ms audio frames, VAD frames where the
speech is) through a real pipecat pipeline; nothing is mocked.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bench.voice_to_voice_bench import word_errors as bench_word_errors
from processors.streaming_whisper.decoder import (
    DecoderSettings,
    WindowedWhisperDecoder,
    compression_ratio,
)
from processors.streaming_whisper.segment import Segment
from runtime.models import whisper_model_path
from runtime.transports.wav_file import read_wav_pcm16

RATE = 16000
FRAME = RATE // 50 * 2  # 20 ms of 16-bit PCM


def word_errors(ref: str, hyp: str) -> int:
    """Word-level edit distance (Piper speaks a little differently each time, and tiny.en
    sometimes mishears a word: tests allow one)."""
    return bench_word_errors(ref, hyp)[0]


@pytest.fixture(scope="module")
def decoder():
    d = WindowedWhisperDecoder(whisper_model_path())
    d.warm_up()
    return d


@pytest.fixture(scope="module")
def pcm(spoken):
    return lambda text: read_wav_pcm16(spoken(text), RATE)


# -- decoder ------------------------------------------------------------------------------


def test_decoder_is_int8_greedy_with_a_short_window(decoder, pcm):
    result = decoder.transcribe(pcm("What is the capital of France?"))
    assert word_errors("What is the capital of France?", result.text) <= 1
    assert decoder.compute_type.startswith("int8")
    assert decoder.settings.beam_size == 1
    assert result.window_secs == 10 and not result.fallback


def test_decoder_matches_the_words_of_several_questions(decoder, pcm):
    texts = ["Tell me one interesting fact about the ocean.", "Which planet is closest to the sun?",
             "Give me a quick tip for sleeping better."]
    errors = sum(word_errors(text, decoder.transcribe(pcm(text)).text) for text in texts)
    assert errors <= 1


def test_decoder_window_grows_with_long_speech(decoder):
    assert decoder._window_secs(2.0) == 10
    assert decoder._window_secs(12.2) == 15
    assert decoder._window_secs(40.0) == 30


def test_loop_guard_falls_back_to_the_full_window(pcm):
    # Any text over 0 words/s + 4 counts as a loop here, so the guard fires on real output and
    # the 30 s decoding (stock faster-whisper's window) is what comes back.
    strict = WindowedWhisperDecoder(whisper_model_path(), settings=DecoderSettings(max_words_per_sec=0.0))
    text = "Which planet is closest to the sun?"
    result = strict.transcribe(pcm(text))
    assert result.fallback and result.window_secs == 30
    assert word_errors(text, result.text) <= 1
    short = strict.transcribe(pcm("Thank you very much."))  # 4 words: not over the limit
    assert not short.fallback and short.window_secs == 10


def test_loop_detection_on_text():
    looped = "How far is the moon from the earth? " * 6
    assert compression_ratio(looped) > 2.0
    assert compression_ratio("How far is the moon from the earth?") < 2.0


def test_silence_gives_no_text(decoder):
    assert decoder.transcribe(np.zeros(RATE, np.float32)).text == ""


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="beam_size"):
        DecoderSettings(beam_size=0)
    with pytest.raises(ValueError, match="min_window_secs"):
        DecoderSettings(min_window_secs=40)


# -- segment loudness ------------------------------------------------------------------------


def test_segment_knows_when_the_speech_went_quiet(pcm):
    audio = pcm("Why is the sky blue?") + bytes(int(0.3 * RATE) * 2)
    seg = Segment(id=1)
    for i in range(0, len(audio), FRAME):
        seg.append(audio[i:i + FRAME])
    loud = np.flatnonzero(np.abs(np.frombuffer(audio, "<i2")) > 300)
    speech_end = (loud[-1] + 1) * 2
    after_speech = (len(audio) - speech_end) / 2 / RATE  # the WAV's own tail + our 0.3 s
    assert after_speech - 0.03 <= seg.quiet_tail_secs(RATE) <= after_speech + 0.15
    assert seg.quiet_since(speech_end + FRAME)
    assert not seg.quiet_since(speech_end - 10 * FRAME)
    seg.trim_front(FRAME * 5)
    assert len(seg.audio) == FRAME * 5 and seg.ends[-1] == len(seg.audio)


# -- the service in a pipeline -----------------------------------------------------------------


class Harness:
    """``[StreamingWhisperSTTService, sink]`` running; frames are sent like the VAD sends them."""

    def __init__(self, stt):
        self.stt = stt
        self.frames: list = []
        self.passes: list[dict] = []
        self._changed = asyncio.Event()

    async def __aenter__(self):
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameProcessor

        from testing.probe import BackgroundWorker

        harness = self

        class Sink(FrameProcessor):
            async def process_frame(self, frame, direction):
                await super().process_frame(frame, direction)
                harness.frames.append(frame)
                harness._changed.set()
                await self.push_frame(frame, direction)

        @self.stt.event_handler("on_pass")
        async def _on_pass(_stt, info):
            self.passes.append(info)

        self.worker = PipelineWorker(Pipeline([self.stt, Sink()]), params=PipelineParams(audio_in_sample_rate=RATE),
                                     cancel_on_idle_timeout=False, enable_rtvi=False)
        self._background = BackgroundWorker(self.worker)
        await self._background.start(60)
        return self

    async def __aexit__(self, *exc):
        await self._background.stop(60)

    async def audio(self, pcm: bytes, realtime: bool = False):
        from pipecat.frames.frames import InputAudioRawFrame

        for i in range(0, len(pcm), FRAME):
            await self.worker.queue_frame(InputAudioRawFrame(audio=pcm[i:i + FRAME].ljust(FRAME, b"\0"),
                                                             sample_rate=RATE, num_channels=1))
            await asyncio.sleep(0.02 if realtime else 0)

    async def vad(self, started: bool):
        from pipecat.frames.frames import (
            VADUserStartedSpeakingFrame,
            VADUserStoppedSpeakingFrame,
        )

        frame = VADUserStartedSpeakingFrame(start_secs=0.2) if started else VADUserStoppedSpeakingFrame(stop_secs=0.2)
        await self.worker.queue_frame(frame)

    def of(self, cls) -> list:
        """Frames of exactly ``cls`` (a whole-turn final counts as a ``TranscriptionFrame``)."""
        from processors.turns.frames import TurnTranscriptionFrame

        return [f for f in self.frames if type(f) is cls or (type(f) is TurnTranscriptionFrame and cls.__name__ == "TranscriptionFrame")]

    async def wait_for(self, cls, count: int = 1, timeout: float = 30.0):
        async def wait():
            while len(self.of(cls)) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)
        return self.of(cls)


def make_stt(**settings):
    from processors.streaming_whisper.stt import StreamingWhisperSTTService

    return StreamingWhisperSTTService(model=whisper_model_path(),
                                      settings=StreamingWhisperSTTService.Settings(**settings) if settings else None)


def split_speech(pcm_bytes: bytes) -> tuple[bytes, bytes]:
    """(speech, rest) at the last loud sample (+20 ms)."""
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm_bytes, "<i2")) > 300)
    end = min(len(pcm_bytes), (loud[-1] + 1 + RATE // 50) * 2)
    end -= end % 2
    return pcm_bytes[:end], pcm_bytes[end:]


async def test_final_transcript_at_the_vad_stop_is_finalized(pcm):
    from pipecat.frames.frames import TranscriptionFrame, VADUserStoppedSpeakingFrame

    text = "Tell me one interesting fact about the ocean."
    speech, _ = split_speech(pcm(text))
    async with Harness(make_stt(eager=False)) as h:
        await h.audio(bytes(RATE // 2 * 2))
        await h.vad(True)
        await h.audio(speech)
        await h.audio(bytes(int(0.2 * RATE) * 2))
        await h.vad(False)
        finals = await h.wait_for(TranscriptionFrame)
        stop_index = next(i for i, f in enumerate(h.frames) if isinstance(f, VADUserStoppedSpeakingFrame))
    assert len(finals) == 1 and finals[0].finalized
    assert word_errors(text, finals[0].text) <= 1
    assert h.frames.index(finals[0]) > stop_index  # the transcript follows the VAD stop


async def speak_until_eager(h, speech: bytes) -> list:
    """Lead-in silence, the VAD start, ``speech`` and 0.1 s of quiet tail (a pass starts on
    it); returns the eager transcripts that pass pushed."""
    from pipecat.frames.frames import EagerTranscriptionFrame

    await h.audio(bytes(RATE // 2 * 2))
    await h.vad(True)
    await h.audio(speech)
    await h.audio(bytes(int(0.1 * RATE) * 2))
    return await h.wait_for(EagerTranscriptionFrame)


async def test_tail_pass_in_the_background_is_the_final_transcript(pcm):
    """The quiet after the last word starts a fast pass (the eager text) and then the full
    window pass while the VAD still waits; no pass is started at the stop."""
    from pipecat.frames.frames import TranscriptionFrame

    text = "Which planet is closest to the sun?"
    speech, _ = split_speech(pcm(text))
    async with Harness(make_stt(tail_full=False)) as h:
        eager = await speak_until_eager(h, speech)
        await h.audio(bytes(int(0.1 * RATE) * 2))
        await h.vad(False)
        finals = await h.wait_for(TranscriptionFrame)
    assert word_errors(text, eager[0].text) <= 1
    assert word_errors(text, finals[0].text) <= 1 and finals[0].finalized
    assert [p["kind"] for p in h.passes][-2:] == ["tail", "full"]  # no "final" pass at the stop
    assert h.passes[-1]["window_secs"] == 15


async def test_tail_full_one_full_window_pass_is_eager_text_and_final(pcm):
    """``tail_full``: the quiet tail starts the full-window pass itself; its text is the eager
    one and the final, with no other pass after the speech end."""
    from pipecat.frames.frames import TranscriptionFrame

    text = "Which planet is closest to the sun?"
    speech, _ = split_speech(pcm(text))
    async with Harness(make_stt(tail_full=True)) as h:
        eager = await speak_until_eager(h, speech)
        passes = len(h.passes)
        await h.audio(bytes(int(0.1 * RATE) * 2))
        await h.vad(False)
        finals = await h.wait_for(TranscriptionFrame)
    assert eager[-1].text == finals[0].text and finals[0].finalized
    assert word_errors(text, finals[0].text) <= 1
    assert len(h.passes) == passes and h.passes[-1]["kind"] == "tail-full" and h.passes[-1]["window_secs"] == 15


async def test_speech_after_the_tail_pass_is_transcribed_too(pcm):
    """A pause shorter than the VAD's stop: the eager text is stale, the final has all words."""
    from pipecat.frames.frames import TranscriptionFrame

    first, _ = split_speech(pcm("Tell me a story"))
    second, _ = split_speech(pcm("about a brave little mouse."))
    async with Harness(make_stt()) as h:
        await h.audio(bytes(RATE // 2 * 2))
        await h.vad(True)
        await h.audio(first)
        await h.audio(bytes(int(0.1 * RATE) * 2))
        await asyncio.wait_for(_until(lambda: any(p["kind"] in ("tail", "tail-full") for p in h.passes)), 30)
        await h.audio(second)
        await h.audio(bytes(int(0.2 * RATE) * 2))
        await h.vad(False)
        finals = await h.wait_for(TranscriptionFrame)
    assert len(finals) == 1
    assert word_errors("Tell me a story about a brave little mouse.", finals[0].text) <= 1


async def test_each_segment_gets_its_own_final_and_noise_none(pcm):
    from pipecat.frames.frames import TranscriptionFrame

    a, _ = split_speech(pcm("Why is the sky blue?"))
    b, _ = split_speech(pcm("How far is the moon from the earth?"))
    async with Harness(make_stt()) as h:
        for speech in (a, bytes(int(0.6 * RATE) * 2), b):  # the middle "segment" is silence
            await h.audio(bytes(RATE // 4 * 2))
            await h.vad(True)
            await h.audio(speech)
            await h.audio(bytes(int(0.2 * RATE) * 2))
            await h.vad(False)
        finals = await h.wait_for(TranscriptionFrame, count=2)
        await h.audio(bytes(int(0.5 * RATE) * 2))
    assert len(h.of(TranscriptionFrame)) == 2
    assert word_errors("Why is the sky blue?", finals[0].text) <= 1
    assert word_errors("How far is the moon from the earth?", finals[1].text) <= 1


async def _until(predicate, step: float = 0.01):
    while not predicate():
        await asyncio.sleep(step)
