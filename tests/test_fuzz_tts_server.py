"""Fuzzing (hypothesis) the local TTS server's message handling over real loopback sockets.

The server runs in a background event loop for the whole module; each example is one client
connection (the sync ``websockets`` client). Properties: every bad input is answered with one
``error`` message and the socket closes with that code; whatever arrives, the server never
reports an internal error (1011), never sends a malformed message, and keeps serving a
bystander connection opened before the fuzzing and new connections after it. (A frame over
the WebSocket limit, twice ``max_message_bytes``, is refused by the WebSocket layer itself:
close code 1009 without a JSON ``error``.)
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from loguru import logger
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from runtime.tts_server import TTSServer, TTSServerSettings

MAX_BYTES = 2048
WS_LIMIT = 4096  # the server's WebSocket frame limit: max(2 * MAX_BYTES, 4096)
SERVER_TYPES = {"ready", "audio", "text", "end_of_stream", "error"}
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
SETUP_FIELDS = ("model_name", "voice_id", "voice", "output_format", "json_config", "pronunciation_id",
                "client_req_id", "close_ws_on_eos", "retry_for_s")


@pytest.fixture(scope="module")
def server():
    """A real TTSServer on 127.0.0.1, in an event loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-tts-server", daemon=True)
    thread.start()
    srv = TTSServer(settings=TTSServerSettings(max_message_bytes=MAX_BYTES, max_text_chars=200))
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(120)
    yield srv
    asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def bystander(server):
    """A connection with an open request, kept across the fuzzing; it must still work after."""
    ws = connect(server.url, open_timeout=10)
    ws.send(json.dumps({"type": "setup", "output_format": "pcm_16000", "close_ws_on_eos": False}))
    assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def server_errors():
    """ERROR lines the server logs (a crash in a connection handler logs one)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    yield lines
    logger.remove(sink)


def exchange(url: str, frames: list[str | bytes], quiet_secs: float = 0.3) -> tuple[list[dict], int | None]:
    """Send frames, then read until the server closes or stays quiet; messages and close code."""
    msgs: list[dict] = []
    with connect(url, open_timeout=10, max_size=None) as ws:
        try:
            for frame in frames:
                ws.send(frame)
        except ConnectionClosed:
            pass  # the server already answered a bad frame and closed
        try:
            while True:
                raw = ws.recv(timeout=quiet_secs)
                assert isinstance(raw, str), "the server sent a binary frame"
                msg = json.loads(raw)
                assert isinstance(msg, dict) and msg.get("type") in SERVER_TYPES, raw[:200]
                msgs.append(msg)
        except (ConnectionClosed, TimeoutError):
            pass
        code = ws.close_code
    return msgs, code


def assert_one_error_and_closed(msgs: list[dict], code: int | None, allowed=(1008, 1009)) -> dict:
    errors = [m for m in msgs if m["type"] == "error"]
    assert len(errors) == 1 and msgs[-1] is errors[0], msgs
    error = errors[0]
    assert error["code"] in allowed and isinstance(error["message"], str) and error["message"]
    assert code == error["code"]
    return error


# -- bad first frames: always exactly one error, then the socket closes ---------------------

not_json = st.text(max_size=60).filter(lambda s: _not_json(s))
not_object = json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps)
unknown_type = st.dictionaries(st.text(max_size=8), json_values, max_size=4).flatmap(
    lambda d: st.one_of(st.text(max_size=12), json_values).filter(
        lambda t: t not in ("setup", "text", "end_of_stream")).map(lambda t: json.dumps({**d, "type": t}))
)
before_setup = st.sampled_from(["text", "end_of_stream"]).flatmap(
    lambda t: st.dictionaries(st.sampled_from(["text", "client_req_id"]), st.text(max_size=10), max_size=2).map(
        lambda d: json.dumps({**d, "type": t}))
)
bad_setup = st.sampled_from(["voice_id", "voice", "model_name", "output_format", "pronunciation_id"]).flatmap(
    lambda k: st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2)).map(
        lambda v: json.dumps({"type": "setup", k: v}))
) | st.text(min_size=1, max_size=10).filter(lambda f: f.strip() not in ("pcm", "pcm_16000", "pcm_24000", "wav", "ulaw_8000", "alaw_8000")).map(
    lambda f: json.dumps({"type": "setup", "output_format": f})
) | st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False)).map(
    lambda v: json.dumps({"type": "setup", "close_ws_on_eos": v})
)
too_big = st.integers(MAX_BYTES + 1, 4 * MAX_BYTES).map(lambda n: json.dumps({"type": "setup", "pad": "x" * n}))
BAD_FIRST = st.one_of(st.binary(max_size=100), not_json, not_object, unknown_type, before_setup, bad_setup, too_big)


def _not_json(s: str) -> bool:
    try:
        json.loads(s)
    except ValueError:
        return True
    return False


@FUZZ
@given(first=BAD_FIRST, rest=st.lists(st.text(max_size=30), max_size=3))
def test_every_bad_first_frame_gets_one_error_and_a_close(server, bystander, server_errors, first, rest):
    msgs, code = exchange(server.url, [first, *rest])
    size = len(first) if isinstance(first, bytes) else len(first.encode())
    if size > WS_LIMIT:  # refused by the WebSocket layer before the server reads it: no JSON
        assert msgs == [] and code == 1009
    else:
        error = assert_one_error_and_closed(msgs, code)
        assert len(msgs) == 1
        if size > MAX_BYTES and isinstance(first, str):
            assert error["code"] == 1009 and f"limit is {MAX_BYTES} bytes" in error["message"]
    assert not server_errors


# -- any sequence after a valid setup: never an internal error, never a malformed message ---

text_msg = st.builds(lambda t, rid: {"type": "text", "text": t, **rid}, st.text(max_size=25),
                    st.sampled_from([{}] * 6 + [{"client_req_id": "a"}, {"client_req_id": "zz"}]))
eos_msg = st.sampled_from([{"type": "end_of_stream"}, {"type": "end_of_stream", "client_req_id": "a"}])
setup_msg = st.dictionaries(st.sampled_from(SETUP_FIELDS), json_values, max_size=3).map(lambda d: {**d, "type": "setup"})
junk_msg = st.dictionaries(st.text(max_size=6), json_values, max_size=3)
# Mostly well-formed traffic (so requests get served), with some of everything else.
any_frame = st.one_of(*[text_msg.map(json.dumps)] * 6, eos_msg.map(json.dumps), setup_msg.map(json.dumps),
                      junk_msg.map(json.dumps), st.binary(max_size=20), st.text(max_size=20))


@FUZZ
@given(frames=st.lists(any_frame, min_size=1, max_size=6), multiplex=st.booleans())
def test_any_sequence_after_setup_is_served_or_refused_cleanly(server, bystander, server_errors, frames, multiplex):
    setup = {"type": "setup", "output_format": "pcm_16000", "close_ws_on_eos": not multiplex}
    if multiplex:
        setup["client_req_id"] = "a"
    msgs, code = exchange(server.url, [json.dumps(setup), *frames])
    assert msgs and msgs[0]["type"] == "ready"
    errors = [m for m in msgs if m["type"] == "error"]
    event(f"refused: {errors[0]['message'][:25]}" if errors else "served")
    assert not [e for e in errors if e["code"] == 1011], errors  # 1011 = the server broke
    if errors:
        assert_one_error_and_closed(msgs, code, allowed=(1008, 1009))
    assert not server_errors


def test_after_the_fuzzing_the_server_still_serves(server, bystander, server_errors):
    """Runs last in this module: the bystander's request and a new connection both work."""
    bystander.send(json.dumps({"type": "text", "text": "Still here after all that."}))
    bystander.send(json.dumps({"type": "end_of_stream"}))
    msgs = []
    while not msgs or msgs[-1]["type"] != "end_of_stream":
        msgs.append(json.loads(bystander.recv(timeout=30)))
    assert any(m["type"] == "audio" for m in msgs) and not any(m["type"] == "error" for m in msgs)
    fresh, code = exchange(server.url, [
        json.dumps({"type": "setup", "output_format": "pcm_16000"}),
        json.dumps({"type": "text", "text": "And a new one."}),
        json.dumps({"type": "end_of_stream"}),
    ], quiet_secs=30)
    assert fresh[0]["type"] == "ready" and fresh[-1]["type"] == "end_of_stream" and code == 1000
    assert server.stats.connections_total > 100
    assert not server_errors
