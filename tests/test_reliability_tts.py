"""Fault matrix for GradiumTTSService against the real local server behind a fault-injecting proxy.

Each fault must end in one clear ErrorFrame within a bounded time (or, where the protocol
says so, be ignored without harm), no audio of the failed answer may come out after the
error (no stale audio), and the next answer must work with exactly the audio the server
sent for it. See docs/reliability.md for the whole matrix; tests/test_gradium_tts_faults.py
covers the same faults from a scripted server (no ready, no audio, connect timeout, ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from runtime.child_process import free_port
from runtime.tts_server import TTSServer
from pipecat.frames.frames import ErrorFrame, LLMFullResponseEndFrame, TTSAudioRawFrame
from testing.probe import PipelineProbe
from processors.gradium.settings import GradiumConnectionParams
from processors.gradium.tts import GradiumTTSService
from testing.ws_fault_proxy import Fault, WsFaultProxy
from testing.frames import answer, wait_until

RATE = 24000
PARAMS = GradiumConnectionParams(
    connect_timeout_secs=0.5,
    ready_timeout_secs=5.0,  # Piper on a loaded CI machine: audio gets time, faults are injected
    first_audio_timeout_secs=10.0,
    stall_timeout_secs=3.0,  # > a Piper sentence on a loaded machine; the stall case waits this long
    ping_interval_secs=0.5,
    ping_timeout_secs=1.0,
    close_timeout_secs=0.3,
    backoff_min_secs=0.05,
    backoff_max_secs=0.2,
    max_message_bytes=1024 * 1024,
)
LONG = ("This is the first answer, and it is long enough to be cut in the middle.",
        "It goes on for a while, so that the fault lands while audio is still coming.")
ERROR_WITHIN_S = 1.5  # from the fault to the ErrorFrame (socket-level faults)


def audio_contexts(probe: PipelineProbe, after: int = 0) -> list[str]:
    return [r.frame.context_id for r in probe.down.records[after:] if isinstance(r.frame, TTSAudioRawFrame)]


async def next_answer_works(probe: PipelineProbe, server: TTSServer) -> None:
    """A fresh answer gets exactly the audio the server sent for it, and no error."""
    errors, mark = len(probe.errors()), len(probe.down.records)
    await probe.push(*answer("The next answer works."))
    await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=30)
    seconds = probe.seconds(probe.audio(after=mark))
    sent = list(server.stats.requests.values())[-1].audio_seconds_sent
    assert seconds > 0.5 and seconds == pytest.approx(sent, abs=0.02)
    assert len(set(audio_contexts(probe, mark))) == 1
    assert len(probe.errors()) == errors


@pytest.fixture
async def stack():
    """The real local server, the fault proxy in front of it, and a running service."""
    async with TTSServer() as server, WsFaultProxy(server.url) as proxy:
        tts = GradiumTTSService(url=proxy.url, connection=PARAMS)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            yield server, proxy, tts, probe


def _huge_audio() -> str:
    """An audio message of ~2 MB: over the client's limit (PARAMS: 1 MiB)."""
    return json.dumps({"type": "audio", "audio": base64.b64encode(bytes(1_500_000)).decode()})


@pytest.mark.parametrize(
    "make_fault, expected, within_secs",
    [
        (lambda: Fault(inject=['{"type":"error","message":"model overloaded","code":1011}']),
         "Gradium TTS error 1011: model overloaded", ERROR_WITHIN_S),
        (lambda: Fault(inject=['{"type": "audio", "audio": "AAAA"']), "not JSON", ERROR_WITHIN_S),
        (lambda: Fault(inject=[b"\x00\x01binary"]), "binary frame", ERROR_WITHIN_S),
        (lambda: Fault(inject=['{"type":"audio","audio":"%%% not base64"}']), "not base64", ERROR_WITHIN_S),
        (lambda: Fault(inject=[_huge_audio()]), "code 1009", ERROR_WITHIN_S),
        (lambda: Fault(then="abort"), "connection closed before the answer finished (code 1006)", ERROR_WITHIN_S),
        (lambda: Fault(then="close", close_code=1011), "(code 1011: fault injected)", ERROR_WITHIN_S),
        (lambda: Fault(then="stall"), "stalled: nothing for 3s", PARAMS.stall_timeout_secs + 1.5),
    ],
    ids=["error-message", "malformed-json", "binary-frame", "bad-base64", "oversized", "drop", "close", "stall"],
)
async def test_a_fault_mid_answer_is_one_error_with_no_stale_audio_and_the_next_answer_works(
    stack, make_fault, expected, within_secs
):
    server, proxy, tts, probe = stack
    fault = proxy.arm(make_fault())
    await probe.push(*answer(*LONG))
    error = await probe.up.wait_for(lambda f: isinstance(f, ErrorFrame) and expected in f.error, timeout=30)
    assert fault.fired_at is not None and error.at - fault.fired_at < within_secs
    assert "\n" not in error.frame.error and not error.frame.fatal
    end = await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)  # the failed answer ends
    failed = audio_contexts(probe)
    assert failed and len(set(failed)) == 1  # it had started speaking before the fault
    # No stale audio: nothing of the failed answer comes out after its end, not even later.
    await asyncio.sleep(0.5)
    await next_answer_works(probe, server)
    assert failed[0] not in audio_contexts(probe, end.index + 1)
    assert len(probe.errors()) == 1 and tts.is_usable


