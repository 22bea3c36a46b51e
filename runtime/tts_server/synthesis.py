"""Piper wrapper: one shared voice per process, sentence-by-sentence synthesis with word times.

Word timestamps come from Piper's phoneme alignment when it is available (piper-tts loads the
voice with ``include_alignments=True``, which needs the optional ``onnx`` package; the words are
then timed by the phonemes between word gaps). Otherwise, or when espeak's words do not match
the text's words one to one, the times are ESTIMATED: each Piper sentence's voiced span is
shared among its words in proportion to their length. ``SynthChunk.aligned`` says which.

Cancelling (:class:`RunControl`) stops the Piper inference in flight, not only the next one:
onnxruntime's ``RunOptions.terminate`` ends ``session.run`` within milliseconds, so a barge-in
leaves no sentence of audio nobody will hear still being synthesized (it was 3.8 s of audio).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from loguru import logger

_WORD = re.compile(r"\S+")
_SPEAKABLE = re.compile(r"\w")


@dataclass
class WordTiming:
    """A word of the input text and where it is spoken, in seconds from the chunk start."""

    text: str
    start_s: float
    stop_s: float


@dataclass
class SynthChunk:
    """Audio of one Piper sentence (float32 at the voice rate) and its words."""

    audio: np.ndarray
    sample_rate: int
    words: list[WordTiming] = field(default_factory=list)
    aligned: bool = False
    compute_secs: float = 0.0

    @property
    def duration_secs(self) -> float:
        return len(self.audio) / self.sample_rate


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if _SPEAKABLE.search(w)]


def _sentence_groups(words: list[str]) -> list[list[str]]:
    """Group words into sentences ending with ``. ! ? …`` (as espeak splits them)."""
    groups: list[list[str]] = [[]]
    for w in words:
        groups[-1].append(w)
        if w.rstrip("\"')]}»”’").endswith((".", "!", "?", "…")):
            groups.append([])
    return [g for g in groups if g]


class RunControl:
    """Lets another thread stop the Piper inference in flight (``RunOptions.terminate``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._options = None
        self.terminated = False

    def begin(self):
        """RunOptions for the next inference, or None once terminated."""
        import onnxruntime

        with self._lock:
            if self.terminated:
                return None
            self._options = onnxruntime.RunOptions()
            return self._options

    def end(self) -> None:
        with self._lock:
            self._options = None

    def terminate(self) -> None:
        with self._lock:
            self.terminated = True
            if self._options is not None:
                self._options.terminate = True


class _RunOptionsSession:
    """An onnxruntime session whose ``run`` uses this thread's RunOptions (Piper calls
    ``session.run(None, args)`` without any)."""

    def __init__(self, session):
        self._session = session
        self.local = threading.local()

    def run(self, output_names, input_feed, run_options=None):
        return self._session.run(output_names, input_feed, run_options or getattr(self.local, "options", None))

    def __getattr__(self, name):
        return getattr(self._session, name)


class PiperSynthesizer:
    """Thread-safe, lazily loaded Piper voice. Use :func:`shared_synthesizer` to share it."""

    def __init__(self, voice_path: Path | None = None, use_alignment: bool = True, onnx_threads: int = 1):
        self.voice_path = voice_path
        self.use_alignment = use_alignment
        self.onnx_threads = onnx_threads
        self._voice = None
        self._aligned = False
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the voice once (blocking; call from a worker thread)."""
        with self._lock:
            if self._voice is not None:
                return
            path = self.voice_path
            if path is None:
                from runtime.models import piper_voice_path

                path = piper_voice_path()
            self.voice_path = Path(path)
            aligned = False
            if self.use_alignment:
                try:
                    import onnx  # noqa: F401  (needed by piper for in-memory alignment patching)

                    aligned = True
                except ImportError:
                    aligned = False
            t0 = time.perf_counter()
            voice = _load_voice(self.voice_path, aligned, self.onnx_threads)
            self._aligned = aligned and len(voice.session.get_outputs()) > 1
            self._voice = voice
            logger.info(
                f"tts-server: loaded Piper voice {self.voice_path.name} in "
                f"{time.perf_counter() - t0:.1f}s (word times: "
                f"{'aligned' if self._aligned else 'estimated'})"
            )

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    @property
    def sample_rate(self) -> int:
        self.load()
        return self._voice.config.sample_rate

    @property
    def voice_name(self) -> str:
        self.load()
        return self.voice_path.name.removesuffix(".onnx")

    @property
    def alignment_available(self) -> bool:
        self.load()
        return self._aligned

    def iter_segment(
        self,
        text: str,
        cancelled: Callable[[], bool] = lambda: False,
        control: RunControl | None = None,
    ) -> Iterator[SynthChunk]:
        """Yield one :class:`SynthChunk` per Piper sentence of ``text``; stop once ``cancelled()``
        or ``control`` is terminated (which also stops the sentence being synthesized).

        Blocking: advance it from a worker thread, one ``next()`` at a time.
        """
        self.load()
        voice = self._voice
        sentences = [p for p in voice.phonemize(text) if p]
        words = _words(text)
        plan = self._assign_words(words, sentences)
        for phonemes, chunk_words in zip(sentences, plan):
            if cancelled():
                return
            t0 = time.perf_counter()
            ids = voice.phonemes_to_ids(phonemes)
            result = self._run(voice, ids, control)
            if result is None:
                return
            audio, id_samples = result if isinstance(result, tuple) else (result, None)
            audio = np.asarray(audio, dtype=np.float32)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            audio = audio / peak if peak > 1e-8 else np.zeros_like(audio)  # Piper normalizes too
            rate = voice.config.sample_rate
            timed = None
            if id_samples is not None and len(id_samples) == len(ids):
                timed = self._aligned_times(chunk_words, phonemes, id_samples, rate)
            aligned = timed is not None
            if timed is None:
                timed = self._estimated_times(chunk_words, audio, rate)
            yield SynthChunk(audio, rate, timed, aligned, time.perf_counter() - t0)

    def _run(self, voice, ids: list[int], control: RunControl | None):
        """Piper on ``ids``; None if ``control`` terminated it."""
        options = control.begin() if control is not None else None
        if control is not None and options is None:
            return None
        local = getattr(voice.session, "local", None)
        if local is not None:
            local.options = options
        try:
            return voice.phoneme_ids_to_audio(ids, include_alignments=self._aligned)
        except Exception:
            if control is not None and control.terminated:
                return None
            raise
        finally:
            if local is not None:
                local.options = None
            if control is not None:
                control.end()

    @staticmethod
    def _assign_words(words: list[str], sentences: list[list[str]]) -> list[list[str]]:
        """Split the text's words among Piper sentences (by espeak word counts, else by share)."""
        if not sentences:
            return []
        groups = _sentence_groups(words)
        if len(groups) == len(sentences):
            return groups
        total = sum(len(p) for p in sentences)
        bounds = [round(s * len(words)) for s in np.cumsum([len(p) for p in sentences]) / total]
        plan = [words[a:b] for a, b in zip([0] + bounds[:-1], bounds)]
        plan[-1] += words[bounds[-1]:]
        return plan

    def _aligned_times(
        self, words: list[str], phonemes: list[str], id_samples: np.ndarray, rate: int
    ) -> list[WordTiming] | None:
        """Word times from phoneme alignment, or None when espeak's words do not match."""
        voice = self._voice
        from piper.const import BOS, EOS, PAD

        pad = voice.config.phoneme_id_map.get(PAD, [])
        pos, t = 0, 0
        spans: list[tuple[str, int, int]] = []  # (phoneme, start_sample, stop_sample)
        for ph in [BOS, *phonemes, EOS]:
            n_ids = len(voice.config.phoneme_id_map.get(ph, [])) + (len(pad) if ph != EOS else 0)
            n = int(np.sum(id_samples[pos : pos + n_ids]))
            spans.append((ph, t, t + n))
            pos, t = pos + n_ids, t + n
        groups: list[tuple[int, int]] = []
        current: list[tuple[int, int]] = []
        for ph, a, b in spans[1:-1]:
            if ph == " ":
                if current:
                    groups.append((current[0][0], current[-1][1]))
                current = []
            elif ph not in ",.;:!?\"()":
                current.append((a, b))
        if current:
            groups.append((current[0][0], current[-1][1]))
        if len(groups) != len(words):
            return None
        return [WordTiming(w, a / rate, b / rate) for w, (a, b) in zip(words, groups)]

    @staticmethod
    def _estimated_times(words: list[str], audio: np.ndarray, rate: int) -> list[WordTiming]:
        """ESTIMATED word times: the voiced span shared by word length."""
        if not words:
            return []
        loud = np.flatnonzero(np.abs(audio) > 0.02)
        start, stop = (loud[0], loud[-1] + 1) if loud.size else (0, len(audio))
        weights = np.array([len(w) + 1 for w in words], dtype=np.float64)
        edges = start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (stop - start)
        return [
            WordTiming(w, float(edges[i]) / rate, float(edges[i + 1]) / rate)
            for i, w in enumerate(words)
        ]


def _load_voice(path: Path, aligned: bool, onnx_threads: int):
    """``PiperVoice.load`` with our onnxruntime threads per inference (its default pool spins
    on every core: 1.1-1.25x the CPU per audio second of one thread, more under load)."""
    import json

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    model: str | bytes = str(path)
    if aligned:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        proto = onnx.load(str(path))
        try:
            add_alignment_output(proto)
            model = proto.SerializeToString()
        except ValueError:  # already patched (or no such tensor): use the file as it is
            pass
    options = onnxruntime.SessionOptions()
    if onnx_threads:
        options.intra_op_num_threads = onnx_threads
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
    return PiperVoice(config=config, session=_RunOptionsSession(session))


_SHARED: dict[tuple[str, bool, int], PiperSynthesizer] = {}
_SHARED_LOCK = threading.Lock()


def shared_synthesizer(
    voice_path: Path | None = None, use_alignment: bool = True, onnx_threads: int = 1
) -> PiperSynthesizer:
    """The process-wide synthesizer for ``voice_path`` (the bundled voice by default)."""
    key = (str(voice_path) if voice_path else "", use_alignment, onnx_threads)
    with _SHARED_LOCK:
        synth = _SHARED.get(key)
        if synth is None:
            synth = _SHARED[key] = PiperSynthesizer(voice_path, use_alignment, onnx_threads)
        return synth
