"""Bench: capacity of the local TTS server, in concurrent real-time streams without underrun.

The server runs as the product runs it: ``python -m runtime.tts_server`` in a child process
(:class:`runtime.tts_server_process.LocalTTSServer`), so the clients here never share its GIL.
The clients (:mod:`bench.tts_capacity_client`) are simulated real-time players: K streams,
each set up before the clock starts, start at once (a worst-case burst); each sends a 3-4
sentence answer (~10 s of speech) phrase by phrase as the local LLM and our PhraseAggregator
would, and counts its playback underruns. Per stream: time to first audio, underruns.

Capacity: K runs up the ladder ``1, 2, 4, 8, 12, 16, 20, 24, 32``; every K runs ``REPEATS``
times and counts only if every stream of every repeat is free of underruns and errors; the
ladder stops at the first K that is not. Capacity = the largest clean K. Target: >= 16.

Baseline ("stock" column), same run: the ideal capacity from one stream's cost,
``floor(cores x audio s / server CPU s)`` (one answer at a time, all its text at once). CPU
time of the server process (``/proc/<pid>/stat``), not wall time; it also counts the server's
event loop (JSON, base64). Also recorded: time to first audio at capacity (vs 1 stream), the
cost per audio second, and at the first K with underruns, the cores the server used and the
stall per stream.

The 2 cores are shared with other engineers' jobs: every K also records the CPU used by
other processes (``/proc/stat`` minus the server and this bench), and the capacity record
carries the ideal on the cores they left free (``ideal_on_free_cores``).

A full run also measures, in the same run, the server before ``TTSServerSettings.onnx_threads``
existed: ``TTSServerSettings(onnx_threads=0)``, onnxruntime's default thread pool
(:data:`ONNX_DEFAULT`), the server's own code in a child running :func:`serve_child` with those
settings, up to the rung above the shipped capacity. Its records end in ``_vs_onnx_default``.
No new K starts after the budgets (:data:`SHIPPED_BUDGET_S`, :data:`RUN_BUDGET_S`): a full run
stays under 4 minutes.

``python -m bench.tts_capacity_bench [--quick] [--max-streams N] [--onnx-threads N]
[--workers N] [--set FIELD=VALUE ...] [--json]``; :func:`bench_records` returns the records for
``make bench``. With ``--onnx-threads``, ``--workers`` or ``--set`` it measures only a server
with those ``TTSServerSettings``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from bench.records import quiet_logs, record, report
from bench.tts_capacity_client import CONNECT_TIMEOUT_S, StartGate, StreamResult, phrase_schedule, run_stream

LADDER = (1, 2, 4, 8, 12, 16, 20, 24, 32)
QUICK_LADDER = (1, 2)
REPEATS, QUICK_REPEATS = 2, 1
TARGET_STREAMS = 16
CORES = os.cpu_count() or 2
SHIPPED_BUDGET_S = 120.0  # no new K for the shipped server after this long
COMPARE_START_BY_S = 140.0  # the onnx-default comparison starts only before this
RUN_BUDGET_S = 190.0  # no new K at all after this long (a full run must stay under 4 min)
ANSWERS = (
    "Sure, here is today's forecast. It will be mild and mostly sunny, with a light breeze "
    "from the west. You might want a jacket this evening, since it gets cooler after sunset. "
    "Tomorrow looks warm and dry.",
    "Good question. A heat pump moves warmth instead of making it, so it uses much less energy "
    "than a heater. In winter it pulls heat from the outside air. In summer it simply runs the "
    "other way and cools your home.",
    "To boil an egg, bring a pot of water to a gentle boil. Lower the egg in with a spoon and "
    "set a timer for seven minutes. Then move it into cold water, so it stops cooking and "
    "peels easily.",
    "The train to the city leaves every twenty minutes from platform two. The trip takes about "
    "half an hour, and tickets are cheaper before nine in the morning. You can buy one at the "
    "machine, or with the app on your phone.",
)
QUICK_ANSWERS = ("Sure, here is the short answer you asked for.",)


# --- levels and the ladder ----------------------------------------------------------------


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (``/proc/stat``, all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by the server, by everything else on the machine (not this bench), and wall time."""

    def __init__(self, pid: int):
        self.pid = pid
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        return time.monotonic(), cpu_seconds(self.pid), cpu_seconds("self"), machine_busy_seconds()

    def stop(self) -> tuple[float, float, float]:
        """``(wall s, server CPU s, other processes' CPU s)`` since the start."""
        end = self._read()
        wall, server, me, machine = (b - a for a, b in zip(self._start, end))
        return wall, server, max(0.0, machine - server - me)


