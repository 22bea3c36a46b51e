"""Settings, connection parameters and endpoint choice for :class:`GradiumTTSService`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pipecat.services.settings import TTSSettings
from pipecat.utils.types import NOT_GIVEN, NotGiven

from processors.gradium.protocol import LOCAL_SERVER_PORT, REGION_URLS, TTS_PATH

GRADIUM_EU_URL = REGION_URLS["eu"]
# The project's local Gradium-compatible server (runtime.tts_server) listens here by default.
GRADIUM_LOCAL_URL = f"ws://127.0.0.1:{LOCAL_SERVER_PORT}{TTS_PATH}"
DEFAULT_VOICE_ID = "YTpq7expH9539ERJ"
DEFAULT_MODEL_NAME = "default"


@dataclass
class GradiumTTSSettings(TTSSettings):
    """Runtime-updatable settings of :class:`GradiumTTSService` (store and delta mode).

    Parameters:
        model: Gradium ``model_name`` (alias ``model_name``).
        voice: Gradium ``voice_id`` (alias ``voice_id``).
        output_format: ``pcm``, ``pcm_8000``, ``pcm_16000``, ``pcm_24000`` or ``wav``;
            ``None`` picks the PCM rate closest to the pipeline's output rate.
        json_config: Extra model settings (dict or JSON string), sent in ``setup``.
        pronunciation_id: Optional Gradium pronunciation dictionary id.
        multiplex: ``False`` (default): one socket per answer, closed on interruption,
            with a spare socket opened ahead of time. ``True``: one shared socket,
            requests routed by ``client_req_id``; audio of cancelled requests is dropped.
            A change takes effect once no answer is in flight.
    """

    output_format: str | None | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    json_config: dict[str, Any] | str | None | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    pronunciation_id: str | None | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    multiplex: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)

    _aliases: ClassVar[dict[str, str]] = {"voice_id": "voice", "model_name": "model"}


@dataclass(frozen=True)
class GradiumConnectionParams:
    """How the service manages its sockets and paces its text. Every network wait has a bound.

    Parameters:
        connect_timeout_secs: TCP + TLS + WebSocket handshake.
        ready_timeout_secs: From ``setup`` to the server's ``ready``.
        first_audio_timeout_secs: From the first ``<flush>``/``end_of_stream`` of an answer to
            its first audio.
        stall_timeout_secs: Silence allowed between messages once ``end_of_stream`` is sent.
        ping_interval_secs: WebSocket keepalive ping period (detects dead sockets); None = off.
        ping_timeout_secs: A socket whose ping isn't answered in this time is dropped.
        close_timeout_secs: Wait for the server to acknowledge a close before dropping it.
        send_timeout_secs: A send to a server that stopped reading fails after this.
        max_message_bytes: Largest server message accepted (Gradium's audio messages are
            ~10 kB); a bigger one closes the socket with code 1009 and fails its answer.
        spare_max_idle_secs: A spare socket idle this long is replaced in the background
            (servers may drop idle sockets); None = never.
        backoff_min_secs / backoff_max_secs: Reconnect backoff bounds (exponential).
        quick_failure_secs: A socket the server closes within this time of opening counts as
            a failed connection (e.g. a rejected key), so reconnects back off.
        max_failovers: Times an answer that has received no audio yet is replayed on a
            new socket after its socket fails.
        keep_spare: Keep a socket open ahead of the next answer (fresh-socket mode).
            ``False`` opens each answer's socket when the answer starts (handshake on the
            critical path); only useful as a baseline.
        max_audio_ahead_secs: An answer's next text is held while more than this much of the
            answer is still to be heard (its audio received, or the text sent if that would
            make more, minus the real time since it could first be heard), so the server
            synthesizes little that a barge-in would throw away. None sends text as soon as
            it comes (and turns ``held_audio_ahead_secs`` off too).
        held_audio_ahead_secs: An answer whose text starts while the user's turn is open
            (``UserStartedSpeakingFrame`` seen, ``UserStoppedSpeakingFrame`` not yet) is a
            speculative one that nobody hears before the turn ends (a playback gate holds
            it) and that may be withdrawn: its next text is held once this much of its audio
            has been received, and its ``max_audio_ahead_secs`` clock starts at the turn's
            end. None paces it as if it were heard from its first text.
    """

    connect_timeout_secs: float = 5.0
    ready_timeout_secs: float = 5.0
    first_audio_timeout_secs: float = 5.0
    stall_timeout_secs: float = 5.0
    ping_interval_secs: float | None = 5.0
    ping_timeout_secs: float = 5.0
    close_timeout_secs: float = 2.0
    send_timeout_secs: float = 5.0
    max_message_bytes: int = 4 * 1024 * 1024
    spare_max_idle_secs: float | None = 55.0
    backoff_min_secs: float = 0.25
    backoff_max_secs: float = 8.0
    quick_failure_secs: float = 1.0
    max_failovers: int = 1
    keep_spare: bool = True
    max_audio_ahead_secs: float | None = 2.0
    held_audio_ahead_secs: float | None = 1.0


def resolve_api_key(api_key: str | None) -> str | None:
    """The explicit key, else ``GRADIUM_API_KEY`` from the environment, else None."""
    if api_key is None:
        api_key = os.environ.get("GRADIUM_API_KEY")
    return api_key or None


def resolve_url(url: str | None, api_key: str | None) -> str:
    """The explicit URL, else the EU endpoint when a key is set, else the local server."""
    if url:
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ValueError(f"Gradium TTS url must start with ws:// or wss:// (got {safe_url(url)!r})")
        return url
    return GRADIUM_EU_URL if api_key else GRADIUM_LOCAL_URL


def safe_url(url: str) -> str:
    """The URL without query string or user info, fit for logs and error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
