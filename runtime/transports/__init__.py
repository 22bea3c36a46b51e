"""Transports: the laptop's sound devices (PyAudio) and WAV files (no sound card needed)."""
