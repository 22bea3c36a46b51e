"""The conversation transcript as JSONL, written line by line as it happens.

Each line: ``{"who": "user"|"bot", "text": ..., "start": ISO time, "end": ISO time,
"interrupted": bool}``. Lines are flushed at once, so a crash keeps what was said so far.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loguru import logger


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class TranscriptWriter:
    """Hooks a pipecat ``LLMContextAggregatorPair``'s turn events and appends JSONL lines."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self.lines: list[dict[str, Any]] = []

    def write(self, who: str, text: str, start: str | None, **extra: Any) -> None:
        line = {"who": who, "text": text, "start": start or _now(), "end": _now(), **extra}
        self.lines.append(line)
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()
        logger.info(f"{who}: {text}")

    def attach(self, aggregators) -> None:
        """Record every finished user and assistant turn of ``aggregators`` (a pair)."""

        @aggregators.user().event_handler("on_user_turn_stopped")
        async def on_user(_agg, _strategy, message):
            if message.content:
                self.write("user", message.content, message.timestamp)

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def on_bot(_agg, message):
            if message.content:
                self.write("bot", message.content, message.timestamp, interrupted=bool(message.interrupted))

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
