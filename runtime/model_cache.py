"""Models loaded once and shared by every pipeline built with the same :class:`ModelCache`.

``voice-agent serve`` builds one pipeline per call; without a cache each call would load
Whisper, Silero and Smart Turn again. Its lifespan makes one cache, builds the served pipeline
once with it (so the models load at start), and builds every call with it. A factory asks for
a model with :meth:`ModelCache.get`; what it gets must be safe to share between calls (an ONNX
Runtime session, a decoder that serialises its own use), while per-call state (a VAD's
recurrent state, a Smart Turn buffer) stays in the per-call objects built around it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from loguru import logger

T = TypeVar("T")


class ModelCache:
    """``get(key, load)``: the model loaded for ``key``, loading it the first time only.

    ``load_secs`` is what each key's one load took; :meth:`loads_by_name` counts them.
    """

    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._lock = threading.Lock()  # two calls built at once load a model once
        self.load_secs: dict[Hashable, float] = {}

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model for ``key``; ``load()`` runs only if it is not loaded yet."""
        with self._lock:
            if key in self._models:
                return self._models[key]
            started = time.perf_counter()
            model = load()
            self.load_secs[key] = time.perf_counter() - started
            self._models[key] = model
            logger.debug(f"model cache: loaded {key} in {self.load_secs[key]:.2f} s")
            return model

    def loads_by_name(self) -> dict[str, int]:
        """Loads per model name (a key's first item), e.g. ``{"silero-vad": 1}``."""
        return dict(Counter(str(key[0] if isinstance(key, tuple) else key) for key in self.load_secs))

    def __len__(self) -> int:
        return len(self._models)

    def warm_up(self) -> None:
        """Run ``warm_up()`` of every cached model that has one (blocking: call it in a thread)."""
        with self._lock:
            models = list(self._models.values())
        for model in models:
            if callable(warm := getattr(model, "warm_up", None)):
                warm()


def cached(cache: ModelCache | None, key: Hashable, load: Callable[[], T]) -> T:
    """``cache.get(key, load)``, or a fresh ``load()`` without a cache (``voice-agent run``)."""
    return cache.get(key, load) if cache is not None else load()
