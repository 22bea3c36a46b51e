"""Gradium TTS wire messages (see docs/gradium-protocol.md): build, parse, decode audio."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

FLUSH_MARKER = "<flush>"
TTS_PATH = "/api/speech/tts"  # the TTS WebSocket endpoint's path, on every Gradium host
LOCAL_SERVER_PORT = 8766  # the project's local Gradium-compatible server (runtime.tts_server)
REGION_URLS = {region: f"wss://{region}.api.gradium.ai{TTS_PATH}" for region in ("eu", "us")}

# Supported output formats and the sample rate each implies (``ready`` has the final say).
_PCM_FORMATS = {"pcm": 48000, "pcm_8000": 8000, "pcm_16000": 16000, "pcm_24000": 24000, "wav": 48000}
_UNSUPPORTED = ("opus", "ulaw_8000", "alaw_8000")


class GradiumProtocolError(Exception):
    """The server sent something this client cannot use."""


def check_output_format(output_format: str | None) -> None:
    """Raise ``ValueError`` (one clear line) for a format this service can't play."""
    if output_format is None or output_format in _PCM_FORMATS:
        return
    known = ", ".join(_PCM_FORMATS)
    why = "needs a decoder this service doesn't have" if output_format in _UNSUPPORTED else "is unknown"
    raise ValueError(f"Gradium output_format {output_format!r} {why}; use one of: {known}")


def format_sample_rate(output_format: str) -> int:
    """The sample rate an output format implies."""
    return _PCM_FORMATS[output_format]


def auto_output_format(sample_rate: int) -> str:
    """The PCM format whose rate matches ``sample_rate``, else the closest higher (or ``pcm``)."""
    # pcm_8000 is left out: few servers offer it (8 kHz pipelines get pcm_16000, resampled).
    rates = sorted((rate, fmt) for fmt, rate in _PCM_FORMATS.items() if fmt not in ("wav", "pcm_8000"))
    for rate, fmt in rates:
        if rate >= sample_rate:
            return fmt
    return "pcm"


def setup_message(
    *,
    model_name: str | None,
    voice_id: str | None,
    output_format: str,
    json_config: dict[str, Any] | str | None,
    pronunciation_id: str | None,
    close_ws_on_eos: bool,
    client_req_id: str | None,
) -> dict[str, Any]:
    """The ``setup`` message, the first one on a socket (and once per request when multiplexing)."""
    msg: dict[str, Any] = {
        "type": "setup",
        "model_name": model_name or "default",
        "output_format": output_format,
        "close_ws_on_eos": close_ws_on_eos,
    }
    if voice_id:
        msg["voice_id"] = voice_id
    if json_config is not None:
        msg["json_config"] = json_config if isinstance(json_config, str) else json.dumps(json_config)
    if pronunciation_id:
        msg["pronunciation_id"] = pronunciation_id
    if client_req_id is not None:
        msg["client_req_id"] = client_req_id
    return msg


def text_message(text: str, client_req_id: str | None) -> dict[str, Any]:
    """A ``text`` chunk."""
    msg: dict[str, Any] = {"type": "text", "text": text}
    if client_req_id is not None:
        msg["client_req_id"] = client_req_id
    return msg


def end_of_stream_message(client_req_id: str | None) -> dict[str, Any]:
    """``end_of_stream``: no more text for this request."""
    msg: dict[str, Any] = {"type": "end_of_stream"}
    if client_req_id is not None:
        msg["client_req_id"] = client_req_id
    return msg


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """Decode one server message; raise :class:`GradiumProtocolError` if it isn't a JSON object."""
    if isinstance(raw, bytes):
        raise GradiumProtocolError("Gradium TTS sent a binary frame; the protocol uses JSON text frames only")
    try:
        msg = json.loads(raw)
    except ValueError:
        raise GradiumProtocolError(f"Gradium TTS sent a message that is not JSON: {raw[:60]!r}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise GradiumProtocolError(f"Gradium TTS sent a JSON message without a 'type': {raw[:60]!r}")
    return msg


def decode_audio(msg: dict[str, Any], strip_wav_header: bool) -> bytes:
    """The PCM bytes of an ``audio`` message (WAV headers removed when asked)."""
    try:
        audio = base64.b64decode(msg.get("audio", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise GradiumProtocolError("Gradium TTS sent an audio message whose audio is not base64") from None
    if strip_wav_header and audio[:4] == b"RIFF":
        audio = _strip_wav_header(audio)
    return audio


def _strip_wav_header(audio: bytes) -> bytes:
    """Drop a RIFF/WAVE header, finding the ``data`` chunk rather than assuming 44 bytes."""
    pos = 12
    while pos + 8 <= len(audio):
        chunk_id = audio[pos : pos + 4]
        size = int.from_bytes(audio[pos + 4 : pos + 8], "little")
        if chunk_id == b"data":
            return audio[pos + 8 :]
        pos += 8 + size + (size & 1)
    return b""


def spoken_word(text: Any) -> str:
    """A word-timestamp ``text`` with any ``<flush>`` marker removed."""
    if not isinstance(text, str):
        return ""
    return strip_flush(text)[0].strip()


def strip_flush(text: str) -> tuple[str, bool]:
    """``text`` without ``<flush>`` markers, and whether it had any."""
    if FLUSH_MARKER not in text:
        return text, False
    while FLUSH_MARKER in text:  # "<flu<flush>sh>" must not leave a marker behind
        text = text.replace(FLUSH_MARKER, "")
    return text, True
