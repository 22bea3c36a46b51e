"""Frames of the user-turn strategies and the STT that feeds them.

``UserTurnMergedFrame`` goes upstream from
:class:`~processors.turns.transcript_aware.TranscriptAwareTurnStopStrategy` to the STT when a
turn that was closed too early is reopened: the user went on before the answer was heard, so
the new speech continues the previous turn (one turn, one transcript).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame, TranscriptionFrame


@dataclass
class UserTurnMergedFrame(SystemFrame):
    """Strategy → STT: the current user turn continues the previous one.

    Parameters:
        text: The previous turn's transcript (now the start of this turn's).
    """

    text: str = ""


@dataclass
class TurnTranscriptionFrame(TranscriptionFrame):
    """A final transcript whose decoding heard the whole user turn so far.

    ``text`` holds only the words the turn's earlier finals did not have (consumers that
    concatenate finals see each word once); ``turn_text`` is the whole turn as this decoding
    heard it, which a turn strategy may put in place of the concatenation.
    """

    turn_text: str = ""