@dataclass
class Level:
    """K streams started at once."""

    k: int
    streams: list[StreamResult]
    wall_secs: float
    cpu_secs: float  # the server's
    other_cpu_secs: float = 0.0  # other processes on the machine (other engineers' jobs)

    @property
    def clean(self) -> bool:
        return all(s.clean for s in self.streams)

    @property
    def audio_secs(self) -> float:
        return sum(s.audio_secs for s in self.streams)

    @property
    def cpu_per_audio_secs(self) -> float:
        return self.cpu_secs / self.audio_secs if self.audio_secs else math.nan

    @property
    def cores_used(self) -> float:
        return self.cpu_secs / self.wall_secs if self.wall_secs else 0.0

    @property
    def other_cores(self) -> float:
        return self.other_cpu_secs / self.wall_secs if self.wall_secs else 0.0

    def summary(self) -> str:
        under = [s.underruns for s in self.streams]
        ttfa = [s.ttfa_secs * 1000 for s in self.streams if s.ttfa_secs is not None]
        errors = sorted({s.error for s in self.streams if s.error})
        return (f"K={self.k:2d} {'clean' if self.clean else 'UNDERRUN'}: "
                f"{sum(u.count > 0 for u in under)}/{self.k} streams stalled, "
                f"{sum(u.total_secs for u in under) * 1000:.0f} ms stalled in all, TTFA median "
                f"{_med(ttfa):.0f} max {max(ttfa, default=0):.0f} ms, server {self.cores_used:.2f} cores "
                f"(others {self.other_cores:.2f}), {self.cpu_per_audio_secs:.3f} CPU s/audio s"
                + (f", errors: {errors}" if errors else ""))


def _med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run_level(url: str, pid: int, k: int, answers: Sequence[str]) -> Level:
    """K streams (answers in turn), all starting at once once every socket is set up."""
    gate = StartGate(k)
    schedules = [phrase_schedule(answers[i % len(answers)]) for i in range(k)]
    tasks = [asyncio.create_task(run_stream(url, s, gate)) for s in schedules]
    try:
        await asyncio.wait_for(gate.all_ready.wait(), 3 * CONNECT_TIMEOUT_S)
    except TimeoutError:
        for t in tasks:
            t.cancel()
        raise RuntimeError(f"{k} streams could not set up within {3 * CONNECT_TIMEOUT_S:g}s") from None
    meter = CpuMeter(pid)
    gate.go.set()
    streams = await asyncio.gather(*tasks)
    return Level(k, list(streams), *meter.stop())


async def run_ladder(url: str, pid: int, ladder: Sequence[int], repeats: int, answers: Sequence[str],
                     echo: bool = False, deadline: float = math.inf) -> list[Level]:
    """Climb the ladder; stop after the first K with an underrun or an error, or at a new K
    once ``deadline`` (``time.monotonic()``) has passed."""
    levels: list[Level] = []
    for k in ladder:
        if time.monotonic() > deadline:
            logger.warning(f"tts capacity: time budget spent, ladder stopped before K={k}")
            break
        for _ in range(repeats):
            level = await run_level(url, pid, k, answers)
            levels.append(level)
            if echo:
                print(f"  {level.summary()}", file=sys.stderr, flush=True)
            if not level.clean:
                return levels
    return levels


