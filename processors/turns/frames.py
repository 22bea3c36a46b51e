"""Frames of the user-turn strategies.

``UserTurnMergedFrame`` goes upstream from
:class:`~processors.turns.transcript_aware.TranscriptAwareTurnStopStrategy` to the STT when a
turn that was closed too early is reopened: the user went on before the answer was heard, so
the new speech continues the previous turn (one turn, one transcript).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame


@dataclass
class UserTurnMergedFrame(SystemFrame):
    """Strategy → STT: the current user turn continues the previous one.

    Parameters:
        text: The previous turn's transcript (now the start of this turn's).
    """

    text: str = ""
