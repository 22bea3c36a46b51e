"""The local LLM server answers pipecat's OpenAI client, including its ``developer`` messages."""

from __future__ import annotations

from pipecat.frames.frames import ErrorFrame, LLMContextFrame, LLMFullResponseEndFrame, LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from pipelines.components.llm import LlamaCppLLMService, _openai_llm


async def test_streams_an_answer_even_with_a_developer_message(local_llm):
    llm = _openai_llm(base_url=local_llm.base_url, api_key="x", model="local", system_prompt="Be brief.",
                      temperature=0.0, max_tokens=20, developer_role=False)
    assert isinstance(llm, LlamaCppLLMService)
    context = LLMContext(messages=[
        {"role": "user", "content": "Say hello."},
        {"role": "developer", "content": "The user may have been interrupted."},
    ])
    down, _ = await run_test(llm, frames_to_send=[LLMContextFrame(context)], start_timeout=5)
    assert not [f for f in down if isinstance(f, ErrorFrame)]
    text = "".join(f.text for f in down if isinstance(f, LLMTextFrame))
    assert text.strip()
    assert any(isinstance(f, LLMFullResponseEndFrame) for f in down)
