"""The local Gradium-compatible TTS server as a child process of the app (like the LLM server)."""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.child_process import ManagedProcess, free_port, http_ok


class LocalTTSServer(ManagedProcess):
    """``python -m runtime.tts_server`` on a free 127.0.0.1 port; ``url`` is its TTS endpoint."""

    def __init__(self, *, log_path: Path, host: str = "127.0.0.1", port: int | None = None,
                 ready_timeout: float = 60.0):
        self.host = host
        self.port = port or free_port(host)
        cmd = [sys.executable, "-m", "runtime.tts_server", "--host", host, "--port", str(self.port)]
        # Ready and healthy: its HTTP /health route answers (it listens only once the voice is
        # loaded). Not a bare TCP connect: a hung server's socket still accepts connections, and
        # so would another program's that took the port while it was down.
        health = f"http://{host}:{self.port}/health"
        super().__init__("tts-server", cmd, log_path=log_path, ready=http_ok(health), ready_timeout=ready_timeout,
                         health=http_ok(health, timeout=2.0))

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/api/speech/tts"