def capacity(levels: Sequence[Level]) -> int:
    """The largest K whose every run was clean (0 if none)."""
    failed = {lv.k for lv in levels if not lv.clean}
    return max((lv.k for lv in levels if lv.k not in failed), default=0)


@dataclass
class SingleCost:
    """One answer at a time, all its text at once: the server's cost per audio second."""

    cpu_rtf: list[float] = field(default_factory=list)
    wall_rtf: list[float] = field(default_factory=list)


async def single_stream_cost(url: str, pid: int, answers: Sequence[str]) -> SingleCost:
    """Each answer alone, all its text in one message: server CPU and wall time per audio s."""
    cost = SingleCost()
    for answer in answers:
        gate = StartGate(1)
        task = asyncio.create_task(run_stream(url, [(0.0, answer + " <flush>")], gate))
        await asyncio.wait_for(gate.all_ready.wait(), 3 * CONNECT_TIMEOUT_S)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        gate.go.set()
        res = await task
        if not res.eos or res.audio_secs <= 0:
            raise RuntimeError(f"single stream failed: {res.error}")
        cost.cpu_rtf.append((cpu_seconds(pid) - cpu0) / res.audio_secs)
        cost.wall_rtf.append((time.monotonic() - t0) / res.audio_secs)
    return cost


# --- servers ------------------------------------------------------------------------------


def shipped_server(log_dir: Path, max_streams: int):
    """The server exactly as the app starts it (``--max-connections`` raised if the ladder needs)."""
    from runtime.tts_server_process import LocalTTSServer

    server = LocalTTSServer(log_path=log_dir / "tts-server.log")
    if max_streams > 32:  # TTSServerSettings.max_connections
        server.cmd += ["--max-connections", str(max_streams + 4)]
    return server


@dataclass(frozen=True)
class Variant:
    """A server with some :class:`TTSServerSettings` changed (run by :func:`serve_child`)."""

    settings: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, **settings: Any) -> Variant:
        return cls(tuple(sorted(settings.items())))

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings) or "as shipped"


ONNX_DEFAULT = Variant.of(onnx_threads=0)  # onnxruntime's default pool: the server before the fix


def server_settings(changes: dict[str, Any], max_streams: int):
    """``TTSServerSettings`` for ``max_streams`` sockets with ``changes``; ValueError on a
    field it does not have."""
    from runtime.tts_server.settings import TTSServerSettings

    defaults = {f.name: f.default for f in dataclasses.fields(TTSServerSettings)}
    for name, value in changes.items():
        if name not in defaults:
            raise ValueError(f"TTSServerSettings has no field {name!r}")
        kind = type(defaults[name])
        if kind in (int, float, bool, str) and not isinstance(value, (int, float) if kind is float else kind):
            raise ValueError(f"TTSServerSettings.{name} must be {kind.__name__}, got {value!r}")
    return TTSServerSettings(**{"max_connections": max_streams + 4, **changes})


def variant_server(log_dir: Path, max_streams: int, variant: Variant):
    """The server's own code with ``variant``'s settings, in a child running :func:`serve_child`."""
    from runtime.child_process import ManagedProcess, free_port, tcp_ready

    server_settings(dict(variant.settings), max_streams)  # a bad field fails here, not in the child
    port = free_port()
    cmd = [sys.executable, "-m", "bench.tts_capacity_bench", "--serve-child", str(port),
           "--max-streams", str(max_streams), "--settings-json", json.dumps(dict(variant.settings))]
    server = ManagedProcess("tts-server-variant", cmd, log_path=log_dir / "tts-variant.log",
                            ready=tcp_ready("127.0.0.1", port))
    server.url = f"ws://127.0.0.1:{port}/api/speech/tts"
    return server


def serve_child(port: int, max_streams: int, changes: dict[str, Any]) -> None:
    """Run :class:`runtime.tts_server.TTSServer` on 127.0.0.1:``port`` with ``changes`` to its
    settings, until SIGTERM."""
    from runtime.tts_server import TTSServer

    settings = server_settings(changes, max_streams)

    async def serve() -> None:
        async with TTSServer(port=port, settings=settings):
            await asyncio.Event().wait()  # until SIGTERM

    asyncio.run(serve())


