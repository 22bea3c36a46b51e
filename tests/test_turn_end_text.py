"""Transcript endings with a demonstrative: a pronoun in a closed sentence, a determiner left hanging."""

from __future__ import annotations

import pytest

from processors.turns.text_rules import text_completeness


@pytest.mark.parametrize("text, expected", [
    ("Well, good luck with that.", "complete"),      # the lecture: a 2 s wait before this fix
    ("I really like this!", "complete"),
    ("Can you do that?", "complete"),
    ("I think that", "incomplete"),
    ("Could you hand me those", "incomplete"),
    ("I need one of these,", "incomplete"),
])
def test_demonstratives(text, expected):
    assert text_completeness(text) == expected
