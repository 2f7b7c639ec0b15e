"""Replies that are true: ordinals, plurals and counts, step wording without internal captions,
verification verdicts said in the reply, recolours that say how they were done."""

from __future__ import annotations

import pytest

from agent.graph.nodes.common import count_noun, ordinal, plural, plural_phrase, strip_article


@pytest.mark.parametrize(("n", "text"), [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                         (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (101, "101st"),
                                         (111, "111th"), (112, "112th"), (1000, "1000th")])
def test_ordinal(n, text):
    assert ordinal(n) == text


@pytest.mark.parametrize(("noun", "many"), [("cup", "cups"), ("glass", "glasses"), ("person", "people"),
                                            ("man", "men"), ("bus", "buses"), ("leaf", "leaves"), ("box", "boxes"),
                                            ("baby", "babies"), ("toy", "toys"), ("dish", "dishes"),
                                            ("policeman", "policemen"), ("human", "humans"), ("sheep", "sheep"),
                                            ("knife", "knives"), ("child", "children"), ("Cup", "Cups")])
def test_plural(noun, many):
    assert plural(noun) == many


def test_plural_phrase_changes_the_head_noun_and_drops_articles():
    assert plural_phrase("the red cup") == "red cups"
    assert plural_phrase("cup on the left") == "cups on the left"
    assert plural_phrase("a glass of water") == "glasses of water"
    assert strip_article("the the cup") == "cup" and strip_article("an apple") == "apple"
    assert count_noun(1, "the cup") == "1 cup" and count_noun(2, "the cup") == "2 cups"
    assert count_noun(0, "glass") == "no glasses" and count_noun(20, "light") == "20 lights"
