"""The web app of ``voice-agent serve``: the page at ``/client`` and pipecat's signalling routes.

Routes (the ones pipecat's JS clients use, so they work as well as the page):

- ``GET /client``: the project's page (``static/``: plain HTML/JS/CSS, nothing from a CDN).
- ``POST /api/offer``: an SDP offer; answers it and starts the call's pipeline.
  ``PATCH /api/offer``: trickled ICE candidates for a call.
- ``POST /start`` → ``{"sessionId"}``, then ``POST``/``PATCH /sessions/{id}/api/offer``
  (pipecat's runner and ``@pipecat-ai/small-webrtc-transport``). A session id is good for an
  offer for ``SESSION_TTL_SECS``; once its offer started a call it stays good for that call's
  ICE patches and renegotiations, however long the call, and ends with it. ``/start``'s
  ``body`` is the call's ``request_data`` when the offer carries none (as in pipecat's runner).
- ``GET /api/status``: the calls in progress and ended, and the server's asyncio task count.

The lifespan loads the models (Whisper, Silero, Smart Turn: a :class:`~runtime.model_cache.ModelCache`
every call's pipeline is built with) and starts the pipeline's child servers (LLM, TTS) once,
before the first call, and stops every call and then the servers on the way out. The servers
are supervised as in ``voice-agent run``: one that crashes or hangs is restarted on its port;
one that keeps failing (``[supervision] max_quick_failures``) ends every call and the server,
with one ``error:`` line and exit code 2. Nothing else runs in the background but the calls'
own pipelines.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from loguru import logger

from agent.serve.calls import CallManager, CallsFullError
from pipelines.builder import PipelineConfig, build_pipeline, load_config, supervision_of
from runtime.children import ChildServers
from runtime.model_cache import ModelCache
from runtime.supervision import ChildServerFailed

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_TTL_SECS = 120.0  # a /start session id is good for this long before its offer


@dataclass
class StartSession:
    """A ``/start`` session: its body, when it expires unused, and the call its offer started."""

    body: Any
    expires: float  # event-loop time
    pc_id: str | None = None


@dataclass
class ServeSettings:
    """What ``voice-agent serve`` was started with.

    Parameters:
        pipeline: Pipeline name or path; its ``[transport]`` becomes ``webrtc``.
        runs_dir: Where each call's run folder goes.
        max_calls: Calls at once (the local LLM and TTS servers are shared by all).
        loopback_ice: Offer 127.0.0.1 as an ICE candidate (a machine with only loopback).
    """

    pipeline: str | Path = "browser"
    runs_dir: Path = Path("runs")
    max_calls: int = 1
    loopback_ice: bool = True


def server_children(config: PipelineConfig, server_dir: Path, models: ModelCache | None = None) -> list:
    """The child servers the config's pipeline needs (not started), logging to ``server_dir``.

    The pipeline is built once for this with ``models``, which loads the models into it."""
    built = build_pipeline(config, server_dir, {"transport": {"type": "wav", "inputs": []}}, models=models)
    if built.transcript:
        built.transcript.close()
        (server_dir / "transcript.jsonl").unlink(missing_ok=True)
    return built.child_processes


async def _supervise(children: ChildServers, manager: CallManager, on_failure: Callable[[ChildServerFailed], None]):
    """Until cancelled: a child server that fails for good ends every call, then ``on_failure``."""
    try:
        await children.supervise(asyncio.Event().wait(), cancel=lambda: manager.close("a shared server failed"))
    except ChildServerFailed as e:
        logger.error(f"stopping: {e}")
        on_failure(e)


def create_app(settings: ServeSettings, on_failure: Callable[[ChildServerFailed], None] | None = None) -> FastAPI:
    """The FastAPI app; its lifespan starts and stops the models, the shared servers and every call.

    ``on_failure``: called once if a shared server fails for good (``serve`` stops uvicorn
    and exits 2); the failure is also ``app.state.failure``.
    """
    from pipecat.transports.smallwebrtc.request_handler import (
        IceCandidate,
        SmallWebRTCPatchRequest,
        SmallWebRTCRequest,
        SmallWebRTCRequestHandler,
    )

    from agent.app import new_run_dir
    from runtime.transports.webrtc import offer_loopback_candidates

    config = load_config(settings.pipeline)
    state: dict[str, Any] = {}
    sessions: dict[str, StartSession] = {}  # /start session id -> its session

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.loopback_ice:
            offer_loopback_candidates()
        server_dir = new_run_dir(settings.runs_dir, name=f"{config.name}-serve")
        sink = logger.add(server_dir / "agent.log", level="INFO")
        models = ModelCache()
        async with AsyncExitStack() as stack:
            try:
                children = await asyncio.to_thread(server_children, config, server_dir, models)
                await asyncio.to_thread(models.warm_up)
                servers = await stack.enter_async_context(ChildServers(children, supervision_of(config)))
            except Exception as e:  # one line, not uvicorn's traceback (the servers are stopped)
                logger.remove(sink)
                print(f"error: {e}", file=sys.stderr, flush=True)
                os._exit(2)
            loaded = ", ".join(f"{key[0]} {secs:.2f} s" for key, secs in models.load_secs.items())
            logger.info(f"models loaded once for every call: {loaded or 'none'}")
            manager = CallManager(config, runs_dir=settings.runs_dir, shared=children,
                                  max_calls=settings.max_calls, server_dir=server_dir, models=models)
            handler = SmallWebRTCRequestHandler()
            state.update(manager=manager, handler=handler, server_dir=server_dir, models=models, servers=servers)

            def failed(error: ChildServerFailed) -> None:
                app.state.failure = error
                if on_failure is not None:
                    on_failure(error)

            supervisor = asyncio.create_task(_supervise(servers, manager, failed), name="supervise-servers")
            logger.info(f"serving {config.path} ({len(children)} shared servers; logs in {server_dir})")
            try:
                yield
            finally:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
                await manager.close()
                await handler.close()
        logger.remove(sink)

    app = FastAPI(title="voice-agent", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.failure = None
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/client")

    @app.get("/client", include_in_schema=False)
    async def client():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    def session_live(session: StartSession, now: float) -> bool:
        """Unused and not expired, or its call's peer connection is still there."""
        if session.pc_id is not None:
            return session.pc_id in state["handler"]._pcs_map
        return now < session.expires

    async def answer(request: SmallWebRTCRequest) -> dict[str, Any]:
        manager: CallManager = state["manager"]
        handler: SmallWebRTCRequestHandler = state["handler"]
        if request.pc_id and request.pc_id in handler._pcs_map:  # renegotiation of a call in progress
            return await handler.handle_web_request(request, _no_new_call)
        try:
            manager.reserve()
        except CallsFullError as e:
            raise HTTPException(status_code=503, detail=str(e)) from None
        failure: list[Exception] = []
        started: list[Any] = []

        async def start_call(connection) -> None:
            try:
                started.append(await manager.start(connection))
            except Exception as e:  # the request handler would only log it
                failure.append(e)

        try:
            result = await handler.handle_web_request(request, start_call)
        finally:
            manager.release()
        if failure or not started:
            if result and (pc := handler._pcs_map.pop(result["pc_id"], None)):
                await pc.disconnect()
            reason = failure[0] if failure else "no call was started"
            logger.error(f"offer refused: {reason}")
            raise HTTPException(status_code=500, detail=f"could not start the call: {reason}")
        return result

    async def patch(body: dict[str, Any]) -> dict[str, str]:
        try:
            req = SmallWebRTCPatchRequest(pc_id=body["pc_id"],
                                          candidates=[IceCandidate(**c) for c in body.get("candidates", [])])
        except (KeyError, TypeError) as e:
            raise HTTPException(status_code=400, detail=f"invalid ICE candidate patch: {e}") from None
        await state["handler"].handle_patch_request(req)
        return {"status": "success"}

    def offer_request(body: dict[str, Any]) -> SmallWebRTCRequest:
        try:
            return SmallWebRTCRequest(sdp=body["sdp"], type=body["type"], pc_id=body.get("pc_id"),
                                      restart_pc=body.get("restart_pc"),
                                      request_data=body.get("request_data") or body.get("requestData"))
        except (KeyError, TypeError) as e:
            raise HTTPException(status_code=400, detail=f"invalid offer: missing {e}") from None

    @app.post("/api/offer")
    async def offer(request: Request):
        return await answer(offer_request(await request.json()))

    @app.patch("/api/offer")
    async def ice_candidates(request: Request):
        return await patch(await request.json())

    @app.post("/start")
    async def start_session(request: Request):
        """pipecat's session start (``{"transport": "webrtc", "body": ...}``, all optional):
        ``{"sessionId"}``, the id the client then posts its offer under."""
        try:
            data = await request.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if data.get("transport", "webrtc") != "webrtc":
            raise HTTPException(status_code=400, detail=f"transport '{data['transport']}' is not served here "
                                                        "(voice-agent serve speaks WebRTC only)")
        now = asyncio.get_running_loop().time()
        for sid, session in list(sessions.items()):
            if not session_live(session, now):
                sessions.pop(sid, None)
        session_id = str(uuid.uuid4())
        sessions[session_id] = StartSession(body=data.get("body") or {}, expires=now + SESSION_TTL_SECS)
        return {"sessionId": session_id}

    @app.api_route("/sessions/{session_id}/api/offer", methods=["POST", "PATCH"])
    async def session_offer(session_id: str, request: Request):
        session = sessions.get(session_id)
        if session is None or not session_live(session, asyncio.get_running_loop().time()):
            sessions.pop(session_id, None)
            return JSONResponse({"detail": "unknown or expired session id (POST /start first)"}, status_code=404)
        body = await request.json()
        if request.method == "PATCH":
            return await patch(body)
        offer = offer_request(body)
        if offer.request_data is None:
            offer.request_data = session.body
        result = await answer(offer)
        session.pc_id = result["pc_id"]  # the session now lives as long as this call
        return result

    @app.get("/api/status")
    async def status():
        manager: CallManager | None = state.get("manager")
        models: ModelCache | None = state.get("models")
        servers: ChildServers | None = state.get("servers")
        return {
            "pipeline": config.name,
            "max_calls": settings.max_calls,
            "model_loads": models.loads_by_name() if models else {},
            "server_restarts": dict(servers.restarts) if servers else {},
            "calls": [c.summary() for c in manager.calls.values()] if manager else [],
            "ended": manager.ended if manager else [],
            "asyncio_tasks": len(asyncio.all_tasks()),
        }

    return app


async def _no_new_call(_connection) -> None:
    """Renegotiation reuses its call; a new connection is never made there."""
