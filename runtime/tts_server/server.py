"""The local Gradium-compatible TTS WebSocket server (``websockets`` asyncio API).

Usage::

    async with TTSServer(port=0) as server:   # binds 127.0.0.1 by default
        print(server.url)                     # ws://127.0.0.1:<port>/api/speech/tts
        ...
    server.stats.snapshot()
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from runtime.tts_server.protocol import CODE_POLICY, CODE_TRY_AGAIN, TTS_PATH, error_message
from runtime.tts_server.session import Connection, SessionDeps
from runtime.tts_server.settings import TTSServerSettings
from runtime.tts_server.stats import ServerStats
from runtime.tts_server.synthesis import PiperSynthesizer, shared_synthesizer

# websockets logs handshake headers (x-api-key among them) at DEBUG; this logger never does.
_WS_LOGGER = logging.getLogger("runtime.tts_server.websockets")
_WS_LOGGER.setLevel(logging.INFO)
LOAD_TIMEOUT_S = 120.0
# Plain HTTP GET, answered 200 by the event loop (a supervisor's health check; not a connection).
HEALTH_PATH = "/health"


class TTSServer:
    """Gradium-compatible TTS over WebSocket at ``/api/speech/tts``, backed by Piper.

    Parameters:
        host: Interface to bind (127.0.0.1 unless told otherwise).
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        api_key: If set, clients must send it in the ``x-api-key`` header.
        settings: Limits and tunables.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        settings: TTSServerSettings | None = None,
    ):
        self.host = host
        self._requested_port = port
        self._api_key = api_key or None
        self.settings = settings or TTSServerSettings()
        self.stats = ServerStats()
        self._server: Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._deps: SessionDeps | None = None
        self.port: int | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"TTSServer(url={self.url if self.port else None!r}, auth={self._api_key is not None})"

    @property
    def url(self) -> str:
        """``ws://host:port/api/speech/tts`` (valid after :meth:`start`)."""
        if self.port is None:
            raise RuntimeError("TTSServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{TTS_PATH}"

    @property
    def synthesizer(self) -> PiperSynthesizer:
        """The process-wide Piper voice this server uses."""
        return shared_synthesizer(self.settings.voice_path, self.settings.use_alignment, self.settings.onnx_threads)

    @property
    def base_url(self) -> str:
        """``http://host:port/api/`` — the ``base_url`` for the official ``gradium`` SDK."""
        return self.url.replace("ws://", "http://", 1).removesuffix("speech/tts")

    async def start(self) -> None:
        """Load the Piper voice (once per process) and start listening."""
        if self._server is not None:
            return
        synth = self.synthesizer
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.synthesis_workers, thread_name_prefix="tts-synth"
        )
        async with asyncio.timeout(LOAD_TIMEOUT_S):
            await asyncio.get_running_loop().run_in_executor(self._executor, synth.load)
        self._deps = SessionDeps(self.settings, synth, self._executor, self.stats)
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._check_path,
            compression=None,
            max_size=max(2 * self.settings.max_message_bytes, 4096),
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            server_header="gradium-local-tts (piper)",
            logger=_WS_LOGGER,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info(f"tts-server: listening on {self.url} (auth: {'on' if self._api_key else 'off'})")

    async def stop(self) -> None:
        """Close all sockets (their synthesis stops) and the listener."""
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=True)
            try:
                async with asyncio.timeout(10):
                    await server.wait_closed()
            except TimeoutError:
                logger.warning("tts-server: connections did not close within 10s")
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled."""
        await self.start()
        await self._server.serve_forever()

    async def __aenter__(self) -> TTSServer:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # --- connection handling ---------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path != TTS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"not found: the TTS endpoint is {TTS_PATH}\n")
        return None

    def _authorized(self, ws: ServerConnection) -> bool:
        if self._api_key is None:
            return True
        given = ws.request.headers.get_all("x-api-key") if ws.request else []
        return len(given) == 1 and hmac.compare_digest(given[0].encode(), self._api_key.encode())

    async def _reject(self, ws: ServerConnection, message: str, code: int) -> None:
        self.stats.connection_rejected()
        self.stats.error_sent()
        logger.info(f"tts-server: rejected a connection: {message}")
        try:
            await ws.send(error_message(message, code))
            await ws.close(code, message[:120])
        except ConnectionClosed:
            pass

    async def _handle(self, ws: ServerConnection) -> None:
        if not self._authorized(ws):
            await self._reject(ws, "invalid or missing API key (send it in the x-api-key header)", CODE_POLICY)
            return
        limit = self.settings.max_connections
        if self.stats.connections_open >= limit:
            await self._reject(ws, f"too many connections (limit {limit}); try again later", CODE_TRY_AGAIN)
            return
        self.stats.connection_opened()
        try:
            await Connection(ws, self._deps).run()
        finally:
            self.stats.connection_closed()
