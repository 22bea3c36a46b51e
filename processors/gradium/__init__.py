"""``GradiumTTSService``: pipecat TTS over Gradium's WebSocket protocol (``docs/gradium-protocol.md``).

``tts.py`` is the service and its frame contract; ``protocol.py`` the wire messages;
``connection.py`` one socket; ``pool.py`` the warm spare socket; ``request.py`` one answer's
request; ``settings.py`` the options and endpoints.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "GradiumTTSService": "processors.gradium.tts",
    "GradiumConnectionParams": "processors.gradium.settings",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
