"""``[llm]``: a streamed OpenAI-compatible chat LLM, local (llama.cpp child) or OpenAI's cloud."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from pipecat.services.openai.llm import OpenAILLMService

from pipelines.config import ConfigError
from pipelines.registry import BuildContext, register

DEFAULT_PROMPT = (
    "You are a friendly voice assistant. Answer in one or two short spoken sentences, "
    "without lists, markdown or emoji."
)
CONNECT_TIMEOUT_S = 5.0


@dataclass
class LocalLLMOptions:
    """llama.cpp's OpenAI-compatible server, started by the app with the bundled SmolLM2.

    Parameters:
        system_prompt: The assistant's instructions.
        temperature: Sampling temperature.
        max_tokens: Longest answer, in tokens.
        n_ctx: Context window of the local model.
        model_path: A ``.gguf`` to use instead of the bundled SmolLM2-135M.
        timeout_secs: Longest silence from the server (before the first token, between tokens).
    """

    system_prompt: str = DEFAULT_PROMPT
    temperature: float = 0.3
    max_tokens: int = 120
    n_ctx: int = 2048
    model_path: str | None = None
    timeout_secs: float = 20.0


class BoundedOpenAILLMService(OpenAILLMService):
    """pipecat's OpenAI LLM with every network wait bounded: connect, and ``timeout_secs`` of silence
    before the first token or between tokens (the OpenAI client's default is 600 s); one retry."""

    def __init__(self, *, timeout_secs: float = 20.0, **kwargs):
        self._timeout_s = timeout_secs
        super().__init__(**kwargs)

    def create_client(self, *args, **kwargs):
        timeout = httpx.Timeout(self._timeout_s, connect=CONNECT_TIMEOUT_S)
        return super().create_client(*args, **kwargs).with_options(timeout=timeout, max_retries=1)


class LlamaCppLLMService(BoundedOpenAILLMService):
    """OpenAI-compatible client for llama.cpp's server, which rejects the ``developer`` role
    (pipecat adds such messages, e.g. after an interruption); they are sent as ``user``.

    ``wait_for_server`` is awaited before each completion: while the app restarts its server
    (``ManagedProcess.wait_until_up``), the turn waits for it instead of failing at once.
    """

    supports_developer_role = False

    def __init__(self, *, wait_for_server: Callable[[], Awaitable[bool]] | None = None, **kwargs):
        self._wait_for_server = wait_for_server
        super().__init__(**kwargs)

    async def get_chat_completions(self, *args, **kwargs):
        if self._wait_for_server is not None:
            await self._wait_for_server()
        return await super().get_chat_completions(*args, **kwargs)


def _openai_llm(*, base_url: str | None, api_key: str, model: str, system_prompt: str, temperature: float,
                max_tokens: int, developer_role: bool = True, timeout_secs: float = 20.0, **extra):
    cls = BoundedOpenAILLMService if developer_role else LlamaCppLLMService
    return cls(
        **extra,
        timeout_secs=timeout_secs,
        api_key=api_key,
        base_url=base_url,
        settings=OpenAILLMService.Settings(
            model=model,
            system_instruction=system_prompt,
            temperature=temperature,
            max_tokens=max_tokens,
        ),
    )


@register("llm", "local", LocalLLMOptions, "llama.cpp server + bundled SmolLM2 (offline)")
def local_llm(opts: LocalLLMOptions, ctx: BuildContext):
    from pathlib import Path

    from runtime.llm_server import LocalLLMServer

    model_path = Path(opts.model_path) if opts.model_path else None
    if model_path and not model_path.exists():
        raise ConfigError(ctx.config_path, "llm.model_path", f"file not found: {model_path}")
    server = LocalLLMServer(log_path=ctx.run_dir / "llm-server.log", model_path=model_path, n_ctx=opts.n_ctx,
                            warm_prompt=opts.system_prompt)
    server = ctx.add_child(server)
    return _openai_llm(
        base_url=server.base_url,
        api_key="local-no-key",
        model="local",
        system_prompt=opts.system_prompt,
        temperature=opts.temperature,
        max_tokens=opts.max_tokens,
        developer_role=False,
        timeout_secs=opts.timeout_secs,
        wait_for_server=server.wait_until_up,  # while the app restarts it, wait rather than fail
    )


@dataclass
class OpenAILLMOptions:
    """OpenAI (or any OpenAI-compatible endpoint) in the cloud.

    Parameters:
        model: Chat model name.
        base_url: Endpoint root; None = OpenAI.
        api_key_env: Environment variable holding the key (not needed for a ``base_url`` on
            this machine: 127.0.0.1/localhost).
        system_prompt: The assistant's instructions.
        temperature: Sampling temperature.
        max_tokens: Longest answer, in tokens.
        timeout_secs: Longest silence from the server (before the first token, between tokens).
    """

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str = DEFAULT_PROMPT
    temperature: float = 0.5
    max_tokens: int = 200
    timeout_secs: float = 20.0


def _is_loopback(url: str | None) -> bool:
    from urllib.parse import urlparse

    return bool(url) and urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


@register("llm", "openai", OpenAILLMOptions, "OpenAI-compatible cloud LLM")
def openai_llm(opts: OpenAILLMOptions, ctx: BuildContext):
    key = os.environ.get(opts.api_key_env)
    if not key and _is_loopback(opts.base_url):
        key = "no-key"  # a server on this machine (llama.cpp, a test server) needs none
    if not key:
        raise ConfigError(
            ctx.config_path, "llm",
            f"{opts.api_key_env} is not set; set it (environment or .env) or use the local preset 'laptop', which needs no key",
        )
    return _openai_llm(
        base_url=opts.base_url, api_key=key, model=opts.model, system_prompt=opts.system_prompt,
        temperature=opts.temperature, max_tokens=opts.max_tokens, timeout_secs=opts.timeout_secs,
    )
