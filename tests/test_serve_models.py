"""``voice-agent serve`` loads Whisper, Silero and Smart Turn once, at start, for every call.

Through serve's own code path (``server_children`` at start, ``CallManager._build`` per call),
with the real models: the real constructors are counted (faster-whisper's ``WhisperModel``,
ONNX Runtime's ``InferenceSession``), two calls get the same model objects and their own
per-call state, and a VAD on a shared session scores real speech exactly as one on its own
model does, even with another call's VAD interleaved on the same session.
"""

from __future__ import annotations


import numpy as np
import pytest

from runtime.transports.wav_file import read_wav_pcm16
from testing.processes import ROOT

SPEECH = ROOT / "tests" / "data" / "speech" / "spk1_snt5.wav"
RATE = 16000


class _Counted:
    """Wrap a class so that constructing it is counted (the real class still does the work)."""

    def __init__(self, monkeypatch, module, name: str):
        self.count = 0
        real = getattr(module, name)

        def construct(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, construct)


@pytest.fixture
def counted_loads(monkeypatch):
    import faster_whisper
    import onnxruntime

    return {"whisper": _Counted(monkeypatch, faster_whisper, "WhisperModel"),
            "onnx": _Counted(monkeypatch, onnxruntime, "InferenceSession")}


def _vad_analyzer(built):
    from pipelines.builder import vad_analyzer_of

    return vad_analyzer_of(built.processors["vad"])


def _smart_turn(built):
    strategy = built.processors["turns"].user_turn_strategies.stop[0]
    return strategy._analyzer


def test_two_calls_share_the_models_loaded_once_at_start(tmp_path, counted_loads):
    """Costs ~2 s (loads tiny.en and two ONNX models once, builds three pipelines)."""
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from agent.serve.app import server_children
    from agent.serve.calls import CallManager
    from pipelines.builder import load_config
    from runtime.model_cache import ModelCache

    config = load_config("browser")
    models = ModelCache()
    children = server_children(config, tmp_path / "server", models)  # serve's lifespan, at start
    at_start = {name: c.count for name, c in counted_loads.items()}
    assert at_start == {"whisper": 1, "onnx": 2}  # Whisper; Silero and Smart Turn
    assert models.loads_by_name() == {"silero-vad": 1, "streaming-whisper": 1, "smart-turn-v3": 1, "text-end": 1}

    manager = CallManager(config, runs_dir=tmp_path, shared=children, models=models)
    first = manager._build(SmallWebRTCConnection(), tmp_path / "call-1")
    second = manager._build(SmallWebRTCConnection(), tmp_path / "call-2")
    assert {name: c.count for name, c in counted_loads.items()} == at_start  # nothing loaded per call
    assert models.loads_by_name() == {"silero-vad": 1, "streaming-whisper": 1, "smart-turn-v3": 1, "text-end": 1}

    # The same models...
    assert first.processors["stt"].decoder is second.processors["stt"].decoder
    vad1, vad2 = _vad_analyzer(first), _vad_analyzer(second)
    assert vad1._model.session is vad2._model.session
    turn1, turn2 = _smart_turn(first), _smart_turn(second)
    assert turn1._session is turn2._session
    # ... and each call's own state around them.
    assert vad1 is not vad2 and vad1._model is not vad2._model
    assert turn1 is not turn2 and turn1._audio_buffer is not turn2._audio_buffer
    assert first.processors["stt"] is not second.processors["stt"]
    for built in (first, second):
        built.transcript.close()


def test_without_a_cache_each_build_loads_its_own(tmp_path, counted_loads):
    """``voice-agent run`` is unchanged: its one pipeline loads its own models. Costs ~1 s."""
    from pipelines.builder import build_pipeline

    built = build_pipeline("browser", tmp_path / "run", {"transport": {"type": "wav", "inputs": []}})
    built.transcript.close()
    assert {name: c.count for name, c in counted_loads.items()} == {"whisper": 1, "onnx": 2}


def _windows() -> list[bytes]:
    pcm = bytes(RATE) + read_wav_pcm16(SPEECH, RATE)[: 3 * RATE] + bytes(RATE)  # quiet, 3 s of speech, quiet
    return [pcm[i : i + 1024] for i in range(0, len(pcm) - 1023, 1024)]  # Silero's 512-sample windows


def test_a_vad_on_a_shared_session_scores_as_one_on_its_own_model():
    """Two calls' VADs interleaved on one session each score real speech exactly like a VAD
    that loaded its own model (the recurrent state is per call). Costs ~0.5 s."""
    from processors.vad.shared_silero import SharedSileroVADAnalyzer, load_silero_session

    def analyzer(**kwargs) -> SharedSileroVADAnalyzer:
        a = SharedSileroVADAnalyzer(sample_rate=RATE, **kwargs)
        a.set_sample_rate(RATE)
        return a

    own = analyzer()
    assert set(vars(analyzer(session=load_silero_session()))) == set(vars(own))  # pipecat's fields, all set
    session = load_silero_session()
    a, b = analyzer(session=session), analyzer(session=session)
    windows = _windows()
    alone = [own.voice_confidence(w) for w in windows]
    shared_a, shared_b = [], []
    for w in windows:
        shared_a.append(a.voice_confidence(w))
        shared_b.append(b.voice_confidence(w))
    assert max(alone) > 0.9 and min(alone) < 0.1  # speech and quiet both in the clip
    assert np.allclose(shared_a, alone, atol=1e-6) and np.allclose(shared_b, alone, atol=1e-6)


def test_a_smart_turn_on_a_shared_session_is_built_like_one_on_its_own_model():
    """The analyzer built around a shared session has every field of one that loaded the model
    and gives the same verdict on the same speech. Costs ~0.5 s."""
    from processors.turns.smart_analyzer import TurnSmartAnalyzer, load_smart_turn_session

    own = TurnSmartAnalyzer(cpu_count=1, sample_rate=RATE)
    shared = TurnSmartAnalyzer(cpu_count=1, sample_rate=RATE, session=load_smart_turn_session(1))
    assert set(vars(shared)) == set(vars(own))
    audio = np.frombuffer(read_wav_pcm16(SPEECH, RATE)[: 3 * RATE], np.int16).astype(np.float32) / 32768
    verdicts = [analyzer._predict_endpoint(audio)["probability"] for analyzer in (own, shared)]
    assert verdicts[0] == pytest.approx(verdicts[1], abs=1e-6)


def test_a_model_cache_loads_once_per_key():
    from runtime.model_cache import ModelCache, cached

    cache, loads = ModelCache(), []
    first = cache.get(("m", 1), lambda: loads.append(1) or object())
    assert cache.get(("m", 1), lambda: loads.append(1) or object()) is first
    assert cache.get(("m", 2), lambda: loads.append(2) or object()) is not first
    assert loads == [1, 2] and cache.loads_by_name() == {"m": 2}
    assert cached(None, "x", lambda: 3) == 3  # no cache: a plain load
