"""Replies to "which one?" that drop the question ("never mind", "neither", "leave them alone", "I changed
my mind", "don't change anything"); part of the command layer (:mod:`agent.graph.answers` reads the rest)."""

from __future__ import annotations

import re

from agent.graph.moves import number

CANCEL = {"cancel", "nevermind", "none", "neither", "nothing", "forget", "stop", "abort", "quit", "skip",
          "leave", "nah", "nope", "no", "dont", "mind"}
_AROUND = {",", "it", "that", "of", "them", "em", "the", "above", "please", "thanks", "these", "those", "thx", "now",
           "then", "ok", "okay", "one", "ones", "do", "anything", "this", "about", "all", "just", "want", "i", "any",
           "mind", "leave", "as", "is", "thank", "you", "bother", "worry", "actually", "oh", "so", "sorry", "lets",
           "let", "us", "we", "can", "just", "asking", "question", "questions", "more"}
"""Words that may stand around a cancel word ("never mind that, thanks")."""
UNSURE = (["dont", "mind"], ["dont", "care"], ["dont", "know"], ["not", "sure"], ["no", "idea"],
          ["no", "preference"])
""""I don't mind": no choice and no cancel."""
_SAID = re.compile(
    r"\b(?:(?:i (?:have |am |was )?)?(?:changed?|changing) (?:my|of) mind|lets not|let us not|not now|not (?:either|any)"
    r"(?: of them| one)?|drop (?:it|that|this)|scratch that|(?:leave|let) (?:it|them|that|those|these|everything)"
    r"(?: all)? (?:alone|be|as (?:is|it is|they are)|unchanged|the way (?:it is|they are))"
    r"|keep (?:it|them|everything|things|those|these)(?: all)? (?:as (?:is|it is|they are)|the same|unchanged"
    r"|the way (?:it is|they are))|forget (?:the whole thing|all of it|all that|the whole idea|this|about it)"
    r"|dont (?:change|do|touch|edit|paint|remove|recolou?r) (?:anything|any of them|them|it|either(?: of them)?"
    r"|a thing|either one))\b")
"""Whole phrases that say to drop the question; each stands for one cancel word."""


def said_cancel(words: list[str], kinds: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether the words say to drop the question with a whole phrase ("leave them alone", "I changed my
    mind", "don't change anything") and nothing else: read before a negation ("don't ...") is."""
    text = " ".join(words)
    if not _SAID.search(text):
        return False
    return is_cancel(_SAID.sub("cancel", text).split(), kinds)


def is_cancel(words: list[str], kinds: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether the words only say to drop the question ("never mind", "neither dog", "don't bother")."""
    rest = [w for w in words if w not in kinds and w not in _AROUND]
    said = [w for w in words if w != ","]
    if not said or any(said[i:i + 2] in UNSURE for i in range(len(said))):
        return False
    cancel_word = any(w in CANCEL for w in said)
    return cancel_word and all(w in CANCEL for w in rest) and not any(number(w) for w in said if w != "one")
