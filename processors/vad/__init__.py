"""``SharedSileroVADAnalyzer``: one Silero model scoring the mic for the VAD and the interruption
handler (contract in ``shared_silero.py``)."""

from processors._lazy import lazy_exports

_EXPORTS = {"SharedSileroVADAnalyzer": "processors.vad.shared_silero"}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
