"""Local Gradium-compatible TTS server backed by Piper (``voice-agent tts-server``).

A client written for Gradium only changes the host: same path (``/api/speech/tts``), same
``x-api-key`` header, same JSON messages (see ``docs/gradium-protocol.md``)::

    from runtime.tts_server import TTSServer
    async with TTSServer(host="127.0.0.1", port=0, api_key=None) as server:
        server.url        # ws://127.0.0.1:<port>/api/speech/tts
        server.base_url   # http://127.0.0.1:<port>/api/  (for gradium.GradiumClient(base_url=...))
        server.stats      # ServerStats: counters for tests and benchmarks

What it accepts, like the real service:

- ``setup`` first (anything else: ``error`` 1008 and close); fields ``model_name`` (any alias,
  echoed), ``voice_id`` / ``voice``, ``output_format`` (default ``wav``), ``json_config``
  (object or JSON string; validated, otherwise ignored), ``pronunciation_id`` and
  ``retry_for_s`` (accepted, ignored), ``client_req_id``, ``close_ws_on_eos`` (default true).
- Voices: every accepted id speaks with the bundled Piper voice (en_US-joe-medium). Known
  ``voice_id`` values: ``YTpq7expH9539ERJ`` (Gradium docs/SDK), ``_6Aslh2DxfmnRLmP`` (pipecat),
  ``LFZvm12tW_z0xfGo`` (rust-gradium), ``en_US-joe-medium``; ``voice`` names ``default``,
  ``joe``; more via ``TTSServerSettings.extra_voice_ids``. Unknown ones: ``error`` 1008.
- Formats: ``pcm`` (48 kHz), ``pcm_16000``, ``pcm_24000``, ``wav`` (48 kHz, streamed header with
  unknown length), ``ulaw_8000``, ``alaw_8000``; others (e.g. ``opus``): ``error`` 1008.
- Output per request: ``ready`` (request_id, model_name, model_ext, sample_rate, frame_size
  [, client_req_id]), then ``text`` (word, start_s, stop_s) just ahead of the ``audio`` chunk
  (80 ms, base64, start_s, stop_s) it starts in, then ``end_of_stream``. Word times come from
  Piper's phoneme alignment when the optional ``onnx`` package is installed, otherwise they are
  ESTIMATED (each sentence's voiced span shared by word length).
- Synthesis is incremental: at sentence ends, at phrase breaks (``, ; :`` after 20 chars), at
  ``<flush>`` and ``end_of_stream``. A closed socket stops its synthesis between Piper sentences.
- Every error is ``{"type": "error", "message", "code"[, "client_req_id"]}`` followed by closing
  the socket with that code: 1008 policy (bad key, setup, format, voice, limits on text and
  requests, idle timeout), 1009 message too big, 1011 internal, 1013 too many connections.
"""

from runtime.tts_server.audio_formats import FORMATS, OutputFormat
from runtime.tts_server.protocol import TTS_PATH
from runtime.tts_server.server import TTSServer
from runtime.tts_server.settings import TTSServerSettings
from runtime.tts_server.stats import RequestStats, ServerStats
from runtime.tts_server.voices import KNOWN_VOICE_IDS, KNOWN_VOICE_NAMES

__all__ = [
    "FORMATS",
    "KNOWN_VOICE_IDS",
    "KNOWN_VOICE_NAMES",
    "OutputFormat",
    "RequestStats",
    "ServerStats",
    "TTSServer",
    "TTSServerSettings",
    "TTS_PATH",
]
