"""A cancelled request stops the Piper sentence in flight, not only the next one."""

from __future__ import annotations

import threading
import time

LONG = ("This is a long sentence that keeps going for quite a while, so that Piper needs a good "
        "fraction of a second to synthesize it on a small machine, which is what we cancel here.")


def test_terminate_stops_the_inference_in_flight():
    from runtime.tts_server.synthesis import PiperSynthesizer, RunControl

    synth = PiperSynthesizer()
    synth.load()
    started = time.perf_counter()
    whole = list(synth.iter_segment(LONG))
    full_secs = time.perf_counter() - started
    assert whole and whole[0].duration_secs > 3.0

    control = RunControl()
    out: list = []
    worker = threading.Thread(target=lambda: out.extend(synth.iter_segment(LONG, control=control)))
    started = time.perf_counter()
    worker.start()
    time.sleep(min(0.05, full_secs / 4))
    control.terminate()
    worker.join(10)
    assert out == []  # no audio of the sentence nobody will hear
    assert time.perf_counter() - started < max(0.5 * full_secs, 0.1) + 0.1


def test_a_terminated_control_synthesizes_nothing_more():
    from runtime.tts_server.synthesis import PiperSynthesizer, RunControl

    control = RunControl()
    control.terminate()
    assert list(PiperSynthesizer().iter_segment("Hello there.", control=control)) == []
