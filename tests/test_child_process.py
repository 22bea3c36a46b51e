"""Child servers: readiness, log file, clear start-up errors, and never an orphan."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from runtime.child_process import ChildProcessError, ManagedProcess, free_port, tcp_ready
from testing.processes import alive, wait_gone


def http_server_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_starts_when_ready_logs_to_file_and_stops(tmp_path):
    port = free_port()
    proc = ManagedProcess("http", http_server_cmd(port), log_path=tmp_path / "http.log", ready=tcp_ready("127.0.0.1", port))
    with proc:
        assert proc.running and tcp_ready("127.0.0.1", port)()
        pid = proc.pid
    assert wait_gone(pid)
    assert not tcp_ready("127.0.0.1", port)()
    assert (tmp_path / "http.log").exists()


def test_exit_during_startup_reports_log_tail(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('model file is corrupt'); sys.exit(3)"]
    proc = ManagedProcess("broken", cmd, log_path=tmp_path / "b.log", ready=lambda: False)
    with pytest.raises(ChildProcessError, match="model file is corrupt"):
        proc.start()
    assert not proc.running


def test_not_ready_in_time_is_stopped(tmp_path):
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = ManagedProcess("slow", cmd, log_path=tmp_path / "s.log", ready=lambda: False, ready_timeout=0.5)
    with pytest.raises(ChildProcessError, match="not ready after"):
        proc.start()
    assert not proc.running


@pytest.mark.parametrize("how", ["exception", "sigint", "sigterm", "sigkill"])
def test_child_never_outlives_parent(tmp_path, how):
    """The parent dies in four ways; its child server must be gone each time."""
    port = free_port()
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from pathlib import Path
        from runtime.child_process import ManagedProcess, tcp_ready
        # Ctrl-C raises KeyboardInterrupt even where this test runs in the background (a shell
        # starts background jobs with SIGINT ignored, and the ignoring is inherited).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        proc = ManagedProcess("http", {http_server_cmd(port)!r}, log_path=Path({str(tmp_path / 'c.log')!r}),
                              ready=tcp_ready("127.0.0.1", {port}))
        try:
            proc.start()
            print(proc.pid, flush=True)
            sys.stdin.readline()  # the test has seen the child alive
            if {how!r} == "exception":
                raise RuntimeError("boom")
            print("armed", flush=True)  # the signal comes now, not during the read above
            time.sleep(60)
        finally:
            proc.stop()
    """)
    err_path = tmp_path / "parent.err"
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=err_path.open("w"), text=True)
    child_pid = int(parent.stdout.readline())
    assert alive(child_pid)
    parent.stdin.write("go\n")
    parent.stdin.flush()
    if how != "exception":
        assert parent.stdout.readline().strip() == "armed"
        parent.send_signal({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[how])
    try:
        parent.wait(timeout=15)
    except subprocess.TimeoutExpired:
        status = " ".join(line.strip() for line in open(f"/proc/{parent.pid}/status")
                          if line.startswith(("SigBlk", "SigIgn", "SigCgt", "State")))
        parent.kill()
        pytest.fail(f"the parent did not exit on {how} within 15 s ({status}); its stderr: "
                    f"{err_path.read_text()[-1500:]!r}")
    assert wait_gone(child_pid), f"child {child_pid} outlived its parent ({how})"