async def test_unknown_server_message_types_are_ignored(stack):
    """The protocol says clients ignore types they don't know: the answer is unharmed."""
    server, proxy, tts, probe = stack
    odd = ['{"type":"usage","chars":42}', '{"type":"future_feature","data":[1,2]}', '{"type":"ready_v2"}']
    fault = proxy.arm(Fault(inject=odd))
    mark = len(probe.down.records)
    await probe.push(*answer(*LONG))
    await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=30)
    assert fault.fired.is_set()
    sent = list(server.stats.requests.values())[-1].audio_seconds_sent
    assert probe.seconds(probe.audio(after=mark)) == pytest.approx(sent, abs=0.02) and sent > 3
    assert probe.errors() == []


async def test_a_message_on_the_idle_spare_replaces_it_quietly(stack):
    """Anything a server says before ``setup`` (here an unknown type) retires that spare."""
    server, proxy, tts, probe = stack
    await wait_until(lambda: tts.spare_socket is not None)
    opened = tts.stats.sockets_opened
    proxy.arm(Fault(when=None, inject=['{"type":"hello"}']))
    await tts.spare_socket.close()  # the pool reopens a spare; the fault hits that one
    await wait_until(lambda: tts.stats.sockets_opened >= opened + 2 and tts.spare_socket is not None)
    await next_answer_works(probe, server)
    assert probe.errors() == []


async def test_slow_handshake_within_the_timeout_stays_off_the_critical_path(stack):
    server, proxy, tts, probe = stack
    proxy.handshake_delay_secs = 0.3  # < connect_timeout_secs
    await wait_until(lambda: tts.spare_socket is not None)
    await tts.spare_socket.close()  # the replacement spare takes the slow handshake
    await wait_until(lambda: tts.spare_socket is not None)
    before = tts.stats.handshakes_on_critical_path
    await next_answer_works(probe, server)
    assert tts.stats.handshakes_on_critical_path == before
    assert probe.errors() == []


async def test_handshake_slower_than_the_timeout_is_an_error_then_recovers():
    async with TTSServer() as server, WsFaultProxy(server.url) as proxy:
        proxy.handshake_delay_secs = 3.0
        tts = GradiumTTSService(url=proxy.url, connection=PARAMS)
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            pushed = time.monotonic()
            await probe.push(*answer("Nobody hears this."))
            end = await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)
            assert end.at - pushed < 3 * PARAMS.connect_timeout_secs + 1  # no hang
            assert probe.audio() == []
            errors = [e.error for e in probe.errors()]
            assert errors and all(e.startswith("Gradium TTS: connecting to ws://127.0.0.1:") for e in errors)
            assert any("timed out after 0.5s" in e for e in errors)
            proxy.handshake_delay_secs = 0.0
            await wait_until(lambda: tts.spare_socket is not None)
            await next_answer_works(probe, server)


async def test_refused_then_back_again(stack):
    server, proxy, tts, probe = stack
    await proxy.stop()  # the port refuses connections; the spare is dropped
    await wait_until(lambda: tts.spare_socket is None)
    errors = len(probe.errors())
    pushed = time.monotonic()
    await probe.push(*answer("Nobody is listening."))
    end = await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)
    assert end.at - pushed < 2 * PARAMS.connect_timeout_secs + 1
    assert probe.audio() == []
    new = [e.error for e in probe.errors()[errors:]]
    assert any(f"cannot reach {proxy.url}" in e for e in new), new
    await proxy.start()  # same port
    await wait_until(lambda: tts.spare_socket is not None)
    before = tts.stats.handshakes_on_critical_path
    await next_answer_works(probe, server)
    assert tts.stats.handshakes_on_critical_path == before  # the spare reconnected in the background


async def test_server_restart_between_answers():
    port = free_port()
    server = TTSServer(port=port)
    await server.start()
    tts = GradiumTTSService(url=server.url, connection=PARAMS)
    try:
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            await next_answer_works(probe, server)
            await wait_until(lambda: tts.spare_socket is not None)
            old_spare = tts.spare_socket
            await server.stop()
            await wait_until(lambda: old_spare.closed_at is not None)
            await asyncio.sleep(0.3)  # a few failed reconnects: reported, nothing else happens
            assert all("cannot reach" in e.error for e in probe.errors())
            server = TTSServer(port=port)
            await server.start()
            await wait_until(lambda: tts.spare_socket is not None)
            errors = len(probe.errors())
            await next_answer_works(probe, server)
            await next_answer_works(probe, server)
            assert len(probe.errors()) == errors
    finally:
        await server.stop()


@pytest.mark.parametrize("then", ["abort", "stall"])
async def test_multiplexed_socket_faults_fail_the_answer_and_reconnect(then):
    async with TTSServer() as server, WsFaultProxy(server.url) as proxy:
        tts = GradiumTTSService(url=proxy.url, connection=PARAMS, settings=GradiumTTSService.Settings(multiplex=True))
        async with PipelineProbe(tts, sample_rate=RATE) as probe:
            fault = proxy.arm(Fault(then=then))
            await probe.push(*answer(*LONG))
            error = await probe.up.wait_for(ErrorFrame, timeout=30)
            assert error.frame.error.startswith("Gradium TTS")
            assert error.at - fault.fired_at < PARAMS.stall_timeout_secs + 1.5
            end = await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)
            failed = set(audio_contexts(probe))
            await next_answer_works(probe, server)
            assert not failed & set(audio_contexts(probe, end.index + 1))
