"""The live console: the agent's state, both sides' transcript, and each turn's latency."""

from __future__ import annotations

from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.turn_metrics import TurnMetricsObserver, TurnRecord
from runtime.children import ChildEvent

STATE_STYLE = {
    "listening": ("● listening", "bold green"),
    "thinking": ("◐ thinking", "bold yellow"),
    "speaking": ("◉ speaking", "bold cyan"),
    "interrupted": ("✋ interrupted", "bold red"),
}


class LiveConsole:
    """A rich ``Live`` view fed by a :class:`TurnMetricsObserver`'s listeners."""

    def __init__(self, observer: TurnMetricsObserver, title: str, console: Console | None = None, lines: int = 12):
        self.title = title
        self.console = console or Console()
        self.state = observer.state
        self.lines: deque[tuple[str, str]] = deque(maxlen=lines)
        self.turns: deque[TurnRecord] = deque(maxlen=6)
        self.notice: str | None = None  # a child server that is down, shown in the header
        self._live: Live | None = None
        observer.state_listeners.append(self._on_state)
        observer.text_listeners.append(self._on_text)
        observer.turn_listeners.append(self._on_turn)

    def _on_state(self, state: str) -> None:
        self.state = state
        if state == "speaking":
            self.lines.append(("bot", ""))
        self.refresh(now=True)  # a state can last less than one refresh tick (thinking)

    def _on_text(self, who: str, text: str) -> None:
        if who == "bot" and self.lines and self.lines[-1][0] == "bot":
            self.lines[-1] = ("bot", f"{self.lines[-1][1]} {text}".strip())
        else:
            self.lines.append((who, text))
        self.refresh()

    def on_child_event(self, event: ChildEvent) -> None:
        """A local server went down, came back, or failed for good (``ChildServers.listeners``)."""
        self.notice = {"down": f"⚠ {event.name} down, restarting", "failed": f"✖ {event.name} failed"}.get(event.kind)
        self.lines.append(("system", event.message))
        self.refresh()

    def _on_turn(self, turn: TurnRecord) -> None:
        self.turns.append(turn)
        self.refresh()

    def render(self) -> Group:
        label, style = STATE_STYLE.get(self.state, (self.state, "bold"))
        header = Text.assemble((f"{self.title}  ", "bold"), (label, style),
                               (f"   {self.notice}", "bold red") if self.notice else "", ("   Ctrl-C to quit", "dim"))
        transcript = Text()
        for who, text in self.lines:
            if not text:
                continue
            if who == "system":
                transcript.append(f"⚠ {text}\n", "red")
                continue
            transcript.append("you: " if who == "user" else "bot: ", "bold magenta" if who == "user" else "bold cyan")
            transcript.append(text + "\n")
        table = Table(title="latency after you stop speaking (ms)", expand=True, title_justify="left")
        for col in ("turn", "heard", "stt", "llm 1st token", "1st phrase", "tts audio", "voice→voice", "barge-in"):
            table.add_column(col, overflow="fold")
        for t in self.turns:
            lat = t.latencies_ms()
            barge = ", ".join(f"{i['onset_to_silence_ms']:.0f}" for i in t.interruptions if "onset_to_silence_ms" in i)
            table.add_row(
                str(t.turn), t.transcript_text[:40],
                *(f"{lat[k]:.0f}" if k in lat else "–" for k in
                  ("transcript", "llm_first_token", "first_phrase", "tts_first_audio", "voice_to_voice")),
                barge or "–",
            )
        return Group(Panel(header), Panel(transcript, title="transcript"), table)

    def refresh(self, now: bool = False) -> None:
        """Show the new content at the next refresh tick, or ``now``."""
        if self._live:
            self._live.update(self.render(), refresh=now)

    def __enter__(self) -> "LiveConsole":
        self._live = Live(self.render(), console=self.console, refresh_per_second=8, redirect_stderr=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            self._live = None
