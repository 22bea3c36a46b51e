"""``TextEndModel``: how likely a language model finds it that the user's sentence ends here.

The text half of the turn rule in :mod:`processors.turns.text_rules` only knows words that can
never end a sentence. A complete-sounding first half ("I'd like to book a table", "Can you
tell me the way") passes it, and Smart Turn scores its pause like a real end. A language model
knows better: after "book a table" it expects "for ...", after "the way" it expects "to ...".

The score is the probability that the next token of the user's message closes it (``.``,
``?``, ``!``, a newline or the end-of-message token), given the message so far with its trailing
punctuation removed (Whisper punctuates a half like an end), in the chat format the model was
tuned on. Merged tokens such as ``."`` or ``\n\n`` are not counted: the thresholds were
measured without them. This is the signal LiveKit's turn detector is trained on (there, a
fine-tuned SmolLM2-135M); here the stock SmolLM2-135M-Instruct that the local LLM already
ships is used as is, on one thread: ~80 ms for a short turn, up to ~250 ms at the token cap,
on a 2-core laptop.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["TextEndModel"]

_TRAILING = re.compile(r"[\s.?!,;:…\"')\]\-–—]+$")
_END_TEXTS = (".", "?", "!", "\n")
_END_OF_MESSAGE = "<|im_end|>"
_USER_PREFIX = "<|im_start|>user\n"


class TextEndModel:
    """P(the user's message ends after ``text``) from a small chat GGUF model (llama.cpp).

    Thread-safe (one inference at a time); results are cached per text.

    Args:
        model_path: A ChatML-format instruct GGUF (SmolLM2-135M-Instruct).
        threads: llama.cpp threads for one inference.
        max_tokens: Only the message's last tokens are read (the end of a sentence is decided by
            its last words; fewer tokens, less time on the turn's critical path).
        cache_size: Texts whose probability is kept (the eager and the final transcript of a
            turn are often the same text).
    """

    def __init__(self, model_path: str | Path, *, threads: int = 1, max_tokens: int = 32, cache_size: int = 64):
        from llama_cpp import Llama

        if max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
        self._max_tokens = max_tokens
        self._llm = Llama(
            str(model_path), n_ctx=max_tokens + 16, n_threads=threads, n_threads_batch=threads, verbose=False,
        )
        self._prefix = self._tokens(_USER_PREFIX)
        self._end_ids = sorted({self._tokens(t)[0] for t in _END_TEXTS} | set(self._tokens(_END_OF_MESSAGE)))
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._cache_size = cache_size
        self.end_probability("Hello there.")  # the first inference is several times slower

    def _last_logits(self) -> np.ndarray:
        """The logits after the last evaluated token (only that row is computed)."""
        import llama_cpp

        row = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self._llm.n_vocab(),)).astype(np.float64)

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=False, special=True)

    @staticmethod
    def _key(text: str) -> str:
        return _TRAILING.sub("", text.strip())

    def cached_probability(self, text: str) -> float | None:
        """:meth:`end_probability` if it is known without an inference, else None."""
        words = self._key(text)
        return 0.0 if not words else self._cache.get(words)

    def end_probability(self, text: str) -> float:
        """Probability (0..1) that the message ends after ``text``; 0 for empty text."""
        words = self._key(text)
        if not words:
            return 0.0
        with self._lock:
            if words in self._cache:
                self._cache.move_to_end(words)
                return self._cache[words]
            body = self._tokens(words)[-(self._max_tokens - len(self._prefix)):]
            self._llm.reset()
            self._llm.eval(self._prefix + body)
            logits = self._last_logits()
            probs = np.exp(logits - logits.max())
            p = float(probs[self._end_ids].sum() / probs.sum())
            self._cache[words] = p
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return p
