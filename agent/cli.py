"""``voice-agent``: the command line. Errors are one clear line, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from loguru import logger

from processors.gradium.protocol import LOCAL_SERVER_PORT


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    logger.remove()
    level = "DEBUG" if verbose else ("WARNING" if quiet else os.environ.get("VOICE_AGENT_LOG", "INFO"))

    def ours_or_important(record) -> bool:  # pipecat's own INFO chatter only with -v
        return verbose or record["level"].no >= 30 or record["name"].split(".")[0] in ("agent", "pipelines", "runtime", "processors")

    logger.add(sys.stderr, level=level, filter=ours_or_important,
               format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}")


def cmd_run(args: argparse.Namespace) -> int:
    from agent.app import run

    console = _wants_console(args)
    if console:
        _setup_logging(args.verbose, quiet=True)  # the live view replaces the log on screen
    run(args.pipeline, input_device=args.input_device, output_device=args.output_device,
        run_dir=Path(args.run_dir) if args.run_dir else None, console=console)
    return 0


def _wants_console(args: argparse.Namespace) -> bool:
    if args.console == "auto":
        return sys.stdout.isatty()
    return args.console == "on"


def cmd_serve(args: argparse.Namespace) -> int:
    from agent.serve.server import serve

    serve(args.pipeline, host=args.host, port=args.port, max_calls=args.max_calls, runs_dir=Path(args.runs_dir))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from runtime.transports.local_audio import list_devices

    devices, default_in, default_out = list_devices()
    if not devices:
        print("no audio devices found (no sound card, or PortAudio sees none); use --pipeline file")
        return 0
    print(f"{'index':>5}  {'in':>3}  {'out':>3}  {'rate':>7}  name")
    for d in devices:
        mark = " (default in)" if d.index == default_in else ""
        mark += " (default out)" if d.index == default_out else ""
        print(f"{d.index:>5}  {d.inputs:>3}  {d.outputs:>3}  {d.default_rate:>7.0f}  {d.name}{mark}")
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from agent.say import say

    with tempfile.TemporaryDirectory(prefix="voice-agent-say-") as tmp:
        out = asyncio.run(say(args.text, pipeline=args.pipeline, out=Path(args.out) if args.out else None, run_dir=Path(tmp)))
    if out:
        print(f"wrote {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.app import new_run_dir
    from agent.demo import run_demo

    run_dir = run_demo(Path(args.run_dir) if args.run_dir else new_run_dir(name="demo"))
    print((run_dir / "report.md").read_text())
    print(f"demo written to {run_dir}/ (bot.wav, transcript.jsonl, metrics.jsonl, report.md, waterfall.png)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from agent.report import write_report

    md, png = write_report(Path(args.run_dir))
    print(md.read_text())
    print(f"wrote {md} and {png}")
    return 0


def cmd_tts_server(args: argparse.Namespace) -> int:
    from runtime.tts_server.__main__ import main as server_main

    argv = ["--host", args.host, "--port", str(args.port)]
    if args.api_key:
        argv += ["--api-key", args.api_key]
    return server_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-agent", description="A realtime voice agent you can interrupt; offline by default.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="talk to the agent (mic/speakers; WAV sample conversation without a sound card)")
    p.add_argument("--pipeline", default="laptop", help="pipeline name in pipelines/ or a path to a .toml (default: laptop)")
    p.add_argument("--input-device", type=int, help="PyAudio input device index (see `voice-agent devices`)")
    p.add_argument("--output-device", type=int, help="PyAudio output device index")
    p.add_argument("--run-dir", help="where to write audio, transcript and logs (default: runs/<time>-<pipeline>)")
    p.add_argument("--console", choices=("auto", "on", "off"), default="auto",
                   help="live console view (default: on when stdout is a terminal)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="talk to the agent from a browser: http://127.0.0.1:7860/client (WebRTC)")
    p.add_argument("--pipeline", default="browser", help="pipeline name or .toml; its [transport] becomes webrtc (default: browser)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need HTTPS for the mic)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-calls", type=int, default=1,
                   help="calls at once; more are refused with a clear message (default 1: the local LLM and TTS are shared)")
    p.add_argument("--runs-dir", default="runs", help="where each call's run folder goes (default: runs/)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("devices", help="list audio input/output devices with their indexes")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("say", help="speak TEXT with the pipeline's TTS (to the speaker, or a WAV with --out)")
    p.add_argument("text", help="what to say")
    p.add_argument("--out", help="write a WAV file instead of playing")
    p.add_argument("--pipeline", default="laptop", help="whose [tts] to use (default: laptop)")
    p.set_defaults(func=cmd_say)

    p = sub.add_parser("demo", help="the bundled conversation with a barge-in, written to runs/<id>/")
    p.add_argument("--run-dir", help="where to write it (default: runs/<time>-demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("report", help="latency table (markdown) and waterfall PNG of a run folder")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder under runs/")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("tts-server", help="run the local Gradium-compatible TTS server")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=LOCAL_SERVER_PORT,
                   help=f"port (default {LOCAL_SERVER_PORT}; 0 = any free port)")
    p.add_argument("--api-key", help="require this x-api-key (default: $TTS_SERVER_API_KEY, or none)")
    p.set_defaults(func=cmd_tts_server)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from runtime.child_process import ChildProcessError
    from pipelines.config import ConfigError
    from runtime.models import ModelNotFoundError
    from runtime.sample_conversation import SampleAudioError
    from agent.report import ReportError
    from runtime.transports.local_audio import NoAudioDeviceError
    from agent.serve.server import ServeError

    try:
        return args.func(args)
    except (ConfigError, ModelNotFoundError, NoAudioDeviceError, ChildProcessError, ReportError,
            SampleAudioError, ServeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
