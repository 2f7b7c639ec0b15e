"""Replies to a "which one?" question read into a small syntax tree (:class:`Answer`), or a move or a
new instruction (:class:`Reading`). Part of the command layer: :mod:`agent.graph.commands` has the grammar;
:mod:`agent.graph.items` reads each item; :mod:`agent.graph.resolve` turns an answer into boxes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from agent.graph.cancels import is_cancel, said_cancel
from agent.graph.items import FILLER as _FILLER
from agent.graph.items import Item, Unclear, is_colour, parse_item, places, quote
from agent.graph.moves import Move, number, read_move, tokens
from agent.graph.nonanswers import why_not


# -- answers: the syntax tree ---------------------------------------------------------------------------

_ALL = {"all", "both", "every", "each", "everything", "everyone", "everybody", "pair"}
_EXCEPT = {"except", "but", "besides", "excluding", "excl", "save", "minus", "without", "not", "apart", "other"}
_CORRECTION = {"no", "nope", "nah", "sorry", "oops", "whoops", "actually", "wait", "hmm", "oh", "i", "meant",
               "mean", "well", "um", "uh", "instead", "rather", "correction", "ah", "ehm", "er", "erm"}
_SEPARATORS = {",", "and", "plus", "also"}

# Verbs that start an instruction, mapped to the action they imply (None: any action).
_VERBS: dict[str, str | None] = {
    "make": None, "change": None, "turn": None, "do": None, "edit": None, "fix": None, "use": None,
    "remove": "remove", "delete": "remove", "erase": "remove", "get": "remove", "drop": "remove",
    "eliminate": "remove", "clear": "remove", "hide": "remove",
    "replace": "replace", "swap": "replace", "substitute": "replace", "exchange": "replace",
    "recolor": "recolor", "recolour": "recolor", "paint": "recolor", "color": "recolor", "colour": "recolor",
    "dye": "recolor", "tint": "recolor", "add": "add", "put": "add", "place": "add", "insert": "add",
    "draw": "add", "give": None, "apply": "global", "convert": None, "blur": "global", "brighten": "global",
    "darken": "global", "lighten": "global", "sharpen": "global", "fill": None, "move": None,
    "crop": "global", "rotate": "global", "flip": "global", "restyle": "global", "transform": None,
    "set": None, "show": None, "render": None,
}
_CHANGED = {"removed", "deleted", "erased", "gone", "painted", "replaced", "changed", "recolored", "recoloured",
            "colored", "coloured", "added", "moved", "turned", "made", "should", "must", "shouldnt"}
"""Words that say how things should end up: a message with one is a request, not a choice."""
_WHOLE = {"picture", "image", "photo", "scene", "thing", "background", "frame"}
_COMPARATIVES = {"bigger", "larger", "smaller", "taller", "shorter", "wider", "narrower", "darker", "lighter",
                 "brighter", "paler", "tinier"}
"""At the end of "make the left one ...", a change asked for, not a choice."""
_VERB_PARTICLES = {"rid", "of", "out", "away", "off", "up", "into", "in", "the"}
_ASKING = {"what", "why", "how", "where", "who", "whats", "hows", "wheres", "whos", "describe", "tell",
           "explain", "is", "are", "does", "can", "could"}
_OUTER = {"outer", "outermost", "outside", "ends"}
""""the outer ones", "both ends": the leftmost and the rightmost."""
_INSTRUCTION_MARKS = {"actually", "instead", "rather", "forget", "scratch", "wait", "new", "also", "now"}


@dataclass(frozen=True)
class Answer:
    """A parsed answer: ``pick`` the union of ``items`` (or all but them, ``negated``), ``all`` but
    ``items``, or ``cancel``."""

    kind: Literal["pick", "all", "cancel"]
    items: tuple[Item, ...] = ()
    negated: bool = False
    said: int | None = None
    """How many "all" says it is: "both" is 2, "all three" 3 (None: not said)."""
    appositions: tuple[tuple[int, int], ...] = ()
    """Pairs of item indices joined by a comma that must name the same candidate."""


@dataclass(frozen=True)
class Reading:
    """What a message sent while a question is open is.

    Attributes:
        kind: ``answer`` (see ``answer``), ``move``, ``instruction`` (a new request: the question is
            dropped and it runs as a new turn), or ``unclear``.
        why: for ``unclear``, what was not understood (a clause for the follow-up question).
    """

    kind: Literal["answer", "move", "instruction", "unclear"]
    answer: Answer | None = None
    move: Move | None = None
    why: str = ""


def kind_words(phrase: str | None) -> set[str]:
    """The words that name the kind asked about: "coffee cup" → cup, cups, coffee, ... (simple plurals)."""
    out: set[str] = set()
    for w in re.findall(r"[a-z]+", (phrase or "").lower()):
        if w in ("the", "a", "an", "of", "some", "all", "every", "each", "both"):
            continue
        out |= {w, w + "s", w + "es"}
        if w.endswith("y"):
            out.add(w[:-1] + "ies")
        if w.endswith("ies"):
            out.add(w[:-3] + "y")
        if w.endswith("es"):
            out.add(w[:-2])
        if w.endswith("s"):
            out.add(w[:-1])
    return out


def _split(words: list[str]) -> tuple[list[list[str]], list[bool], bool]:
    """Items separated by "and" / "," / "plus"; whether each join was a bare comma; whether "or" joined any."""
    groups: list[list[str]] = [[]]
    commas: list[bool] = []
    either = False
    for i, w in enumerate(words):
        if w in _SEPARATORS or w == "or":
            either = either or w == "or"
            if groups[-1]:
                nxt = words[i + 1] if i + 1 < len(words) else ""
                commas.append(w == "," and nxt not in ("and", "plus"))
                groups.append([])
            continue
        groups[-1].append(w)
    if not groups[-1]:
        groups.pop()
        if commas:
            commas.pop()
    return groups, commas, either


_WRONG = (["not", "that", "one"], ["not", "this", "one"], ["not", "that"], ["not", "this"], ["not", "it"],
          ["wrong", "one"], ["the", "other", "way"])


def _strip_front(words: list[str]) -> tuple[list[str], bool]:
    """Drop a leading correction ("no,", "sorry, I meant", "not that one,"); whether there was one."""
    corrected = False
    while words:
        wrong = next((w for w in _WRONG if words[:len(w)] == w), None)
        if wrong is not None:
            words, corrected = words[len(wrong):], True
        elif words[0] in _CORRECTION or words[0] == ",":
            words, corrected = words[1:], True
        else:
            break
    return words, corrected


_SELF_CORRECTION = {"no", "nope", "sorry", "oops", "whoops", "wait", "actually", "rather"}
_NEGATION = {"dont", "never", "not", "no", "nope"}
_MOVE_WORDS = {"undo", "redo", "revert", "reset", "restore", "go", "start", "take", "bring", "step", "roll",
               "switch", "return", "jump", "cancel", "stop", "abort", "skip", "forget"}


def _corrected(words: list[str]) -> list[str] | None:
    """What follows the last correction inside an answer ("left, no, right" → "right"; "the left one, I
    mean the right one"), or None when no correction follows a first answer."""
    for j in range(len(words) - 1, 0, -1):
        starts = words[j] in _SELF_CORRECTION or words[j:j + 2] in (["i", "mean"], ["i", "meant"])
        if words[j] in ("no", "nope") and words[j + 1:j + 2] not in ([","], ["wait"], ["sorry"], ["actually"], ["i"]):
            starts = False                      # "1 and 2, no 3": not 3, or number 3? not a correction
        before = [w for w in words[:j] if w not in _CORRECTION and w != ","]
        if starts and before:
            tail, _ = _strip_front(words[j:])
            return tail or None
    return None


def _negated_command(words: list[str]) -> str | None:
    """The command a negation stands right before ("don't undo", "no undo", "never remove the cup"), as
    said after it, or None: such a message never runs anything."""
    at = next((i for i, (w, nxt) in enumerate(zip(words, words[1:]))
               if w in _NEGATION and nxt in (_VERBS.keys() | _MOVE_WORDS) and nxt != "do"), None)
    if at is None:
        return None
    rest = words[at + 1:]
    return " ".join(rest[:next((k for k, w in enumerate(rest) if w == ","), len(rest))])


def _instruction(words: list[str], kinds: set[str], action: str | None, content: str) -> list[str] | bool:
    """Whether the words are a new request: True for an edit verb whose object is not a plain choice, or
    a question; the words after the verb when its object is a plain choice ("remove the left one");
    False when there is no verb."""
    lead = {"please", "can", "could", "would", "will", "you", "lets", "let", "us", "i", "want", "to", "then",
            "just", "now", "and", "id", "like", "so", "ok", "okay", "instead", "actually", "forget", "it",
            "that", "scratch", "wait", "rather", "also", "new", "plan", ",", "go", "ahead", "no", "oh", "sorry",
            "nevermind", "cancel", "stop", "nope", "hmm", "hey", "um", "well", "not"}
    if _CHANGED & set(words) or ({"whole", "entire"} & set(words) and _WHOLE & set(words)):
        return True                 # "I want the table removed", "the saucer should be blue", "the whole picture"
    first = next((j for j, w in enumerate(words) if w not in lead), None)
    if first is None:
        return False
    verb = words[first]
    if verb in _ASKING and len(words) - first >= 3:
        return True
    if verb not in _VERBS:
        return False
    if verb == "get" and "rid" not in words[first:first + 3]:
        return True                                                     # "get me a hat": not a choice
    rest = words[first + 1:]
    while rest and rest[0] in _VERB_PARTICLES and rest[0] != "the":
        rest = rest[1:]
    implied = _VERBS[verb]
    if implied is not None and action is not None and implied != action:
        return True                                                     # "paint it red" while asked which to remove
    said = set(tokens(content))
    if said:                                                            # "make the left one red" while asked
        rest = [w for w in rest if w not in said]                       # which cup to make red: an answer
    try:
        answer = _answer(rest, kinds)
    except Unclear:
        return True
    last = [w for w in rest if w not in (",", "please", "thanks", "instead", "too", "now")][-2:]
    if answer.kind == "cancel" or (last and (last[-1] in _COMPARATIVES or is_colour(last) or is_colour(last[-1:]))):
        return True                                     # "make the left one green / bigger": a new request
    return rest                                         # "make the red one blue" (asked about blue): an answer


_NOT = {"not", "isnt", "arent", "aint"}
_BEFORE_NOT = {"the", "one", "ones", "that", "which", "is", "are", "other", ",", "but"}


def _reframed(words: list[str], kinds: set[str]) -> list[str]:
    """Ways of saying a pick or its negation rewritten to the plain form: "the one not on the
    left" / "the one that isn't on the left" / "the other one, not the left" are "not on the left"; "not the
    right one, the left one" / "not 2, 1" are what follows the comma."""
    at = next((i for i, w in enumerate(words) if w in _NOT), None)
    if at and at + 1 < len(words) and all(w in _BEFORE_NOT or w in kinds for w in words[:at]):
        return ["not", *words[at + 1:]]
    if len(words) >= 2 and words[-1] == "1" and places(words[-2]):
        words = [*words[:-1], "one"]                    # "the right 1"
    if words[:2] in (["one", "of"], ["either", "of"], ["any", "of"]):
        raise Unclear("that leaves the choice to me, and I would only be guessing which one you mean")
    for j in range(len(words) - 2, 0, -1):              # "the smaller of the two", "the left of them both"
        if words[j] == "of" and words[j - 1] not in ("two", "three", "both", "all", "each", "one", "some", "any") \
                and number(words[j - 1]) is None and (words[j + 1:] in (["them"], ["them", "both"], ["both"], ["those"])
                                                     or (words[j + 1] == "the" and len(words) == j + 3
                                                         and number(words[j + 2]) is not None)):
            return _reframed(words[:j], kinds)
    if words[0] == "not" and "," in words[2:]:
        after = words[words.index(",", 2) + 1:]
        if after and after[0] not in ("not", "and", "or", "nor", "but", ","):
            return after
    return words


def _answer(words: list[str], kinds: set[str]) -> Answer:
    """Parse the answer proper (after any correction); raises :class:`Unclear`."""
    words = [w for w in words if w not in ("please", "thanks", "pls")]
    while words and words[-1] in (",", "thank", "you", "ok", "okay", "instead", "much", "very", "so", "ty", "thx"):
        words = words[:-1]
    if not words:
        raise Unclear("that names none of them")
    if is_cancel(words, kinds):
        return Answer("cancel")
    words = _reframed(words, kinds)
    tail = _corrected(words)
    if tail is not None:                                # "the left one, no wait, the right one": the last word counts
        try:
            return _answer(tail, kinds)
        except Unclear:
            pass
    if _OUTER & set(words) and all(w in _OUTER or w in _FILLER or w in kinds or w in ("both", "two", "2", ",")
                                   for w in words):
        return Answer("pick", (Item(side="leftmost", words=tuple(words)), Item(side="rightmost", words=tuple(words))))
    bare = [w for w in words if w not in ("the", ",")]
    if len(bare) >= 2 and not bare[0].isdigit() and (number(bare[0]) or 0) >= 2 and bare[1] == "of" \
            and all(w in _FILLER or w in kinds for w in bare[2:]):
        return Answer("all", said=number(bare[0]))                      # "the two of them": that many, all
    if words[0] == "the" and len(bare) == 1 and not bare[0].isdigit() and (number(bare[0]) or 0) >= 2:
        return Answer("all", said=number(bare[0]))                      # "the two": that many, all
    if words[0] in ("the", "all") and len(bare) == 1 and bare[0] in kinds and bare[0].endswith("s") \
            and bare[0] + "s" not in kinds:                             # a plural made from the kind, not its own
        return Answer("all")                                            # "the cups": all of them
    cut = next((j for j, w in enumerate(words) if w in _EXCEPT), None)
    head = words[:cut] if cut is not None else words
    other = [w for w in head if w not in _ALL and w not in kinds and w not in _FILLER and w != ","
             and number(w) is None]
    if any(w in _ALL for w in head) and other:
        if not any(w in _SEPARATORS for w in head):     # "both blue", "all the red ones": all, or some?
            raise Unclear(f"I can't tell whether {quote(words)} means all of them or only some")
        words = [w for w in words if w not in _ALL]     # "both the left one and the right one": a list
    elif any(w in _ALL for w in head):
        # "all", "them all", "both of them", "every cup", "I want all of them", "all four"
        counts = [number(w) for w in head if number(w) is not None and w != "one"]
        said = 2 if "both" in head or "pair" in head else (counts[0] if len(counts) == 1 else None)
        if cut is None:
            return Answer("all", said=said)
        rest = words[cut + 1:]
        while rest and rest[0] in ("than", "from", "for", "of", ","):
            rest = rest[1:]
        items, appositions = _items(rest, kinds)
        return Answer("all", items, said=said, appositions=appositions)
    negated = False
    if words[:2] in (["anything", "but"], ["anything", "except"], ["any", "but"]):
        negated, words = True, words[2:]
    elif words[0] in ("not", "except") and len(words) > 1:
        negated, words = True, words[1:]
    items, appositions = _items(words, kinds)
    return Answer("pick", items, negated=negated, appositions=appositions)


def _items(words: list[str], kinds: set[str]) -> tuple[tuple[Item, ...], tuple[tuple[int, int], ...]]:
    groups, commas, either = _split(words)
    if either:
        raise Unclear("\"or\" leaves the choice open")
    if not groups:
        raise Unclear("that names none of them")
    if len(groups) > 1:
        groups = [["1"] if g == ["one"] else g for g in groups]   # "one and three": in a list, "one" is 1
    kept = [j for j, g in enumerate(groups) if not all(w in _FILLER for w in g)] or list(range(len(groups)))
    commas = [commas[b - 1] for b in kept[1:]]              # "yes, the left one": "yes" is no item
    groups = [groups[j] for j in kept]
    items = tuple(parse_item(g, kinds) for g in groups)
    appositions = tuple((j, j + 1) for j, comma in enumerate(commas)
                        if comma and (items[j].described != items[j + 1].described))
    return items, appositions


_PRONOUNS = {"it", "them"}
""""this" and "that" are not among them: with a pointing, "make this red" is the pointed region."""


def _pronoun_object(words: list[str], action: str | None) -> str | None:
    """The pronoun an edit verb acts on when nothing but a colour or a size follows it and the verb says no
    other action than the question's ("make it blue instead", "remove it" asked which to remove; not "paint it
    green" asked which to remove), else None."""
    at = next((j for j, w in enumerate(words) if w in _VERBS and w not in ("do", "show", "use", "get")), None)
    if at is None or at + 1 >= len(words) or words[at + 1] not in _PRONOUNS \
            or _VERBS[words[at]] not in (None, action):
        return None
    tail = [w for w in words[at + 2:] if w not in (",", "please", "instead", "too", "now", "then", "to", "in")]
    if not tail or tail == [tail[-1]] and tail[-1] in _COMPARATIVES or is_colour(tail):
        return words[at + 1]
    return None


def _parses(words: list[str], kinds: set[str]) -> bool:
    """Whether ``words`` are an answer that picks some candidates (not a cancel)."""
    try:
        return _answer(words, kinds).kind != "cancel"
    except Unclear:
        return False


def read_reply(value: str | int, *, phrase: str | None = None, action: str | None = None,
               content: str = "") -> Reading:
    """Read a message sent while a question about ``phrase`` is open (``action`` and ``content``: the
    asking step's; "make the left one red" answers a question about making a cup red).

    Returns a :class:`Reading`: a move ("undo"), an instruction ("actually, make the saucer blue"),
    an answer (parsed, not yet resolved: see :func:`resolve`), or unclear with what was not understood.
    """
    if isinstance(value, bool):
        return Reading("unclear", why="a yes/no is not a choice")
    if isinstance(value, int):
        return Reading("answer", Answer("pick", (Item(numbers=(value,), words=(str(value),)),)))
    text = str(value)
    words = tokens(text)
    if not words:
        return Reading("unclear", why="that was empty")
    if len(words) > 60:
        return Reading("unclear", why="that is too long to be an answer")
    kinds = kind_words(phrase)
    said = [w for w in words if w != ","]
    if said in (["no"], ["nope"], ["nah"]):
        return Reading("answer", Answer("cancel"))
    if said_cancel(words, kinds):                       # "leave them alone", "don't change anything"
        return Reading("answer", Answer("cancel"))
    negated = _negated_command(words)
    if negated:                                         # before any move or cancel: "don't cancel", "no undo"
        return Reading("unclear", why=f"that says not to {quote(negated.split())}, so nothing was done (to do "
                                      "it, say it without \"no\" or \"don't\")")
    move = read_move(text)
    if move is not None and not is_cancel(words, kinds):
        return Reading("move", move=move)
    if is_cancel(words, kinds):
        return Reading("answer", Answer("cancel"))
    rest, _ = _strip_front(list(words))
    said_rest = rest
    verb = _instruction(words, kinds, action, content)
    if verb is True:
        pronoun = _pronoun_object(words, action)
        if pronoun is not None:                         # "make it blue instead": "it" is the one asked about
            noun = (phrase or "one").split()[0]
            return Reading("unclear", why=f"\"{pronoun}\" is the {noun} I asked about, and which one is still "
                                          "open; answer first, then say the rest")
        return Reading("instruction")
    if verb:
        rest = verb                                                     # "remove the left one": the choice
    else:
        asked = [w for w in tokens(content) if w not in ("a", "an", "the")]
        if asked and len(rest) > len(asked) and rest[-len(asked):] == asked:
            rest = rest[:-len(asked)]                                   # "both red" asked which to make red
    try:
        return Reading("answer", _answer(rest, kinds))
    except Unclear as e:
        why = why_not(said_rest, _VERBS.keys(), lambda some: _parses(some, kinds)) or str(e)
    if any(w in _INSTRUCTION_MARKS for w in words[:3]) and len(said) >= 3:
        why += "; to do something else instead, say the whole instruction (e.g. \"make the saucer blue\")"
    return Reading("unclear", why=why)


# -- answers: meaning ---------------------------------------------------------------------------------

