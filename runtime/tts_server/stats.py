"""Server-side counters for tests and benchmarks (thread-safe: synthesis threads update them).

``audio_seconds_after_cancel`` is audio Piper produced for a request after its socket closed
(the sentence that was already running); a benchmark reads it to measure work wasted on an
interruption. Per-request entries keep the last ``max_requests`` requests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Literal

RequestState = Literal["active", "completed", "cancelled", "abandoned", "failed"]


@dataclass
class RequestStats:
    """Counters of one TTS request (one ``setup``)."""

    request_id: str
    client_req_id: str | None
    output_format: str
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    state: RequestState = "active"
    text_chars: int = 0
    segments: int = 0
    audio_seconds: float = 0.0  # audio synthesized by Piper for this request
    audio_seconds_sent: float = 0.0  # audio actually sent to the client
    audio_seconds_after_cancel: float = 0.0
    synthesis_seconds: float = 0.0  # wall time spent in Piper
    synthesizing: bool = False  # a Piper sentence is running right now (even after cancel)
    first_text_at: float | None = None
    first_audio_at: float | None = None

    @property
    def first_audio_latency_secs(self) -> float | None:
        """Time from the first text message to the first audio message sent."""
        if self.first_text_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.first_text_at


class ServerStats:
    """Counters of one :class:`~runtime.tts_server.server.TTSServer`."""

    def __init__(self, max_requests: int = 1000):
        self._lock = threading.Lock()
        self._max_requests = max_requests
        self.connections_open = 0
        self.connections_total = 0
        self.connections_rejected = 0  # over max_connections or bad api key
        self.requests_total = 0
        self.requests_completed = 0
        self.requests_cancelled = 0  # socket closed while text had been received and not all audio sent
        self.requests_abandoned = 0  # socket closed before any text for the request
        self.requests_failed = 0
        self.audio_seconds_total = 0.0
        self.audio_seconds_after_cancel_total = 0.0
        self.synthesis_seconds_total = 0.0
        self.errors_sent = 0
        self.requests: OrderedDict[str, RequestStats] = OrderedDict()

    # connections
    def connection_opened(self) -> None:
        with self._lock:
            self.connections_open += 1
            self.connections_total += 1

    def connection_closed(self) -> None:
        with self._lock:
            self.connections_open -= 1

    def connection_rejected(self) -> None:
        with self._lock:
            self.connections_rejected += 1

    def error_sent(self) -> None:
        with self._lock:
            self.errors_sent += 1

    # requests
    def request_started(self, req: RequestStats) -> None:
        with self._lock:
            self.requests_total += 1
            self.requests[req.request_id] = req
            while len(self.requests) > self._max_requests:
                self.requests.popitem(last=False)

    def settled(self) -> bool:
        """True when no request is active and no Piper sentence is still running."""
        with self._lock:
            return all(r.state != "active" and not r.synthesizing for r in self.requests.values())

    def add_audio(self, req: RequestStats, seconds: float, compute_secs: float, after_cancel: bool) -> None:
        """Account audio Piper produced (called from the synthesis thread)."""
        with self._lock:
            req.audio_seconds += seconds
            req.synthesis_seconds += compute_secs
            self.audio_seconds_total += seconds
            self.synthesis_seconds_total += compute_secs
            if after_cancel:
                req.audio_seconds_after_cancel += seconds
                self.audio_seconds_after_cancel_total += seconds

    def request_finished(self, req: RequestStats, state: RequestState) -> None:
        with self._lock:
            if req.state != "active":
                return
            req.state = state
            req.finished_at = time.monotonic()
            counter = f"requests_{state}"
            setattr(self, counter, getattr(self, counter) + 1)

    def request(self, request_id: str) -> RequestStats | None:
        """Stats of one request by the ``request_id`` sent in ``ready``."""
        with self._lock:
            return self.requests.get(request_id)

    def snapshot(self) -> dict:
        """A JSON-ready copy of all counters (requests as a list, oldest first)."""
        with self._lock:
            data = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "requests"}
            data["requests"] = [
                asdict(r) | {"first_audio_latency_secs": r.first_audio_latency_secs}
                for r in self.requests.values()
            ]
            return data
