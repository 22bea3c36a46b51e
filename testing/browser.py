"""A real headless Chromium for browser tests, driven over the DevTools protocol (``websockets``).

Its microphone is a WAV file (Chromium's fake capture device, ``%noloop``: played once from
``getUserMedia`` on, so pad it with leading silence). :data:`RECORDER_JS` records what the page
hears: the mic (channel 0) and the bot's remote track (channel 1) on one clock, so speech end →
bot audio and barge-in onset → silence are measured as the browser hears them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "chromium", "chromium-browser",
                       "google-chrome")
RECORD_RATE = 16000
START_TIMEOUT_SECS = 30.0
COMMAND_TIMEOUT_SECS = 30.0

# Records the page's mic and the bot's track (ch 0 and 1) at 16 kHz; `__rec.take()` returns the
# samples so far as base64 int16, interleaved. Chrome only delivers a remote WebRTC track to Web
# Audio while an <audio> element plays it (the page's does).
RECORDER_JS = """
(() => {
  const va = window.voiceAgent;
  const ctx = new AudioContext({ sampleRate: %d });
  const merger = ctx.createChannelMerger(2);
  ctx.createMediaStreamSource(va.localStream).connect(merger, 0, 0);
  ctx.createMediaStreamSource(va.remoteStream).connect(merger, 0, 1);
  const node = ctx.createScriptProcessor(4096, 2, 2);
  const chunks = [];
  node.onaudioprocess = (e) => {
    const a = e.inputBuffer.getChannelData(0), b = e.inputBuffer.getChannelData(1);
    const out = new Int16Array(a.length * 2);
    for (let i = 0; i < a.length; i++) {
      out[2 * i] = Math.max(-1, Math.min(1, a[i])) * 32767;
      out[2 * i + 1] = Math.max(-1, Math.min(1, b[i])) * 32767;
    }
    chunks.push(out);
  };
  const mute = ctx.createGain();
  mute.gain.value = 0;
  merger.connect(node);
  node.connect(mute);
  mute.connect(ctx.destination);
  window.__rec = {
    ctx, chunks,
    take() {
      let n = 0; for (const c of chunks) n += c.length;
      const all = new Int16Array(n); let o = 0;
      for (const c of chunks) { all.set(c, o); o += c.length; }
      const bytes = new Uint8Array(all.buffer); let s = "";
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      return btoa(s);
    },
  };
  return ctx.sampleRate;
})()
""" % RECORD_RATE

INBOUND_AUDIO_JS = """
(async () => {
  const stats = await window.voiceAgent.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio")
      return { bytes: s.bytesReceived, energy: s.totalAudioEnergy, samples: s.totalSamplesReceived,
               concealed: s.concealedSamples, silentConcealed: s.silentConcealedSamples, lost: s.packetsLost,
               jitterBufferMs: s.jitterBufferEmittedCount ? 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount : null };
  }
  return null;
})()
"""


def find_chromium() -> str | None:
    """The Chromium binary, or None (``scripts/install.sh`` installs Debian's as root)."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name) if "/" not in name else (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit mono samples and rate of a WAV."""
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def padded_wav(src: Path, dst: Path, *, lead_secs: float, tail_secs: float = 1.0,
               then: tuple[tuple[Path, float], ...] = ()) -> Path:
    """``src`` with ``lead_secs`` of silence before and ``tail_secs`` after, as 16-bit mono;
    each ``(wav, at_secs)`` of ``then`` is mixed in starting ``at_secs`` into the result."""
    audio, rate = read_wav(src)
    out = np.concatenate([np.zeros(int(lead_secs * rate), np.int16), audio, np.zeros(int(tail_secs * rate), np.int16)])
    for path, at_secs in then:
        extra, extra_rate = read_wav(path)
        assert extra_rate == rate, "the WAVs must have one rate"
        start = int(at_secs * rate)
        need = start + len(extra) + int(tail_secs * rate)
        if need > len(out):
            out = np.concatenate([out, np.zeros(need - len(out), np.int16)])
        out[start:start + len(extra)] += extra
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())
    return dst


