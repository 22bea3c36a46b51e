"""User-turn stop strategies: when the user's turn is over.

``transcript_aware.py`` is ``TranscriptAwareTurnStopStrategy`` (Smart Turn + the transcript's
ending) and its contract; ``smart_analyzer.py`` Smart Turn v3 with a set thread count;
``text_rules.py`` whether a transcript can end a sentence.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "TranscriptAwareTurnStopStrategy": "processors.turns.transcript_aware",
    "TranscriptAwareTurnSettings": "processors.turns.transcript_aware",
    "TurnSmartAnalyzer": "processors.turns.smart_analyzer",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
