"""Gradium TTS wire protocol: parsing/validating client messages and building server messages.

All messages are JSON text frames. Every error is ``{"type": "error", "message", "code"}``
(plus ``client_req_id`` when known) and, as on the real service, the server then closes the
socket with the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runtime.tts_server.audio_formats import OutputFormat, UnsupportedFormatError, resolve_format
from runtime.tts_server.voices import resolve_voice

from processors.gradium.protocol import FLUSH_MARKER, TTS_PATH  # noqa: F401  (the wire's constants, one place)

# WebSocket close codes used as error codes (as the real service does).
CODE_NORMAL = 1000
CODE_POLICY = 1008  # bad/missing key, setup not first, bad setup, bad format, protocol misuse
CODE_TOO_BIG = 1009  # message larger than the server accepts
CODE_INTERNAL = 1011  # unexpected server failure
CODE_TRY_AGAIN = 1013  # server full (too many connections)

CLIENT_TYPES = ("setup", "text", "end_of_stream")


class ProtocolError(Exception):
    """A client mistake or a limit hit: sent as an ``error`` message, then the socket closes."""

    def __init__(self, message: str, code: int = CODE_POLICY, client_req_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.client_req_id = client_req_id


@dataclass
class SetupRequest:
    """A validated ``setup`` message."""

    output_format: OutputFormat
    voice: str  # canonical local voice id
    model_name: str = "default"
    client_req_id: str | None = None
    close_ws_on_eos: bool = True
    json_config: dict[str, Any] = field(default_factory=dict)
    pronunciation_id: str | None = None
    retry_for_s: float | None = None


def parse_message(raw: str | bytes, max_bytes: int) -> dict[str, Any]:
    """Decode one client frame into a message dict with a known ``type``."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary frames are not accepted: send JSON text messages")
    if len(raw) > max_bytes and len(raw.encode("utf-8")) > max_bytes:
        raise ProtocolError(f"message too big: limit is {max_bytes} bytes", CODE_TOO_BIG)
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"invalid JSON message: {e.msg}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a message must be a JSON object")
    req_id = msg.get("client_req_id")
    if req_id is not None and not isinstance(req_id, str):
        raise ProtocolError("client_req_id must be a string")
    mtype = msg.get("type")
    if mtype not in CLIENT_TYPES:
        raise ProtocolError(
            f"unknown message type {mtype!r}; expected one of {', '.join(CLIENT_TYPES)}",
            client_req_id=req_id,
        )
    if mtype == "text" and not isinstance(msg.get("text"), str):
        raise ProtocolError("a text message needs a string 'text' field", client_req_id=req_id)
    return msg


def _opt_str(msg: dict[str, Any], key: str, req_id: str | None) -> str | None:
    value = msg.get(key)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"setup field '{key}' must be a string", client_req_id=req_id)
    return value


def parse_setup(msg: dict[str, Any], known_voices: dict[str, str] | None = None) -> SetupRequest:
    """Validate a ``setup`` message; ``None`` values count as absent (the SDK may send them)."""
    req_id = msg.get("client_req_id")
    model_name = _opt_str(msg, "model_name", req_id) or "default"
    voice_id = _opt_str(msg, "voice_id", req_id)
    voice_name = _opt_str(msg, "voice", req_id)
    pronunciation_id = _opt_str(msg, "pronunciation_id", req_id)
    fmt_name = _opt_str(msg, "output_format", req_id)
    try:
        fmt = resolve_format(fmt_name)
    except UnsupportedFormatError as e:
        raise ProtocolError(str(e), client_req_id=req_id) from None
    try:
        voice = resolve_voice(voice_id, voice_name, known_voices)
    except LookupError as e:
        raise ProtocolError(str(e.args[0]), client_req_id=req_id) from None

    close = msg.get("close_ws_on_eos")
    if close is None:
        close = True
    elif not isinstance(close, bool):
        raise ProtocolError("setup field 'close_ws_on_eos' must be a boolean", client_req_id=req_id)

    config = msg.get("json_config")
    if isinstance(config, str):  # the SDKs send it JSON-encoded
        try:
            config = json.loads(config) if config.strip() else {}
        except json.JSONDecodeError:
            raise ProtocolError("json_config is not valid JSON", client_req_id=req_id) from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ProtocolError("json_config must be a JSON object", client_req_id=req_id)

    retry = msg.get("retry_for_s")
    if retry is not None and (isinstance(retry, bool) or not isinstance(retry, (int, float))):
        raise ProtocolError("setup field 'retry_for_s' must be a number", client_req_id=req_id)

    return SetupRequest(
        output_format=fmt,
        voice=voice,
        model_name=model_name,
        client_req_id=req_id,
        close_ws_on_eos=close,
        json_config=config,
        pronunciation_id=pronunciation_id,
        retry_for_s=retry,
    )


# --- server -> client ---------------------------------------------------------------------


def _with_id(msg: dict[str, Any], client_req_id: str | None) -> str:
    if client_req_id is not None:
        msg["client_req_id"] = client_req_id
    return json.dumps(msg, separators=(",", ":"))


def ready_message(request_id: str, setup: SetupRequest, model_ext: str) -> str:
    """The answer to ``setup`` (fields as documented for the real service)."""
    return _with_id(
        {
            "type": "ready",
            "request_id": request_id,
            "model_name": setup.model_name,
            "model_ext": model_ext,
            "sample_rate": setup.output_format.sample_rate,
            "frame_size": setup.output_format.frame_size,
        },
        setup.client_req_id,
    )


def audio_message(audio_b64: str, start_s: float, stop_s: float, client_req_id: str | None) -> str:
    """One chunk of encoded audio (base64) with its place on the request's timeline."""
    return _with_id(
        {"type": "audio", "audio": audio_b64, "start_s": start_s, "stop_s": stop_s}, client_req_id
    )


def text_message(text: str, start_s: float, stop_s: float, client_req_id: str | None) -> str:
    """A spoken word with its timestamps."""
    return _with_id(
        {"type": "text", "text": text, "start_s": start_s, "stop_s": stop_s}, client_req_id
    )


def end_of_stream_message(client_req_id: str | None) -> str:
    """All audio of the request has been sent."""
    return _with_id({"type": "end_of_stream"}, client_req_id)


def error_message(message: str, code: int, client_req_id: str | None = None) -> str:
    """An error in the real service's style."""
    return _with_id({"type": "error", "message": message, "code": code}, client_req_id)
