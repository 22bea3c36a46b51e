"""Fast one-shot Whisper decoding for short utterances (the core of the streaming STT).

faster-whisper always encodes a 30 s window, however short the speech: on a 2-core CPU that
fixed encoder pass is most of a tiny.en transcription. :class:`WindowedWhisperDecoder` drives the
same CTranslate2 model directly and encodes a shorter window instead (the utterance padded with
real silence to ``min_window_secs``, 10 s by default), then decodes greedily (beam 1) without
timestamps. Windows much shorter than 10 s make tiny.en loop ("... France? Hello, what is ...");
10 s kept every test sentence exact on Piper's voice, but not on real voices placed where the
VAD puts them (~0.15 s into the window): greedy decoding then restarts the sentence instead of
ending it. So a short window is for turn-taking only; :meth:`WindowedWhisperDecoder.transcribe`
with ``window_secs=30`` is Whisper as trained, for the transcript the LLM gets. Every result is
checked (:mod:`~processors.streaming_whisper.text_checks`): a restarted sentence is cut, a known
invention ("Thanks for watching.") dropped, and a loop (zlib compression ratio, words per
second of audio, as Whisper's own fallback) decoded again with the full 30 s window.
"""

from __future__ import annotations

import math
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from processors.streaming_whisper.text_checks import is_hallucination, strip_repeats

SAMPLE_RATE = 16000
FRAMES_PER_SEC = 100  # Whisper's mel hop is 10 ms
FULL_WINDOW_SECS = 30


@dataclass
class DecoderSettings:
    """How :class:`WindowedWhisperDecoder` decodes.

    Parameters:
        language: Spoken language (Whisper code); ignored by English-only models.
        beam_size: 1 = greedy (fastest); stock faster-whisper uses 5.
        min_window_secs: Shortest encoder window; the utterance is padded with silence to it.
        window_margin_secs: Silence the window keeps after the speech (longer utterances).
        no_speech_prob: Drop the text when Whisper's no-speech probability is at least this.
        log_prob_threshold: ... and its average token log probability is below this
            (faster-whisper's rule: both must hold; a confident text is kept).
        certain_no_speech_prob: Drop the text whatever its log probability when Whisper is
            at least this sure there is no speech: tiny.en says "you" for a second of digital
            silence with no-speech 0.99 and log probability -0.95 on some CPUs (-1.0 is the
            rule above). Real speech here scores at most 0.12, even its first 0.8 s.
        timestamps: Decode in Whisper's timestamp mode (as whole-utterance Whisper does): it
            predicts where the speech ends and stops there; without it a padded window more
            often runs on (on real and varied Piper speech at 10 s: WER 0.069 vs 0.124).
        max_compression_ratio: Above this zlib ratio the text is a loop: decode again with 30 s.
        max_words_per_sec: More words than this per second of audio (+4): decode again with 30 s.
    """

    language: str = "en"
    beam_size: int = 1
    min_window_secs: float = 10.0
    window_margin_secs: float = 2.0
    no_speech_prob: float = 0.6
    log_prob_threshold: float = -1.0
    certain_no_speech_prob: float = 0.95
    timestamps: bool = True
    max_compression_ratio: float = 2.0
    max_words_per_sec: float = 5.0

    def __post_init__(self):
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if not 1.0 <= self.min_window_secs <= FULL_WINDOW_SECS:
            raise ValueError(f"min_window_secs must be within 1..30 s, got {self.min_window_secs}")


@dataclass
class Decoded:
    """One decoding: the text and how it was obtained."""

    text: str
    audio_secs: float
    window_secs: float
    no_speech_prob: float
    avg_log_prob: float = 0.0
    fallback: bool = False  # the short window looped; this is the 30 s decoding
    trimmed: bool = False  # a repeat or an invention was cut from the text


