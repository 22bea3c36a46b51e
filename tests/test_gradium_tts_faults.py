"""GradiumTTSService failure handling: timeouts, bad messages, dead sockets, secrets, wire format.

Faults come from a tiny scripted WebSocket server (what it does is decided when each
``setup`` arrives) or from the real local server behind a TCP proxy that can freeze.
Every fault must end in an ErrorFrame with a clear message, and the next answer must work.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import socket
import time

import pytest
from loguru import logger
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from runtime.tts_server import TTSServer, TTSServerSettings
from testing.net_delay_proxy import NetDelayProxy
from pipecat.frames.frames import (
    ErrorFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
)
from testing.probe import PipelineProbe
from processors.gradium.settings import GRADIUM_EU_URL, GRADIUM_LOCAL_URL, GradiumConnectionParams
from processors.gradium.tts import GradiumTTSService
from processors.phrase.aggregator import PhraseFrame
from testing.frames import answer, wait_until

FAST = GradiumConnectionParams(
    connect_timeout_secs=0.5,
    ready_timeout_secs=0.5,
    first_audio_timeout_secs=0.5,
    stall_timeout_secs=0.5,
    ping_interval_secs=0.2,
    ping_timeout_secs=0.3,
    close_timeout_secs=0.3,
    backoff_min_secs=0.05,
    backoff_max_secs=0.2,
)
# With the real (Piper) server: synthesis may be slow on a loaded CI machine, so audio gets time.
REAL = dataclasses.replace(
    FAST, ready_timeout_secs=5.0, first_audio_timeout_secs=10.0, stall_timeout_secs=10.0, ping_interval_secs=0.5, ping_timeout_secs=1.0
)
RATE = 24000


class ScriptedServer:
    """A WebSocket server that records client messages and answers each ``setup`` per ``mode``.

    Modes: ``good`` (ready, 0.2 s of audio per text, words, end_of_stream, close), ``silent``
    (nothing), ``no_audio`` (ready only), ``garbage`` (a non-JSON frame), ``error`` (an error
    message), ``die_after_audio`` (ready, some audio, then the connection drops),
    ``close_before_audio`` (ready, then a close after the first text).
    """

    def __init__(self, mode: str | list[str] = "good"):
        self.mode = mode  # a list: one mode per setup, the last one repeating
        self.connections: list[list[dict]] = []
        self.url = ""
        self._server = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/api/speech/tts"
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws) -> None:
        log: list[dict] = []
        self.connections.append(log)
        modes: dict[str | None, str] = {}  # per client_req_id
        close_on_eos = True

        async def reply(rid: str | None, **msg) -> None:
            await ws.send(json.dumps(msg | ({"client_req_id": rid} if rid else {})))

        try:
            async for raw in ws:
                msg = json.loads(raw)
                log.append(msg)
                rid = msg.get("client_req_id")
                if msg["type"] == "setup":
                    mode = modes[rid] = self._next_mode()
                    close_on_eos = msg.get("close_ws_on_eos", True)
                    if mode in ("good", "no_audio", "die_after_audio", "close_before_audio"):
                        await reply(rid, type="ready", request_id="r", sample_rate=RATE)
                    if mode == "garbage":
                        await ws.send("this is not json")
                    if mode == "error":
                        await reply(rid, type="error", message="voice exploded", code=1011)
                        await ws.close(1011)
                    continue
                mode = modes.get(rid, "good")
                if msg["type"] == "text" and mode == "good":
                    await reply(rid, type="text", text=msg["text"].split()[0], start_s=0.0)
                    await reply(rid, type="audio", audio=_tone(0.2))
                elif msg["type"] == "text" and mode == "die_after_audio":
                    await reply(rid, type="audio", audio=_tone(0.2))
                    ws.transport.abort()
                    return
                elif msg["type"] == "text" and mode == "close_before_audio":
                    await ws.close(1011, "model crashed")
                    return
                elif msg["type"] == "end_of_stream" and mode == "good":
                    await reply(rid, type="end_of_stream")
                    if close_on_eos:
                        await ws.close()
        except ConnectionClosed:
            pass


    def _next_mode(self) -> str:
        if isinstance(self.mode, str):
            return self.mode
        return self.mode.pop(0) if len(self.mode) > 1 else self.mode[0]


def _tone(seconds: float) -> str:
    return base64.b64encode(b"\x10\x00" * int(RATE * seconds)).decode()


async def error_with(probe: PipelineProbe, text: str, after: int = 0, timeout: float = 10) -> ErrorFrame:
    record = await probe.up.wait_for(lambda f: isinstance(f, ErrorFrame) and text in f.error, after=after, timeout=timeout)
    return record.frame


async def speaks(probe: PipelineProbe, *phrases: str, timeout: float = 20) -> float:
    """Push an answer and return the seconds of audio it produced."""
    mark = len(probe.down.records)
    await probe.push(*answer(*phrases))
    await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=timeout)
    return probe.seconds(probe.audio(after=mark))


@pytest.mark.parametrize(
    "mode,message",
    [
        ("silent", "sent no 'ready' within 0.5s"),
        ("no_audio", "sent no audio within 0.5s"),
        ("garbage", "not JSON"),
        ("error", "Gradium TTS error 1011: voice exploded"),
        ("die_after_audio", "connection closed before the answer finished"),
    ],
)
async def test_a_failing_answer_becomes_an_error_frame_and_the_next_answer_works(mode, message):
    async with ScriptedServer(mode) as server:
        tts = GradiumTTSService(url=server.url, connection=FAST)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            started = time.monotonic()
            await probe.push(*answer("Hello there.", "Second phrase."))
            error = await error_with(probe, message)
            assert time.monotonic() - started < 5
            assert "\n" not in error.error
            await probe.down.wait_for(LLMFullResponseEndFrame)
            server.mode = "good"
            assert await speaks(probe, "Now it works.", "Yes.") == pytest.approx(0.4, abs=0.01)
            assert tts.is_usable


async def test_a_socket_lost_before_audio_is_replayed_on_the_spare_without_an_error():
    async with ScriptedServer(["close_before_audio", "good"]) as server:
        tts = GradiumTTSService(url=server.url, connection=FAST)
        infos = []

        @tts.event_handler("on_request_started")
        async def _on_request(service, info):
            infos.append(info)

        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            assert await speaks(probe, "Hello there.", "Second phrase.") == pytest.approx(0.4, abs=0.01)
    assert probe.errors() == []
    assert tts.stats.failovers == 1 and [i.failover for i in infos] == [False, True]
    first, replayed = [c for c in server.connections if c][:2]
    assert [m["type"] for m in first] == ["setup", "text"]
    assert [m["type"] for m in replayed] == ["setup", "text", "text", "end_of_stream"]
    assert [m.get("text") for m in replayed[1:3]] == ["Hello there. <flush>", " Second phrase. <flush>"]


async def test_connect_timeout_is_reported_quickly():
    async def never_answer(reader, writer):
        await reader.read()

    hang = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{hang.sockets[0].getsockname()[1]}/api/speech/tts"
    try:
        tts = GradiumTTSService(url=url, connection=FAST)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            started = time.monotonic()
            await probe.push(*answer("Hello."))
            error = await error_with(probe, "timed out after 0.5s")
            assert time.monotonic() - started < 3
            assert error.error.startswith("Gradium TTS: connecting to ws://127.0.0.1:")
    finally:
        hang.close()


async def test_unreachable_server_then_server_comes_up_and_answers_work():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tts = GradiumTTSService(url=f"ws://127.0.0.1:{port}/api/speech/tts", connection=REAL)
    async with PipelineProbe(tts, sample_rate=RATE) as probe:
        await probe.push(*answer("Nobody is listening."))
        await error_with(probe, f"cannot reach ws://127.0.0.1:{port}/api/speech/tts")
        await probe.down.wait_for(LLMFullResponseEndFrame)
        async with TTSServer(port=port) as server:
            # The background reconnect (with backoff) opens a spare: no handshake on the next answer.
            await wait_until(lambda: tts.spare_socket is not None)
            before = tts.stats.handshakes_on_critical_path
            seconds = await speaks(probe, "Now somebody is.")
            assert seconds == pytest.approx(list(server.stats.requests.values())[-1].audio_seconds, abs=0.02)
            assert seconds > 0.5
            assert tts.stats.handshakes_on_critical_path == before
    assert tts.is_usable


async def test_dead_sockets_are_detected_by_ping_and_replaced():
    async with TTSServer() as server, NetDelayProxy("127.0.0.1", server.port, delay_secs=0.0) as proxy:
        tts = GradiumTTSService(url=proxy.rewrite(server.url), connection=REAL)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await wait_until(lambda: tts.spare_socket is not None)
            spare = tts.spare_socket
            proxy.freeze()  # the network dies silently: no close, no data
            await wait_until(lambda: spare.closed_at is not None, timeout=5)
            # While the network is down, reconnecting fails with clear errors.
            await error_with(probe, "timed out after 0.5s")
            proxy.thaw()
            await wait_until(lambda: tts.spare_socket is not None and tts.spare_socket is not spare)
            assert await speaks(probe, "The network is back.") > 0.5


async def test_a_stall_mid_answer_is_reported_and_the_next_answer_works():
    async with TTSServer() as server, NetDelayProxy("127.0.0.1", server.port, delay_secs=0.0) as proxy:
        tts = GradiumTTSService(url=proxy.rewrite(server.url), connection=REAL)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await probe.push(*answer("This answer will stall.", "Right about now, in the middle.", "Never heard."))
            await probe.down.wait_for(TTSAudioRawFrame, timeout=20)
            proxy.freeze()
            error = await error_with(probe, "Gradium TTS")
            assert "stalled" in error.error or "connection closed" in error.error
            await probe.down.wait_for(LLMFullResponseEndFrame)  # the failed answer ends
            proxy.thaw()
            assert await speaks(probe, "Back again.") > 0.3
            assert tts.is_usable


async def test_api_key_is_sent_as_header_and_never_logged(monkeypatch, caplog):
    key, wrong = "sk-test-5ecret-KEY-123456", "sk-wrong-KEY-999999"
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE")
    caplog.set_level(logging.DEBUG)
    try:
        async with TTSServer(api_key=key) as server:
            monkeypatch.setenv("GRADIUM_API_KEY", key)
            tts = GradiumTTSService(url=server.url, connection=REAL)  # key from the environment
            async with PipelineProbe(tts, sample_rate=RATE) as probe:
                assert await speaks(probe, "Authorized.") > 0.3
            bad = GradiumTTSService(api_key=wrong, url=server.url, connection=REAL)
            async with PipelineProbe(bad, sample_rate=RATE) as bad_probe:
                await bad_probe.push(*answer("Refused."))
                error = await error_with(bad_probe, "invalid or missing API key")
                await bad_probe.down.wait_for(LLMFullResponseEndFrame)
    finally:
        logger.remove(sink)
    # (websockets' own server logger prints request headers at DEBUG: the server's business)
    ours = [r.getMessage() for r in caplog.records if r.name != "websockets.server"]
    texts = lines + ours + [e.error for e in bad_probe.errors()]
    texts += [repr(tts), repr(bad), repr(tts._settings), str(bad.stats), error.error]
    assert texts and not [t for t in texts if key in t or wrong in t]


def test_endpoint_defaults_and_bad_config_fail_with_one_clear_line(monkeypatch):
    monkeypatch.delenv("GRADIUM_API_KEY", raising=False)
    assert GradiumTTSService().url == GRADIUM_LOCAL_URL
    assert GradiumTTSService(api_key="k").url == GRADIUM_EU_URL
    monkeypatch.setenv("GRADIUM_API_KEY", "k")
    assert GradiumTTSService().url == GRADIUM_EU_URL
    with pytest.raises(ValueError, match=r"output_format 'opus' .*use one of: pcm, pcm_8000"):
        GradiumTTSService(output_format="opus")
    with pytest.raises(ValueError, match="must start with ws:// or wss://"):
        GradiumTTSService(url="http://127.0.0.1:1/api/speech/tts")


@pytest.mark.parametrize("multiplex", [False, True])
async def test_wire_messages_follow_the_protocol(multiplex):
    async with ScriptedServer("good") as server:
        settings = GradiumTTSService.Settings(
            voice="YTpq7expH9539ERJ", model="default", json_config={"temp": 0.5}, multiplex=multiplex
        )
        tts = GradiumTTSService(url=server.url, connection=FAST, settings=settings)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await probe.push(
                LLMFullResponseStartFrame(),
                PhraseFrame(text="Well,", text_type="sentence"),
                PhraseFrame(text="that is it.", text_type="sentence", flush=True),
                PhraseFrame(text="Bye!", text_type="sentence", flush=True, final=True),
            )
            await probe.push(LLMFullResponseEndFrame())
            await probe.down.wait_for(LLMFullResponseEndFrame)
            words = [r.frame.text for r in probe.down.records if isinstance(r.frame, TTSTextFrame)]
    log = next(c for c in server.connections if c)
    setup, *texts, eos = log
    assert setup["type"] == "setup" and setup["output_format"] == "pcm_24000"
    assert setup["voice_id"] == "YTpq7expH9539ERJ" and setup["model_name"] == "default"
    assert json.loads(setup["json_config"]) == {"temp": 0.5}
    assert setup["close_ws_on_eos"] is (not multiplex)
    assert [t["text"] for t in texts] == ["Well,", " that is it. <flush>", " Bye! <flush>"]
    assert eos["type"] == "end_of_stream"
    ids = {m.get("client_req_id") for m in log}
    assert ids == ({setup.get("client_req_id")} if multiplex else {None})
    assert not multiplex or setup["client_req_id"]
    assert "<flush>" not in " ".join(words)
    assert probe.errors() == []


async def test_settings_updates_apply_to_the_next_answer():
    async with ScriptedServer("good") as server:
        tts = GradiumTTSService(url=server.url, connection=FAST)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await speaks(probe, "One.")
            await probe.push(TTSUpdateSettingsFrame(delta=GradiumTTSService.Settings(voice="LFZvm12tW_z0xfGo")))
            await speaks(probe, "Two.")
            await probe.push(TTSUpdateSettingsFrame(delta=GradiumTTSService.Settings(multiplex=True)))
            await speaks(probe, "Three.")
            await speaks(probe, "Four.")
    setups = [m for c in server.connections for m in c if m["type"] == "setup"]
    assert [s["voice_id"] for s in setups] == ["YTpq7expH9539ERJ", "LFZvm12tW_z0xfGo", "LFZvm12tW_z0xfGo", "LFZvm12tW_z0xfGo"]
    assert [s["close_ws_on_eos"] for s in setups] == [True, True, False, False]
    assert setups[2]["client_req_id"] != setups[3]["client_req_id"]
    assert probe.errors() == []


async def test_idle_spares_are_replaced_quietly():
    idle = dataclasses.replace(REAL, spare_max_idle_secs=0.3)
    async with TTSServer(settings=TTSServerSettings(idle_timeout_secs=1.5)) as server:
        tts = GradiumTTSService(url=server.url, connection=idle)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await wait_until(lambda: tts.stats.sockets_opened >= 4)
            assert tts.spare_socket is not None and tts.spare_socket.age_secs < 0.3
            assert server.stats.connections_open <= 2  # replaced spares are closed
            assert await speaks(probe, "Still fresh.") > 0.3
        # A server that drops idle sockets itself: replaced without an error either.
        tts = GradiumTTSService(url=server.url, connection=dataclasses.replace(REAL, spare_max_idle_secs=None))
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await wait_until(lambda: server.stats.errors_sent >= 1, timeout=5)  # "idle timeout"
            await wait_until(lambda: tts.spare_socket is not None)
            assert await speaks(probe, "Still here.") > 0.3
            assert probe.errors() == []