# --- the benchmark ------------------------------------------------------------------------


@dataclass
class Run:
    """One server's results."""

    name: str
    cost: SingleCost
    levels: list[Level]
    ladder: list[int] = field(default_factory=list)  # the rungs it was to climb

    @property
    def capacity(self) -> int:
        return capacity(self.levels)

    @property
    def ideal(self) -> int:
        return math.floor(CORES / statistics.median(self.cost.cpu_rtf))

    @property
    def budget_cut(self) -> bool:
        """The time budget stopped the ladder before a failure or its top."""
        top = self.levels[-1].k if self.levels else 0
        return all(lv.clean for lv in self.levels) and top < max(self.ladder, default=0)

    def ttfa_ms(self, k: int) -> list[float]:
        return [s.ttfa_secs * 1000 for lv in self.levels if lv.k == k for s in lv.streams
                if s.ttfa_secs is not None]

    def cpu_per_audio_secs(self, k: int) -> list[float]:
        """Server CPU s per audio s of each run at K streams."""
        return [lv.cpu_per_audio_secs for lv in self.levels if lv.k == k]

    def first_failure(self) -> Level | None:
        return next((lv for lv in self.levels if not lv.clean), None)

    @property
    def other_cores(self) -> float:
        """Median CPU (cores) other processes used during the ladder."""
        return statistics.median([lv.other_cores for lv in self.levels]) if self.levels else 0.0

    @property
    def ideal_free(self) -> int:
        """The ideal capacity on the cores other processes left free."""
        return math.floor(max(0.0, CORES - self.other_cores) / statistics.median(self.cost.cpu_rtf))


async def measure(server, ladder: Sequence[int], repeats: int, answers: Sequence[str],
                  name: str, echo: bool, deadline: float = math.inf) -> Run:
    """Warm the server up, measure one stream's cost, then climb the ladder."""
    pid = server.pid
    await single_stream_cost(server.url, pid, answers[:1])  # warm-up (first inference allocates)
    cost = await single_stream_cost(server.url, pid, answers)
    if echo:
        print(f"{name}: 1 stream costs {statistics.median(cost.cpu_rtf):.3f} CPU s and "
              f"{statistics.median(cost.wall_rtf):.3f} wall s per audio s", file=sys.stderr, flush=True)
    levels = await run_ladder(server.url, pid, ladder, repeats, answers, echo, deadline)
    return Run(name, cost, levels, list(ladder))


def run_server(server, *args) -> Run:
    server.start()
    try:
        return asyncio.run(measure(server, *args))
    finally:
        server.stop()


def _loadavg() -> float:
    return os.getloadavg()[0]


def comparison_ladder(ladder: Sequence[int], shipped_capacity: int) -> list[int]:
    """The rungs up to the first one above ``shipped_capacity`` (enough to compare capacities)."""
    above = [k for k in ladder if k > shipped_capacity]
    return [k for k in ladder if k <= (above[0] if above else max(ladder))]


