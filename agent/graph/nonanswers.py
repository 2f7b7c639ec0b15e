"""Replies to "which one?" that pick none of the candidates but say something plain, and the clause the
follow-up question gives for each: the choice left to the agent ("you choose", "either", "whichever"),
"the other one" with nothing to be other than, or an answer with a new instruction after it ("the left
one, and make it blue"). Part of the command layer (:mod:`agent.graph.answers` calls :func:`why_not` when
an answer names none of the candidates); the question stays open in each case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from agent.graph.items import quote

_LEFT_TO_ME = {"either", "whichever", "whatever", "any", "anyone", "random", "randomly", "anything"}
_LEFT_TO_ME_SAID = (["you", "choose"], ["you", "pick"], ["you", "decide"], ["your", "choice"], ["your", "call"],
                    ["up", "to", "you"], ["dont", "care"], ["dont", "mind"], ["doesnt", "matter"],
                    ["does", "not", "matter"], ["surprise", "me"], ["pick", "one"], ["choose", "one"],
                    ["dealers", "choice"], ["no", "preference"], ["you", "can", "choose"], ["any", "will", "do"])
_UNSURE = (["dont", "know"], ["not", "sure"], ["no", "idea"], ["unsure"])
_OTHER = {"other", "another"}
_LEAD = {",", "and", "then", "also", "please", "now", "but", "so", "plus"}


def _has(words: list[str], phrases: tuple[list[str], ...]) -> bool:
    return any(words[i:i + len(p)] == p for p in phrases for i in range(len(words)))


def _more(words: list[str], verbs: Collection[str], parses: Callable[[list[str]], bool]) -> tuple[list[str], list[str]] | None:
    """The answer and the instruction after it ("the left one, and make it blue"), or None."""
    for j in range(1, len(words)):
        if words[j] not in verbs or words[j - 1] not in _LEAD or words[j] in ("do", "show", "use"):
            continue
        before = words[:j]
        while before and before[-1] in _LEAD:
            before = before[:-1]
        if before and parses(before):
            return before, words[j:]
    return None


def why_not(words: list[str], verbs: Collection[str], parses: Callable[[list[str]], bool]) -> str | None:
    """Why ``words`` pick no candidate, when they say something plain (see the module docstring), else None.

    Args:
        words: the reply's tokens (:func:`agent.graph.moves.tokens`).
        verbs: words that start an instruction.
        parses: whether some words are an answer that names candidates.
    """
    more = _more(words, verbs, parses)
    if more is not None:
        answer, rest = more
        return (f"that answers ({quote(answer)}) and asks for more ({quote(rest)}) in one message; say the answer "
                "alone first, then the rest")
    if any(w in _LEFT_TO_ME for w in words) or _has(words, _LEFT_TO_ME_SAID):
        return "that leaves the choice to me, and I would only be guessing which one you mean"
    if _has(words, _UNSURE):
        return "that picks none of them (to drop the question, say \"cancel\")"
    if any(w in _OTHER for w in words):
        return "\"the other\" needs one to be other than, and none was picked yet"
    return None
