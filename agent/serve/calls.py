"""Browser calls: one pipeline per WebRTC connection, its own run folder, and a sure end.

A call is built from the served config with ``[transport] type = "webrtc"`` on the call's peer
connection, inside :func:`pipelines.registry.sharing_children`, so it talks to the LLM and TTS
servers that ``serve`` started once, and with serve's :class:`~runtime.model_cache.ModelCache`,
so it uses the Whisper decoder and the Silero and Smart Turn sessions loaded at start (its VAD
state, turn buffer and transcript state are its own). It writes ``runs/<id>/`` like ``voice-agent run``
(``transcript.jsonl``, ``metrics.jsonl``, ``agent.log``; the shared servers' logs are linked).

A call ends when the browser hangs up (the peer connection closes, or RTVI ``disconnect-bot``),
when it vanishes (no keep-alive ping for 3 s: :func:`runtime.transports.webrtc.watch_peer`), or
when the server stops. Ending cancels the pipeline, closes the peer connection and drops the
call; nothing of it keeps running.

The page learns the bot's state and each turn's latency from RTVI ``server-message``s
(``{"type": "state", "state": ...}``, ``{"type": "turn", ...}``); everything else it shows comes
from pipecat's standard RTVI messages, so pipecat's own JS clients work too.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from agent.app import new_run_dir
from agent.turn_metrics import TurnMetricsObserver, TurnRecord
from pipelines.builder import BuiltPipeline, PipelineConfig, build_pipeline
from pipelines.registry import sharing_children
from runtime.child_process import ManagedProcess
from runtime.model_cache import ModelCache
from runtime.transports.webrtc import watch_peer


class CallsFullError(RuntimeError):
    """Every call slot is taken; the message says so in one line."""


def turn_message(turn: TurnRecord) -> dict[str, Any]:
    """A turn's latency for the page (``server-message`` data)."""
    lat = turn.latencies_ms()
    return {
        "type": "turn",
        "turn": turn.turn,
        "heard": turn.transcript_text,
        "latency_ms": lat,
        "voice_to_voice_ms": lat.get("voice_to_voice"),
        "barge_in_ms": [i["onset_to_silence_ms"] for i in turn.interruptions if "onset_to_silence_ms" in i],
    }


@dataclass
class Call:
    """One browser call: its pipeline, worker and run folder."""

    id: str
    connection: Any
    built: BuiltPipeline
    worker: Any
    observer: TurnMetricsObserver
    started: float = field(default_factory=time.time)
    setup_secs: float = 0.0  # offer received to pipeline built (the models come from serve's cache)
    ended: float | None = None
    end_reason: str = ""
    task: asyncio.Task | None = None
    _sends: set[asyncio.Task] = field(default_factory=set)

    @property
    def run_dir(self) -> Path:
        return self.built.run_dir

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "run_dir": str(self.run_dir), "started": self.started, "ended": self.ended,
                "end_reason": self.end_reason, "state": self.observer.state, "setup_secs": round(self.setup_secs, 3)}

    def send(self, data: dict[str, Any]) -> None:
        """Queue an RTVI ``server-message`` to the page (from sync observer listeners)."""
        task = asyncio.get_running_loop().create_task(self.worker.rtvi.send_server_message(data))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def end(self, reason: str) -> None:
        """End the call (idempotent): cancel the pipeline; ``run`` cleans up."""
        if not self.end_reason:
            self.end_reason = reason
            logger.info(f"call {self.id}: ending ({reason})")
        await self.worker.cancel()


