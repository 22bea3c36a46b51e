"""Output formats of the local TTS server: encoders (unit) and every format over a real socket."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import warnings
import wave

import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runtime.tts_server import FORMATS, TTSServer
from runtime.tts_server.audio_formats import AudioEncoder, lin2alaw, lin2ulaw, resolve_format
from runtime.tts_server.segmenter import TextSegmenter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # reference G.711 implementation (deprecated, still in 3.11)

TEXT = "Testing the output format, one two three."
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def test_g711_encoders_match_audioop_bit_for_bit():
    assert lin2ulaw(ALL_INT16) == audioop.lin2ulaw(ALL_INT16.tobytes(), 2)
    assert lin2alaw(ALL_INT16) == audioop.lin2alaw(ALL_INT16.tobytes(), 2)


def test_encoder_frames_tile_the_timeline_and_keep_duration():
    enc = AudioEncoder(resolve_format("pcm_24000"), 22050)
    sine = np.sin(np.arange(22050 * 2) * 2 * np.pi * 440 / 22050).astype(np.float32) * 0.5
    frames = enc.push(sine[:30000]) + enc.push(sine[30000:], flush=True) + enc.push(np.zeros(0, np.float32), last=True)
    assert [f.start_s for f in frames[1:]] == pytest.approx([f.stop_s for f in frames[:-1]])
    assert frames[-1].stop_s == pytest.approx(2.0, abs=1e-3)
    pcm = np.frombuffer(b"".join(f.payload for f in frames), dtype="<i2")
    assert len(pcm) == pytest.approx(48000, abs=2)
    # Resampled, not garbled: the 440 Hz tone is still the dominant frequency.
    spectrum = np.abs(np.fft.rfft(pcm[2400:-2400].astype(np.float64)))
    assert np.fft.rfftfreq(len(pcm) - 4800, 1 / 24000)[spectrum.argmax()] == pytest.approx(440, abs=2)


def test_unknown_format_names_the_supported_ones():
    with pytest.raises(ValueError, match="supported: pcm, pcm_16000, pcm_24000, wav, ulaw_8000, alaw_8000"):
        resolve_format("opus")
    assert resolve_format(None).name == "wav"  # Gradium's documented default


@pytest.mark.parametrize(
    "chunks, expected",
    [
        (["Hello", " there,", " how are", " you today?"], ["Hello there, how are you today?"]),
        (["I have 3", ".5 apples."], ["I have 3.5 apples."]),
        (["Dr.", " Smith is here. Yes"], ["Dr. Smith is here."]),
        (["One. Two! Three"], ["One.", "Two!"]),
        (["A long enough first phrase, then more"], ["A long enough first phrase,"]),
        (["Stop at flush<flush> rest"], ["Stop at flush"]),
        (["...", "<flush>"], []),
    ],
)
def test_segmenter_cuts_at_sentences_phrases_and_flush(chunks, expected):
    seg = TextSegmenter(min_phrase_chars=20, max_chars=200)
    out = [s for c in chunks for s in seg.push(c)]
    assert out == expected


def test_segmenter_caps_segment_length_at_a_space():
    seg = TextSegmenter(max_chars=50)
    out = seg.push("word " * 30) + seg.flush()
    assert all(len(s) <= 50 for s in out) and " ".join(out).split() == ["word"] * 30


async def _synthesize(url: str, fmt: str) -> tuple[dict, bytes, list[dict]]:
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "setup", "voice_id": "YTpq7expH9539ERJ", "output_format": fmt}))
        await ws.send(json.dumps({"type": "text", "text": TEXT}))
        await ws.send(json.dumps({"type": "end_of_stream"}))
        msgs = []
        async with asyncio.timeout(30):
            try:
                async for raw in ws:
                    msgs.append(json.loads(raw))
            except ConnectionClosed:
                pass
    audio = [m for m in msgs if m["type"] == "audio"]
    assert msgs[0]["type"] == "ready" and msgs[-1]["type"] == "end_of_stream", msgs[-1]
    return msgs[0], b"".join(base64.b64decode(m["audio"]) for m in audio), audio


@pytest.fixture(scope="module")
def results():
    """Every format synthesized once by one server (module-wide, to keep the file fast)."""

    async def run():
        async with TTSServer() as srv:
            return {fmt: await _synthesize(srv.url, fmt) for fmt in FORMATS}

    return asyncio.run(run())


@pytest.mark.parametrize(
    "fmt, rate, bytes_per_sample",
    [("pcm", 48000, 2), ("pcm_16000", 16000, 2), ("pcm_24000", 24000, 2), ("ulaw_8000", 8000, 1), ("alaw_8000", 8000, 1)],
)
def test_raw_formats_over_socket(results, fmt, rate, bytes_per_sample):
    ready, data, audio = results[fmt]
    assert ready["sample_rate"] == rate and ready["frame_size"] == rate * 8 // 100
    duration = audio[-1]["stop_s"]
    assert 1.0 < duration < 6.0
    assert len(data) == pytest.approx(duration * rate * bytes_per_sample, abs=bytes_per_sample)
    # Every full chunk is one 80 ms frame.
    sizes = {len(base64.b64decode(m["audio"])) for m in audio[:-2]}
    assert sizes == {rate * 8 // 100 * bytes_per_sample}
    if bytes_per_sample == 2:
        pcm = np.frombuffer(data, dtype="<i2").astype(np.float64)
    else:
        decode = audioop.ulaw2lin if fmt.startswith("ulaw") else audioop.alaw2lin
        pcm = np.frombuffer(decode(data, 2), dtype="<i2").astype(np.float64)
    rms = np.sqrt(np.mean(pcm**2))
    assert 1000 < rms < 20000, "expected speech-level audio"


def test_wav_over_socket_is_a_readable_stream(results):
    ready, data, audio = results["wav"]
    assert ready["sample_rate"] == 48000
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        frames = w.readframes(10**9)
    assert len(frames) / 2 / 48000 == pytest.approx(audio[-1]["stop_s"], abs=1e-3)
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 48000 and len(samples) == len(frames) // 2
