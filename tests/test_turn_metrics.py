"""``TurnMetricsObserver``'s interruption record and state, frame by frame (no pipeline; < 0.1 s)."""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    UserStartedSpeakingFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection

from agent.turn_metrics import TurnMetricsObserver
from processors.interruption.frames import PlaybackPauseFrame, PlaybackStateFrame


async def _push(observer: TurnMetricsObserver, frame) -> None:
    await observer.on_push_frame(FramePushed(source=None, destination=None, frame=frame,
                                             direction=FrameDirection.DOWNSTREAM, timestamp=0))


async def test_a_confirmation_after_the_paused_bot_went_quiet_is_still_an_interruption():
    """The handler pauses at the onset; the output goes silent and the transport ends the bot's
    speaking; the confirmation comes 1 s after the onset. (Seen in a browser barge-in: the page
    never showed the answer as interrupted, since the interruption was dropped.)"""
    observer, states = TurnMetricsObserver(), []
    observer.state_listeners.append(states.append)
    await _push(observer, VADUserStartedSpeakingFrame(start_secs=0.2, timestamp=time.time()))
    await _push(observer, UserStartedSpeakingFrame())
    await _push(observer, BotStartedSpeakingFrame())
    onset = time.monotonic()
    await _push(observer, PlaybackPauseFrame(onset_time=onset))
    await _push(observer, PlaybackStateFrame(busy=True, paused=True, silent_at=onset + 0.05))
    await _push(observer, BotStoppedSpeakingFrame())  # the paused output's silence
    await _push(observer, InterruptionFrame())  # confirmed
    (record,) = observer._current.interruptions
    assert record["onset_to_silence_ms"] == 50.0
    assert states[-1] == "interrupted"
