"""Fuzzing (hypothesis) the Gradium client's handling of server messages.

Two levels: the parsing functions of ``processors.gradium.protocol`` (anything in, a message or
one ``GradiumProtocolError`` out, never another exception), and the whole
``GradiumTTSService`` against a scripted server that says random things in the middle of an
answer: the service never raises, the answer always ends in bounded time, every error is one
clear "Gradium TTS" line, and the next answer works.
"""

from __future__ import annotations

import asyncio
import base64
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from loguru import logger
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from pipecat.frames.frames import LLMFullResponseEndFrame
from testing.probe import PipelineProbe
from processors.gradium.protocol import GradiumProtocolError, decode_audio, parse_message, spoken_word, strip_flush
from processors.gradium.settings import GradiumConnectionParams
from processors.gradium.tts import GradiumTTSService
from testing.frames import answer

RATE = 24000
PARAMS = GradiumConnectionParams(
    connect_timeout_secs=1.0, ready_timeout_secs=1.0, first_audio_timeout_secs=1.0, stall_timeout_secs=1.0,
    ping_interval_secs=None, close_timeout_secs=0.3, backoff_min_secs=0.05, backoff_max_secs=0.2,
)
# Ours, or pipecat's TTS base class when the server ends a request without any audio.
ERROR_PREFIXES = ("Gradium TTS", "TTS context ")
TONE = base64.b64encode(b"\x10\x00" * (RATE // 10)).decode()  # 0.1 s

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = {
    "audio": st.one_of(st.just(TONE), st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), json_values),
    "text": st.one_of(st.sampled_from(["Hello", "<flush>", " there <flush> "]), json_values),
    "start_s": json_values,
    "stop_s": json_values,
    "sample_rate": st.one_of(st.sampled_from([8000, 16000, 24000, 48000, 0, 1, -5, True, 10**9, 8000.5]), json_values),
    "code": json_values,
    "message": json_values,
    "client_req_id": json_values,
    "request_id": json_values,
}
typed = st.builds(
    lambda t, fields: json.dumps({**fields, "type": t}),
    st.one_of(st.sampled_from(["ready", "audio", "text", "end_of_stream", "error"]), st.text(max_size=10)),
    st.fixed_dictionaries({}, optional=FIELDS),
)
SERVER_FRAMES = st.one_of(typed, typed, typed, st.text(max_size=40), st.binary(max_size=40),
                          json_values.map(json.dumps))


# -- the parsing functions ------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(st.text(), st.binary(), json_values.map(json.dumps), typed))
def test_parse_message_returns_a_typed_message_or_one_protocol_error(raw):
    try:
        msg = parse_message(raw)
    except GradiumProtocolError as e:
        text = str(e)
        assert text.startswith("Gradium TTS sent ") and "\n" not in text and len(text) < 200
        return
    assert isinstance(msg, dict) and isinstance(msg["type"], str)


@settings(max_examples=500, deadline=None)
@given(msg=st.fixed_dictionaries({}, optional={"audio": FIELDS["audio"]}), wav=st.booleans())
def test_decode_audio_returns_bytes_or_one_protocol_error(msg, wav):
    try:
        audio = decode_audio(msg, strip_wav_header=wav)
    except GradiumProtocolError as e:
        assert "not base64" in str(e)
        return
    assert isinstance(audio, bytes)
    if not wav:
        assert audio == base64.b64decode(msg.get("audio", ""))


@given(pcm=st.binary(max_size=200), extra=st.binary(max_size=30).map(lambda b: b[: len(b) // 2 * 2]))
def test_decode_audio_strips_any_wav_header(pcm, extra):
    """A RIFF header with extra chunks before ``data``: only the samples remain."""
    chunk = b"LIST" + len(extra).to_bytes(4, "little") + extra
    fmt = b"fmt " + (16).to_bytes(4, "little") + bytes(16)
    wav = b"RIFF" + (0).to_bytes(4, "little") + b"WAVE" + fmt + chunk + b"data" + len(pcm).to_bytes(4, "little") + pcm
    assert decode_audio({"audio": base64.b64encode(wav).decode()}, strip_wav_header=True) == pcm


@given(text=st.one_of(json_values, st.lists(st.sampled_from(["a", " ", "<flush>", "<flu", "sh>"]), max_size=12).map("".join)))
def test_spoken_words_never_carry_the_flush_marker(text):
    word = spoken_word(text)
    assert isinstance(word, str) and "<flush>" not in word and word == word.strip()


@given(text=st.lists(st.sampled_from(["a", " ", "<flush>", "<flu", "sh>", "."]), max_size=12).map("".join))
def test_strip_flush_removes_every_marker(text):
    stripped, marked = strip_flush(text)
    assert "<flush>" not in stripped and marked == ("<flush>" in text)


# -- the whole service against a server that says random things mid-answer ------------------


class RandomServer:
    """A good server, except that the first request also gets ``noise``: right after ``ready``
    (before any audio: the service may replay the answer on a new socket) or after its first
    audio (the answer can only fail)."""

    def __init__(self, noise: list[str | bytes], after_audio: bool):
        self.noise = noise
        self.after_audio = after_audio
        self.url = ""
        self._server = None

    async def __aenter__(self) -> RandomServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/api/speech/tts"
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _noise(self, ws) -> None:
        noise, self.noise = self.noise, []
        for frame in noise:
            await ws.send(frame)

    async def _handle(self, ws) -> None:
        close_on_eos = True
        try:
            async for raw in ws:
                msg = json.loads(raw)
                rid = {"client_req_id": msg["client_req_id"]} if "client_req_id" in msg else {}
                if msg["type"] == "setup":
                    close_on_eos = msg.get("close_ws_on_eos", True)
                    await ws.send(json.dumps({"type": "ready", "request_id": "r", "sample_rate": RATE, **rid}))
                    if not self.after_audio:
                        await self._noise(ws)
                elif msg["type"] == "text":
                    await ws.send(json.dumps({"type": "audio", "audio": TONE, **rid}))
                    await self._noise(ws)
                elif msg["type"] == "end_of_stream":
                    await ws.send(json.dumps({"type": "end_of_stream", **rid}))
                    if close_on_eos:
                        await ws.close()
        except ConnectionClosed:
            pass


async def survive(noise: list[str | bytes], after_audio: bool, multiplex: bool = False) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        async with RandomServer(noise, after_audio) as server:
            tts = GradiumTTSService(url=server.url, connection=PARAMS,
                                    settings=GradiumTTSService.Settings(multiplex=multiplex))
            async with PipelineProbe(tts, sample_rate=RATE) as probe:
                await probe.push(*answer("Hello there."))
                await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)
                # Whatever the server said, the service got through it with its audio bounded.
                assert probe.seconds(probe.audio()) <= 0.1 * (1 + len(noise)) + 1e-6
                errors = [e.error for e in probe.errors()]
                event(f"{'multiplexed, ' if multiplex else ''}{'after' if after_audio else 'before'} audio: "
                      f"{len(errors)} error(s)")
                assert all(e.startswith(ERROR_PREFIXES) and "\n" not in e for e in errors), errors
                mark = len(probe.down.records)
                await probe.push(*answer("And again."))
                await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=10)
                assert probe.seconds(probe.audio(after=mark)) == 0.1
                assert [e.error for e in probe.errors()] == errors
    finally:
        logger.remove(sink)
    assert not [line for line in lines if "exception" in line.lower() or "Traceback" in line], lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=st.lists(SERVER_FRAMES, min_size=1, max_size=4), after_audio=st.booleans(), multiplex=st.booleans())
def test_the_service_survives_anything_the_server_says(noise, after_audio, multiplex):
    asyncio.run(survive(noise, after_audio, multiplex))
