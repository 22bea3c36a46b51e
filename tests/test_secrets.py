"""Secret hygiene: API keys never reach logs, errors, metrics or run files; local servers stay local.

The conversation runs the product's own path (``build_pipeline("file", ...)`` +
``run_built``) with recognisable fake keys in the environment, every logger at DEBUG (loguru
and the standard library: websockets, httpx, openai), the LLM slot on the OpenAI-compatible
client (against a scripted server that records the Authorization header) and the TTS slot on
``GradiumTTSService`` pointed at a local server that requires the Gradium key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from loguru import logger

from agent.app import run_built
from runtime.child_process import child_environment
from runtime.llm_server import LocalLLMServer
from runtime.tts_server import TTSServer
from runtime.tts_server.__main__ import build_parser
from runtime.tts_server_process import LocalTTSServer
from pipecat.frames.frames import LLMFullResponseEndFrame
from pipelines.builder import build_pipeline
from testing.probe import PipelineProbe
from testing.fake_openai_server import FakeOpenAIServer
from testing.frames import answer

OPENAI_KEY = "sk-test-OPENAI-5ecret-4f1b2c3d9e8a7b6c"
GRADIUM_KEY = "gsk-test-GRADIUM-5ecret-0a9b8c7d6e5f4a3b"
KEYS = (OPENAI_KEY, GRADIUM_KEY)


def leaks(texts: list[str]) -> list[str]:
    """The texts (shortened) that contain a key or a recognisable part of one."""
    parts = [k for key in KEYS for k in (key, key[-16:], key[:20])]
    return [t[:300] for t in texts if any(p in t for p in parts)]


def listening_address(port: int) -> str:
    """The local address a TCP socket listens on for ``port`` (from /proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hexport = fields[1].rsplit(":", 1)
            if int(hexport, 16) == port and fields[3] == "0A":  # LISTEN
                if len(addr) == 8:
                    return ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
                return addr
    raise LookupError(f"nothing listens on port {port}")


async def test_a_conversation_with_keys_set_leaks_them_nowhere(monkeypatch, caplog, capfd, tmp_path, spoken):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("GRADIUM_API_KEY", GRADIUM_KEY)
    caplog.set_level(logging.DEBUG)  # the standard library's loggers (websockets, httpx, openai)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE")
    run_dir = tmp_path / "run"
    try:
        async with TTSServer(api_key=GRADIUM_KEY) as tts_server, FakeOpenAIServer(words=(
            "Paris", " is", " the", " capital", " of", " France", ".")) as llm_server:
            overrides = {
                "transport": {"type": "wav", "inputs": [str(spoken("What is the capital of France?"))]},
                "llm": {"type": "openai", "base_url": llm_server.base_url, "model": "fake", "api_key_env": "OPENAI_API_KEY"},
                "tts": {"type": "gradium", "url": tts_server.url, "output_format": "pcm_24000"},
            }
            built = build_pipeline("file", run_dir, overrides)
            assert built.child_processes == []  # both servers are ours, in this process
            observer = await run_built(built)
    finally:
        logger.remove(sink)
    out, err = capfd.readouterr()

    # The keys were used: the LLM got its bearer token, the TTS server accepted the Gradium key.
    assert llm_server.requests and llm_server.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert tts_server.stats.connections_rejected == 0 and tts_server.stats.requests_completed >= 1
    transcript = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    assert [t["text"] for t in transcript if t["who"] == "bot"] == ["Paris is the capital of France."]
    assert any("DEBUG" in line for line in lines) and len(caplog.records) > 10  # DEBUG really was on

    texts = lines + [out, err]
    texts += [r.getMessage() for r in caplog.records if r.name != "websockets.server"]
    texts += [json.dumps(t.to_json()) for t in observer.turns]
    texts += [repr(p) for p in built.processors.values()]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"agent.log", "transcript.jsonl", "metrics.jsonl", "bot.wav"} <= {p.name for p in files}
    texts += [p.read_bytes().decode("latin-1") for p in files]
    assert not leaks(texts)


async def test_a_wrong_or_missing_key_is_refused_with_an_error_that_names_no_key(monkeypatch, tmp_path):
    """The app's gradium slot against a local server that requires a key it doesn't have
    (the server's side, incl. its CLI: tests/test_tts_server_protocol.py)."""
    from pipelines.registry import BuildContext, build_slot

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE")
    try:
        async with TTSServer(api_key=GRADIUM_KEY) as server:
            for env_key in ("gsk-wrong-" + OPENAI_KEY, None):
                if env_key:
                    monkeypatch.setenv("GRADIUM_API_KEY", env_key)
                else:
                    monkeypatch.delenv("GRADIUM_API_KEY", raising=False)
                ctx = BuildContext(config_path=tmp_path / "x.toml", run_dir=tmp_path)
                tts = build_slot("tts", {"type": "gradium", "url": server.url}, ctx)
                async with PipelineProbe(tts, sample_rate=24000) as probe:
                    await probe.push(*answer("Let me in."))
                    await probe.down.wait_for(LLMFullResponseEndFrame, timeout=20)
                    errors = [e.error for e in probe.errors()]
                assert probe.audio() == [] and errors
                assert any("invalid or missing API key" in e for e in errors), errors
                assert not leaks(errors) and not (env_key and any(env_key in e for e in errors))
            assert server.stats.connections_rejected >= 2 and server.stats.requests_total == 0
    finally:
        logger.remove(sink)
    assert not leaks(lines) and not any(OPENAI_KEY in line for line in lines)


def test_local_servers_bind_loopback_by_default(tmp_path):
    assert build_parser().parse_args([]).host == "127.0.0.1"
    assert TTSServer().host == "127.0.0.1"
    llm = LocalLLMServer(log_path=tmp_path / "llm.log", model_path=tmp_path / "unused.gguf")
    tts = LocalTTSServer(log_path=tmp_path / "tts.log")
    for server in (llm, tts):
        assert server.host == "127.0.0.1" and server.cmd[server.cmd.index("--host") + 1] == "127.0.0.1"


def test_child_servers_listen_on_loopback_and_get_no_secrets(monkeypatch, tmp_path):
    """The app's TTS server as a child: bound to 127.0.0.1, no key in its environment; and a
    ``TTS_SERVER_API_KEY`` in the agent's environment doesn't lock the app out of it."""
    from websockets.sync.client import connect

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("GRADIUM_API_KEY", GRADIUM_KEY)
    monkeypatch.setenv("TTS_SERVER_API_KEY", GRADIUM_KEY)
    assert not set(child_environment()) & {"OPENAI_API_KEY", "GRADIUM_API_KEY", "TTS_SERVER_API_KEY"}
    with LocalTTSServer(log_path=tmp_path / "tts.log") as child:
        assert listening_address(child.port) == "127.0.0.1"
        environ = Path(f"/proc/{child.pid}/environ").read_bytes().decode("latin-1")
        assert not leaks(environ.split("\0")) and "PATH=" in environ
        with connect(child.url, open_timeout=10) as ws:  # no key sent: accepted
            ws.send(json.dumps({"type": "setup", "output_format": "pcm_16000"}))
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
    assert not leaks([(tmp_path / "tts.log").read_text()])
