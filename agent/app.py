"""Build a pipeline from its config, start its child servers, run it, and always clean up."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from loguru import logger

from contextlib import nullcontext

from agent.console import LiveConsole
from agent.turn_metrics import TurnMetricsObserver
from pipelines.builder import BuiltPipeline, PipelineConfig, build_pipeline, load_config
from runtime.children import ChildServers
from runtime.pipeline_runner import make_worker, run_worker

RUNS_DIR = Path("runs")


def new_run_dir(base: Path = RUNS_DIR, name: str = "run") -> Path:
    """A fresh ``runs/<timestamp>-<name>`` folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{name}-{n}"
    path.mkdir(parents=True)
    return path


def transport_overrides(
    config: PipelineConfig, *, input_device: int | None = None, output_device: int | None = None
) -> tuple[dict[str, dict], str | None]:
    """Per-run changes to the config's transport: chosen devices, or the WAV fallback.

    Returns the overrides and, when the laptop has no sound device, the one-line notice.
    """
    from runtime.transports.local_audio import has_sound_devices

    transport = dict(config.tables.get("transport", {}))
    if transport.get("type") != "local":
        return {}, None
    if input_device is not None:
        transport["input_device"] = input_device
    if output_device is not None:
        transport["output_device"] = output_device
    if input_device is None and output_device is None and not has_sound_devices():
        notice = "no sound device found: running the sample conversation from WAV files instead (output under runs/)"
        return {"transport": {"type": "wav", "inputs": "sample"}}, notice
    return {"transport": transport}, None


async def run_built(built: BuiltPipeline, *, console: bool = False) -> TurnMetricsObserver:
    """Start child servers, run the pipeline to its end, stop everything whatever happens.

    Child servers are restarted if they fail mid-run (``built.supervision``); too many quick
    failures in a row raise :class:`~runtime.supervision.ChildServerFailed`.

    Per-turn metrics go to ``<run_dir>/metrics.jsonl``; ``console`` shows the live view.
    """
    observer = TurnMetricsObserver(built.run_dir / "metrics.jsonl")
    log_sink = logger.add(built.run_dir / "agent.log", level="INFO")
    try:
        async with ChildServers(built.child_processes, built.supervision) as children:
            worker = make_worker(built.pipeline, in_rate=built.options.audio_in_sample_rate,
                                 out_rate=built.options.audio_out_sample_rate, observers=[observer],
                                 enable_metrics=True)
            view = LiveConsole(observer, f"voice-agent · {built.options.name}") if console else nullcontext()
            if console:
                children.listeners.append(view.on_child_event)
            with view:
                # A child server that keeps failing ends the run: ChildServerFailed (exit 2).
                await children.supervise(run_worker(worker, handle_signals=True),
                                         cancel=lambda: worker.cancel(reason="a child server failed"))
    finally:
        observer.close()
        built.transcript.close()
        logger.info(f"run folder: {built.run_dir}")
        logger.remove(log_sink)
    return observer


def run(config: str | Path, *, input_device: int | None = None, output_device: int | None = None,
        run_dir: Path | None = None, console: bool = False) -> BuiltPipeline:
    """Run a pipeline config to completion (blocking); returns what was built."""
    config = load_config(config)
    overrides, notice = transport_overrides(config, input_device=input_device, output_device=output_device)
    if notice:
        print(notice, flush=True)
    run_dir = run_dir or new_run_dir(name=config.name)
    built = build_pipeline(config, run_dir, overrides)
    asyncio.run(run_built(built, console=console))
    if error := getattr(built.transport, "device_error", None):
        from runtime.transports.local_audio import NoAudioDeviceError

        raise NoAudioDeviceError(f"{error}; the conversation so far is in {built.run_dir}")
    return built
