"""Run the web app with uvicorn: checks first, one line per problem, a notice about HTTPS."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from pipelines.builder import load_config


class ServeError(RuntimeError):
    """A problem starting the server, in one line."""


def is_loopback(host: str) -> bool:
    """``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def https_notice(host: str, port: int) -> str | None:
    """What to tell someone who binds beyond loopback (browsers give the mic only to HTTPS pages)."""
    if is_loopback(host):
        return None
    return (f"note: {host} is reachable from other machines, but browsers allow the microphone only on "
            f"https:// pages or http://localhost; from elsewhere, serve it behind HTTPS (a TLS reverse proxy) "
            f"or use an SSH tunnel (ssh -L {port}:127.0.0.1:{port} ...)")


def check_port(host: str, port: int) -> None:
    """Raise :class:`ServeError` if ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e} (pick another --port)") from None


def serve(pipeline: str | Path, *, host: str = "127.0.0.1", port: int = 7860, max_calls: int = 1,
          runs_dir: Path = Path("runs")) -> None:
    """Serve the page and one pipeline per call until Ctrl-C / SIGTERM (blocking).

    Raises :class:`~runtime.supervision.ChildServerFailed` if a shared server failed for good
    (the calls and the other servers are stopped first; the CLI prints it as one line, exit 2).
    """
    import uvicorn

    from agent.serve.app import ServeSettings, create_app

    if max_calls < 1:
        raise ServeError(f"--max-calls must be at least 1, got {max_calls}")
    load_config(pipeline)  # a bad config is one error line before anything starts
    check_port(host, port)
    if notice := https_notice(host, port):
        print(notice, flush=True)
    server: uvicorn.Server | None = None

    def stop(_error) -> None:  # a shared server failed for good: shut down as on Ctrl-C
        if server is not None:
            server.should_exit = True

    app = create_app(ServeSettings(pipeline=pipeline, runs_dir=runs_dir, max_calls=max_calls), on_failure=stop)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    shown = f"[{host}]" if ":" in host else host
    print(f"voice-agent serve: open http://{shown}:{port}/client (models load first; Ctrl-C to stop)", flush=True)
    server.run()
    if app.state.failure is not None:
        raise app.state.failure
