"""Importing this package registers every built-in component type with the registry."""

from pipelines.components import (  # noqa: F401
    interruption, llm, processors, stt, stt_streaming, transports, tts, turns, turns_fast, vad,
)
