"""Module paths from before the layered layout, so a config's ``type = "module:Class"`` keeps working.

The project's modules moved (``agent.transports`` → ``runtime.transports``, flat
``processors/*.py`` → a subpackage per family, ...). :func:`resolve_moved` maps an old path
to the new one; :mod:`pipelines.registry` uses it when the path as written does not import.
"""

from __future__ import annotations

MOVED_MODULES: dict[str, str] = {
    "agent.config": "pipelines.config",
    "agent.child_process": "runtime.child_process",
    "agent.llm_server": "runtime.llm_server",
    "agent.tts_server_process": "runtime.tts_server_process",
    "agent.tts_server": "runtime.tts_server",
    "agent.models": "runtime.models",
    "agent.speech": "runtime.speech",
    "agent.sample_conversation": "runtime.sample_conversation",
    "agent.transcript": "runtime.transcript",
    "agent.pipeline_runner": "runtime.pipeline_runner",
    "agent.transports": "runtime.transports",
    "processors.phrase_aggregator": "processors.phrase.aggregator",
    "processors.phrase_rules": "processors.phrase.rules",
    "processors.text_cleanup": "processors.phrase.text_cleanup",
    "processors.gradium_tts": "processors.gradium.tts",
    "processors.gradium_connection": "processors.gradium.connection",
    "processors.gradium_pool": "processors.gradium.pool",
    "processors.gradium_protocol": "processors.gradium.protocol",
    "processors.gradium_request": "processors.gradium.request",
    "processors.gradium_settings": "processors.gradium.settings",
    "processors.interruption_handler": "processors.interruption.handler",
    "processors.interruption_frames": "processors.interruption.frames",
    "processors.interruption_onset": "processors.interruption.onset",
    "processors.interruption_settings": "processors.interruption.settings",
    "processors.interruption_turns": "processors.interruption.turns",
    "processors.shared_silero": "processors.vad.shared_silero",
    "processors.playback_gate": "processors.playback.gate",
    "processors.interruption_words": "processors.playback.words",
    "processors.streaming_whisper_stt": "processors.streaming_whisper.stt",
    "processors.streaming_whisper_decoder": "processors.streaming_whisper.decoder",
    "processors.streaming_whisper_segment": "processors.streaming_whisper.segment",
    "processors.turn_transcript_aware": "processors.turns.transcript_aware",
    "processors.turn_smart_analyzer": "processors.turns.smart_analyzer",
    "processors.turn_text_rules": "processors.turns.text_rules",
    "processors.echo_cancel": "processors.echo_cancel.filters",
    "pipelines.components.processors": "pipelines.components.phrase_aggregator",
    "pipelines.components.transports": "pipelines.components.transport",
    "pipelines.components.stt_streaming": "pipelines.components.stt",
    "pipelines.components.turns_fast": "pipelines.components.turns",
}


def resolve_moved(module: str) -> str | None:
    """The current path of ``module`` (or of its package) if it moved, else ``None``."""
    for old in sorted(MOVED_MODULES, key=len, reverse=True):
        if module == old or module.startswith(old + "."):
            return MOVED_MODULES[old] + module[len(old):]
    return None
