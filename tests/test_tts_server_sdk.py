"""The official Gradium Python SDK (PyPI ``gradium``), a client no one here wrote, against the local server."""

from __future__ import annotations

import asyncio
import io
import wave

import numpy as np
import pytest

from runtime.tts_server import TTSServer

gradium = pytest.importorskip("gradium", reason="dev dependency `gradium` is not installed")

KEY = "sdk-test-key-0123456789"
TIMEOUT = 60


@pytest.fixture
async def server():
    async with TTSServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def client(server):
    # Only the host changes compared with the real service: same /api/speech/tts route, same header.
    return gradium.client.GradiumClient(base_url=server.base_url, api_key=KEY)


async def test_one_shot_tts_pcm(client):
    async with asyncio.timeout(TIMEOUT):
        result = await client.tts(
            gradium.TTSSetup(voice_id="YTpq7expH9539ERJ", output_format="pcm"),
            "Hello from the official SDK. It streams words too.",
        )
    assert result.sample_rate == 48000 and result.request_id
    pcm = result.pcm16()
    assert 1.5 < len(pcm) / 48000 < 8
    assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 1000
    words = [t.text for t in result.text_with_timestamps]
    assert words == "Hello from the official SDK. It streams words too.".split()
    assert all(t.stop_s > t.start_s for t in result.text_with_timestamps)


async def test_one_shot_tts_wav_with_json_config_and_text_list(client):
    async with asyncio.timeout(TIMEOUT):
        # No voice at all (the SDK's "default" name path), json_config as a dict (the SDK sends a JSON string).
        result = await client.tts({"output_format": "wav", "json_config": {"temp": 0.6}}, ["Two ", "chunks."])
    with wave.open(io.BytesIO(result.raw_data)) as w:
        assert w.getframerate() == 48000 == result.sample_rate
        assert w.readframes(10**9)


async def test_tts_stream_iter_bytes(client):
    async with asyncio.timeout(TIMEOUT):
        setup = gradium.TTSSetup(voice_id="YTpq7expH9539ERJ", output_format="ulaw_8000")
        stream = await client.tts_stream(setup, "Streaming bytes.")
        assert stream.sample_rate == 8000
        chunks = [c async for c in stream.iter_bytes()]
    assert len(chunks) >= 5 and all(len(c) <= 640 for c in chunks)


async def test_realtime_tts(client):
    async with asyncio.timeout(TIMEOUT):
        async with client.tts_realtime(
            voice_id="_6Aslh2DxfmnRLmP", output_format="pcm_16000", wait_for_ready_on_start=True
        ) as tts:
            assert tts.ready["sample_rate"] == 16000 and tts.ready["frame_size"] == 1280
            for word in "Realtime text, sent word by word.".split():
                await tts.send_text(word + " ")
            await tts.send_eos()
            kinds, audio = [], b""
            async for msg in tts:
                kinds.append(msg["type"])
                if msg["type"] == "audio":
                    audio += msg["audio"]
    assert kinds[-1] == "end_of_stream" and "text" in kinds
    assert len(audio) / 2 / 16000 > 1.0


async def test_realtime_multiplexing_as_in_gradium_docs(client):
    texts = {
        "req-00": "First request. Second part, last one.",
        "req-01": "Second request. Second part, last one again.",
    }
    setup = {"voice_id": "YTpq7expH9539ERJ", "output_format": "wav", "close_ws_on_eos": False}
    async with asyncio.timeout(TIMEOUT):
        async with client.tts_realtime(send_setup_on_start=False) as stream:
            for rid, text in texts.items():
                stamp = {"client_req_id": rid}
                await stream.send_setup(setup | stamp)
                await stream.send_text(text, **stamp)
                await stream.send_eos(**stamp)
            audio: dict[str, bytes] = {rid: b"" for rid in texts}
            done: set[str] = set()
            while done != set(texts):
                msg = await stream.recv()
                assert msg is not None, "socket closed early"
                if msg["type"] == "audio":
                    audio[msg["client_req_id"]] += msg["audio"]
                elif msg["type"] == "end_of_stream":
                    done.add(msg["client_req_id"])
    for rid in texts:
        with wave.open(io.BytesIO(audio[rid])) as w:
            assert w.getframerate() == 48000 and len(w.readframes(10**9)) / 2 / 48000 > 1.0


async def test_sdk_surfaces_server_errors(server, client):
    bad_key = gradium.client.GradiumClient(base_url=server.base_url, api_key="wrong")
    with pytest.raises(Exception, match=r"API key.*\(1008\)"):
        async with asyncio.timeout(TIMEOUT):
            await bad_key.tts({"output_format": "pcm"}, "x")
    with pytest.raises(Exception, match=r"voice_id 'nope' not found.*\(1008\)"):
        async with asyncio.timeout(TIMEOUT):
            await client.tts({"voice_id": "nope"}, "x")
    with pytest.raises(Exception, match=r"unsupported output_format 'opus'"):
        async with asyncio.timeout(TIMEOUT):
            await client.tts({"output_format": "opus"}, "x")
