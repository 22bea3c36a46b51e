"""``StreamingWhisperSTTService``: local Whisper that transcribes while the user speaks.

``stt.py`` is the service and its frame contract; ``decoder.py`` the windowed Whisper decoder;
``segment.py`` one speech segment's audio.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "StreamingWhisperSTTService": "processors.streaming_whisper.stt",
    "DecoderSettings": "processors.streaming_whisper.decoder",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
