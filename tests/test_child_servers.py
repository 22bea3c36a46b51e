"""``ChildServers`` supervision with small real child processes (Python's HTTP server; nothing of
the process layer is mocked): restart after an exit on the same port with the backoff, a hung
child killed and restarted, give-up after ``max_quick_failures`` ending what ``supervise`` runs.
The same over the real LLM and TTS servers in a whole run: test_supervision.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pipelines.builder import load_config, supervision_of
from pipelines.config import ConfigError
from runtime.child_process import ManagedProcess, free_port, http_ok
from runtime.children import ChildEvent, ChildServers
from runtime.supervision import ChildServerFailed, SupervisionSettings
from testing.frames import wait_until
from testing.processes import alive, pids_running, wait_gone

FAST = SupervisionSettings(backoff_min_secs=0.2, backoff_max_secs=0.4, health_interval_secs=0.2,
                           health_timeout_secs=0.5, hang_timeout_secs=1.0, exit_poll_secs=0.05)


def http_child(tmp_path: Path, *, fail_if: Path | None = None) -> ManagedProcess:
    """An HTTP server child on a fixed port; with ``fail_if``, it exits 3 at start while that file exists."""
    port = free_port()
    serve = f"import runpy, sys; sys.argv = ['http.server', '{port}', '--bind', '127.0.0.1', '--directory', {str(tmp_path)!r}]; runpy.run_module('http.server', run_name='__main__')"
    if fail_if is not None:
        serve = f"import os, sys\nif os.path.exists({str(fail_if)!r}): print('cannot start: flag set', flush=True); sys.exit(3)\n{serve}"
    probe = http_ok(f"http://127.0.0.1:{port}/", timeout=0.3)
    child = ManagedProcess("http-server", [sys.executable, "-c", serve], log_path=tmp_path / "http-server.log",
                           ready=probe, ready_timeout=10)
    child.port = port
    return child


def test_an_exited_child_is_restarted_on_its_port_with_events(tmp_path):
    async def scenario():
        child = http_child(tmp_path)
        events: list[ChildEvent] = []
        async with ChildServers([child], FAST) as children:
            children.listeners.append(events.append)
            for n in (1, 2):
                old = child.pid
                assert child.up and not await child.wait_until_up()  # up: a client goes on at once
                os.kill(old, signal.SIGKILL)
                await wait_until(lambda: not child.running, timeout=2)
                assert await child.wait_until_up() and child.up  # down: a client waits for the restart
                await wait_until(lambda: children.restarts["http-server"] == n, timeout=10)
                assert child.pid != old and alive(child.pid) and http_ok(f"http://127.0.0.1:{child.port}/")()
            pid = child.pid
        assert wait_gone(pid)
        return events

    events = asyncio.run(scenario())
    assert [e.kind for e in events] == ["down", "restarted", "down", "restarted"]
    assert "http-server exited (killed by SIGKILL) after" in events[0].message
    assert "restarting it in 0.2s (quick failure 1 of 3)" in events[0].message
    assert "restarting it in 0.4s (quick failure 2 of 3)" in events[2].message  # it had just restarted
    assert str(tmp_path / "http-server.log") in events[0].message


def test_a_hung_child_is_killed_and_restarted(tmp_path):
    async def scenario():
        child = http_child(tmp_path)
        async with ChildServers([child], FAST) as children:
            old = child.pid
            os.kill(old, signal.SIGSTOP)
            stopped = time.monotonic()
            try:
                await wait_until(lambda: children.restarts["http-server"] == 1, timeout=10)
            finally:
                if alive(old):
                    os.kill(old, signal.SIGKILL)
            took = time.monotonic() - stopped
            assert not alive(old) and alive(child.pid)
        return took

    took = asyncio.run(scenario())
    # hang bound (1 s) + a probe timeout + an interval, then a start: well under 5 s.
    assert FAST.hang_timeout_secs <= took < 5.0


def test_too_many_quick_failures_end_what_runs_with_one_error(tmp_path):
    flag = tmp_path / "broken"

    async def scenario():
        child = http_child(tmp_path, fail_if=flag)
        cancelled = asyncio.Event()

        async def pipeline():
            await asyncio.sleep(60)

        async def cancel():
            cancelled.set()
            task.cancel()

        async with ChildServers([child], FAST) as children:
            flag.touch()
            os.kill(child.pid, signal.SIGKILL)
            task = asyncio.ensure_future(pipeline())
            started = time.monotonic()
            with pytest.raises(ChildServerFailed) as failure:
                await children.supervise(task, cancel)
            took = time.monotonic() - started
            assert cancelled.is_set() and task.cancelled()
            assert not child.supervised and not await child.wait_until_up()  # clients stop waiting
        return str(failure.value), took, child

    message, took, child = asyncio.run(scenario())
    assert message.startswith("http-server failed 3 times in a row; last: restart failed: http-server exited "
                              "during start-up (exit status 3); last log line: 'cannot start: flag set'; see ")
    assert "\n" not in message
    assert took < 5.0  # backoffs 0.2 + 0.4 s and two quick start attempts
    assert not child.running


def test_a_stop_during_a_restart_leaves_nothing_running(tmp_path):
    async def scenario():
        child = http_child(tmp_path)
        children = ChildServers([child], SupervisionSettings(backoff_min_secs=0.05, exit_poll_secs=0.05))
        await children.start()
        first = child.pid
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0.3)  # the restart is under way (or done)
        await children.stop()
        return child

    child = asyncio.run(scenario())
    time.sleep(0.5)
    assert not child.running and child.pid is None
    assert not pids_running("http.server", f"'{child.port}'"), "a restarted child was left running"



def test_the_llm_client_waits_for_its_server_while_it_restarts(tmp_path):
    """The local [llm] service's ``wait_for_server`` (``ManagedProcess.wait_until_up``): a
    completion asked while the child is down starts only once it is back, with no error. The
    child here is a stand-in process; the answers come from the scripted OpenAI-compatible server."""
    from pipecat.frames.frames import LLMContextFrame, LLMFullResponseEndFrame
    from pipecat.processors.aggregators.llm_context import LLMContext

    from pipelines.components.llm import _openai_llm
    from testing.fake_openai_server import FakeOpenAIServer
    from testing.probe import PipelineProbe

    async def scenario():
        child = http_child(tmp_path)
        settings = SupervisionSettings(backoff_min_secs=1.0, exit_poll_secs=0.05)
        async with ChildServers([child], settings) as children, FakeOpenAIServer() as server:
            llm = _openai_llm(base_url=server.base_url, api_key="local-no-key", model="local", system_prompt="Be brief.",
                              temperature=0.0, max_tokens=20, developer_role=False, timeout_secs=5.0,
                              wait_for_server=child.wait_until_up)
            async with PipelineProbe(llm) as probe:
                os.kill(child.pid, signal.SIGKILL)
                await wait_until(lambda: not child.running, timeout=2)
                await probe.push(LLMContextFrame(LLMContext(messages=[{"role": "user", "content": "Hi."}])))
                await wait_until(lambda: children.restarts["http-server"] == 1, timeout=10)
                asked_after_restart = len(server.requests)
                await probe.down.wait_for(LLMFullResponseEndFrame, timeout=10)
                return asked_after_restart, len(server.requests), probe.errors()

    before, after, errors = asyncio.run(scenario())
    assert before == 0 and after == 1 and not errors  # held until the restart, then answered


def test_supervision_settings_come_from_the_config_with_one_line_errors(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text('[transport]\ntype = "wav"\n\n[supervision]\nmax_quick_failures = 5\nhang_timeout_secs = 4\n')
    settings = supervision_of(load_config(config))
    assert settings.max_quick_failures == 5 and settings.hang_timeout_secs == 4.0
    assert settings.backoff_secs(1) == 0.5 and settings.backoff_secs(3) == 2.0 and settings.backoff_secs(9) == 8.0
    config.write_text('[transport]\ntype = "wav"\n\n[supervision]\nmax_quick_failures = 0\n')
    with pytest.raises(ConfigError, match=r"supervision: max_quick_failures must be >= 1, got 0"):
        supervision_of(load_config(config))
    config.write_text('[transport]\ntype = "wav"\n\n[supervision]\nhang_timeout = 4\n')
    with pytest.raises(ConfigError, match=r"supervision.hang_timeout: unknown key"):
        supervision_of(load_config(config))


def test_the_console_shows_a_server_that_is_down_until_it_is_back():
    from rich.console import Console

    from agent.console import LiveConsole
    from agent.turn_metrics import TurnMetricsObserver

    console = Console(width=160, record=True, file=open(os.devnull, "w"))
    view = LiveConsole(TurnMetricsObserver(), "voice-agent", console=console)

    def shown() -> str:
        console.print(view.render())
        return console.export_text()

    view.on_child_event(ChildEvent("tts-server", "down", "tts-server exited (killed by SIGKILL) after 9.0s up; ..."))
    text = shown()
    assert "tts-server down, restarting" in text and "exited (killed by SIGKILL)" in text
    view.on_child_event(ChildEvent("tts-server", "restarted", "tts-server restarted (pid 7), 2.1s after it went down"))
    header = shown().splitlines()
    assert not any("down, restarting" in line for line in header[:3])
