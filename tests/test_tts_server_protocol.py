"""Protocol conformance of the local Gradium-compatible TTS server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from runtime.tts_server import TTS_PATH, TTSServer, TTSServerSettings

from testing.ws_messages import drain, of_type, read_all, read_until, send

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30


@pytest.fixture
async def server():
    async with TTSServer() as srv:
        yield srv


async def test_server_binds_loopback_and_serves_gradium_path(server):
    assert server.host == "127.0.0.1"
    assert server.url == f"ws://127.0.0.1:{server.port}{TTS_PATH}"
    assert server.url.endswith("/api/speech/tts")


async def test_full_request_default_closes_socket_after_end_of_stream(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", voice_id="YTpq7expH9539ERJ", output_format="pcm", model_name="default")
        await send(ws, type="text", text="Hello there, how are you today?")
        await send(ws, type="end_of_stream")
        msgs = await read_all(ws)
        assert ws.close_code == 1000  # close_ws_on_eos defaults to true

    ready = msgs[0]
    assert ready["type"] == "ready"
    assert ready["sample_rate"] == 48000 and ready["frame_size"] == 3840
    assert ready["model_name"] == "default" and ready["model_ext"]
    assert len(ready["request_id"]) >= 32
    assert "client_req_id" not in ready  # none was given
    assert msgs[-1] == {"type": "end_of_stream"}

    audio = of_type(msgs, "audio")
    assert audio, "no audio"
    pcm = b"".join(base64.b64decode(m["audio"]) for m in audio)
    # The chunks tile the timeline, ~80 ms each, and match the bytes sent.
    assert audio[0]["start_s"] == 0.0
    for a, b in zip(audio, audio[1:]):
        assert b["start_s"] == pytest.approx(a["stop_s"])
    assert all(m["stop_s"] - m["start_s"] <= 0.0801 for m in audio)
    assert sum(m["stop_s"] - m["start_s"] >= 0.079 for m in audio) >= len(audio) - 2
    assert len(pcm) / 2 / 48000 == pytest.approx(audio[-1]["stop_s"], abs=1e-3)
    assert 1.0 < audio[-1]["stop_s"] < 6.0

    words = of_type(msgs, "text")
    assert [w["text"] for w in words] == ["Hello", "there,", "how", "are", "you", "today?"]
    for w in words:
        assert 0 <= w["start_s"] < w["stop_s"] <= audio[-1]["stop_s"] + 1e-6
    assert all(a["start_s"] <= b["start_s"] for a, b in zip(words, words[1:]))
    # Each word is announced before the audio chunk in which it starts.
    for w in words:
        first_audio_after = next(i for i, m in enumerate(msgs) if m["type"] == "audio" and m["stop_s"] > w["start_s"])
        assert msgs.index(w) < first_audio_after


@pytest.mark.parametrize(
    "first",
    [
        {"type": "text", "text": "hello"},
        {"type": "end_of_stream"},
    ],
)
async def test_setup_must_come_first(server, first):
    async with connect(server.url) as ws:
        await ws.send(json.dumps(first))
        msgs = await read_all(ws)
        assert ws.close_code == 1008
    assert len(msgs) == 1 and msgs[0]["type"] == "error" and msgs[0]["code"] == 1008
    assert "first message must be 'setup'" in msgs[0]["message"]
    assert server.stats.errors_sent == 1


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"type": "speak", "text": "hi"}), "unknown message type"),
        (json.dumps({"text": "hi"}), "unknown message type"),
        (b"\x00\x01", "binary frames"),
    ],
)
async def test_malformed_messages_get_error_and_close(server, raw, expected):
    async with connect(server.url) as ws:
        await ws.send(raw)
        msgs = await read_all(ws)
        assert ws.close_code == 1008
    assert msgs == [msgs[0]] and msgs[0]["type"] == "error" and expected in msgs[0]["message"]


@pytest.mark.parametrize(
    "setup, expected",
    [
        ({"voice_id": "no-such-voice"}, "voice_id 'no-such-voice' not found"),
        ({"voice": "nobody"}, "voice 'nobody' not found"),
        ({"output_format": "opus"}, "unsupported output_format 'opus'"),
        ({"output_format": "mp3"}, "unsupported output_format 'mp3'"),
        ({"close_ws_on_eos": "yes"}, "close_ws_on_eos"),
        ({"json_config": "{not json"}, "json_config is not valid JSON"),
        ({"json_config": [1]}, "json_config must be a JSON object"),
        ({"voice_id": 12}, "voice_id"),
        ({"client_req_id": 5}, "client_req_id must be a string"),
    ],
)
async def test_bad_setup_gets_error(server, setup, expected):
    async with connect(server.url) as ws:
        await send(ws, type="setup", **setup)
        msgs = await read_all(ws)
        assert ws.close_code == 1008
    assert len(msgs) == 1 and msgs[0]["type"] == "error" and msgs[0]["code"] == 1008
    assert expected in msgs[0]["message"]


@pytest.mark.parametrize(
    "setup, sample_rate",
    [
        ({"voice_id": "YTpq7expH9539ERJ"}, 48000),  # Gradium docs / SDK examples
        ({"voice_id": "_6Aslh2DxfmnRLmP", "output_format": "pcm_24000"}, 24000),  # pipecat default
        ({"voice": "default", "output_format": "pcm_16000"}, 16000),  # SDK name fallback
        ({}, 48000),  # no voice at all: "default"; no format: wav
        ({"voice_id": None, "voice": None, "json_config": None, "output_format": None}, 48000),
        ({"json_config": json.dumps({"temp": 0.6}), "pronunciation_id": None, "retry_for_s": 2}, 48000),
        ({"json_config": {"temp": 0.6}}, 48000),
    ],
)
async def test_accepted_setups(server, setup, sample_rate):
    async with connect(server.url) as ws:
        await send(ws, type="setup", **setup)
        ready = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert ready["type"] == "ready" and ready["sample_rate"] == sample_rate
    assert ready["frame_size"] == sample_rate * 8 // 100


@pytest.mark.parametrize("fmt, n_audio", [("pcm", 0), ("wav", 1)])
async def test_request_without_speakable_text(server, fmt, n_audio):
    async with connect(server.url) as ws:
        await send(ws, type="setup", output_format=fmt)
        await send(ws, type="text", text=" ... ")
        await send(ws, type="end_of_stream")
        msgs = await read_all(ws)
        assert ws.close_code == 1000
    assert msgs[0]["type"] == "ready" and msgs[-1]["type"] == "end_of_stream"
    audio = of_type(msgs, "audio")
    assert len(audio) == n_audio
    if audio:  # wav: just the 44-byte header, so the SDK still gets a valid (empty) file
        assert len(base64.b64decode(audio[0]["audio"])) == 44


async def test_wrong_path_is_404(server):
    url = server.url.replace(TTS_PATH, "/api/speech/asr")
    with pytest.raises(InvalidStatus) as e:
        async with asyncio.timeout(TIMEOUT):
            async with connect(url):
                pass
    assert e.value.response.status_code == 404


async def test_api_key_required_when_configured(capfd, caplog):
    import logging

    from loguru import logger

    caplog.set_level(logging.DEBUG)  # websockets logs handshake headers at DEBUG

    secret = "sk-local-test-1234567890"
    logs: list[str] = []
    sink = logger.add(lambda m: logs.append(str(m)), level="DEBUG")
    try:
        async with TTSServer(api_key=secret) as srv:
            assert secret not in repr(srv)
            for headers in ({}, {"x-api-key": "wrong"}, {"authorization": f"Bearer {secret}"}):
                async with connect(srv.url, additional_headers=headers) as ws:
                    await send(ws, type="setup")
                    msgs = await read_all(ws)
                    assert ws.close_code == 1008
                assert msgs[0]["type"] == "error" and msgs[0]["code"] == 1008
                assert "x-api-key" in msgs[0]["message"] and secret not in msgs[0]["message"]
            assert srv.stats.connections_rejected == 3
            async with connect(srv.url, additional_headers={"x-api-key": secret}) as ws:
                await send(ws, type="setup", output_format="pcm_16000")
                await send(ws, type="text", text="Authorized.")
                await send(ws, type="end_of_stream")
                msgs = await read_all(ws)
            assert msgs[0]["type"] == "ready" and msgs[-1]["type"] == "end_of_stream"
    finally:
        logger.remove(sink)
    out, err = capfd.readouterr()
    server_records = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")]
    assert server_records  # the server's websockets logger was captured...
    assert secret not in "".join(logs + server_records) + out + err  # ...and never shows the key


async def test_incremental_synthesis_before_end_of_stream(server):
    """Audio for a finished sentence (and for <flush>) arrives while the request is still open."""
    async with connect(server.url) as ws:
        await send(ws, type="setup", output_format="pcm_16000")
        await read_until(ws, "ready")
        await send(ws, type="text", text="The first sentence is complete.")
        await send(ws, type="text", text=" And this phrase")
        got = await read_until(ws, "audio")
        assert got[-1]["start_s"] == 0.0
        # Drain the first sentence; the unfinished phrase must not be spoken yet.
        first = got + await drain(ws, 1.5)
        assert [m["text"] for m in of_type(first, "text")] == ["The", "first", "sentence", "is", "complete."]
        await send(ws, type="text", text=" is flushed<flush>")
        second = await drain(ws, 1.5)
        assert [m["text"] for m in of_type(second, "text")] == ["And", "this", "phrase", "is", "flushed"]
        assert of_type(second, "audio")[0]["start_s"] == pytest.approx(of_type(first, "audio")[-1]["stop_s"])
        assert not of_type(first + second, "end_of_stream")
        await send(ws, type="end_of_stream")
        rest = await read_all(ws)
    assert rest[-1]["type"] == "end_of_stream"
    assert not of_type(rest, "error")


async def test_close_ws_on_eos_false_keeps_socket_for_next_request(server):
    async with connect(server.url) as ws:
        ids = []
        for i in range(2):
            await send(ws, type="setup", output_format="ulaw_8000", close_ws_on_eos=False)
            await send(ws, type="text", text=f"Request number {i + 1}.")
            await send(ws, type="end_of_stream")
            msgs = await read_until(ws, "end_of_stream")
            assert msgs[0]["type"] == "ready" and of_type(msgs, "audio")
            ids.append(msgs[0]["request_id"])
        assert ids[0] != ids[1]
        # Still open: a ping round-trips.
        await asyncio.wait_for(await ws.ping(), TIMEOUT)
    assert server.stats.requests_completed == 2


async def test_second_setup_while_active_without_client_req_id_is_error(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", close_ws_on_eos=False)
        await send(ws, type="setup", close_ws_on_eos=False)
        msgs = await read_all(ws)
        assert ws.close_code == 1008
    assert [m["type"] for m in msgs] == ["ready", "error"]
    assert "already active" in msgs[1]["message"]


async def test_text_after_end_of_stream_is_error(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", client_req_id="a", close_ws_on_eos=False)
        await send(ws, type="text", text="One sentence that takes a little while to say.", client_req_id="a")
        await send(ws, type="end_of_stream", client_req_id="a")
        await send(ws, type="text", text="More.", client_req_id="a")
        msgs = await read_all(ws)
    errors = of_type(msgs, "error")
    assert errors and errors[0]["client_req_id"] == "a"
    assert "after end_of_stream" in errors[0]["message"] or "no active request" in errors[0]["message"]


async def test_message_size_limit():
    settings = TTSServerSettings(max_message_bytes=1000)
    async with TTSServer(settings=settings) as srv:
        async with connect(srv.url) as ws:
            await send(ws, type="setup")
            await send(ws, type="text", text="x" * 1500)
            msgs = await read_all(ws)
            assert ws.close_code == 1009
    assert msgs[-1]["type"] == "error" and msgs[-1]["code"] == 1009
    assert "limit is 1000 bytes" in msgs[-1]["message"]


async def test_text_per_request_limit():
    settings = TTSServerSettings(max_text_chars=100)
    async with TTSServer(settings=settings) as srv:
        async with connect(srv.url) as ws:
            await send(ws, type="setup", client_req_id="r1")
            for _ in range(3):
                await send(ws, type="text", text="word " * 10, client_req_id="r1")
            msgs = await read_all(ws)
            assert ws.close_code == 1008
    err = of_type(msgs, "error")
    assert len(err) == 1 and "limit 100 characters" in err[0]["message"] and err[0]["client_req_id"] == "r1"
    assert srv.stats.requests_failed + srv.stats.requests_cancelled == 1


async def test_connection_limit():
    settings = TTSServerSettings(max_connections=2)
    async with TTSServer(settings=settings) as srv:
        async with connect(srv.url) as a, connect(srv.url) as b:
            for ws in (a, b):
                await send(ws, type="setup", close_ws_on_eos=False)
                await read_until(ws, "ready")
            async with connect(srv.url) as c:
                msgs = await read_all(c)
                assert c.close_code == 1013
            assert msgs[0]["code"] == 1013 and "too many connections (limit 2)" in msgs[0]["message"]
            assert srv.stats.connections_open == 2
        # Slots free up once clients leave.
        async with asyncio.timeout(TIMEOUT):
            while srv.stats.connections_open:
                await asyncio.sleep(0.02)
        async with connect(srv.url) as d:
            await send(d, type="setup")
            assert (await read_until(d, "ready"))[-1]["type"] == "ready"


async def test_idle_connection_is_closed():
    settings = TTSServerSettings(idle_timeout_secs=0.3)
    async with TTSServer(settings=settings) as srv:
        async with connect(srv.url) as ws:
            await send(ws, type="setup", close_ws_on_eos=False)
            msgs = await read_all(ws, timeout=10)
            assert ws.close_code == 1008
    assert [m["type"] for m in msgs] == ["ready", "error"] and "idle" in msgs[1]["message"]


def test_cli_prints_url_serves_and_stops_on_sigterm(tmp_path):
    secret = "cli-secret-abcdef"
    env = {**os.environ, "TTS_SERVER_API_KEY": secret, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.tts_server", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # bounded by the pytest timeout; the server prints when ready
        assert line.startswith("tts-server ready: ws://127.0.0.1:") and line.rstrip().endswith(TTS_PATH)
        url = line.split(": ", 1)[1].strip()

        async def talk(key: str) -> list[dict]:
            async with connect(url, additional_headers={"x-api-key": key}) as ws:
                await send(ws, type="setup", output_format="pcm_16000")
                await send(ws, type="text", text="Hi.")
                await send(ws, type="end_of_stream")
                return await read_all(ws)

        assert asyncio.run(talk(secret))[-1]["type"] == "end_of_stream"
        assert asyncio.run(talk("nope"))[0]["code"] == 1008
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0
    assert "tts-server stopped" in out
    assert secret not in line + out + err


def test_cli_bad_port_is_one_error_line():
    from runtime.tts_server.__main__ import main

    assert main(["--port", "70000"]) == 1


def test_cli_port_in_use_is_one_error_line(capsys):
    import socket

    from runtime.tts_server.__main__ import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot listen on 127.0.0.1:{port}")
