"""The local OpenAI-compatible LLM server: ``llama_cpp.server`` with the bundled SmolLM2 GGUF."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from agent.child_process import ManagedProcess, free_port
from agent.models import smollm2_gguf_path


def _http_ok(url: str):
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                return r.status == 200
        except OSError:
            return False

    return probe


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
    ):
        self.host = host
        self.port = port or free_port(host)
        self.model_path = model_path or smollm2_gguf_path()
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
            ready=_http_ok(f"http://{host}:{self.port}/v1/models"),
            ready_timeout=ready_timeout,
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"
