"""One Silero model scoring the mic once for the VAD and ``InterruptionHandler``.

The handler needs a speech probability for every 32 ms window while the bot speaks, and the
VAD right before it already computes exactly that. :class:`SharedSileroVADAnalyzer` is
pipecat's ``SileroVADAnalyzer`` that also lets the handler read its scores by window index.
The VAD analyses a frame after pushing it on, so the handler may reach a window first: it is
then scored once, under a lock, and the VAD takes it from the cache. Either way the model
sees every window once and in order, as without sharing, so the VAD decides exactly as it
would alone, and the handler gets the score its own Silero would give from the same state.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from typing import Any

from loguru import logger

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer

from processors.interruption.onset import confidence_value

_KEEP_WINDOWS = 256  # about 8 s at 16 kHz: far more than the handler ever lags the VAD


def load_silero_session() -> Any:
    """pipecat's bundled Silero model as an ONNX Runtime session (pipecat's own session options).

    A session is safe to share between analyzers (ONNX Runtime runs concurrent ``run`` calls on
    one session); each analyzer keeps its own recurrent state in its :class:`SessionSileroModel`.
    """
    from importlib import resources

    path = resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx")
    with resources.as_file(path) as file:
        return SileroOnnxModel(str(file), force_onnx_cpu=True).session


class SessionSileroModel(SileroOnnxModel):
    """pipecat's ``SileroOnnxModel`` (its per-stream state) around an already loaded session."""

    def __init__(self, session: Any):  # no super().__init__(): it would load the model
        self.session = session
        self.reset_states()
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """``SileroVADAnalyzer`` whose window scores :meth:`shared_confidence` hands out.

    Window ``i`` is the ``i``-th window of ``num_frames_required()`` samples of the audio the
    VAD has been given since it started. If a reader ever asks for a window with different
    audio (it is not fed the same stream), sharing stops for good: the VAD goes on alone and
    the reader gets ``None`` and must score for itself.
    """

    def __init__(self, *, session: Any = None, **kwargs):
        """``session``: a Silero session from :func:`load_silero_session` to use instead of
        loading the model (``voice-agent serve`` loads it once for every call); the other
        arguments are ``SileroVADAnalyzer``'s."""
        if session is None:
            super().__init__(**kwargs)
        else:  # SileroVADAnalyzer.__init__ without its model load (test_shared_silero checks the fields)
            VADAnalyzer.__init__(self, **kwargs)
            self._model = SessionSileroModel(session)
            self._windows_since_reset = 0
            self._low_confidence_windows = 0
        self._lock = threading.Lock()
        self._scores: OrderedDict[int, tuple[int, float]] = OrderedDict()
        self._scored = 0  # windows the model has scored (the next index it may score)
        self._vad_windows = 0  # windows the VAD itself has asked about
        self._broken = False

    @property
    def sharing(self) -> bool:
        """False once a reader's audio disagreed with the VAD's."""
        return not self._broken

    def voice_confidence(self, buffer) -> float:
        """The VAD's score of its next window (from the cache if a reader scored it first)."""
        index = self._vad_windows
        self._vad_windows += 1
        with self._lock:
            if not self._broken:
                score = self._lookup_or_score(index, bytes(buffer))
                if score is not None:
                    return score
                self._stop_sharing(f"the VAD's window {index} is neither cached nor next")
            return confidence_value(super().voice_confidence(buffer))

    def shared_confidence(self, index: int, window: bytes) -> float | None:
        """Score of window ``index`` (``window`` is its audio), or ``None`` if it cannot be shared."""
        with self._lock:
            if self._broken:
                return None
            return self._lookup_or_score(index, window)

    def _lookup_or_score(self, index: int, window: bytes) -> float | None:
        crc = zlib.crc32(window)
        cached = self._scores.get(index)
        if cached is not None:
            if cached[0] != crc:
                self._stop_sharing(f"window {index} has different audio for the VAD and a reader")
                return None
            return cached[1]
        if index != self._scored:
            return None  # scoring out of order would change the model's state for everyone
        score = confidence_value(super().voice_confidence(window))
        self._scored += 1
        self._scores[index] = (crc, score)
        while len(self._scores) > _KEEP_WINDOWS:
            self._scores.popitem(last=False)
        return score

    def _stop_sharing(self, why: str):
        self._broken = True
        self._scores.clear()
        logger.warning(f"{self}: Silero scores no longer shared ({why}); readers score for themselves")
