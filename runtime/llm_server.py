"""The local OpenAI-compatible LLM server: ``llama_cpp.server`` with the bundled SmolLM2 GGUF.

Threads are set, not left to llama-cpp-python's defaults (``n_threads`` = cores / 2 for
generation, ``n_threads_batch`` = all cores for the prompt). ggml's worker threads busy-wait at
a barrier after every operation, so a prompt evaluated on both cores of a 2-core machine
stalls whenever anything else runs (Whisper's final pass, Smart Turn, Piper): measured on
SmolLM2, 69-token prompts, ``n_threads_batch=2`` goes from 11 ms/token idle to 107 ms/token with
one competing busy thread (the 420 ms/token of the 8-10 s stalls had two); with one thread
it goes from 17.5 to 36 ms/token, a fair share and no more. So both default to 1 thread
(:data:`LLM_THREADS`): a little slower when the machine is idle, never a stall.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from runtime.child_process import ManagedProcess, free_port, http_ok
from runtime.models import smollm2_gguf_path

LLM_THREADS = 1
"""llama.cpp threads for generation and for the prompt (see the module docstring)."""

# Health check while it runs: FastAPI's /docs page is served by the event loop alone. Not
# /v1/models: that takes the model lock, and a request waiting for it makes llama_cpp.server
# cut the answer it is streaming short (``interrupt_requests``).
HEALTH_PATH = "/docs"


class LocalLLMServer(ManagedProcess):
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port; ``base_url`` is its /v1 root."""

    def __init__(
        self,
        *,
        log_path: Path,
        model_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int = LLM_THREADS,
        n_threads_batch: int = LLM_THREADS,
        ready_timeout: float = 120.0,
        warm_prompt: str | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.model_path = model_path or smollm2_gguf_path()
        self.warm_prompt = warm_prompt
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", "local",
            "--host", host,
            "--port", str(self.port),
            "--n_ctx", str(n_ctx),
            "--cache", "true",
        ]
        cmd += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads_batch)]
        super().__init__(
            "llm-server",
            cmd,
            log_path=log_path,
            ready=http_ok(f"http://{host}:{self.port}/v1/models"),
            health=http_ok(f"http://{host}:{self.port}{HEALTH_PATH}", timeout=2.0),
            ready_timeout=ready_timeout,
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self, generation: int | None = None) -> None:
        """Start, then (with ``warm_prompt``) answer one tiny request so the model and the
        system prompt's prefix are warm before the first user turn (after a restart too)."""
        super().start(generation)
        if self.warm_prompt is not None:
            self.warm_up(self.warm_prompt)

    def warm_up(self, system_prompt: str, timeout: float = 60.0) -> None:
        body = {"model": "local", "max_tokens": 1, "messages": [
            {"role": "system", "content": system_prompt}, {"role": "user", "content": "Hello."}]}
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                pass
        except OSError as e:  # a cold first answer is slower, not broken
            from loguru import logger

            logger.warning(f"llm-server warm-up failed: {e}")
