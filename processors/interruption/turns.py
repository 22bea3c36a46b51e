"""User-turn strategies for a pipeline with an :class:`InterruptionHandler`.

The handler alone decides when user speech opens a turn (and interrupts the bot): the
aggregator's stock VAD/transcription start strategies, which interrupt on every VAD start,
are replaced by :class:`HandlerUserTurnStartStrategy`. It also reports transcripts back to the
handler (words can confirm an interruption) and drops transcripts of rejected speech.
"""

from __future__ import annotations

from collections import deque

from pipecat.frames.frames import (
    Frame,
    InterimTranscriptionFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from processors.interruption.frames import UserSpeechPendingFrame, UserSpeechRejectedFrame, UserWordsFrame


class HandlerUserTurnStartStrategy(BaseUserTurnStartStrategy):
    """Opens a turn only on the handler's proposal; never interrupts by itself.

    The transcript of an STT segment (VAD start → stop) that began outside a turn and outside
    speech the handler is judging (the bot's own echo, speech that was let go) is dropped from
    the aggregation, so it cannot be prepended to the user's next real turn. Segmented STT
    transcribes segments in order, so each final transcript belongs to the oldest open one.
    """

    def __init__(self, **kwargs):
        super().__init__(enable_interruptions=False, **kwargs)
        self._turn_active = False
        self._pending = False
        self._segments: deque[bool] = deque()

    @property
    def resolves_proposed_turn_start_frames(self) -> bool:
        return True

    async def handle_user_turn_started(self):
        self._turn_active = True
        self._pending = False

    async def handle_user_turn_stopped(self):
        self._turn_active = False

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, ProposedUserStartedSpeakingFrame):
            await self.trigger_user_turn_started(enable_interruptions=False)
            return ProcessFrameResult.STOP
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._segments.append(self._turn_active or self._pending)
        elif isinstance(frame, UserSpeechPendingFrame):
            self._pending = True
        elif isinstance(frame, UserSpeechRejectedFrame):
            self._pending = False
            self._segments = deque(False for _ in self._segments)
            if not self._turn_active:
                await self.trigger_reset_aggregation()
        elif isinstance(frame, (TranscriptionFrame, InterimTranscriptionFrame)):
            final = isinstance(frame, TranscriptionFrame)
            await self.push_frame(UserWordsFrame(text=frame.text, final=final), FrameDirection.UPSTREAM)
            if final:
                keep = self._segments.popleft() if self._segments else (self._turn_active or self._pending)
                if not keep:
                    # The aggregator has already added it; nothing of this turn precedes it.
                    await self.trigger_reset_aggregation()
        return ProcessFrameResult.CONTINUE


class HandlerUserTurnStopStrategy(BaseUserTurnStopStrategy):
    """Ends the turn when the handler proposes it (speech confirmed after it had ended)."""

    @property
    def resolves_proposed_turn_stop_frames(self) -> bool:
        return True

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, ProposedUserStoppedSpeakingFrame):
            await self.trigger_user_turn_stopped()
            return ProcessFrameResult.STOP
        return ProcessFrameResult.CONTINUE


def handler_turn_strategies(strategies: UserTurnStrategies | None = None) -> UserTurnStrategies:
    """``strategies`` (or pipecat's defaults) with turn starts left to the handler.

    The stop strategies are kept (smart-turn, speech timeout, ...) and the handler's stop
    proposal is added after them.
    """
    stop = list((strategies or UserTurnStrategies()).stop or [])
    return UserTurnStrategies(start=[HandlerUserTurnStartStrategy()], stop=[*stop, HandlerUserTurnStopStrategy()])
