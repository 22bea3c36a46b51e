"""Frames the interruption handler, the playback gate and the turn strategies exchange.

All are system frames: they overtake queued data so a pause reaches the gate at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame


@dataclass
class PlaybackPauseFrame(SystemFrame):
    """Handler → gate: stop releasing the bot's audio now, keep what is buffered.

    Parameters:
        onset_time: ``time.monotonic()`` of the user speech onset that caused the pause.
    """

    onset_time: float = 0.0


@dataclass
class PlaybackResumeFrame(SystemFrame):
    """Handler → gate: the speech was not an interruption; play on from where it paused."""


@dataclass
class PlaybackStateFrame(SystemFrame):
    """Gate → upstream: what the bot's output is doing.

    Parameters:
        busy: A response is on its way or playing (LLM started, audio queued or audible).
        paused: Playback is paused.
        silent_at: When paused, ``time.monotonic()`` at which the last released audio has
            finished playing (the output is silent from then on).
    """

    busy: bool = False
    paused: bool = False
    silent_at: float | None = None


@dataclass
class UserSpeechPendingFrame(SystemFrame):
    """Handler → turn strategy: user speech over the bot, not yet confirmed as a turn."""


@dataclass
class UserSpeechRejectedFrame(SystemFrame):
    """Handler → turn strategy: that speech was not an interruption; forget its transcript."""


@dataclass
class UserWordsFrame(SystemFrame):
    """Turn strategy → handler (upstream): a transcript of the user's speech.

    Parameters:
        text: The transcript.
        final: A final transcript (not an interim one).
    """

    text: str = ""
    final: bool = True
