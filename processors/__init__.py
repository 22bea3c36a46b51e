"""The project's custom pipecat frame processors, one subpackage per family.

``from processors import PhraseAggregator, GradiumTTSService, InterruptionHandler``

| family | what | frame contract |
| --- | --- | --- |
| :mod:`processors.phrase` | LLM tokens into speakable phrases | ``phrase/aggregator.py`` |
| :mod:`processors.gradium` | Gradium WebSocket TTS | ``gradium/tts.py`` |
| :mod:`processors.interruption` | barge-in: pause, confirm, interrupt | ``interruption/handler.py`` |
| :mod:`processors.playback` | just-in-time audio release, word timing | ``playback/gate.py`` |
| :mod:`processors.streaming_whisper` | Whisper transcribing while the user speaks | ``streaming_whisper/stt.py`` |
| :mod:`processors.turns` | when the user's turn ends | ``turns/transcript_aware.py`` |
| :mod:`processors.vad` | one Silero for the VAD and the handler | ``vad/shared_silero.py`` |
| :mod:`processors.echo_cancel` | WebRTC echo cancellation (transport filters) | ``echo_cancel/filters.py`` |

Nothing here imports the rest of the project: processors are the bottom layer.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "PhraseAggregator": "processors.phrase.aggregator",
    "GradiumTTSService": "processors.gradium.tts",
    "InterruptionHandler": "processors.interruption.handler",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
