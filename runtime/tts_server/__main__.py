"""``python -m runtime.tts_server`` / ``voice-agent tts-server``: run the local Gradium-compatible TTS server."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from processors.gradium.protocol import LOCAL_SERVER_PORT
from runtime.tts_server.server import TTSServer
from runtime.tts_server.settings import TTSServerSettings

DEFAULT_PORT = LOCAL_SERVER_PORT


def build_parser(prog: str = "voice-agent tts-server") -> argparse.ArgumentParser:
    """Command-line options (the API key may also come from ``TTS_SERVER_API_KEY``)."""
    p = argparse.ArgumentParser(prog=prog, description="Local Gradium-compatible TTS server (Piper).")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port, 0 = any free (default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key",
        default=None,
        help="require this x-api-key header (default: $TTS_SERVER_API_KEY; unset = no auth)",
    )
    p.add_argument("--max-connections", type=int, default=TTSServerSettings.max_connections)
    p.add_argument("--idle-timeout", type=float, default=TTSServerSettings.idle_timeout_secs,
                   help="seconds a silent socket stays open")
    return p


async def _serve(server: TTSServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # non-main thread or platform without it
            pass
    await server.start()
    print(f"tts-server ready: {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("tts-server stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; return the exit status (1 with one error line on failure)."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 1
    if args.max_connections < 1 or args.idle_timeout <= 0:
        print("error: --max-connections must be >= 1 and --idle-timeout > 0", file=sys.stderr)
        return 1
    api_key = args.api_key or os.environ.get("TTS_SERVER_API_KEY") or None
    settings = TTSServerSettings(max_connections=args.max_connections, idle_timeout_secs=args.idle_timeout)
    server = TTSServer(host=args.host, port=args.port, api_key=api_key, settings=settings)
    try:
        asyncio.run(_serve(server))
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (one clear line, e.g. a missing voice package)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
