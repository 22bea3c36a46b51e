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
from typing import Any

from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.metrics.metrics import MetricsData, TurnMetricsData
from pipecat.utils.env import env_truthy


def load_smart_turn_session(cpu_count: int = 1) -> Any:
    """The bundled Smart Turn v3 model as an ONNX Runtime session (pipecat's session options).

    Safe to share between analyzers (ONNX Runtime runs concurrent ``run`` calls on one
    session); the turn's audio buffer stays in each analyzer.
    """
    return LocalSmartTurnAnalyzerV3(cpu_count=cpu_count)._session


class TurnSmartAnalyzer(LocalSmartTurnAnalyzerV3):
    """The bundled Smart Turn v3 model; :meth:`probability` keeps the buffer."""

    def __init__(self, *, cpu_count: int = 1, max_silence_secs: float = 30.0, session: Any = None, **kwargs):
        """Args:
        cpu_count: ONNX Runtime threads for one inference.
        max_silence_secs: The base class ends a turn itself after this much silence; set
            high, since the strategy's own waits are shorter.
        session: A session from :func:`load_smart_turn_session` to use instead of loading the
            model (``voice-agent serve`` loads it once for every call).
        """
        params = SmartTurnParams(stop_secs=max_silence_secs)
        if session is None:
            super().__init__(cpu_count=cpu_count, params=params, **kwargs)
        else:  # LocalSmartTurnAnalyzerV3.__init__ without its model load (a test checks the fields)
            BaseSmartTurn.__init__(self, params=params, **kwargs)
            self._log_data = env_truthy("PIPECAT_SMART_TURN_LOG_DATA", default=False)
            self._session = session

    async def probability(self) -> tuple[float | None, MetricsData | None]:
        """Probability (0..1) that the speech so far is a finished turn; None without audio."""
        loop = asyncio.get_running_loop()
        state, metrics = await loop.run_in_executor(
            self._model_executor, self._process_speech_segment, list(self._audio_buffer)
        )
        if isinstance(metrics, TurnMetricsData):
            return metrics.probability, metrics
        return (1.0 if state == EndOfTurnState.COMPLETE else None), metrics