def make_records(shipped: Run, old: Run | None, load: float, quick: bool) -> list[dict]:
    """Capacity vs the ideal, TTFA at capacity vs 1 stream, cost per audio second, overload,
    the other processes' load, and (if measured) the same vs the onnx-default server."""
    cap = shipped.capacity
    fail = shipped.first_failure()
    recs = [
        record("tts_capacity_streams", "streams", cap, shipped.ideal, target=f">= {TARGET_STREAMS} streams",
               met=cap >= TARGET_STREAMS, runs=sum(lv.k for lv in shipped.levels),
               baseline=f"ideal from 1-stream real-time factor x {CORES} cores", cores=CORES,
               loadavg_before=round(load, 2), other_cores=round(shipped.other_cores, 2),
               ideal_on_free_cores=shipped.ideal_free, budget_cut=shipped.budget_cut,
               ladder_top=shipped.levels[-1].k if shipped.levels else 0, quick=quick),
        record("tts_capacity_ttfa_at_capacity", "ms", shipped.ttfa_ms(cap) or None, shipped.ttfa_ms(1) or None,
               baseline=f"1 stream (capacity: {cap} streams)"),
        record("tts_capacity_rtf_cpu", "CPU s/audio s", shipped.cost.cpu_rtf,
               baseline="none: 1 stream, whole answer at once, server CPU time"),
        record("tts_capacity_rtf_wall", "s/audio s", shipped.cost.wall_rtf,
               baseline="none: 1 stream, whole answer at once, wall time"),
        record("tts_capacity_other_load", "cores", [lv.other_cores for lv in shipped.levels], None,
               baseline="none: CPU used by other processes during the ladder"),
    ]
    if fail is not None:
        recs += [
            record("tts_capacity_server_cores_at_overload", "cores", round(fail.cores_used, 3), CORES, runs=1,
                   baseline=f"cores of the machine (at K={fail.k}, the first K with underruns)"),
            record("tts_capacity_underrun_at_overload", "ms", [s.underruns.total_secs * 1000 for s in fail.streams],
                   baseline=f"none: per stream at K={fail.k}; "
                            f"{sum(not s.clean for s in fail.streams)}/{fail.k} streams stalled"),
        ]
    if old is not None:
        recs += comparison_records(shipped, old)
    return recs


def comparison_records(shipped: Run, old: Run) -> list[dict]:
    """Shipped vs the onnx-default server of the same run: capacity, TTFA at the K both served
    cleanly, CPU per audio second alone and at the largest K both ran."""
    was = f"same run, server with TTSServerSettings({ONNX_DEFAULT}) (onnxruntime's default pool)"
    both_clean = min(shipped.capacity, old.capacity)
    both_ran = max({lv.k for lv in shipped.levels} & {lv.k for lv in old.levels}, default=None)
    recs = [
        record("tts_capacity_streams_vs_onnx_default", "streams", shipped.capacity, old.capacity,
               runs=sum(lv.k for lv in old.levels), baseline=was,
               onnx_default_ideal=old.ideal, onnx_default_ideal_on_free_cores=old.ideal_free,
               onnx_default_other_cores=round(old.other_cores, 2), onnx_default_budget_cut=old.budget_cut,
               onnx_default_ladder_top=old.levels[-1].k if old.levels else None),
        record("tts_capacity_ttfa_at_capacity_vs_onnx_default", "ms",
               shipped.ttfa_ms(both_clean) or None, old.ttfa_ms(both_clean) or None,
               baseline=f"{was}; at K={both_clean}, the largest K both served without underrun"),
        record("tts_capacity_rtf_cpu_vs_onnx_default", "CPU s/audio s", shipped.cost.cpu_rtf, old.cost.cpu_rtf,
               baseline=f"{was}; 1 stream, whole answer at once"),
    ]
    if both_ran is not None:
        recs.append(record("tts_capacity_rtf_cpu_loaded_vs_onnx_default", "CPU s/audio s",
                           shipped.cpu_per_audio_secs(both_ran), old.cpu_per_audio_secs(both_ran),
                           baseline=f"{was}; K={both_ran} streams at once, per run"))
    return recs