class Chromium:
    """Headless Chromium with one page, a WAV as its microphone, driven over CDP."""

    def __init__(self, *, fake_mic: Path | None = None, binary: str | None = None, extra_args: tuple[str, ...] = ()):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
        self.fake_mic = fake_mic
        self.extra_args = extra_args
        self.profile = Path(tempfile.mkdtemp(prefix="voice-agent-chromium-"))
        self.proc: subprocess.Popen | None = None
        self._ws: Any = None
        self._reader: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._session: str | None = None

    def _args(self) -> list[str]:
        args = [
            self.binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--no-default-browser-check", f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--window-size=900,1000", "about:blank",
        ]
        if self.fake_mic:
            args.insert(-1, f"--use-file-for-fake-audio-capture={self.fake_mic.resolve()}%noloop")
        return args[:-1] + list(self.extra_args) + args[-1:]

    async def start(self) -> Chromium:
        import websockets

        # Not the tests' ALSA null device (tests/conftest.py): it takes audio as fast as it is
        # written, so Chromium would play the bot's track ~40x faster than real time and hand
        # the page mostly concealment silence. Without a sound device it paces itself.
        env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
        self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.profile / "chromium.log", "wb"), env=env)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start: {(self.profile / 'chromium.log').read_text()[-1500:]}")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self._ws = await asyncio.wait_for(websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None), 10)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                   session=False)
        self._session = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = json.loads(raw)
            future = self._pending.pop(msg.get("id"), None)
            if future and not future.done():
                if "error" in msg:
                    future.set_exception(RuntimeError(f"CDP error: {msg['error']}"))
                else:
                    future.set_result(msg.get("result", {}))

    async def send(self, method: str, params: dict | None = None, *, session: bool = True,
                   timeout: float = COMMAND_TIMEOUT_SECS) -> dict:
        """One DevTools command (on the page's session unless ``session=False``)."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session and self._session:
            msg["sessionId"] = self._session
        future = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self._ws.send(json.dumps(msg))
        return await asyncio.wait_for(future, timeout)

    async def evaluate(self, expression: str, timeout: float = COMMAND_TIMEOUT_SECS) -> Any:
        """The value of a JS expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                      "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    async def goto(self, url: str, timeout: float = 20.0) -> None:
        await self.send("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", timeout)

    async def wait_for(self, expression: str, timeout: float, poll: float = 0.1) -> Any:
        """Poll ``expression`` until it is truthy; its value (``TimeoutError`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value is not None and value is not False and value != 0 and value != "":  # JS truthy ({} too)
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never showed: {expression}")
            await asyncio.sleep(poll)

    async def click(self, selector: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> Path:
        data = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    async def start_recording(self) -> int:
        """Record the page's mic and bot track from now on (the call must be connected)."""
        return await self.evaluate(RECORDER_JS)

    async def recording(self) -> np.ndarray:
        """``(samples, 2)`` int16 at :data:`RECORD_RATE`: mic, bot."""
        raw = base64.b64decode(await self.evaluate("window.__rec.take()", timeout=60))
        return np.frombuffer(raw, np.int16).reshape(-1, 2)

    async def inbound_audio(self) -> dict | None:
        """``getStats()`` of the bot's audio: bytes, energy and samples received."""
        return await self.evaluate(INBOUND_AUDIO_JS)

    def pids(self) -> list[int]:
        """Every process of this browser (browser, zygote, renderers, utilities): those whose
        command line names its own profile folder (the zygote starts them in new sessions)."""
        mark = f"--user-data-dir={self.profile}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if mark in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
        return found

    def kill(self, timeout_secs: float = 5.0) -> None:
        """SIGKILL to every process of this browser: it vanishes without a word to anyone.
        Repeated until none is left: a process the browser forked while the first ones were
        being killed (seen once on a busy machine) gets the signal too."""
        deadline = time.monotonic() + timeout_secs
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        if self.proc:
            self.proc.wait(10)

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in self.pids():  # helpers the browser left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)

    async def __aenter__(self) -> Chromium:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc) -> None:
        await self.close()


def loud_spans(samples: np.ndarray, *, rate: int = RECORD_RATE, peak: int = 300, gap_secs: float = 0.4,
               block_secs: float = 0.01) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the stretches whose 10 ms blocks peak above ``peak``,
    merged across gaps shorter than ``gap_secs``."""
    block = int(rate * block_secs)
    n = len(samples) // block
    if n == 0:
        return []
    peaks = np.abs(samples[: n * block].astype(np.int32)).reshape(n, block).max(axis=1)
    loud = np.flatnonzero(peaks > peak)
    spans: list[tuple[float, float]] = []
    for i in loud:
        t0, t1 = i * block_secs, (i + 1) * block_secs
        if spans and t0 - spans[-1][1] < gap_secs:
            spans[-1] = (spans[-1][0], t1)
        else:
            spans.append((t0, t1))
    return spans
