"""A Python WebRTC peer that signals exactly as pipecat's JS client does.

``@pipecat-ai/small-webrtc-transport`` 1.10 (with ``PipecatClient.startBotAndConnect``):

1. ``POST /start`` with the app's ``startBotParams.requestData``
   (``{"transport": "webrtc", "enableDefaultIceServers": false, "body": {...}}``) → ``{"sessionId"}``.
2. The offer URL is the start URL with ``/start`` replaced by ``/sessions/{sessionId}/api/offer``.
3. Transceivers audio (sendrecv), video (sendrecv), screen video (sendonly), and a ``"chat"``
   data channel (ordered); ``POST`` ``{"sdp", "type": "offer", "pc_id": null, "restart_pc": false}``
   → ``{"sdp", "type": "answer", "pc_id"}``.
4. ICE candidates trickled after the answer: ``PATCH`` to the same URL with
   ``{"pc_id", "candidates": [{"candidate", "sdp_mid", "sdp_mline_index"}]}``.
5. On the data channel: ``"ping: <ms>"`` every second, RTVI messages
   (``{"label": "rtvi-ai", "type", "id", "data"}``): ``client-ready``, ``disconnect-bot``.

With ``trickle=True`` the offer carries no candidates at all (as a browser that does not wait
for ICE gathering), so the call connects only if the PATCHes reach the server's peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import aiohttp

RTVI_LABEL = "rtvi-ai"
HTTP_TIMEOUT_SECS = 30.0


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """The SDP without its ``a=candidate``/``a=end-of-candidates`` lines, and those candidates
    in the JS client's PATCH shape (``sdp_mid`` from the section's ``a=mid``)."""
    kept, candidates = [], []
    mid, index = None, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:"):]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdp_mid": mid, "sdp_mline_index": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


class PipecatStyleClient:
    """``async with PipecatStyleClient(base_url) as client: await client.connect()``."""

    def __init__(self, base_url: str, *, body: dict | None = None, trickle: bool = True):
        self.base_url = base_url.rstrip("/")
        self.body = body or {}
        self.trickle = trickle
        self.start_response: dict[str, Any] = {}
        self.offer: dict[str, Any] = {}
        self.answer: dict[str, Any] = {}
        self.patch_responses: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.pc = None
        self.dc = None
        self._remote_audio: asyncio.Future = asyncio.get_running_loop().create_future()
        self._http: aiohttp.ClientSession | None = None
        self._pinger: asyncio.Task | None = None

    @property
    def offer_url(self) -> str:
        start_url = f"{self.base_url}/start"
        return start_url.replace("/start", f"/sessions/{self.start_response['sessionId']}/api/offer")

    async def _json(self, method: str, url: str, body: dict) -> dict:
        async with self._http.request(method, url, json=body) as r:
            data = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"{method} {url}: {r.status} {data}")
            return data

    async def connect(self) -> dict[str, Any]:
        """Start the session, offer, trickle the candidates; the answer."""
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from aiortc.mediastreams import AudioStreamTrack

        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECS))
        self.start_response = await self._json(
            "POST", f"{self.base_url}/start",
            {"transport": "webrtc", "enableDefaultIceServers": False, "body": self.body})
        self.pc = pc = RTCPeerConnection()
        pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")  # a silent mic
        pc.addTransceiver("video", direction="sendrecv")
        pc.addTransceiver("video", direction="sendonly")

        @pc.on("track")
        def on_track(track):
            if track.kind == "audio" and not self._remote_audio.done():
                self._remote_audio.set_result(track)

        self.dc = dc = pc.createDataChannel("chat", ordered=True)

        @dc.on("open")
        def on_open():
            self.send("client-ready", {"version": "1.0.0", "about": {"library": "pipecat-style-test-client"}})
            self._pinger = asyncio.ensure_future(self._ping())

        @dc.on("message")
        def on_message(message):
            with contextlib.suppress(ValueError, TypeError):
                self.messages.append(json.loads(message))

        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate here
        sdp, candidates = split_candidates(pc.localDescription.sdp)
        if not self.trickle:
            sdp, candidates = pc.localDescription.sdp, []
        self.offer = {"sdp": sdp, "type": "offer", "pc_id": None, "restart_pc": False}
        self.answer = await self._json("POST", self.offer_url, self.offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer["sdp"], type=self.answer["type"]))
        if candidates:
            self.patch_responses.append(await self._json(
                "PATCH", self.offer_url, {"pc_id": self.answer["pc_id"], "candidates": candidates}))
        return self.answer

    def send(self, type_: str, data: Any = None) -> None:
        """An RTVI client message on the data channel."""
        if self.dc is not None and self.dc.readyState == "open":
            msg = {"label": RTVI_LABEL, "type": type_, "id": uuid.uuid4().hex[:8]}
            if data is not None:
                msg["data"] = data
            self.dc.send(json.dumps(msg))

    async def _ping(self) -> None:
        while self.dc is not None and self.dc.readyState == "open":
            self.dc.send(f"ping: {int(time.time() * 1000)}")
            await asyncio.sleep(1.0)

    async def wait_message(self, type_: str, timeout: float) -> dict[str, Any]:
        """The first RTVI message of ``type_`` from the bot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.messages:
                if msg.get("label") == RTVI_LABEL and msg.get("type") == type_:
                    return msg
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no RTVI {type_} within {timeout:.0f} s; got {[m.get('type') for m in self.messages]}")

    async def bot_audio_frame(self, timeout: float):
        """One audio frame of the bot's track."""
        track = await asyncio.wait_for(asyncio.shield(self._remote_audio), timeout)
        return await asyncio.wait_for(track.recv(), timeout)

    async def hang_up(self) -> None:
        """What the JS client does on disconnect: RTVI ``disconnect-bot``, then close."""
        self.send("disconnect-bot")
        await asyncio.sleep(0.1)  # let the message leave before the channel closes
        await self.close()

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
        if self.pc is not None:
            await self.pc.close()
        if self._http is not None:
            await self._http.close()
        self.dc = self.pc = self._http = None

    async def __aenter__(self) -> PipecatStyleClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
