"""``PlaybackGate``: the bot's audio released just in time, so a pause or barge-in is heard at once.

``gate.py`` is the processor and its frame contract; ``words.py`` places a sentence's words in
its audio (word timing for TTS without timestamps).
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "PlaybackGate": "processors.playback.gate",
    "PlaybackGateSettings": "processors.playback.gate",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
