"""Importing this package registers every built-in component type with the registry."""

from pipelines.components import interruption, llm, processors, stt, transports, tts, turns, vad  # noqa: F401
