"""The Piper wrapper of the local TTS server: shared voice, per-sentence chunks, word times, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.tts_server import TTSServer
from runtime.tts_server.synthesis import PiperSynthesizer, shared_synthesizer

TEXT = "Hello there, how are you today? I am fine. Thanks for asking!"


@pytest.fixture(scope="module")
def estimated():
    synth = PiperSynthesizer(use_alignment=False)
    synth.load()
    return synth


def _check_words(chunks, text: str) -> None:
    assert [w.text for c in chunks for w in c.words] == text.split()
    for c in chunks:
        for a, b in zip(c.words, c.words[1:]):
            assert a.stop_s <= b.start_s + 1e-9
        for w in c.words:
            assert 0 <= w.start_s < w.stop_s <= c.duration_secs + 1e-9


def test_one_chunk_per_sentence_with_estimated_word_times(estimated):
    chunks = list(estimated.iter_segment(TEXT))
    assert len(chunks) == 3 and not any(c.aligned for c in chunks)
    assert all(c.sample_rate == 22050 and c.audio.dtype == np.float32 for c in chunks)
    assert all(0.4 < c.duration_secs < 5 for c in chunks)
    assert max(float(np.abs(c.audio).max()) for c in chunks) == pytest.approx(1.0, abs=1e-3)
    _check_words(chunks, TEXT)
    # Estimated words cover the voiced part: they start after the leading silence.
    first = chunks[0].words[0]
    lead = np.flatnonzero(np.abs(chunks[0].audio) > 0.02)[0] / 22050
    assert first.start_s == pytest.approx(lead, abs=1e-3)


def test_words_follow_espeak_sentences_even_when_counts_differ(estimated):
    text = "Dr. Smith paid 3.5 dollars. OK?"
    chunks = list(estimated.iter_segment(text))
    assert [w.text for c in chunks for w in c.words] == text.split()


def test_cancel_stops_between_sentences(estimated):
    produced = []
    chunks = estimated.iter_segment(TEXT, cancelled=lambda: len(produced) >= 1)
    for chunk in chunks:
        produced.append(chunk)
    assert len(produced) == 1


def test_aligned_word_times_when_onnx_is_available():
    pytest.importorskip("onnx", reason="Piper alignment needs the optional `onnx` package")
    synth = PiperSynthesizer(use_alignment=True)
    synth.load()
    assert synth.alignment_available
    text = "Hello there, how are you today?"
    (chunk,) = synth.iter_segment(text)
    assert chunk.aligned
    _check_words([chunk], text)
    # The comma pause lies between "there," and "how".
    there, how = chunk.words[1], chunk.words[2]
    gap = chunk.audio[int(there.stop_s * 22050) : int(how.start_s * 22050)]
    assert how.start_s - there.stop_s > 0.05 and np.sqrt(np.mean(gap**2)) < 0.1


async def test_voice_is_loaded_once_per_process():
    assert shared_synthesizer() is shared_synthesizer()
    async with TTSServer() as a, TTSServer() as b:
        assert a.synthesizer is b.synthesizer is shared_synthesizer()
        assert a.port != b.port
