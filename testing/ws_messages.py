"""JSON messages over a WebSocket, as tests of the TTS server read and send them."""

from __future__ import annotations

import asyncio
import json

from websockets.exceptions import ConnectionClosed

TIMEOUT = 30


async def read_all(ws, timeout: float = TIMEOUT) -> list[dict]:
    """Every message until the server closes the socket (whatever the close code)."""
    out = []
    async with asyncio.timeout(timeout):
        try:
            async for raw in ws:
                out.append(json.loads(raw))
        except ConnectionClosed:
            pass
    return out


async def read_until(ws, mtype: str, timeout: float = TIMEOUT) -> list[dict]:
    """Messages up to and including the first of type ``mtype``."""
    out = []
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            out.append(msg)
            if msg["type"] == mtype:
                return out


async def drain(ws, quiet_secs: float) -> list[dict]:
    """Messages until none arrives for ``quiet_secs``."""
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet_secs)))
        except TimeoutError:
            return out


async def send(ws, **msg) -> None:
    """Send a message; a socket the server already closed (a rejection) is fine."""
    try:
        await ws.send(json.dumps(msg))
    except ConnectionClosed:
        pass


def of_type(msgs: list[dict], mtype: str) -> list[dict]:
    return [m for m in msgs if m["type"] == mtype]
