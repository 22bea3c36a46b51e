"""The sample conversation and the demo are the same audio on every machine."""

from __future__ import annotations

import shutil

import pytest

import runtime.sample_conversation as sample
from agent.demo import demo_inputs


def test_sample_wavs_are_committed_and_match_their_hashes():
    paths = sample.sample_conversation_wavs()
    assert len(paths) == len(sample.QUESTIONS)
    assert all(p.parent == sample.DATA_DIR for p in paths)
    assert [e["path"] for e in demo_inputs()] == [str(sample.sample_wav(t)) for t, _ in sample.DEMO_TURNS]
    assert demo_inputs()[-1]["bot_started_secs"] == 2.0


def test_an_altered_sample_wav_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "sample"
    shutil.copytree(sample.DATA_DIR, copy)
    wav = copy / sample.sample_wav(sample.QUESTIONS[0]).name
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    monkeypatch.setattr(sample, "DATA_DIR", copy)
    monkeypatch.setattr(sample, "MANIFEST", copy / "manifest.json")
    with pytest.raises(sample.SampleAudioError, match="SHA-256"):
        sample.sample_conversation_wavs()
    with pytest.raises(sample.SampleAudioError, match="no bundled sample audio"):
        sample.sample_wav("Something nobody recorded.")


def test_noise_free_piper_gives_the_same_audio_twice(tmp_path):
    from runtime.speech import speak_to_wav

    a = speak_to_wav("The same words, twice.", tmp_path / "a.wav", varied=False).read_bytes()
    b = speak_to_wav("The same words, twice.", tmp_path / "b.wav", varied=False).read_bytes()
    assert a == b
