"""``voice-agent serve`` without a browser: CLI errors, the HTTPS notice, loopback ICE, the
vanished-peer watch and the webrtc slot's guard. (The browser itself: test_serve_browser.py.)"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest

from testing.processes import ROOT


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_unknown_pipeline_is_one_error_line():
    proc = _cli("serve", "--pipeline", "no-such-pipeline")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: config error") and "no-such-pipeline" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_pipeline_that_cannot_start_is_one_error_line(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "serve", "--pipeline", "cloud", "--port", "0",
                           "--runs-dir", str(tmp_path)], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "OPENAI_API_KEY" in errors[0] and "Traceback" not in proc.stderr


def test_busy_port_is_one_error_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        proc = _cli("serve", "--port", str(s.getsockname()[1]))
    assert proc.returncode == 2
    assert "cannot listen on 127.0.0.1" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_webrtc_transport_outside_serve_is_one_error_line(tmp_path):
    proc = _cli("run", "--pipeline", "browser", "--run-dir", str(tmp_path / "run"), "--console", "off")
    assert proc.returncode == 2
    assert "voice-agent serve" in proc.stderr and "Traceback" not in proc.stderr


def test_https_notice_only_beyond_loopback():
    from agent.serve.server import https_notice, is_loopback

    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host) and https_notice(host, 7860) is None
    notice = https_notice("0.0.0.0", 7860)
    assert notice and "https://" in notice and "microphone" in notice


def test_loopback_is_offered_as_an_ice_candidate():
    import aioice.ice

    from runtime.transports.webrtc import LOOPBACK, offer_loopback_candidates

    offer_loopback_candidates()
    offer_loopback_candidates()  # idempotent: one wrapper
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert addresses.count(LOOPBACK) == 1


class _FakeConnection:
    """The slice of ``SmallWebRTCConnection`` that :func:`watch_peer` reads."""

    pc_id = "fake"

    def __init__(self):
        self.pc = type("PC", (), {"connectionState": "connected"})()
        self.pinging = True

    def is_connected(self) -> bool:
        return self.pinging


async def test_watch_peer_notices_a_vanished_browser_at_once():
    from runtime.transports.webrtc import watch_peer

    conn, gone = _FakeConnection(), []

    async def on_gone(reason: str) -> None:
        gone.append((reason, time.monotonic()))

    task = asyncio.create_task(watch_peer(conn, on_gone, poll_secs=0.05))
    await asyncio.sleep(0.3)
    assert not gone  # connected and pinging: the call goes on
    conn.pinging = False
    stopped = time.monotonic()
    await asyncio.wait_for(task, 2.0)
    assert gone and "keep-alive" in gone[0][0] and gone[0][1] - stopped < 0.2


async def test_watch_peer_gives_up_on_a_peer_that_never_connects():
    from runtime.transports.webrtc import watch_peer

    conn, gone = _FakeConnection(), []
    conn.pinging = False
    conn.pc.connectionState = "new"

    async def on_gone(reason: str) -> None:
        gone.append(reason)

    await asyncio.wait_for(watch_peer(conn, on_gone, connect_timeout_secs=0.2, poll_secs=0.05), 2.0)
    assert gone == ["never connected"]


def test_calls_beyond_max_calls_are_refused_in_one_line(tmp_path):
    from agent.serve.calls import CallManager, CallsFullError
    from pipelines.builder import load_config

    manager = CallManager(load_config("browser"), runs_dir=tmp_path, shared=[], max_calls=1)
    manager.reserve()
    with pytest.raises(CallsFullError, match="busy: 1 call.*--max-calls"):
        manager.reserve()
    manager.release()
    manager.reserve()  # the slot is free again
