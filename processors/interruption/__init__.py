"""``InterruptionHandler``: barge-in. Pause at a speech onset, interrupt when confirmed, else resume.

``handler.py`` is the processor and its frame contract; ``frames.py`` the frames it exchanges
with the playback gate and the turn strategies; ``onset.py`` the speech-onset detector;
``settings.py`` its options; ``turns.py`` the user-turn start strategies to pair it with.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "InterruptionHandler": "processors.interruption.handler",
    "InterruptionSettings": "processors.interruption.settings",
    "handler_turn_strategies": "processors.interruption.turns",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