def compression_ratio(text: str) -> float:
    """zlib compression ratio of ``text`` (Whisper's repetition test)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class WindowedWhisperDecoder:
    """Whisper (CTranslate2 via faster-whisper) with a short encoder window; thread-safe."""

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        settings: DecoderSettings | None = None,
    ):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.settings = settings or DecoderSettings()
        self._whisper = WhisperModel(str(model), device=device, compute_type=compute_type, cpu_threads=cpu_threads)
        multilingual = self._whisper.model.is_multilingual
        self._tokenizer = Tokenizer(
            self._whisper.hf_tokenizer, multilingual, task="transcribe",
            language=self.settings.language if multilingual else None,
        )
        t = self._tokenizer
        self._suppress = sorted(set(t.non_speech_tokens) | {t.transcribe, t.translate, t.sot, t.sot_prev, t.sot_lm, t.no_speech})
        self._lock = threading.Lock()  # one decoding at a time: the model uses every core
        self.warm = False  # a decoding has run (see warm_up)

    @property
    def compute_type(self) -> str:
        return self._whisper.model.compute_type

    def warm_up(self) -> None:
        """Run one decoding of silence so the first real one pays no allocation cost (once)."""
        if not self.warm:
            self.transcribe(np.zeros(SAMPLE_RATE // 2, np.float32))
            self.warm = True

    def transcribe(self, audio: bytes | np.ndarray, *, prompt: str = "", window_secs: float | None = None) -> Decoded:
        """Transcribe 16 kHz mono audio (16-bit PCM bytes or float32 in [-1, 1]).

        ``prompt``: earlier text of the same turn, given to Whisper as context.
        ``window_secs``: encoder window (default: the short one of the settings); 30 is
        Whisper as trained. Audio longer than the window keeps its last ``window_secs``.
        """
        samples = _as_float(audio)
        if window_secs is not None and len(samples) > window_secs * SAMPLE_RATE:
            samples = samples[-int(window_secs * SAMPLE_RATE):]
        secs = len(samples) / SAMPLE_RATE
        window = self._window_secs(secs) if window_secs is None else float(window_secs)
        with self._lock:
            result = self._decode(samples, window, prompt)
            if window < FULL_WINDOW_SECS and self._looks_looped(result.text, secs):
                result = self._decode(samples, FULL_WINDOW_SECS, prompt)
                result.fallback = True
        s = self.settings
        silent = result.no_speech_prob >= s.no_speech_prob and result.avg_log_prob < s.log_prob_threshold
        if silent or result.no_speech_prob >= s.certain_no_speech_prob:
            result.text = ""
        checked = "" if is_hallucination(result.text) else strip_repeats(result.text)
        result.trimmed = checked != result.text
        result.text = checked
        return result

    def _window_secs(self, secs: float) -> float:
        s = self.settings
        return float(min(FULL_WINDOW_SECS, max(s.min_window_secs, math.ceil(secs + s.window_margin_secs))))

    def _looks_looped(self, text: str, secs: float) -> bool:
        s = self.settings
        words = len(text.split())
        return compression_ratio(text) > s.max_compression_ratio or words > s.max_words_per_sec * secs + 4

    def _decode(self, samples: np.ndarray, window_secs: float, prompt: str) -> Decoded:
        import ctranslate2

        n_samples = int(window_secs * SAMPLE_RATE)
        padded = np.zeros(max(n_samples, len(samples)), np.float32)
        padded[: len(samples)] = samples
        features = self._whisper.feature_extractor(padded[:n_samples])[:, : int(window_secs * FRAMES_PER_SEC)]
        features = np.ascontiguousarray(features[None], dtype=np.float32)
        tokens = self._prompt_tokens(prompt)
        max_new = int(12 + 8 * len(samples) / SAMPLE_RATE) + (4 if self.settings.timestamps else 0)
        result = self._whisper.model.generate(
            ctranslate2.StorageView.from_array(features),
            [tokens],
            beam_size=self.settings.beam_size,
            max_length=min(self._whisper.max_length, len(tokens) + max_new),
            return_no_speech_prob=True,
            return_scores=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]  # no timestamps either
        return Decoded(
            text=self._tokenizer.decode(ids).strip(),
            audio_secs=len(samples) / SAMPLE_RATE,
            window_secs=window_secs,
            no_speech_prob=float(result.no_speech_prob),
            avg_log_prob=float(result.scores[0]) if result.scores else 0.0,
        )

    def _prompt_tokens(self, prompt: str) -> list[int]:
        t = self._tokenizer
        tokens: list[int] = []
        if prompt.strip():
            previous = t.encode(" " + prompt.strip())[-(self._whisper.max_length // 2 - 1):]
            tokens = [t.sot_prev, *previous]
        return [*tokens, *t.sot_sequence] + ([] if self.settings.timestamps else [t.no_timestamps])


def _as_float(audio: bytes | np.ndarray) -> np.ndarray:
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
    return np.asarray(audio, dtype=np.float32)
