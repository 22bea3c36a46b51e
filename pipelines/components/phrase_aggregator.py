"""``[phrase_aggregator]``: the project's own processors as config slots."""

from __future__ import annotations

from processors.phrase.aggregator import PhraseAggregator, PhraseAggregatorSettings

from pipelines.registry import BuildContext, register


@register("phrase_aggregator", "phrase", PhraseAggregatorSettings, "LLM tokens into speakable phrases, <flush> at ends")
def phrase_aggregator(settings: PhraseAggregatorSettings, ctx: BuildContext):
    return PhraseAggregator(settings=settings)
