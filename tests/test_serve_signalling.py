"""``voice-agent serve`` through pipecat's JS-client signalling, and its supervised servers.

One served pipeline (the browser preset; its LLM is an address nothing listens on, since no one
speaks: only the TTS server is started) for the module, in this order:

- a real aiortc peer signals exactly as ``@pipecat-ai/small-webrtc-transport`` does
  (``POST /start``, then ``POST``/``PATCH /sessions/{id}/api/offer``;
  :mod:`testing.pipecat_client`): the answer, a running call (RTVI ``bot-ready``, the bot's
  audio track), and after the hang-up no call and a session id that is no longer good;
- the TTS server killed (SIGKILL) is restarted on its port while serve goes on;
- the TTS server killed with its port taken, so every restart fails: serve ends with one
  ``error:`` line and exit code 2, nothing left running.

Costs ~25 s: serve's start (models, Piper) ~10 s, the call ~3 s, the restart ~3 s, the end ~3 s.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error

import pytest

from runtime.supervision import SupervisionSettings
from testing.pipecat_client import PipecatStyleClient
from testing.processes import ROOT, alive, child_pids, children_gone, hold_port, listening_port, wait_for_log
from testing.serve import ServeProcess, pipeline_with_llm

NO_LLM = "http://127.0.0.1:9/v1"  # nothing is said, so nothing is asked
DEFAULTS = SupervisionSettings()
RESTARTED_WITHIN_SECS = 25.0  # as test_supervision: tts-server restarts took 2.6-4.6 s there
GIVES_UP_WITHIN_SECS = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("serve-signalling")
    pipeline = pipeline_with_llm(ROOT / "pipelines" / "browser.toml", runs / "browser-no-llm.toml", NO_LLM)
    with ServeProcess(runs, pipeline=str(pipeline)) as server:
        yield server


def _server_dir(server: ServeProcess):
    (folder,) = server.runs_dir.glob("*-serve")
    return folder


def _http_status(server: ServeProcess, path: str, body: dict, method: str = "POST") -> int:
    try:
        server.request(path, body, method=method)
        return 200
    except urllib.error.HTTPError as e:
        return e.code


async def test_pipecat_js_client_signalling_sets_up_and_ends_a_call(server):
    async with PipecatStyleClient(server.url, body={"from": "test"}) as client:
        answer = await client.connect()
        assert set(client.start_response) == {"sessionId"}
        assert answer["type"] == "answer" and answer["sdp"].startswith("v=0") and "a=ice-ufrag:" in answer["sdp"]
        assert isinstance(answer["pc_id"], str) and answer["pc_id"]
        assert "a=candidate" not in client.offer["sdp"]  # the candidates went by PATCH only
        assert client.patch_responses == [{"status": "success"}]

        ready = await client.wait_message("bot-ready", timeout=20)  # the call's pipeline runs, RTVI answers
        frame = await client.bot_audio_frame(timeout=10)  # and the bot's track sends audio
        status = server.status()
        (call,) = status["calls"]
        print(f"bot-ready {ready.get('data')}; bot audio {frame.sample_rate} Hz; call set up in "
              f"{call['setup_secs']} s; model loads {status['model_loads']}")
        assert status["model_loads"] == {"silero-vad": 1, "streaming-whisper": 1, "smart-turn-v3": 1, "text-end": 1}
        assert call["setup_secs"] < 5.0  # no model loaded per call (~0.1-0.3 s measured; loading was ~1 s)
        offer_path = client.offer_url.removeprefix(server.url)
        await client.hang_up()

    status = server.wait_status(lambda s: not s["calls"] and s["ended"], timeout=15)
    assert status["ended"][-1]["end_reason"] in ("the browser hung up", "peer connection closed")
    # The session lived as long as its call: its ICE patches are now refused.
    assert _http_status(server, offer_path, {"pc_id": answer["pc_id"], "candidates": []}, "PATCH") == 404


def test_signalling_refusals(server):
    assert _http_status(server, "/sessions/not-a-session/api/offer", {"sdp": "v=0", "type": "offer"}) == 404
    assert _http_status(server, "/start", {"transport": "daily"}) == 400
    sid = server.request("/start", {})["sessionId"]
    assert _http_status(server, f"/sessions/{sid}/api/offer", {"type": "offer"}) == 400  # no sdp
    assert _http_status(server, "/api/offer", {"pc_id": "no-such-call", "candidates": []}, "PATCH") == 404


def test_a_killed_tts_server_is_restarted_while_serving(server):
    server_dir = _server_dir(server)
    old = child_pids(server_dir)["tts-server"]
    port = listening_port(old)
    os.kill(old, signal.SIGKILL)
    wait_for_log(server_dir, r"tts-server exited \(killed by SIGKILL\) after [\d.]+s up; restarting it in",
                 timeout=10)
    back = wait_for_log(server_dir, r"tts-server restarted \(pid (\d+)\), ([\d.]+)s after it went down",
                        timeout=RESTARTED_WITHIN_SECS)
    new = int(back.group(1))
    print(f"tts-server restarted {back.group(2)} s after it went down")
    assert new != old and alive(new) and listening_port(new) == port
    assert server.status()["server_restarts"] == {"tts-server": 1}
    assert server.proc.poll() is None  # serve goes on


def test_a_tts_server_that_cannot_come_back_ends_serve_with_one_error_line(server):
    """Last: it ends the module's server."""
    server_dir = _server_dir(server)
    pid = child_pids(server_dir)["tts-server"]
    port = listening_port(pid)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    with hold_port(port):
        code = server.proc.wait(GIVES_UP_WITHIN_SECS + 30)
    took = time.monotonic() - killed_at
    err = server.log.read_text()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    print(f"serve ended {took:.1f} s after the kill: {errors}")
    assert code == 2 and "Traceback" not in err, err[-3000:]
    assert len(errors) == 1, err[-3000:]
    assert re.match(r"error: tts-server failed \d+ times in a row; last: restart failed: tts-server exited during "
                    r"start-up .*address already in use.*; see \S+tts-server\.log$", errors[0]), errors[0]
    assert took < GIVES_UP_WITHIN_SECS
    assert all(children_gone(server_dir).values())
