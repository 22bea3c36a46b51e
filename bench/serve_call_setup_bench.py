"""Call set-up time of ``voice-agent serve``: consecutive calls, each from a pipecat-style
WebRTC peer (:mod:`testing.pipecat_client`: ``/start`` + ``/sessions/{id}/api/offer``).

Per call (ms): ``answer``: the offer's POST → its SDP answer (the server builds the call's
pipeline before it answers); ``ready``: the offer's POST → RTVI ``bot-ready`` (the pipeline
started: the STT's warm-up and every processor's start included). The first call and the later
ones are reported apart (p50 / p90 / max over the later ones). ``--root DIR`` serves from another
checkout of the project (e.g. one from before the models were shared), so two trees are compared
on the same machine, one after the other:

    .venv/bin/python -m bench.serve_call_setup_bench [--calls 4] [--root DIR] [--out FILE.json]

The served pipeline is the ``browser`` preset with an LLM address nothing listens on (no one
speaks): only the TTS server is started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.browser_v2v_bench import spread
from testing.pipecat_client import PipecatStyleClient
from testing.processes import ROOT
from testing.serve import ServeProcess, pipeline_with_llm

NO_LLM = "http://127.0.0.1:9/v1"


async def one_call(server: ServeProcess) -> dict[str, float]:
    async with PipecatStyleClient(server.url) as client:
        client_started = time.perf_counter()
        await client.connect()
        answered = time.perf_counter()
        await client.wait_message("bot-ready", timeout=60)
        ready = time.perf_counter()
        await client.hang_up()
    server.wait_status(lambda s: not s["calls"], timeout=15)
    return {"answer_ms": (answered - client_started) * 1000, "ready_ms": (ready - client_started) * 1000}


async def measure(root: Path, calls: int, folder: Path) -> dict:
    pipeline = pipeline_with_llm(ROOT / "pipelines" / "browser.toml", folder / "browser-no-llm.toml", NO_LLM)
    started = time.perf_counter()
    with ServeProcess(folder / "runs", pipeline=str(pipeline), cwd=root) as server:
        serve_ready_secs = time.perf_counter() - started
        results = [await one_call(server) for _ in range(calls)]
        status = server.status()
    later = results[1:]
    return {
        "root": str(root),
        "serve_ready_secs": round(serve_ready_secs, 2),
        "model_loads": status.get("model_loads"),
        "calls": [{k: round(v) for k, v in r.items()} for r in results],
        "first": {k: round(v) for k, v in results[0].items()},
        "later_answer_ms": spread([r["answer_ms"] for r in later]),
        "later_ready_ms": spread([r["ready_ms"] for r in later]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--root", type=Path, default=ROOT, help="the project checkout to serve from")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serve-setup-") as tmp:
        result = asyncio.run(measure(args.root.resolve(), args.calls, Path(tmp)))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
