"""``voice-agent report RUN_DIR``: a run's per-turn latency as a markdown table and a PNG waterfall."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median

# (label, from, to): where each turn's time went after the user stopped speaking.
SEGMENTS = (
    ("speech-to-text", "speech_end", "transcript"),
    ("end of turn", "transcript", "user_turn_end"),
    ("LLM first token", "user_turn_end", "llm_first_token"),
    ("first phrase", "llm_first_token", "first_phrase"),
    ("TTS first audio", "first_phrase", "tts_first_audio"),
    ("to the speaker", "tts_first_audio", "speaker_first_audio"),
)
COLUMNS = ("transcript", "llm_first_token", "first_phrase", "tts_first_audio", "voice_to_voice")


class ReportError(ValueError):
    """The run folder has no usable metrics."""


def load_turns(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise ReportError(f"{path} not found: is {run_dir} a run folder (runs/<id>/)?")
    turns = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            turns.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ReportError(f"{path}:{n}: not JSON ({e.msg})") from None
    if not turns:
        raise ReportError(f"{path} has no turns")
    return turns


def markdown_table(turns: list[dict]) -> str:
    """One row per turn (ms after the user stopped speaking) and a median row."""
    head = "| turn | heard | stt | llm first token | first phrase | tts first audio | voice-to-voice | barge-in onset→silence |"
    rows = [head, "|" + "---|" * 8]
    for t in turns:
        lat = t.get("latency_ms", {})
        barge = ", ".join(f"{i['onset_to_silence_ms']:.0f}" for i in t.get("interruptions", []) if "onset_to_silence_ms" in i)
        cells = [f"{lat[c]:.0f}" if c in lat else "–" for c in COLUMNS]
        text = t.get("transcript_text", "").replace("|", "/")[:60]
        rows.append(f"| {t['turn']} | {text} | " + " | ".join(cells) + f" | {barge or '–'} |")
    meds = []
    for c in COLUMNS:
        values = [t["latency_ms"][c] for t in turns if c in t.get("latency_ms", {})]
        meds.append(f"**{median(values):.0f}**" if values else "–")
    rows.append("| median | | " + " | ".join(meds) + " | |")
    return "\n".join(rows) + "\n"


def waterfall_png(turns: list[dict], path: Path) -> None:
    """Stacked horizontal bars: each turn's segments from speech end to the first sound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * len(turns)))
    colors = plt.get_cmap("tab10").colors
    for row, t in enumerate(turns):
        if t.get("speech_end") is None:
            continue
        for i, (label, start, end) in enumerate(SEGMENTS):
            if t.get(start) is None or t.get(end) is None:
                continue
            left = (t[start] - t["speech_end"]) * 1000
            width = max(0.0, (t[end] - t[start]) * 1000)
            ax.barh(row, width, left=left, color=colors[i], label=label if row == 0 else None)
    ax.set_yticks(range(len(turns)), [f"turn {t['turn']}" for t in turns])
    ax.invert_yaxis()
    ax.set_xlabel("ms after the user stopped speaking")
    ax.set_title("Where each turn's time went")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``waterfall.png`` into the run folder; returns their paths."""
    turns = load_turns(run_dir)
    md, png = run_dir / "report.md", run_dir / "waterfall.png"
    md.write_text(f"# Run {run_dir.name}\n\nLatency in ms after the user stopped speaking.\n\n"
                  f"{markdown_table(turns)}\n![waterfall](waterfall.png)\n")
    waterfall_png(turns, png)
    return md, png
