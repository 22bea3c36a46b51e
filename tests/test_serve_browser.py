"""``voice-agent serve`` in a real headless Chromium: a spoken question through the browser's
fake mic, the answer back through WebRTC, barge-in, hang-up and a browser that vanishes.

One served pipeline for the module: the shipped ``browser`` preset (Silero, Whisper, the local
Piper TTS server, the playback gate and interruption handler) with a scripted OpenAI-compatible
LLM, so what the bot says is known and long enough to talk over (the real SmolLM2 stack through
the browser is in ``bench/browser_v2v_bench.py``). Each test opens its own browser and call. The browser's mic is a WAV padded with leading silence
(the fake device starts playing at ``getUserMedia``, before the call is up).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from testing.browser import RECORD_RATE, Chromium, find_chromium, loud_spans, padded_wav, read_wav
from testing.processes import ROOT, alive, child_pids, read_transcript
from testing.fake_openai_server import ScriptedAnswer
from testing.serve import ServeProcess, pipeline_with_llm, scripted_llm

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

QUESTION = "What is the capital of France?"
ANSWERS = [
    ScriptedAnswer("The capital of France is Paris, a beautiful city on the river Seine.", when="capital"),
    ScriptedAnswer("Once upon a time a brave little dragon lived in a cave high above a green valley. Every "
                   "morning she flew over the river to count the sheep, and every evening she sang to the stars "
                   "until the whole valley fell asleep. One winter the river froze and the village ran out of "
                   "fire, so the little dragon flew down and lit every hearth in town.", when="dragon"),
    ScriptedAnswer("The moon is a rocky world that circles the earth about once a month.", when="moon"),
]
STORY = "Please tell me a long story about a brave little dragon."
BARGE_IN = "Wait, stop, tell me about the moon instead."
LEAD_SECS = 6.0
BARGE_IN_AFTER_SECS = 8.0  # getUserMedia → the call's pipeline is listening, with room to spare
SCREENSHOT = ROOT / "docs" / "serve-page.png"


def _words(text: str) -> set[str]:
    return set("".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split())


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI: scripts/install.sh installs it (apt-get install chromium)")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; scripts/install.sh does it as root)")
    return binary


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_binary):
    folder = tmp_path_factory.mktemp("serve")
    with scripted_llm(ANSWERS) as llm:
        pipeline = pipeline_with_llm(ROOT / "pipelines" / "browser.toml", folder / "browser-scripted.toml", llm.base_url)
        with ServeProcess(folder / "runs", pipeline=str(pipeline)) as served:
            yield served
    # uvicorn re-raises the SIGTERM it handled, after shutting down; the shared servers are gone.
    assert served.proc.returncode in (0, -signal.SIGTERM), served.log.read_text()[-2000:]
    servers = child_pids(next((folder / "runs").glob("*-serve")))
    assert servers and not any(alive(pid) for pid in servers.values()), servers


async def _open_call(browser: Chromium, server: ServeProcess) -> None:
    server.wait_status(lambda s: not s["calls"], 15)  # a previous test's call is over
    await browser.goto(f"{server.url}/client")
    await browser.click("#talk")
    await browser.wait_for("voiceAgent.connection === 'connected' && voiceAgent.remoteStream && voiceAgent.botState === 'listening'", 30)


def _transcribe(samples: np.ndarray) -> str:
    from processors.streaming_whisper.decoder import WindowedWhisperDecoder
    from runtime.models import whisper_model_path

    decoder = WindowedWhisperDecoder(whisper_model_path())
    audio = samples.astype(np.float32) / 32768.0
    texts = []
    for start in range(0, len(audio), 25 * RECORD_RATE):  # the decoder's window is 30 s
        texts.append(decoder.transcribe(audio[start:start + 25 * RECORD_RATE]).text)
    return " ".join(texts)


async def test_a_spoken_question_is_answered_through_the_browser(server, spoken, tmp_path):
    mic = padded_wav(spoken(QUESTION), tmp_path / "mic.wav", lead_secs=LEAD_SECS, tail_secs=1.0)
    before = server.status()["asyncio_tasks"]
    async with Chromium(fake_mic=mic) as browser:
        await _open_call(browser, server)
        await browser.start_recording()
        status = server.status()
        assert len(status["calls"]) == 1
        run_dir = Path(status["calls"][0]["run_dir"])
        # The page's mic meter rises while the fake mic speaks (the question starts LEAD_SECS after
        # getUserMedia; the call is up well before): the level and the bar's width.
        peak = await browser.wait_for("voiceAgent.micLevel > 0.02 && parseFloat(document.getElementById"
                                      "('mic-level').style.width) >= 8 && voiceAgent.micLevel", 20, poll=0.05)

        # The page shows both sides and the turn's latency once the bot has answered.
        await browser.wait_for("voiceAgent.lines.some(l => l.who === 'bot' && l.text.split(' ').length >= 3)"
                               " && voiceAgent.botState === 'listening'", 120)
        turn = await browser.wait_for("voiceAgent.turns[1] && voiceAgent.turns[1].voice_to_voice_ms", 30)
        page = await browser.evaluate("""({lines: voiceAgent.lines.map(l => ({who: l.who, text: l.text})),
            rows: [...document.querySelectorAll('#turns tr')].map(r => r.innerText),
            level: voiceAgent.micLevel})""")
        stats = await browser.inbound_audio()
        print("browser inbound audio:", stats)
        shot = await browser.screenshot(tmp_path / "page.png")
        if os.environ.get("UPDATE_SCREENSHOT"):
            shutil.copy(shot, SCREENSHOT)
        recording = await browser.recording()
        _save(recording, tmp_path / "browser-heard.wav")

        await browser.click("#talk")  # hang up
        ended = server.wait_status(lambda s: not s["calls"] and s["ended"], 15)["ended"][-1]
        assert ended["run_dir"] == str(run_dir)

    # The user's turn, as the call's own transcript has it.
    lines = read_transcript(run_dir)
    user = [line for line in lines if line["who"] == "user"]
    bot = [line for line in lines if line["who"] == "bot"]
    print(f"user turn as transcribed: {user[0]['text'] if user else None!r}")
    # Every word of the question, but tiny.en hears "France" as "friends" in about 1 run in 3
    # through the browser (3 runs: friends, France, France), never through the WAV transport
    # (test_e2e, test_cli assert "france" on the same Piper WAV): the same STT (full-window final
    # pass) hears different audio here, after Chromium's noise suppression / gain control, Opus
    # and 48 → 16 kHz resampling (which of these tips it was not measured).
    heard_words = _words(user[0]["text"]) if user else set()
    assert {"what", "is", "the", "capital", "of"} <= heard_words, lines
    assert heard_words & {"france", "friends"}, lines
    assert bot, lines
    # The page showed the same conversation and the latency.
    assert any(line["who"] == "user" and "capital" in _words(line["text"]) for line in page["lines"]), page
    assert any(line["who"] == "bot" and line["text"] for line in page["lines"]), page
    assert page["rows"] and "ms" in page["rows"][0], page
    # ... and the meter fell back once the mic went quiet (the WAV ended before the answer).
    assert page["level"] < peak / 4, (page["level"], peak)
    assert 0 < turn < 10000
    # The browser received the bot's audio: bytes and energy, and it says the transcript's words.
    assert stats and stats["bytes"] > 10000 and stats["energy"] > 0, stats
    heard = _transcribe(recording[:, 1])
    said = _words(bot[0]["text"])
    overlap = len(said & _words(heard)) / max(1, len(said))
    assert overlap >= 0.5, (bot[0]["text"], heard)
    # Voice to voice as the browser heard it: the mic's speech end → the bot's first audio.
    mic_spans, bot_spans = loud_spans(recording[:, 0]), loud_spans(recording[:, 1])
    assert mic_spans and bot_spans
    v2v = bot_spans[0][0] - max(end for start, end in mic_spans if start < bot_spans[0][0])
    print(f"browser-heard voice-to-voice: {v2v * 1000:.0f} ms; server-side: {turn:.0f} ms")
    assert 0 < v2v < 10
    # The call's run folder is like `run`'s, and hang-up left nothing of the call running.
    assert (run_dir / "metrics.jsonl").exists() and (run_dir / "agent.log").exists()
    assert "ended (the browser hung up)" in (run_dir / "agent.log").read_text() or ended["end_reason"]
    after = server.wait_status(lambda s: s["asyncio_tasks"] <= before, 10)
    assert after["asyncio_tasks"] <= before


async def test_barge_in_through_the_browser(server, spoken, tmp_path):
    story, stop = spoken(STORY), spoken(BARGE_IN)
    story_secs = _wav_secs(story)
    # The barge-in starts 8 s after the question ends: the story (25 s of speech) is playing then,
    # even on a loaded machine whose first audio comes 4-5 s after the question.
    at = LEAD_SECS + story_secs + BARGE_IN_AFTER_SECS
    mic = padded_wav(story, tmp_path / "mic.wav", lead_secs=LEAD_SECS, tail_secs=1.0, then=((stop, at),))
    async with Chromium(fake_mic=mic) as browser:
        await _open_call(browser, server)
        await browser.start_recording()
        run_dir = Path(server.status()["calls"][0]["run_dir"])
        await browser.wait_for("voiceAgent.lines.some(l => l.who === 'bot' && l.interrupted)", 120)
        await browser.wait_for("voiceAgent.lines.filter(l => l.who === 'user').length >= 2", 60)
        # (The barge-in belongs to the turn it starts: the user's second.)
        await browser.wait_for("Object.values(voiceAgent.turns).some(t => t.barge_in_ms.length)", 30)
        recording = await browser.recording()
        _save(recording, tmp_path / "browser-heard.wav")
        await browser.click("#talk")
        server.wait_status(lambda s: not s["calls"], 15)

    bot = [line for line in read_transcript(run_dir) if line["who"] == "bot"]
    assert bot and bot[0]["interrupted"], bot
    # Heard-words context: the interrupted answer keeps only what was played, from its start.
    story_words, kept = ANSWERS[1].text.split(), bot[0]["text"].split()
    assert 0 < len(kept) < len(story_words) and kept == story_words[:len(kept)], bot[0]["text"]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    barge = [i["onset_to_silence_ms"] for t in metrics for i in t["interruptions"] if "onset_to_silence_ms" in i]
    assert barge and barge[0] < 300, metrics
    # As the browser heard it: the barge-in's onset in the mic → the bot's voice stops.
    mic_spans, bot_spans = loud_spans(recording[:, 0]), loud_spans(recording[:, 1], gap_secs=0.3)
    first_bot = bot_spans[0][0]
    onset = next(s for s, _ in mic_spans if s > first_bot)  # the barge-in, as the mic recorded it
    silence = max(end for start, end in bot_spans if start < onset)  # the voice it stopped
    heard_ms = (silence - onset) * 1000
    print(f"barge-in onset → silence as the browser heard it: {heard_ms:.0f} ms; server-side: {barge[0]:.0f} ms")
    # Measured 260, 280 and 510 ms over runs (server-side 72-81 ms: the rest is both network
    # legs, the browser's jitter buffer and the transport's queues; not broken down further).
    # The bound is ~1.5x the slowest run, for a busy CI machine. Without the pause the story
    # would play on for ~15 s. The onset is where the mic's samples pass a peak threshold, a
    # little after a soft first sound ("Wait"): once (2026-12-02) the bot was heard stopping
    # 20 ms before it, so a small negative time passes.
    assert -150 <= heard_ms < 750


async def test_a_vanished_browser_is_noticed_and_cleaned_up(server, spoken, tmp_path):
    mic = padded_wav(spoken(QUESTION), tmp_path / "mic.wav", lead_secs=30.0)  # silence while it vanishes
    before = server.status()["asyncio_tasks"]
    async with Chromium(fake_mic=mic) as browser:
        await _open_call(browser, server)
        run_dir = Path(server.status()["calls"][0]["run_dir"])
        assert browser.pids()
        killed = time.monotonic()
        browser.kill()
        assert not browser.pids()
        status = server.wait_status(lambda s: not s["calls"], 15)
        bound = time.monotonic() - killed
    print(f"vanished browser: call cleaned up {bound:.2f} s after the kill")
    assert "keep-alive" in status["ended"][-1]["end_reason"] or "closed" in status["ended"][-1]["end_reason"]
    assert bound < 5.0
    assert "ended" in (run_dir / "agent.log").read_text()
    server.wait_status(lambda s: s["asyncio_tasks"] <= before, 10)


async def test_a_second_call_is_refused_while_one_is_in_progress(server, spoken, tmp_path):
    mic = padded_wav(spoken(QUESTION), tmp_path / "mic.wav", lead_secs=30.0)
    async with Chromium(fake_mic=mic) as first, Chromium(fake_mic=mic) as second:
        await _open_call(first, server)
        await second.goto(f"{server.url}/client")
        await second.click("#talk")
        error = await second.wait_for("!document.getElementById('error').hidden && document.getElementById('error').textContent", 20)
        assert "busy" in error and "--max-calls" in error
        assert len(server.status()["calls"]) == 1
        await first.click("#talk")
        server.wait_status(lambda s: not s["calls"], 15)


def _wav_secs(path: Path) -> float:
    audio, rate = read_wav(path)
    return len(audio) / rate


def _save(recording: np.ndarray, path: Path) -> None:
    """The browser's recording as a stereo WAV (mic left, bot right), to listen to after a failure."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RECORD_RATE)
        w.writeframes(recording.astype(np.int16).tobytes())


def test_a_loopback_only_machine_connects(chromium_binary, tmp_path):
    """On a machine with only a loopback interface (a network namespace with just ``lo``), a
    call still connects: aioice offers no 127.0.0.1 candidate of its own (without serve's fix
    the call stays "connecting")."""
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("ip"):
        if os.environ.get("CI"):
            pytest.fail("CI runs as root with iproute2: the loopback-only test must run there")
        pytest.skip("needs root and iproute2 (ip netns) for a loopback-only namespace")
    ns = f"voice-agent-lo-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        links = subprocess.run(["ip", "netns", "exec", ns, "ip", "-br", "link"], capture_output=True, text=True).stdout
        assert [line.split()[0] for line in links.splitlines()] == ["lo"], links
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "testing.loopback_call",
                               str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "connected over loopback" in proc.stdout
