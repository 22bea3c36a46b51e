"""Start a pipeline's child servers before it runs and stop them after, whatever happens.

Every entry point (``run``, ``say``, ``demo``, ``serve``, benches) goes through
:class:`ChildServers`, so servers are started in order, stopped in reverse order, and never
outlive the pipeline (normal end, error, Ctrl-C).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from runtime.child_process import ManagedProcess


class ChildServers:
    """``async with ChildServers(children):`` starts each child (blocking start in a thread) and
    stops all of them on the way out, in reverse order."""

    def __init__(self, children: Sequence[ManagedProcess]):
        self.children = list(children)

    async def start(self) -> None:
        for child in self.children:
            await asyncio.to_thread(child.start)

    async def stop(self) -> None:
        for child in reversed(self.children):
            await asyncio.to_thread(child.stop)

    async def __aenter__(self) -> ChildServers:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
