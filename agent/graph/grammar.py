"""The offline rule grammar: the common edit instructions read into a :class:`Plan` with no model.

It plans turns when the planner has random weights (the tiny profile) or cannot be reached. It
reads only what it is sure of and returns None for anything else; it never guesses. The forms
(words in brackets are optional; X and Y are referents, C a colour, S a style):

- remove: ``remove|delete|erase|get rid of|take out X``, ``make X disappear`` ("remove the cup and the
  spoon": two steps)
- replace: ``replace|swap|switch X with|for|by Y``, ``turn|change|transform|convert X into Y``,
  ``change X to Y``, ``make X a Y``
- recolor: ``make|turn|colour|color|paint|recolor|dye X [to|in] C``, ``change the colour of X to C``,
  ``X should be C``, ``I want X to be C``;
  C is any run of colour words ("red", "dark blue", "blue-green", "#1e90ff", "red and white striped")
- background: ``put X on|in front of a Y background``, ``put the X on|in Y``, ``give X a Y background``,
  ``change|replace the background [behind X] with|to Y``
- global: ``make it|the image S``, ``make it look like S``, ``turn it into S``, ``[make it] in the
  style of S``, ``apply a S filter``; S holds a style, season, time of day or lighting word
- add: ``add|insert N on|next to|left of|right of|above|below|in|behind|in front of Y``,
  ``put|place N <place> Y`` (N not "the ...": that would move a thing), ``give X a N``
- with a reference image (R: "this", "that one", "the one in the picture", "the reference image"):
  ``make X [look] like R``, ``make X match R``, ``turn|change|transform|convert X into R``,
  ``replace|swap X with R``: replace X, guided by the reference (X "the image": a whole-picture edit);
  without one, R is not read as new content
- several clauses: ``A and B``, ``A, then B``, ``A; B`` (a split happens only before a verb)
- a change of mind: ``A, no wait, B`` / ``A, no, B`` / ``A i mean B``: B takes the place of the smallest tail
  of A it reads in ("make the cup red, no, blue"), or of A's last clause when B has a verb; "replace X with
  nothing" is a remove; "no A" without the comma is not read (it says not to; :mod:`agent.graph.unread`)

Referents: "the man on the left" (selector leftmost), "the second cup from the left"
(nth_from_left, n=2), "the biggest dog" (largest), "all the cups" (all), "both cups" (count 2),
"the three cups" (count 3), "all the cups except the one on the left" (all, exclude leftmost),
"the red cup" (attributes [red]), "the man in the black top" (attributes [black top]),
"the cup left of the plate" / "the dog on the sofa" (relation + anchor), "it"/"that" (last edited; the
pointed region when the person points), "here", "the thing I pointed at" (the pointed region); with a
pointing, an instruction without an object ("make red", "remove") acts on the pointed region;
they are read by :mod:`agent.graph.phrases`.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from agent.graph.forms import SEPARATOR, VERB, from_reference, read_clause
from agent.graph.phrases import parse_referents
from agent.graph.plan import MAX_STEPS, Plan, Referent, Step
from agent.graph.wording import CORRECTION, normalize, strip_fillers

FORMS = ('remove the cup', 'replace the cup with a vase', 'make the cup red',
         'put the cat on a beach background', 'make it a watercolour / autumn / night',
         'add a bird next to the tree', 'remove the spoon and make the table white')
"""Examples of what the grammar reads, for replies that list them."""

# ------------------------------------------------------------------ entry point

def read_plan(text: str, *, pointed: bool = False, referenced: bool = False) -> Plan | None:
    """The plan for ``text`` when every clause of it is a form the grammar reads, else None.

    Args:
        text: the user's words, e.g. "remove the cup and make the table white".
        pointed: the person pointed at the image as they said it: a clause with no object ("make
            red", "remove") then acts on the pointed region.
        referenced: a reference image came with the words: "make the cup look like this" replaces the
            cup guided by it.

    Returns:
        A validated :class:`Plan` (one step per clause, more when a clause names several things),
        or None: the text is not an edit instruction the grammar is sure of.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        return None
    clauses = split_clauses(corrected(strip_fillers(normalize(text))))
    if clauses is None:
        return None
    steps: list[Step] = []
    for clause in clauses:
        read = (from_reference(clause) if referenced else None) or _read_one(clause)
        if read is None and pointed:
            read = _objectless(clause)
        if read is None:
            return None
        steps += read
    if not 1 <= len(steps) <= MAX_STEPS:
        return None
    try:
        return Plan(reasoning="Read by the offline rule grammar (no model): " + "; ".join(clauses) + ".",
                    steps=steps)
    except ValidationError:
        return None


def split_clauses(text: str) -> list[str] | None:
    """``text`` cut into clauses at "and", "then", commas and semicolons that come before a verb."""
    if not text:
        return None
    clauses, start = [], 0
    for m in SEPARATOR.finditer(text):
        if m.start() < start or not m.group().strip():
            continue
        rest = strip_fillers(text[m.end():])
        if m.start() > start and re.match(VERB, rest):
            clauses.append(text[start:m.start()])
            start = m.end()
    clauses.append(text[start:])
    clauses = [strip_fillers(c) for c in clauses]
    return clauses if all(clauses) else None


def corrected(text: str) -> str:
    """``text`` with each change of mind applied ("" when one cannot be read): "make it a watercolour, no wait,
    a sketch" is "make it a sketch"; "make the cup red, no, blue" is "make the cup blue"; "remove the cup,
    no, the saucer" is "remove the saucer"; "make the cup red, no, make it blue" is "make it blue"."""
    marks = [m for m in CORRECTION.finditer(text) if m.start() > 0 and m.end() < len(text)]
    if not marks:
        return text
    mark = marks[-1]
    left, right = corrected(text[:mark.start()]), strip_fillers(text[mark.end():])
    clauses = split_clauses(left)
    if not left or not right or clauses is None:
        return ""
    dropped = _read_one(clauses[-1])
    if re.match(VERB, right):                          # a whole new clause takes the last one's place
        return "; ".join([*clauses[:-1], _bind_it(right, clauses[-1], dropped)])
    words = clauses[-1].split()
    for n in range(1, len(words)):                      # the correction takes the place of the last n words
        if words[-n - 1] in ("a", "an", "the", "some") and right.split()[0] in ("a", "an", "the", "some", "my"):
            continue                                    # "make it a a sketch": not this n
        clause = " ".join([*words[:-n], right])
        read = _read_one(clause)
        if read is not None and (dropped is None or [s.action for s in read] == [s.action for s in dropped]):
            return "; ".join([*clauses[:-1], clause])
    return ""


def _bind_it(clause: str, dropped_clause: str, dropped: list[Step] | None) -> str:
    """``clause`` with "it" naming what the dropped clause named: in "replace the cup with a vase, no, make it
    a teapot", "it" is the cup, not the last edit."""
    read = _read_one(clause)
    if not dropped or not read or not any(s.referent is not None and s.referent.last_edited for s in read):
        return clause
    named = [s.referent for s in dropped]
    words = dropped_clause.split()
    for i in range(len(words)):
        for j in range(len(words), i, -1):
            span = " ".join(words[i:j])
            if parse_referents(span) == named:
                bound = re.sub(r"\b(?:it|that|this|them)\b", span, clause, count=1)
                return bound if _read_one(bound) is not None else clause
    return clause


def _read_one(clause: str) -> list[Step] | None:
    return _elided(clause) or read_clause(clause)


def _elided(clause: str) -> list[Step] | None:
    """A clause whose second half leaves its verb out: "make the cup red and the saucer blue"."""
    verb = clause.split()[0]
    for m in SEPARATOR.finditer(clause):
        left, right = clause[:m.start()], clause[m.end():]
        if not left or not right or not re.match(r"(?:the|a|an|that|this|my|all|both|every|it)\b", right):
            continue
        first = read_clause(left)
        second = _read_one(f"{verb} {right}") if first is not None else None   # "…, the saucer blue and …"
        if first is not None and second is not None:
            return first + second
    return None


def _objectless(clause: str) -> list[Step] | None:
    """A clause with its object left out, read as about "this" ("make red" → "make this red"), when that
    is the only way it reads; every step then acts on the pointed region."""
    words = clause.split()
    for k in range(1, min(3, len(words)) + 1):
        read = read_clause(" ".join([*words[:k], "this", *words[k:]]))
        if read and all(s.referent is not None and s.referent.last_edited for s in read):
            return [s.model_copy(update={"referent": Referent(pointed=True)}) for s in read]
    return None