def bench_records(quick: bool = False, max_streams: int | None = None, echo: bool = False) -> list[dict]:
    """Run the bench and return its records (see :func:`make_records`). A full run then
    measures the onnx-default server up to the rung above the shipped capacity, if the
    budget allows."""
    ladder = [k for k in (QUICK_LADDER if quick else LADDER) if k <= (max_streams or max(LADDER))]
    repeats, answers = (QUICK_REPEATS, QUICK_ANSWERS) if quick else (REPEATS, ANSWERS)
    load, start = _loadavg(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tts-capacity-") as tmp:
        shipped = run_server(shipped_server(Path(tmp), max(ladder)), ladder, repeats, answers, "shipped",
                             echo, start + SHIPPED_BUDGET_S)
        old = None
        if not quick and time.monotonic() - start < COMPARE_START_BY_S:
            old = run_server(variant_server(Path(tmp), max(ladder), ONNX_DEFAULT),
                             comparison_ladder(ladder, shipped.capacity), repeats, answers,
                             f"onnx default ({ONNX_DEFAULT})", echo, start + RUN_BUDGET_S)
        elif not quick:
            logger.warning("tts capacity: no time left for the onnx-default comparison")
    return make_records(shipped, old, load, quick)


def variant_records(variant: Variant, max_streams: int | None = None, echo: bool = True) -> list[dict]:
    """Only one changed server, over the whole ladder: its capacity vs its own ideal."""
    ladder = [k for k in LADDER if k <= (max_streams or max(LADDER))]
    load = _loadavg()
    with tempfile.TemporaryDirectory(prefix="tts-capacity-") as tmp:
        run = run_server(variant_server(Path(tmp), max(ladder), variant), ladder, REPEATS, ANSWERS,
                         str(variant), echo, time.monotonic() + RUN_BUDGET_S)
    return [
        record("tts_capacity_streams_variant", "streams", run.capacity, run.ideal,
               target=f">= {TARGET_STREAMS} streams", met=run.capacity >= TARGET_STREAMS,
               baseline=f"ideal from 1-stream real-time factor x {CORES} cores; {variant}",
               loadavg_before=round(load, 2), other_cores=round(run.other_cores, 2),
               ideal_on_free_cores=run.ideal_free, budget_cut=run.budget_cut),
        record("tts_capacity_ttfa_at_capacity_variant", "ms", run.ttfa_ms(run.capacity) or None,
               run.ttfa_ms(1) or None, baseline=f"1 stream; {variant}"),
        record("tts_capacity_rtf_cpu_variant", "CPU s/audio s", run.cost.cpu_rtf, baseline=f"none; {variant}"),
        record("tts_capacity_other_load_variant", "cores", [lv.other_cores for lv in run.levels],
               baseline="none: CPU used by other processes during the ladder"),
    ]


def _setting(text: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` (VALUE as JSON when it parses, else a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table (or JSON records); exit 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ladder 1, 2 with a short answer (harness check)")
    parser.add_argument("--max-streams", type=int, default=None, help=f"top of the ladder (default {max(LADDER)})")
    parser.add_argument("--onnx-threads", type=int, default=None,
                        help="measure only a server with this many onnxruntime threads per inference "
                             "(0: onnxruntime's default pool)")
    parser.add_argument("--workers", type=int, default=None,
                        help="measure only a server with this many synthesis workers")
    parser.add_argument("--set", type=_setting, action="append", default=[], metavar="FIELD=VALUE",
                        help="measure only a server with this TTSServerSettings field changed (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--serve-child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--settings-json", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_streams is not None and args.max_streams < 1:
        print(f"error: --max-streams must be >= 1, got {args.max_streams}", file=sys.stderr)
        return 1
    if (args.onnx_threads is not None and args.onnx_threads < 0) or (args.workers is not None and args.workers < 1):
        print("error: --onnx-threads must be >= 0 and --workers >= 1", file=sys.stderr)
        return 1
    changes = dict(args.set)
    if args.onnx_threads is not None:
        changes["onnx_threads"] = args.onnx_threads
    if args.workers is not None:
        changes["synthesis_workers"] = args.workers
    try:
        if args.serve_child is not None:
            serve_child(args.serve_child, args.max_streams or max(LADDER), json.loads(args.settings_json))
            return 0
        server_settings(changes, 1)
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    quiet_logs()
    if changes:
        records = variant_records(Variant.of(**changes), args.max_streams)
    else:
        records = bench_records(quick=args.quick, max_streams=args.max_streams, echo=True)
    return report(records, args.json)


if __name__ == "__main__":
    sys.exit(main())
