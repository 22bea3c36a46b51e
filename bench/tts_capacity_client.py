"""The TTS capacity bench's client: one simulated real-time stream and its underrun accounting.

One stream is one WebSocket, opened and set up (``pcm_24000``, the default voice, as
``pipelines/laptop.toml`` asks) before the clock starts, like the spare socket our
``GradiumTTSService`` keeps open. At the :class:`StartGate` all streams start at once; each
sends its answer cut into phrases by the ``PhraseAggregator``'s rules
(:func:`phrase_schedule`), then ``end_of_stream``, and reads audio until ``end_of_stream``.

The client is a simulated player: playback starts ``JITTER_BUFFER_S`` after the first audio
message and consumes the audio received (counted from its bytes) at 1x; whenever it has
played everything received so far while more audio is still to come, it stalls until the
next audio message: one underrun, lasting the stall (:func:`playback_underruns`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

JITTER_BUFFER_S = 0.1  # what a player holds before it starts (WebRTC jitter buffers: ~50-200 ms)
OUTPUT_FORMAT = "pcm_24000"
VOICE_ID = "YTpq7expH9539ERJ"  # GradiumTTSService's default voice (processors.gradium.settings)
LLM_WORDS_PER_S = 40.0  # the local SmolLM2 writes ~58 tokens/s (bench/data/token_streams.json)
CONNECT_TIMEOUT_S = 20.0
RECV_TIMEOUT_S = 60.0  # longest wait for any one server message
STREAM_TIMEOUT_S = 180.0


@dataclass
class Underruns:
    """Stalls of a real-time player: how many, and their total length."""

    count: int = 0
    total_secs: float = 0.0


def playback_underruns(
    arrivals: Sequence[tuple[float, float]], jitter_secs: float = JITTER_BUFFER_S
) -> Underruns:
    """Stalls of a player fed by ``arrivals``: ``(time received, audio seconds received so far)``
    in arrival order. Playback starts ``jitter_secs`` after the first arrival and runs at 1x; when
    it has played all audio received while another arrival is still to come, it stalls until
    that arrival and resumes at once. The end of the audio is not a stall."""
    if not arrivals:
        return Underruns()
    out = Underruns()
    clock = arrivals[0][0] + jitter_secs  # wall time up to which playback is accounted
    played, available = 0.0, arrivals[0][1]
    for t, have in arrivals[1:]:
        if t > clock:
            runs_out = clock + (available - played)
            if runs_out < t:
                out.count += 1
                out.total_secs += t - runs_out
                played = available
            else:
                played += t - clock
            clock = t
        available = max(available, have)
    return out


def phrase_schedule(answer: str, words_per_s: float = LLM_WORDS_PER_S) -> list[tuple[float, str]]:
    """``(offset s, wire text)`` of each ``text`` message: the answer's words arrive one by one
    at ``words_per_s`` and are cut as the PhraseAggregator cuts them (``<flush>`` appended
    where it flushes, as our GradiumTTSService sends it)."""
    from processors.phrase.rules import PhraseChunker

    chunker, out, sent = PhraseChunker(), [], ""
    words = answer.split()

    def emit(at: float, phrases) -> None:
        nonlocal sent
        for p in phrases:
            text = p.text if not sent or sent[-1:].isspace() else " " + p.text
            text = f"{text} <flush>" if p.flush else text
            out.append((at, text))
            sent = text

    for i, word in enumerate(words):
        emit(i / words_per_s, chunker.push(word + " "))
    emit((len(words) - 1) / words_per_s, chunker.finish())
    return out


class StartGate:
    """Holds K streams until all of them are set up, then lets them go at once."""

    def __init__(self, n: int):
        self.n, self.arrived = n, 0
        self.all_ready, self.go = asyncio.Event(), asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.n:
            self.all_ready.set()
        await self.go.wait()


@dataclass
class StreamResult:
    """What one client saw."""

    ttfa_secs: float | None = None
    audio_secs: float = 0.0  # by byte count
    stop_s: float = 0.0  # the last audio message's stop_s
    eos: bool = False
    underruns: Underruns = field(default_factory=Underruns)
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.eos and self.error is None and self.audio_secs > 0 and self.underruns.count == 0


def _b64_len(s: str) -> int:
    """Bytes in a base64 string (without decoding it)."""
    return len(s) * 3 // 4 - s[-2:].count("=")


async def _open(url: str):
    from websockets.asyncio.client import connect

    ws = await connect(url, compression=None, proxy=None, ping_interval=None, open_timeout=CONNECT_TIMEOUT_S)
    await ws.send(json.dumps({"type": "setup", "model_name": "default", "voice_id": VOICE_ID,
                              "output_format": OUTPUT_FORMAT, "close_ws_on_eos": True}))
    ready = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
    if ready.get("type") != "ready":
        await ws.close()
        raise RuntimeError(f"expected 'ready', got {str(ready)[:120]}")
    return ws, int(ready["sample_rate"])


async def run_stream(url: str, schedule: list[tuple[float, str]], gate: StartGate,
                     jitter_secs: float = JITTER_BUFFER_S) -> StreamResult:
    """Set up a socket, wait at ``gate``, stream the text on ``schedule`` and play the audio.
    Time to first audio runs from the first text sent to the first audio message."""
    result, arrivals = StreamResult(), []
    try:
        ws, rate = await _open(url)
    except Exception as e:  # noqa: BLE001  (counted as a failed stream)
        result.error = f"connect: {type(e).__name__}: {e}"
        await gate.wait()
        return result

    first_text_at: list[float] = []

    async def send() -> None:
        t0 = time.monotonic()
        for offset, text in schedule:
            await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))
            await ws.send(json.dumps({"type": "text", "text": text}))
            if not first_text_at:
                first_text_at.append(time.monotonic())
        await ws.send(json.dumps({"type": "end_of_stream"}))

    sender: asyncio.Task | None = None
    try:
        await gate.wait()
        sender = asyncio.create_task(send())
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
                now = time.monotonic()
                if msg["type"] == "audio":
                    result.audio_secs += _b64_len(msg["audio"]) / (2 * rate)
                    result.stop_s = msg["stop_s"]
                    arrivals.append((now, result.audio_secs))
                    if result.ttfa_secs is None:
                        result.ttfa_secs = now - first_text_at[0]
                elif msg["type"] == "end_of_stream":
                    result.eos = True
                    break
                elif msg["type"] == "error":
                    result.error = f"server error {msg.get('code')}: {msg.get('message')}"
                    break
        await asyncio.wait_for(sender, RECV_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001  (a timeout or a closed socket fails the stream)
        result.error = result.error or f"{type(e).__name__}: {e}"
    finally:
        if sender is not None:
            sender.cancel()
        await ws.close()
    result.underruns = playback_underruns(arrivals, jitter_secs)
    return result
