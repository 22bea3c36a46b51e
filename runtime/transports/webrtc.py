"""A browser call over WebRTC: pipecat's ``SmallWebRTCTransport`` on one peer connection, ICE
candidates on loopback, and a watch that notices a browser that vanished without hanging up.

Server-side echo cancellation stays off: the browser's own (``getUserMedia`` with
``echoCancellation``) already removes the bot's voice from the mic before it is sent.

Two things stock pipecat/aiortc do not handle here:

- aioice never offers 127.0.0.1 as a host candidate, so on a machine whose only interface is
  loopback (a container, CI) the browser has nothing to connect to and ICE never starts.
  :func:`offer_loopback_candidates` adds it.
- pipecat's ``RawAudioTrack`` paces the bot's audio on a clock that starts when the track is
  made, but aiortc only starts pulling from it seconds later (the call being set up), and it
  then "catches up" by sending queued audio and silence as fast as it is pulled: the first
  seconds of every answer reach the browser as 20 ms of speech between stretches of
  inserted silence (measured: half of the frames empty, ~1.9 s behind). :class:`PacedAudioTrack`
  starts its clock at the first pull instead.
- The same track makes each write wait until its last 10 ms has been sent, so nothing is
  queued behind the frame on air: the next 20 ms must arrive within one 10 ms tick, or the
  track sends silence. On 2 busy cores (Whisper, Silero, Chromium) that tick is often missed
  and the answer reaches the browser chopped. :class:`PacedAudioTrack` lets a write return
  while :data:`TRACK_BUFFER_SECS` is still queued: that much more audio plays after a pause
  (barge-in), and none goes missing.
- A browser that is killed or loses the network sends no goodbye; aiortc has no
  "disconnected" state, and ICE consent expiry takes about 30 s. The page sends a ``ping``
  on the data channel every second (as pipecat's JS transport does); :func:`watch_peer`
  ends the call once they stop (pipecat's ``is_connected()``: none for 3 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

LOOPBACK = "127.0.0.1"
WATCH_POLL_SECS = 0.25
# Further behind its schedule than this (the set-up of a call, a machine that slept), the bot's
# track restarts its clock. A shorter stall is caught up, so the track stays on the wall clock
# the playback gate paces by: restarting on every stall would pile the gate's audio up behind the
# track (measured: 0.8 s still playing after a barge-in paused the gate).
MAX_LAG_SECS = 1.0
TRACK_BUFFER_SECS = 0.04  # the bot's audio queued in its track beyond the frame on air


def offer_loopback_candidates() -> None:
    """Make aioice offer 127.0.0.1 too (it skips loopback). Idempotent; process-wide."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    if getattr(original, "_with_loopback", False):
        return

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        if use_ipv4 and LOOPBACK not in addresses:
            addresses.append(LOOPBACK)
        return addresses

    with_loopback._with_loopback = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = with_loopback


def paced_audio_track_class():
    """:class:`PacedAudioTrack` (defined on first use: pipecat's WebRTC imports aiortc)."""
    global PacedAudioTrack
    if PacedAudioTrack is None:
        from pipecat.transports.smallwebrtc.transport import RawAudioTrack

        class _PacedAudioTrack(RawAudioTrack):
            """``RawAudioTrack`` whose clock starts at its first pull (and restarts when pulled
            more than :data:`MAX_LAG_SECS` late), and whose writes return while
            :data:`TRACK_BUFFER_SECS` of audio is still queued."""

            def add_audio_bytes(self, audio_bytes: bytes):
                done = super().add_audio_bytes(audio_bytes)
                keep = round(TRACK_BUFFER_SECS * 100)  # 10 ms chunks
                queue = self._chunk_queue
                for i, (chunk, future) in enumerate(queue):  # the write's future: off its last chunk
                    if future is done:
                        queue[i] = (chunk, None)
                at = len(queue) - 1 - keep
                if at < 0:
                    done.set_result(True)
                else:  # done once the queue is down to `keep` chunks
                    chunk, future = queue[at]
                    if future is None:
                        queue[at] = (chunk, done)
                    else:
                        future.add_done_callback(lambda _f: done.done() or done.set_result(True))
                return done

            async def recv(self):
                behind = time.time() - (self._start + self._timestamp / self._sample_rate)
                if self._timestamp == 0 or behind > MAX_LAG_SECS:
                    self._start += behind
                return await super().recv()

        PacedAudioTrack = _PacedAudioTrack
    return PacedAudioTrack


PacedAudioTrack: Any = None


def _pace_output_track(client: Any) -> None:
    """Make the client's bot-audio track a :class:`PacedAudioTrack` each time it is made."""
    made = client._handle_client_connected

    async def connected() -> None:
        await made()
        track = client._audio_output_track
        if track is not None and type(track) is not paced_audio_track_class():
            track.__class__ = paced_audio_track_class()  # same state, its recv

    client._handle_client_connected = connected


def make_webrtc_transport(connection: Any, *, in_rate: int, out_rate: int, out_10ms_chunks: int = 2):
    """pipecat's ``SmallWebRTCTransport`` on ``connection`` (a ``SmallWebRTCConnection``):
    audio both ways, no video, 20 ms output chunks (as the laptop transport: the playback gate
    keeps only that much queued, so a barge-in is heard at once)."""
    from pipecat.transports.base_transport import TransportParams
    from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

    transport = SmallWebRTCTransport(
        webrtc_connection=connection,
        params=TransportParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=in_rate,
            audio_out_sample_rate=out_rate,
            audio_out_10ms_chunks=out_10ms_chunks,
        ),
    )
    _pace_output_track(transport._client)
    return transport


def peer_state(connection: Any) -> str:
    """``connected``, ``gone`` (closed, failed, or no ping for 3 s) or ``connecting``."""
    pc = connection.pc
    if pc is None or pc.connectionState in ("closed", "failed"):
        return "gone"
    if connection.is_connected():
        return "connected"
    return "connecting"


async def watch_peer(connection: Any, on_gone: Callable[[str], Awaitable[None]], *,
                     connect_timeout_secs: float = 30.0, poll_secs: float = WATCH_POLL_SECS) -> None:
    """Call ``on_gone(reason)`` once the peer is gone: it never connected within
    ``connect_timeout_secs``, or it was connected and now is not. Runs until then."""
    started = time.monotonic()
    was_connected = False
    while True:
        state = peer_state(connection)
        if state == "connected":
            was_connected = True
        elif state == "gone" or was_connected:
            reason = "peer connection closed" if state == "gone" else "no keep-alive from the browser for 3 s"
            logger.info(f"call {connection.pc_id}: browser gone ({reason})")
            await on_gone(reason)
            return
        elif time.monotonic() - started > connect_timeout_secs:
            logger.info(f"call {connection.pc_id}: browser never connected")
            await on_gone("never connected")
            return
        await asyncio.sleep(poll_secs)
