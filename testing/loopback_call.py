"""One browser call on a machine whose only network interface is loopback.

Run inside such a machine (``ip netns exec NS python -m testing.loopback_call RUNS_DIR``; the
test makes the namespace): starts ``voice-agent serve``, opens a headless Chromium, clicks
Talk, and exits 0 once the call is connected, the bot is ready and its audio track delivers
bytes, then hangs up. Chromium gets ``--allow-loopback-in-peer-connection`` (it too skips
loopback otherwise); the server side is what ``serve`` must handle itself (aioice).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from testing.browser import Chromium
from testing.processes import ROOT
from testing.serve import ServeProcess, pipeline_with_llm

NO_LLM = "http://127.0.0.1:9/v1"  # nothing is said, so nothing is asked: no LLM server to start


async def call(runs_dir: Path) -> dict:
    runs_dir.mkdir(parents=True, exist_ok=True)
    pipeline = pipeline_with_llm(ROOT / "pipelines" / "browser.toml", runs_dir / "browser-no-llm.toml", NO_LLM)
    with ServeProcess(runs_dir, pipeline=str(pipeline)) as server:
        async with Chromium(extra_args=("--allow-loopback-in-peer-connection",)) as browser:
            await browser.goto(f"{server.url}/client")
            await browser.click("#talk")
            await browser.wait_for("voiceAgent.connection === 'connected' && voiceAgent.botState === 'listening'", 60)
            stats = await browser.wait_for(
                "voiceAgent.pc.getStats().then(r => [...r.values()].find(s => s.type === 'inbound-rtp'"
                " && s.kind === 'audio' && s.bytesReceived > 0) || null)", 20)
            await browser.click("#talk")
            server.wait_status(lambda s: not s["calls"], 15)
    return stats


def main() -> int:
    stats = asyncio.run(call(Path(sys.argv[1])))
    print(f"connected over loopback; bot audio bytes received: {stats['bytesReceived']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
