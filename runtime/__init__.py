"""What the pipelines run on: child servers (llama.cpp, the local TTS server), the offline
models, transports (sound devices, WAV files), speech synthesis for inputs, the transcript
writer and the pipeline runner. Imports only :mod:`processors` and libraries."""