class CallManager:
    """Starts, tracks and ends calls; at most ``max_calls`` at once."""

    def __init__(self, config: PipelineConfig, *, runs_dir: Path, shared: list[ManagedProcess], max_calls: int = 1,
                 server_dir: Path | None = None, models: ModelCache | None = None):
        self.config = config
        self.models = models
        self.runs_dir = runs_dir
        self.shared = shared
        self.max_calls = max_calls
        self.server_dir = server_dir
        self.calls: dict[str, Call] = {}
        self.ended: list[dict[str, Any]] = []
        self._reserved = 0  # offers being answered: their calls are not in ``calls`` yet

    def reserve(self) -> None:
        """Take a call slot for an offer being answered, or raise :class:`CallsFullError`."""
        busy = len(self.calls) + self._reserved
        if busy >= self.max_calls:
            raise CallsFullError(
                f"busy: {busy} call(s) in progress and this server takes {self.max_calls} at once "
                "(the local LLM and TTS are shared; start it with --max-calls N to allow more)")
        self._reserved += 1

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve` (the call started, or the offer failed)."""
        self._reserved = max(0, self._reserved - 1)

    def _build(self, connection: Any, run_dir: Path) -> BuiltPipeline:
        overrides = {"transport": {**self.config.tables.get("transport", {}), "type": "webrtc",
                                   "connection": connection}}
        with sharing_children(self.shared):
            built = build_pipeline(self.config, run_dir, overrides, models=self.models)
        if built.child_processes:  # a component asked for a server that serve did not start
            raise RuntimeError(f"unshared child servers: {[c.name for c in built.child_processes]}")
        return built

    async def start(self, connection: Any) -> Call:
        """Build and start the pipeline for a new peer connection (its slot already reserved)."""
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker

        began = time.perf_counter()
        run_dir = new_run_dir(self.runs_dir, name=f"{self.config.name}-call")
        self._link_server_logs(run_dir)
        # Building takes CPU (and loads any model not in serve's cache): not on the event loop.
        built = await asyncio.to_thread(self._build, connection, run_dir)
        observer = TurnMetricsObserver(run_dir / "metrics.jsonl")
        opts = built.options
        worker = PipelineWorker(
            built.pipeline,
            params=PipelineParams(audio_in_sample_rate=opts.audio_in_sample_rate,
                                  audio_out_sample_rate=opts.audio_out_sample_rate, enable_metrics=True),
            idle_timeout_secs=None,
            enable_rtvi=True,
            observers=[observer],
        )
        call = Call(id=run_dir.name, connection=connection, built=built, worker=worker, observer=observer,
                    setup_secs=time.perf_counter() - began)
        self.calls[call.id] = call
        observer.state_listeners.append(lambda state: self._on_state(call, state))
        observer.turn_listeners.append(lambda turn: call.send(turn_message(turn)))

        @built.transport.event_handler("on_client_disconnected")
        async def _hung_up(_transport, _client):
            await call.end("the browser hung up")

        call.task = asyncio.get_running_loop().create_task(self._run(call), name=f"call-{call.id}")
        logger.info(f"call {call.id}: started ({run_dir}; set up in {call.setup_secs:.2f} s)")
        return call

    def _on_state(self, call: Call, state: str) -> None:
        call.send({"type": "state", "state": state})
        turn = call.observer.turns[-1] if call.observer.turns else None
        if state == "speaking" and turn is not None:
            call.send(turn_message(turn))

    async def _run(self, call: Call) -> None:
        from pipecat.workers.runner import WorkerRunner

        sink = logger.add(call.run_dir / "agent.log", level="INFO",
                          filter=lambda r: r["extra"].get("call") == call.id)
        with logger.contextualize(call=call.id):
            watch = asyncio.create_task(watch_peer(call.connection, call.end))
            try:
                runner = WorkerRunner(handle_sigint=False, handle_sigterm=False)
                await runner.add_workers(call.worker)
                await runner.run()
            except Exception as e:  # a broken call must not take the server down
                logger.error(f"call {call.id}: pipeline failed: {e}")
            finally:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
                await self._close(call)
        logger.remove(sink)

    async def _close(self, call: Call) -> None:
        call.ended = time.time()
        call.end_reason = call.end_reason or "pipeline ended"
        call.observer.close()
        if call.built.transcript:
            call.built.transcript.close()
        try:
            await asyncio.wait_for(call.connection.disconnect(), 5.0)
        except Exception as e:  # already closed, or the browser is gone
            logger.debug(f"call {call.id}: disconnect: {e}")
        for task in list(call._sends):
            task.cancel()
        self.calls.pop(call.id, None)
        self.ended.append(call.summary())
        logger.info(f"call {call.id}: ended ({call.end_reason}) after {call.ended - call.started:.1f} s; "
                    f"run folder: {call.run_dir}")

    def _link_server_logs(self, run_dir: Path) -> None:
        if not self.server_dir:
            return
        for log in self.server_dir.glob("*-server.log"):
            try:
                os.symlink(os.path.relpath(log, run_dir), run_dir / log.name)
            except OSError:
                pass

    async def close(self, reason: str = "the server is stopping") -> None:
        """End every call and wait for each to clean up."""
        calls = list(self.calls.values())
        for call in calls:
            await call.end(reason)
        tasks = [c.task for c in calls if c.task]
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)
