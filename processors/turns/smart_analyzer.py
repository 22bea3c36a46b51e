"""Smart Turn v3 that keeps the whole turn's audio until the turn really ends.

pipecat's ``BaseSmartTurn.analyze_end_of_turn`` drops its buffered speech as soon as the model
says "complete". :class:`~processors.turns.transcript_aware.TranscriptAwareTurnStopStrategy`
may still wait after such a verdict (the transcript says otherwise), and if the user goes on,
the next verdict must hear the whole sentence, not only its continuation. So here the buffer is
only dropped by :meth:`clear` (at the end of the turn), and the verdict comes back as the
model's probability.
"""

from __future__ import annotations

import asyncio

from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.metrics.metrics import MetricsData, TurnMetricsData


class TurnSmartAnalyzer(LocalSmartTurnAnalyzerV3):
    """The bundled Smart Turn v3 model; :meth:`probability` keeps the buffer."""

    def __init__(self, *, cpu_count: int = 1, max_silence_secs: float = 30.0, **kwargs):
        """Args:
        cpu_count: ONNX Runtime threads for one inference.
        max_silence_secs: The base class ends a turn itself after this much silence; set
            high, since the strategy's own waits are shorter.
        """
        super().__init__(cpu_count=cpu_count, params=SmartTurnParams(stop_secs=max_silence_secs), **kwargs)

    async def probability(self) -> tuple[float | None, MetricsData | None]:
        """Probability (0..1) that the speech so far is a finished turn; None without audio."""
        loop = asyncio.get_running_loop()
        state, metrics = await loop.run_in_executor(
            self._model_executor, self._process_speech_segment, list(self._audio_buffer)
        )
        if isinstance(metrics, TurnMetricsData):
            return metrics.probability, metrics
        return (1.0 if state == EndOfTurnState.COMPLETE else None), metrics
