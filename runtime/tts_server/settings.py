"""Limits and tunables of the local TTS server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TTSServerSettings:
    """Settings of :class:`~runtime.tts_server.server.TTSServer` (all limits give a clear error).

    Parameters:
        max_message_bytes: Largest client message accepted (error code 1009 above it).
        max_text_chars: Text per request, summed over its text messages (error 1008 above it).
        max_connections: Concurrent sockets; one more gets error 1013 and is closed.
        max_requests_per_connection: Concurrent multiplexed requests on one socket (error 1008).
        idle_timeout_secs: A socket with no client message and no synthesis running for this long
            gets error 1008 and is closed.
        send_timeout_secs: A client that does not read for this long is disconnected.
        synthesis_timeout_secs: Longest a single Piper sentence may take (error 1011 above it).
        synthesis_workers: Threads running Piper (shared by all connections).
        onnx_threads: onnxruntime threads per Piper inference (0: onnxruntime's default, a
            pool over every core; 1 costs 0.8-0.9x its CPU per audio second, see docs/benchmarks.md).
        min_phrase_chars: Shortest phrase cut at ``, ; :`` (sentence ends always cut).
        max_segment_chars: Longest text handed to Piper at once (cut at a space).
        voice_path: Piper ``.onnx`` voice; ``None`` uses the bundled one.
        use_alignment: Use Piper's phoneme alignment for word times when ``onnx`` is installed.
        extra_voice_ids: More accepted ``voice_id`` values (all map to the Piper voice).
    """

    max_message_bytes: int = 64 * 1024
    max_text_chars: int = 20_000
    max_connections: int = 32
    max_requests_per_connection: int = 16
    idle_timeout_secs: float = 300.0
    send_timeout_secs: float = 30.0
    synthesis_timeout_secs: float = 60.0
    synthesis_workers: int = 2
    onnx_threads: int = 1
    min_phrase_chars: int = 20
    max_segment_chars: int = 200
    voice_path: Path | None = None
    use_alignment: bool = True
    extra_voice_ids: dict[str, str] = field(default_factory=dict)
