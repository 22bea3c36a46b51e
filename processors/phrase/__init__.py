"""``PhraseAggregator``: streamed LLM text into TTS-ready phrases.

``aggregator.py`` is the processor and its frame contract; ``rules.py`` cuts phrases (sentence
and clause ends, length limit, early first phrase); ``text_cleanup.py`` strips markdown, tags
and emoji from streamed text.
"""

from processors._lazy import lazy_exports

_EXPORTS = {
    "PhraseAggregator": "processors.phrase.aggregator",
    "PhraseAggregatorSettings": "processors.phrase.aggregator",
    "PhraseSettings": "processors.phrase.rules",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
