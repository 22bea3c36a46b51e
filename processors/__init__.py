"""The project's custom pipecat frame processors.

``from processors import PhraseAggregator, GradiumTTSService, InterruptionHandler``
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PhraseAggregator": "processors.phrase_aggregator",
    "GradiumTTSService": "processors.gradium_tts",
    "InterruptionHandler": "processors.interruption_handler",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing one processor doesn't load the others
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'processors' has no attribute {name!r}")
