"""LLM faults: refused, dropped stream, stall, no response, bad data, HTTP error, restart.

The service is the pipeline's own (``pipelines.components.llm``: pipecat's OpenAI LLM with
bounded network waits) against a scripted OpenAI-compatible server and against the real
llama.cpp server (behind a TCP proxy that can freeze or reset connections). Each fault must
end the answer with one clear ErrorFrame within a bounded time, and the next answer must work.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime.child_process import free_port
from runtime.llm_server import LocalLLMServer
from testing.net_delay_proxy import NetDelayProxy
from pipecat.frames.frames import (
    ErrorFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipelines.components.llm import _openai_llm
from testing.probe import PipelineProbe
from testing.fake_openai_server import FakeOpenAIServer

TIMEOUT_S = 1.0  # the service's network timeout against the scripted server (the pipelines use 20 s)
REAL_TIMEOUT_S = 5.0  # against llama.cpp: a cold first token can take over a second on a busy CI machine


def make_llm(base_url: str, timeout_secs: float = TIMEOUT_S, max_tokens: int = 60):
    return _openai_llm(base_url=base_url, api_key="local-no-key", model="local", system_prompt="Be brief.",
                       temperature=0.0, max_tokens=max_tokens, developer_role=False, timeout_secs=timeout_secs)


def ask(question: str = "Say hello.") -> LLMContextFrame:
    return LLMContextFrame(LLMContext(messages=[{"role": "user", "content": question}]))


async def answer_text(probe: PipelineProbe, question: str = "Say hello.", timeout: float = 60) -> tuple[str, list[str], float]:
    """Ask, wait for the answer's end; return its text, the new errors and how long it took."""
    mark, errors, started = len(probe.down.records), len(probe.errors()), time.monotonic()
    await probe.push(ask(question))
    end = await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=timeout)
    text = "".join(r.frame.text for r in probe.down.records[mark:end.index] if isinstance(r.frame, LLMTextFrame))
    return text, [e.error for e in probe.errors()[errors:]], end.at - started


@pytest.mark.parametrize(
    "mode, expected, within_secs",
    [
        ("drop", "incomplete chunked read", 1.0),
        ("stall", "LLM completion timeout", TIMEOUT_S + 1.0),
        ("no_response", "Request timed out", 2 * TIMEOUT_S + 2.0),  # one retry
        ("garbage", "Error during completion", 1.0),
        ("http500", "Error code: 500", 3.0),  # one retry after a short backoff
    ],
)
async def test_a_failing_answer_ends_with_one_error_and_the_next_answer_works(mode, expected, within_secs):
    async with FakeOpenAIServer(mode) as server:
        async with PipelineProbe(make_llm(server.base_url)) as probe:
            text, errors, took = await answer_text(probe)
            assert len(errors) == 1 and expected in errors[0] and "\n" not in errors[0]
            assert took < within_secs
            assert text in ("", "Hello")  # what came before the fault, nothing more
            server.mode = "good"
            text, errors, _ = await answer_text(probe)
            assert text == "Hello there, friend." and errors == []


async def test_refused_then_the_server_comes_back():
    server = FakeOpenAIServer()
    await server.start()
    await server.stop()  # the port now refuses connections
    async with PipelineProbe(make_llm(server.base_url)) as probe:
        text, errors, took = await answer_text(probe)
        assert text == "" and errors == ["Error during completion: Connection error."]
        assert took < 3.0  # one retry after a short backoff
        await server.start()  # same port
        try:
            text, errors, _ = await answer_text(probe)
        finally:
            await server.stop()
        assert text == "Hello there, friend." and errors == []


async def test_an_interruption_during_a_stall_frees_the_next_answer():
    """A barge-in while the LLM is stuck must not wait for the timeout."""
    async with FakeOpenAIServer("stall") as server:
        async with PipelineProbe(make_llm(server.base_url, timeout_secs=30.0)) as probe:
            await probe.push(ask())
            await probe.down.wait_for(LLMTextFrame, timeout=10)
            await probe.push(InterruptionFrame())
            await probe.down.wait_for(LLMFullResponseEndFrame, timeout=2)  # the stuck answer ends now
            server.mode = "good"
            text, errors, took = await answer_text(probe, timeout=10)
            assert text == "Hello there, friend." and errors == [] and took < 5


async def test_real_llama_server_stall_and_drop_through_a_proxy(local_llm):
    async with NetDelayProxy("127.0.0.1", local_llm.port, delay_secs=0.05) as proxy:
        llm = make_llm(f"http://127.0.0.1:{proxy.port}/v1", timeout_secs=REAL_TIMEOUT_S, max_tokens=120)
        question = "Tell me a long story about a dragon who learns to bake bread."
        async with PipelineProbe(llm) as probe:
            full, errors, _ = await answer_text(probe, question)
            assert len(full.split()) > 20 and errors == []

            # Stall: the network goes silent mid-answer (nothing closes).
            mark = len(probe.down.records)
            await probe.push(ask(question))
            await probe.down.wait_for(LLMTextFrame, after=mark, timeout=60)
            proxy.freeze()
            frozen_at = time.monotonic()
            error = await probe.up.wait_for(ErrorFrame, timeout=REAL_TIMEOUT_S + 5)
            assert error.frame.error == "LLM completion timeout" and error.at - frozen_at < REAL_TIMEOUT_S + 1.0
            await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=5)
            proxy.thaw()
            text, errors, _ = await answer_text(probe, question)
            assert text == full and errors == []  # temperature 0: the same answer, complete

            # Drop: every connection is reset mid-answer.
            mark = len(probe.down.records)
            errors_before = len(probe.errors())
            await probe.push(ask(question))
            await probe.down.wait_for(LLMTextFrame, after=mark, timeout=60)
            await proxy.drop_all()
            end = await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=5)
            new = [e.error for e in probe.errors()[errors_before:]]
            cut = "".join(r.frame.text for r in probe.down.records[mark:end.index] if isinstance(r.frame, LLMTextFrame))
            assert len(new) == 1 and new[0].startswith("Error during completion:") and cut != full
            text, errors, _ = await answer_text(probe, question)
            assert text == full and errors == []


async def test_real_llama_server_restarted_between_answers(tmp_path):
    port = free_port()
    server = LocalLLMServer(log_path=tmp_path / "llm.log", port=port)
    await asyncio.to_thread(server.start)
    try:
        async with PipelineProbe(make_llm(server.base_url, timeout_secs=REAL_TIMEOUT_S, max_tokens=20)) as probe:
            text, errors, _ = await answer_text(probe)
            assert text.strip() and errors == []
            await asyncio.to_thread(server.stop)
            text, errors, took = await answer_text(probe)
            assert text == "" and errors == ["Error during completion: Connection error."] and took < 3.0
            await asyncio.to_thread(server.start)  # same port
            text, errors, _ = await answer_text(probe)
            assert text.strip() and errors == []
    finally:
        await asyncio.to_thread(server.stop)
