"""Voice ids the local server accepts. All of them speak with the one bundled Piper voice.

The ids are the real service's defaults as found in public clients, so a client configured for
Gradium works unchanged: ``YTpq7expH9539ERJ`` (Gradium docs and the ``gradium`` SDK examples,
"Emma"), ``_6Aslh2DxfmnRLmP`` (pipecat's GradiumTTSService default), ``LFZvm12tW_z0xfGo``
(the rust-gradium default). The ``voice`` name fallback accepts ``"default"`` (what the SDK
sends when no ``voice_id`` is set) and the bundled voice's own name. Unknown ids are refused
with an error, like the real service does for a voice it cannot find.
"""

from __future__ import annotations

LOCAL_VOICE = "en_US-joe-medium"

KNOWN_VOICE_IDS: dict[str, str] = {
    "YTpq7expH9539ERJ": LOCAL_VOICE,
    "_6Aslh2DxfmnRLmP": LOCAL_VOICE,
    "LFZvm12tW_z0xfGo": LOCAL_VOICE,
    LOCAL_VOICE: LOCAL_VOICE,
}

KNOWN_VOICE_NAMES: dict[str, str] = {
    "default": LOCAL_VOICE,
    "joe": LOCAL_VOICE,
    LOCAL_VOICE: LOCAL_VOICE,
}


def resolve_voice(
    voice_id: str | None, voice: str | None, extra_ids: dict[str, str] | None = None
) -> str:
    """Map ``voice_id`` (preferred) or the ``voice`` name to a local voice; LookupError if unknown."""
    if voice_id is not None:
        ids = {**KNOWN_VOICE_IDS, **(extra_ids or {})}
        if voice_id not in ids:
            raise LookupError(
                f"voice_id {voice_id!r} not found (the local server knows: {', '.join(ids)})"
            )
        return ids[voice_id]
    name = voice if voice is not None else "default"
    if name not in KNOWN_VOICE_NAMES:
        raise LookupError(
            f"voice {name!r} not found (known names: {', '.join(KNOWN_VOICE_NAMES)})"
        )
    return KNOWN_VOICE_NAMES[name]
