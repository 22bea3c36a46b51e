"""The built-in component types, one module per config section (``[stt]`` → ``stt.py``, ...).

Importing this package registers every type with :mod:`pipelines.registry`.
"""

from pipelines.components import (  # noqa: F401
    interruption, llm, phrase_aggregator, playback, stt, transport, tts, turns, vad,
)
