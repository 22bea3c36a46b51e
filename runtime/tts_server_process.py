"""The local Gradium-compatible TTS server as a child process of the app (like the LLM server)."""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.child_process import ManagedProcess, free_port, http_ok, tcp_ready


class LocalTTSServer(ManagedProcess):
    """``python -m runtime.tts_server`` on a free 127.0.0.1 port; ``url`` is its TTS endpoint."""

    def __init__(self, *, log_path: Path, host: str = "127.0.0.1", port: int | None = None,
                 ready_timeout: float = 60.0):
        self.host = host
        self.port = port or free_port(host)
        cmd = [sys.executable, "-m", "runtime.tts_server", "--host", host, "--port", str(self.port)]
        # Ready: it listens only once the voice is loaded. Health: the HTTP /health route, so a
        # hung server (its listening socket still accepts TCP) is told from a working one.
        super().__init__("tts-server", cmd, log_path=log_path, ready=tcp_ready(host, self.port),
                         health=http_ok(f"http://{host}:{self.port}/health", timeout=2.0), ready_timeout=ready_timeout)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/api/speech/tts"
