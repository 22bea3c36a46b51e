"""Multiplexing several client_req_id on one socket, and cancellation when a socket closes."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runtime.tts_server import TTSServer
from testing.frames import wait_until
from testing.ws_messages import read_all, send

TIMEOUT = 60
LONG_TEXT = " ".join(f"This is sentence number {i}, and it goes on for a little while." for i in range(1, 31))


@pytest.fixture
async def server():
    async with TTSServer() as srv:
        yield srv


async def test_two_interleaved_requests_are_routed_by_client_req_id(server):
    texts = {"req-a": ["Alpha one speaks first.", " Then alpha continues."], "req-b": ["Bravo two, the other voice."]}
    async with connect(server.url) as ws:
        for rid in texts:
            await send(ws, type="setup", client_req_id=rid, close_ws_on_eos=False, output_format="pcm_24000")
        # Interleave text of both requests before either ends.
        await send(ws, type="text", text=texts["req-a"][0], client_req_id="req-a")
        await send(ws, type="text", text=texts["req-b"][0], client_req_id="req-b")
        await send(ws, type="text", text=texts["req-a"][1], client_req_id="req-a")
        await send(ws, type="end_of_stream", client_req_id="req-b")
        await send(ws, type="end_of_stream", client_req_id="req-a")
        by_id: dict[str, list[dict]] = {"req-a": [], "req-b": []}
        ended = set()
        async with asyncio.timeout(TIMEOUT):
            while ended != set(texts):
                msg = json.loads(await ws.recv())
                assert msg["type"] != "error", msg
                by_id[msg["client_req_id"]].append(msg)  # every message carries its id
                if msg["type"] == "end_of_stream":
                    ended.add(msg["client_req_id"])
        await asyncio.wait_for(await ws.ping(), TIMEOUT)  # socket stays open (close_ws_on_eos false)

    ready_ids = set()
    for rid, msgs in by_id.items():
        assert msgs[0]["type"] == "ready" and msgs[0]["client_req_id"] == rid
        ready_ids.add(msgs[0]["request_id"])
        assert msgs[-1]["type"] == "end_of_stream"
        words = [m["text"] for m in msgs if m["type"] == "text"]
        assert words == " ".join(texts[rid]).split()
        audio = [m for m in msgs if m["type"] == "audio"]
        assert audio[0]["start_s"] == 0.0  # each request has its own timeline
        assert sum(len(base64.b64decode(m["audio"])) for m in audio) / 2 / 24000 == pytest.approx(
            audio[-1]["stop_s"], abs=1e-3
        )
    assert len(ready_ids) == 2
    assert server.stats.requests_completed == 2


async def test_reusing_an_active_client_req_id_is_a_protocol_error(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", client_req_id="x", close_ws_on_eos=False)
        await send(ws, type="setup", client_req_id="x", close_ws_on_eos=False)
        msgs = await read_all(ws, TIMEOUT)
        assert ws.close_code == 1008
    assert [m["type"] for m in msgs] == ["ready", "error"]
    assert msgs[1]["client_req_id"] == "x" and "already active" in msgs[1]["message"]


async def test_finished_client_req_id_can_be_reused(server):
    async with connect(server.url) as ws:
        for _ in range(2):
            await send(ws, type="setup", client_req_id="same", close_ws_on_eos=False, output_format="pcm_16000")
            await send(ws, type="text", text="Again.", client_req_id="same")
            await send(ws, type="end_of_stream", client_req_id="same")
            async with asyncio.timeout(TIMEOUT):
                while (msg := json.loads(await ws.recv()))["type"] != "end_of_stream":
                    assert msg["type"] != "error", msg
    assert server.stats.requests_completed == 2


async def test_text_for_unknown_client_req_id_is_error(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", client_req_id="known", close_ws_on_eos=False)
        await send(ws, type="text", text="hi", client_req_id="unknown")
        msgs = await read_all(ws, TIMEOUT)
    assert msgs[-1]["type"] == "error" and msgs[-1]["client_req_id"] == "unknown"
    assert "no active request for client_req_id 'unknown'" in msgs[-1]["message"]


async def test_request_limit_per_socket():
    from runtime.tts_server import TTSServerSettings

    async with TTSServer(settings=TTSServerSettings(max_requests_per_connection=2)) as srv:
        async with connect(srv.url) as ws:
            for rid in ("a", "b", "c"):
                await send(ws, type="setup", client_req_id=rid, close_ws_on_eos=False)
            msgs = await read_all(ws, TIMEOUT)
    assert [m["type"] for m in msgs] == ["ready", "ready", "error"]
    assert "too many concurrent requests on this socket (limit 2)" in msgs[-1]["message"]


async def test_closing_the_socket_stops_synthesis_at_once(server):
    """After the client hangs up, at most the sentence already running is synthesized."""
    stats = server.stats
    # max_queue=None: the client never applies backpressure, so only cancellation can stop
    # the server from synthesizing the whole text (~100 s of audio in a few seconds of CPU).
    async with connect(server.url, max_queue=None) as ws:
        await send(ws, type="setup", output_format="pcm")
        ready = json.loads(await ws.recv())
        await send(ws, type="text", text=LONG_TEXT)
        await send(ws, type="end_of_stream")
        async with asyncio.timeout(TIMEOUT):
            while json.loads(await ws.recv())["type"] != "audio":
                pass
    # The client is gone: the server notices and stops.
    await wait_until(lambda: stats.connections_open == 0)
    req = stats.request(ready["request_id"])
    await wait_until(stats.settled)  # cancelled, and the sentence in flight (if any) finished
    assert req.state == "cancelled" and stats.requests_cancelled == 1
    done_at_close = req.audio_seconds
    await asyncio.sleep(1.0)  # long enough for several more sentences, were it still running
    assert req.audio_seconds == done_at_close, "synthesis continued after the socket closed"
    assert stats.audio_seconds_total == pytest.approx(req.audio_seconds)
    # The full text is ~30 sentences (~100 s of audio); only a small part was made.
    assert req.audio_seconds < 30
    assert req.audio_seconds_after_cancel <= 8.0  # at most one Piper sentence in flight
    assert req.audio_seconds_sent <= req.audio_seconds + 1e-6


async def test_closing_a_multiplexed_socket_cancels_every_request(server):
    stats = server.stats
    async with connect(server.url, max_queue=None) as ws:
        for rid in ("one", "two"):
            await send(ws, type="setup", client_req_id=rid, close_ws_on_eos=False)
            await send(ws, type="text", text=LONG_TEXT, client_req_id=rid)
        await send(ws, type="setup", client_req_id="idle", close_ws_on_eos=False)
        async with asyncio.timeout(TIMEOUT):
            while json.loads(await ws.recv())["type"] != "audio":
                pass
    await wait_until(lambda: stats.connections_open == 0)
    await wait_until(stats.settled)
    states = sorted(r.state for r in stats.requests.values())
    assert states == ["abandoned", "cancelled", "cancelled"]
    total = stats.audio_seconds_total
    await asyncio.sleep(1.0)
    assert stats.audio_seconds_total == total
    assert total < 60
    assert all(r.audio_seconds_after_cancel <= 8.0 for r in stats.requests.values())


async def test_stopping_the_server_cancels_running_requests():
    async with TTSServer() as srv:
        async with connect(srv.url, max_queue=None) as ws:
            await send(ws, type="setup")
            await send(ws, type="text", text=LONG_TEXT)
            await send(ws, type="end_of_stream")
            async with asyncio.timeout(TIMEOUT):
                while json.loads(await ws.recv())["type"] != "audio":
                    pass
            await srv.stop()
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        await ws.recv()
            assert ws.close_code == 1001
    assert srv.stats.requests_cancelled == 1 and srv.stats.connections_open == 0


async def test_stats_snapshot_is_json_ready(server):
    async with connect(server.url) as ws:
        await send(ws, type="setup", client_req_id="s1", output_format="alaw_8000")
        await send(ws, type="text", text="Count me.", client_req_id="s1")
        await send(ws, type="end_of_stream", client_req_id="s1")
        await read_all(ws, TIMEOUT)
    await wait_until(lambda: server.stats.connections_open == 0)
    snap = json.loads(json.dumps(server.stats.snapshot()))
    assert snap["connections_total"] == 1 and snap["requests_completed"] == 1
    (req,) = snap["requests"]
    assert req["client_req_id"] == "s1" and req["output_format"] == "alaw_8000" and req["state"] == "completed"
    assert req["audio_seconds"] > 0.3 and req["audio_seconds_sent"] == pytest.approx(req["audio_seconds"], abs=0.01)
    assert req["first_audio_latency_secs"] is not None and req["first_audio_latency_secs"] >= 0
    assert snap["audio_seconds_total"] == pytest.approx(req["audio_seconds"])


async def test_concurrent_sockets_each_get_their_own_complete_answer(server):
    formats = ["pcm", "pcm_16000", "pcm_24000", "wav", "ulaw_8000", "alaw_8000"]

    async def one(i: int, fmt: str) -> tuple[list[str], int]:
        async with connect(server.url) as ws:
            await send(ws, type="setup", output_format=fmt)
            await send(ws, type="text", text=f"Socket {i} says hello.")
            await send(ws, type="end_of_stream")
            msgs = await read_all(ws, TIMEOUT)
            assert ws.close_code == 1000
        assert msgs[0]["type"] == "ready" and msgs[-1]["type"] == "end_of_stream"
        return [m["text"] for m in msgs if m["type"] == "text"], msgs[0]["sample_rate"]

    results = await asyncio.gather(*(one(i, f) for i, f in enumerate(formats)))
    for i, (words, rate) in enumerate(results):
        assert words == ["Socket", str(i), "says", "hello."]
    assert [r for _, r in results] == [48000, 16000, 24000, 48000, 8000, 8000]
    await wait_until(lambda: server.stats.connections_open == 0)
    assert server.stats.connections_total == 6 and server.stats.requests_completed == 6
