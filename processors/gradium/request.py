"""State of one Gradium TTS request (one answer), and the service's counters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from processors.gradium.connection import GradiumSocket
from processors.gradium.protocol import FLUSH_MARKER
from processors.gradium.settings import GradiumConnectionParams

# Speech rate used to guess the audio of text not yet voiced: faster than voices speak (~15
# characters a second), so the guess errs short and text is never held too long.
SPOKEN_CHARS_PER_SEC = 20.0


@dataclass
class GradiumTTSStats:
    """Counters for tests and benchmarks.

    Parameters:
        sockets_opened: WebSocket handshakes completed.
        answers: Requests started (one per answer / speak frame).
        handshakes_on_critical_path: Answers that had to wait for a handshake because no
            socket was open when they started.
        answers_completed: Requests that got their ``end_of_stream``.
        answers_interrupted: Requests cancelled by an interruption.
        sockets_closed_on_interruption: Sockets closed to stop server-side generation.
        audio_seconds_received: Audio received for live requests.
        audio_seconds_dropped: Audio that arrived for cancelled requests and was dropped.
        failovers: Requests replayed on a new socket after theirs failed.
        errors: Error frames pushed.
        text_held_secs: Time answers' text waited because enough audio was already ahead
            of the listener (``max_audio_ahead_secs``).
    """

    sockets_opened: int = 0
    answers: int = 0
    handshakes_on_critical_path: int = 0
    answers_completed: int = 0
    answers_interrupted: int = 0
    sockets_closed_on_interruption: int = 0
    audio_seconds_received: float = 0.0
    audio_seconds_dropped: float = 0.0
    failovers: int = 0
    errors: int = 0
    text_held_secs: float = 0.0


@dataclass(frozen=True)
class GradiumRequestInfo:
    """Passed to ``on_request_started``: which socket an answer went out on.

    Parameters:
        context_id: The pipecat audio context (also the ``client_req_id`` when multiplexing).
        socket_id: Process-unique id of the socket.
        socket_age_secs: How long the socket had been open when the answer took it.
        waited_for_handshake: Whether the answer had to wait for a handshake.
        failover: Whether this is a replay after the previous socket failed.
    """

    context_id: str
    socket_id: int
    socket_age_secs: float
    waited_for_handshake: bool
    failover: bool = False


@dataclass
class GradiumRequest:
    """What was sent for one answer (so it can be replayed) and what came back."""

    context_id: str
    client_req_id: str | None
    socket: GradiumSocket
    sent: list[str] = field(default_factory=list)
    eos_sent: bool = False
    cancelled: bool = False
    finished: bool = False
    got_ready: bool = False
    sample_rate: int | None = None
    audio_started: bool = False
    audio_secs: float = 0.0  # received for this request
    first_text_at: float | None = None
    heard_from: float | None = None  # playback can start: the first text, or the user's turn end
    failovers: int = 0
    setup_at: float = field(default_factory=time.monotonic)
    owed_since: float | None = None  # first <flush>/end_of_stream: audio is due from here
    last_message_at: float = field(default_factory=time.monotonic)
    resampler: Any = None
    timer: asyncio.TimerHandle | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def live(self) -> bool:
        """Neither finished nor cancelled."""
        return not (self.finished or self.cancelled)

    @property
    def text_chars(self) -> int:
        """Characters of text sent, without ``<flush>`` markers."""
        return sum(len(wire.replace(FLUSH_MARKER, "").strip()) for wire in self.sent)

    @property
    def held(self) -> bool:
        """Its text started in an open user turn that has not ended: nobody hears it yet."""
        return self.first_text_at is not None and self.heard_from is None

    def held_ahead_secs(self) -> float:
        """Audio made ready for a held answer: received, or owed for the text sent once all
        of it was flushed (unflushed text may be waiting on the server for more text)."""
        flushed = bool(self.sent) and self.sent[-1].endswith(FLUSH_MARKER)
        return max(self.audio_secs, self.text_chars / SPOKEN_CHARS_PER_SEC if flushed else 0.0)

    def audio_ahead_secs(self, now: float) -> float:
        """How much of the answer is still to be heard, on the safe side: the audio received,
        or the audio the text sent will make if more (at a brisk ``SPOKEN_CHARS_PER_SEC``),
        minus the time since it could first be heard (playback starts later than that)."""
        if self.first_text_at is None:
            return 0.0
        heard_for = now - self.heard_from if self.heard_from is not None else 0.0
        return max(self.audio_secs, self.text_chars / SPOKEN_CHARS_PER_SEC) - heard_for

    def wire_text(self, text: str, flush: bool) -> str:
        """``text`` as sent: a space between chunks that lack one, ``<flush>`` when asked."""
        if self.sent and text and not text[0].isspace() and not self.sent[-1][-1:].isspace():
            text = " " + text
        return f"{text} {FLUSH_MARKER}" if flush else text

    def mark_owed(self) -> None:
        """Audio is now due (a flush or end_of_stream went out)."""
        if self.owed_since is None:
            self.owed_since = time.monotonic()

    def overdue(self, params: GradiumConnectionParams) -> str | None:
        """Why the server is late with this request, or None while it is on time."""
        now = time.monotonic()
        if not self.got_ready and now - self.setup_at > params.ready_timeout_secs:
            return f"sent no 'ready' within {params.ready_timeout_secs:g}s of 'setup'"
        if self.owed_since is not None and not self.audio_started:
            if now - max(self.owed_since, self.setup_at) > params.first_audio_timeout_secs:
                return f"sent no audio within {params.first_audio_timeout_secs:g}s"
        if self.eos_sent and self.audio_started and now - self.last_message_at > params.stall_timeout_secs:
            return f"stalled: nothing for {params.stall_timeout_secs:g}s before 'end_of_stream'"
        return None

    def awaiting_output(self) -> bool:
        """Whether audio or the end of the stream is due (the audio context must stay open)."""
        return self.owed_since is not None and self.live
