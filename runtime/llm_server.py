"""The local OpenAI-compatible LLM server: ``llama_cpp.server`` with the bundled SmolLM2 GGUF."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from runtime.child_process import ManagedProcess, free_port, http_ok
from runtime.models import smollm2_gguf_path

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
        n_threads: int | None = None,
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
        if n_threads:
            cmd += ["--n_threads", str(n_threads)]
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
