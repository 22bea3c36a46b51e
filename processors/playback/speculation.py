"""A speculative answer synthesized while the user's turn is still open, held at playback.

pipecat's LLM service holds a speculative response (an answer started on the transcript before
the turn end is confirmed) in its :class:`~pipecat.turns.speculation_gate.SpeculationGate`
until the turn ends. The TTS therefore starts only at the turn end, and its first audio
(~0.17 s with Piper) is on the voice-to-voice path of every turn.

:func:`stream_speculative_answers` gives the LLM a :class:`StreamingSpeculationGate` instead:
the response goes on at once, the phrase aggregator and the TTS turn it into audio, and the
:class:`~processors.playback.gate.PlaybackGate` (``hold_in_user_turn``) holds that audio until
the turn ends. When the speculation is withdrawn (the user went on, or the final transcript
differs), the LLM still stops generating (pipecat's own handling), and the gate follows the
withdrawal with an ``InterruptionFrame`` downstream, so the phrase aggregator, the TTS (which
closes its socket: the server stops synthesizing) and the playback gate drop the answer.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    SystemFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.turns.speculation_gate import GatedFrame, SpeculationGate


class StreamingSpeculationGate(SpeculationGate):
    """pipecat's gate that holds nothing: it keeps track of the speculation (so the LLM stops a
    withdrawn one) and lets the response through; a withdrawal after some of it went out is
    followed by an ``InterruptionFrame``."""

    def __init__(self, *, name: str = "StreamingSpeculationGate"):
        super().__init__(name=name)
        self._streamed = False  # frames of the current speculative response went downstream

    @property
    def streamed(self) -> bool:
        """Frames of the current speculative response went downstream."""
        return self._streamed

    def process(self, frame: Frame, direction: FrameDirection) -> list[GatedFrame]:
        if direction != FrameDirection.DOWNSTREAM:
            return [(frame, direction)]
        if isinstance(frame, (SystemFrame, EndFrame)):
            streamed = self._streamed
            emitted = super().process(frame, direction)  # the verdicts; nothing is held to release
            if isinstance(frame, (EagerEndOfTurnCancelFrame, InterruptionFrame, UserStoppedSpeakingFrame)):
                self._streamed = False
            if isinstance(frame, EagerEndOfTurnCancelFrame) and streamed:
                emitted.append((InterruptionFrame(), direction))
            return emitted
        if self.is_speculating:
            self._streamed = True
        return [(frame, direction)]


def stream_speculative_answers(llm: Any) -> None:
    """Let ``llm`` (a pipecat ``LLMService``) stream speculative answers; a ``PlaybackGate``
    with ``hold_in_user_turn`` must be downstream of it to hold them."""
    if not isinstance(getattr(llm, "_speculation_gate", None), SpeculationGate):
        raise TypeError(f"{llm} has no pipecat SpeculationGate to replace (pipecat changed?)")
    llm._speculation_gate = StreamingSpeculationGate(name=f"{llm}::StreamingSpeculationGate")
