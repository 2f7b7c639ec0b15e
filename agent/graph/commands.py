"""The command layer: what people say that needs no model, read by a small grammar before the planner.

Two readers, both deterministic (a tokenizer and rules; no model):

- :func:`read_move` reads a whole message as a move in the version tree ("undo the last two",
  "take that back", "redo", "go back to the original", "revert to 3", "show me version 2"). Only a
  message that is nothing but a move is one: "undo the blue and make it red" or "go back to the
  original colour for the cup" are instructions for the planner.
- :func:`read_reply` reads a message sent while a "which one?" question is open. It is a move, a new
  instruction ("actually, make the saucer blue"), or an answer; an answer is parsed into an
  :class:`Answer` (a small syntax tree) and :func:`resolve` turns it into the boxes it names, using
  the question's candidates, every match, how many are wanted, and (for colours) the image.

Moves (the whole message; "please", "ok", "oops", "just", "can you" ... around it are allowed)::

    undo [that | it | this | the last (edit|change|one|step)]      → undo 1
    undo [the] [last] N [edits|changes|steps|times] | undo twice     → undo N
    take (that|it) back | go back [N] [step(s)] | step back          → undo N (default 1)
    undo (everything | all [the] [edits|changes])                    → revert 0
    redo [that | it | N [times] | twice] | go forward [N] [step(s)]  → redo N
    undo the undo                                                    → redo 1
    (revert|go back|back|go|return|switch|jump|restore) [to] [version|v] V → revert V
    (show [me] | open | load) version V                              → revert V (every version is kept;
                                                                        moving to it is how it is shown)
    [go|revert|return|switch] back to the original | start over | start again | reset | restore the original
                                                                      → revert 0

Answers (to "I found 4 cups. Which one do you mean?")::

    reply      := move | instruction | answer
    answer     := [correction] (cancel | all [except items] | [not] items) [politeness]
    correction := "no" | "nope" | "sorry" | "oops" | "actually" | "wait" | "i meant" | "not that one" ...
    cancel     := "cancel" | "none" | "neither" | "never mind" | "forget it" | "no" (alone) ...
    all        := "all" | "both" | "every" | "each" | "everything" [of them] [kind]
    except     := "except" | "but" | "other than" | "apart from" | "besides" | "excluding" | "not" | "without"
    items      := item (("and" | "," | "&" | "plus") item)*      (a "," between a number and a
                                                                 description is apposition: they must agree)
    item       := number | number "-" number | ordinal | "last" | "second to last"
                | ordinal "from the" side | position [position] | "the" count side ("the two on the left")
                | size | shade | colour | kind ... (the words of one item must agree)

``kind`` is the kind asked about ("cup", "cups"); another noun is not understood and the follow-up
says so. Numbers refer to the numbered candidates; positions, sizes and colours are read among the
candidates shown, or among every match after "all". A colour compares each box's median Lab colour
with :func:`tools.color.parse_color`'s; it must be clearly the nearest. With ``want`` (the instruction
meant N things) an answer must name N, or say "all".

An instruction (the question is dropped and it runs as a new turn) is a message with an edit verb
("make", "remove", "put" ...) whose object is not just a choice among the candidates ("remove the left
one" answers a question about removing; "make the left one red" answers one about making a cup red,
"make the left one green" or "paint it" while asked which to remove do not), a message that says how
things should end up ("I want the table removed", "the saucer should be blue", "the whole picture
..."), or a question ("what is ...?").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tools.boxes import box_area, box_center, outer_box

# -- tokens ------------------------------------------------------------------------------------------

_NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
MAX_DIGITS = 6
"""Longer digit runs are no number at all (no list or history is that long; int() of thousands of
digits would be slow or raise)."""


def tokens(text: str) -> list[str]:
    """Lower-case words, numbers (``2``, ``2nd``), and the marks that carry meaning (``,`` ``-``).

    "never mind" is one token; "#2" and "no. 2" read as "number 2"; "v3" as "v 3"; "&" as "and".
    """
    text = str(text).lower().replace("\u2019", "'")
    text = re.sub(r"\bno\.\s*(?=\d)", " number ", text)
    text = re.sub(r"#\s*(?=\d)", " number ", text)
    text = re.sub(r"\bnever\s*mind\b", "nevermind", text)
    text = re.sub(r"\bcentre\b", "center", text)
    text = re.sub(r"(?<=[a-z])'(ll|d|m|re|ve)\b", lambda m: " " + {"ll": "will", "d": "would", "m": "am",
                                                                    "re": "are", "ve": "have"}[m.group(1)], text)
    text = re.sub(r"(?<=[a-z])'(?=[a-z])", "", text)             # don't → dont, let's → lets
    return re.findall(r"\d+(?:st|nd|rd|th)?|[a-z]+|[,&\-–]", text.replace("&", " and ").replace("–", "-"))


def number(token: str) -> int | None:
    """The count a token says: "3", "three" (not "one": "the left one" is no number; see :func:`_item`)."""
    if re.fullmatch(r"\d+", token):
        digits = token.lstrip("0") or "0"
        return int(digits) if len(digits) <= MAX_DIGITS else None
    return _NUMBER_WORDS.get(token)


def ordinal(token: str) -> int | None:
    """The place an ordinal says: "second", "2nd"."""
    m = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", token)
    if m:
        return number(m.group(1))
    return _ORDINALS.get(token)


# -- moves -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A move in the version tree: ``undo``/``redo`` ``amount`` edits, or ``revert`` to version ``amount``."""

    kind: Literal["undo", "redo", "revert"]
    amount: int


# A move pattern: words; "a|b" alternatives of one word; "[...]" optional; "<n>" a count; "<v>" a version.
_THAT = "[that|it|this|the|my|last|previous|latest|one|edit|change|step|thing]"
_UNIT = "[edit|edits|change|changes|step|steps|one|ones|time|times|version|versions]"
_MOVES: tuple[tuple[str, str, int | None], ...] = (
    ("undo", f"undo {_THAT} {_THAT} {_THAT}", 1),
    ("undo", f"undo [the] [last|previous] <n> {_UNIT} [ago]", None),
    ("undo", "undo <t>", None),
    ("undo", f"take [that|it|this] back [the] [last] {_UNIT}", 1),
    ("undo", f"go back [<n>] {_UNIT}", None),
    ("undo", f"go back a {_UNIT}", 1),
    ("undo", f"[go|step|move] back <n> {_UNIT}", None),
    ("undo", f"[a|one] step back", 1),
    ("undo", f"roll back [<n>] {_UNIT}", None),
    ("undo", "step back", 1),
    ("undo", f"revert [that|it|this] {_THAT} {_THAT} {_THAT}", 1),
    ("undo", "[go|get|switch|return|revert] [back] [to] the|my previous version", 1),
    ("undo", "previous version", 1),
    ("revert0", "undo everything|all [of] [it|them|the] [edits|changes]", 0),
    ("redo", "undo [the|that|my] undo", 1),
    ("redo", "redo [the|that|my] [last] undo", 1),
    ("redo", f"redo {_THAT} {_THAT} {_THAT}", 1),
    ("redo", f"redo [the] [last|next] <n> {_UNIT}", None),
    ("redo", "redo <t>", None),
    ("redo", f"go|step|move forward [<n>] {_UNIT}", None),
    ("redo", f"go|step|move forward a {_UNIT}", 1),
    ("revert", "revert|restore|return|switch|jump|go|change|roll|get [back] [to] [version|v] <v>", None),
    ("revert", "back to [version|v] <v>", None),
    ("revert", "show|open|load|display [me] [the] version|v <v>", None),
    ("revert", "version|v <v>", None),
    ("revert0", "[revert|return|switch|jump|go|get|roll|change|restore|reset|set|bring] [it|everything] "
                "[back] [to] the original [image|photo|picture|version|one]", 0),
    ("revert0", "back to the original [image|photo|picture|version|one]", 0),
    ("revert0", "start [all] over|again [from] [scratch] [again]", 0),
    ("revert0", "[go|get] [back] [to] the start|beginning", 0),
    ("revert0", "show|open [me] the original [image|photo|picture|version|one]", 0),
    ("revert0", "start from scratch", 0),
    ("revert0", "reset [it|everything|all] [the|image|photo|picture]", 0),
    ("revert0", "restore the original [image|photo|picture]", 0),
)
_LEAD = {"please", "pls", "ok", "okay", "oops", "oh", "hmm", "just", "now", "then", "and", "so", "no", "nope",
         "actually", "well", "can", "could", "would", "will", "you", "lets", "let", "us", "i", "want", "to",
         "like", "id", "wanna", "try", "sorry", "whoops", "ugh", "meh", "yes", "yeah", "alright", "we", "maybe"}
_TRAIL = {"please", "pls", "thanks", "thank", "you", "again", "now", "for", "me", "ok", "okay", "then"}


def _compile(pattern: str) -> list[tuple[set[str] | str, bool]]:
    """A pattern as (word set or slot, optional) pairs."""
    out: list[tuple[set[str] | str, bool]] = []
    for part in pattern.split():
        optional = part.startswith("[")
        part = part.strip("[]")
        out.append((part if part.startswith("<") else set(part.split("|")), optional))
    return out


_COMPILED = [(kind, _compile(p), default) for kind, p, default in _MOVES]


def _slot(slot: str, token: str) -> int | None:
    if slot == "<t>":
        return _TIMES.get(token)
    value = number(token)
    if slot == "<n>" and value is not None and value < 1:
        return None
    return value


def _match(parts: list[tuple[set[str] | str, bool]], words: list[str],
           value: int | None = None) -> tuple[bool, int | None]:
    """Whether ``words`` match ``parts`` wholly (backtracking over optional parts), and the slot's value."""
    if not parts:
        return not words, value
    (want, optional), rest = parts[0], parts[1:]
    if words:
        if isinstance(want, str):
            got = _slot(want, words[0])
            if got is not None:
                ok, v = _match(rest, words[1:], got)
                if ok:
                    return ok, v
        elif words[0] in want:
            ok, v = _match(rest, words[1:], value)
            if ok:
                return ok, v
    if optional:
        return _match(rest, words, value)
    return False, None


def _trim(words: list[str]) -> list[str]:
    """Politeness around a command: "ok, please undo that, thanks" → "undo that"."""
    words = [w for w in words if w != ","]
    while words and words[0] in _LEAD and words[0] not in ("undo", "redo"):
        words = words[1:]
    while words and words[-1] in _TRAIL:
        words = words[:-1]
    return words


def read_move(text: str) -> Move | None:
    """The move a whole message asks for, or None when it is anything else (then the planner reads it).

    Examples: "undo" → undo 1; "undo the last two" → undo 2; "go back 3 steps" → undo 3; "redo
    twice" → redo 2; "revert to 3" / "back to version 3" / "go to v3" → revert 3; "go back to the
    original" / "start over" → revert 0. "undo the blue and make it red" → None.
    """
    words = tokens(text)
    if not words or len(words) > 16 or "-" in words:
        return None
    words = _trim(words)
    for kind, parts, default in _COMPILED:
        ok, value = _match(parts, words)
        if not ok:
            continue
        amount = value if value is not None else default
        if amount is None:
            amount = 1
        if kind == "revert0":
            return Move("revert", 0)
        return Move(kind, amount)  # type: ignore[arg-type]
    return None


# -- answers: the syntax tree ---------------------------------------------------------------------------

Side = Literal["leftmost", "rightmost", "topmost", "bottommost", "center"]
_SIDES: dict[str, Side] = {
    "left": "leftmost", "leftmost": "leftmost", "right": "rightmost", "rightmost": "rightmost",
    "top": "topmost", "topmost": "topmost", "upper": "topmost", "uppermost": "topmost", "higher": "topmost",
    "highest": "topmost", "above": "topmost",
    "bottom": "bottommost", "bottommost": "bottommost", "lower": "bottommost", "lowest": "bottommost",
    "lowermost": "bottommost", "below": "bottommost",
    "middle": "center", "center": "center", "central": "center", "centre": "center",
}
_SIZES = {"biggest": "largest", "largest": "largest", "big": "largest", "bigger": "largest", "large": "largest",
          "larger": "largest", "huge": "largest", "smallest": "smallest", "small": "smallest",
          "smaller": "smallest", "little": "smallest", "tiny": "smallest", "tinier": "smallest",
          "tiniest": "smallest", "tall": "tallest", "taller": "tallest", "tallest": "tallest",
          "wide": "widest", "wider": "widest", "widest": "widest", "short": "shortest", "shorter": "shortest",
          "shortest": "shortest", "narrow": "narrowest", "narrower": "narrowest", "narrowest": "narrowest"}
_SHADES = {"dark": "darkest", "darker": "darkest", "darkest": "darkest", "light": "lightest",
           "lighter": "lightest", "lightest": "lightest", "bright": "lightest", "brighter": "lightest",
           "brightest": "lightest", "pale": "lightest", "paler": "lightest", "palest": "lightest"}
_ALL = {"all", "both", "every", "each", "everything", "everyone", "everybody"}
_EXCEPT = {"except", "but", "besides", "excluding", "excl", "save", "minus", "without", "not", "apart", "other"}
_CANCEL = {"cancel", "nevermind", "none", "neither", "nothing", "forget", "stop", "abort", "quit", "skip",
           "leave", "nah", "nope", "no", "dont", "mind"}
_CORRECTION = {"no", "nope", "nah", "sorry", "oops", "whoops", "actually", "wait", "hmm", "oh", "i", "meant",
               "mean", "well", "um", "uh", "instead", "rather", "correction", "ah", "ehm", "er", "erm"}
_FILLER = {"the", "a", "an", "one", "ones", "please", "pls", "on", "in", "at", "of", "side", "to", "is", "that",
           "this", "thats", "it", "its", "with", "i", "want", "wanted", "mean", "meant", "pick", "choose", "take",
           "go", "do", "lets", "just", "only", "hand", "most", "far", "very", "corner", "part", "image",
           "picture", "photo", "thanks", "thank", "you", "yes", "ok", "okay", "yeah", "yep", "sure", "guess",
           "think", "probably", "id", "like", "would", "be", "them", "those", "these", "thing", "things",
           "object", "objects", "item", "items", "number", "numbers", "nr", "num", "option", "options",
           "candidate", "box", "boxes", "choice", "edge", "there", "way", "all", "of", "whole", "exactly",
           "also", "too", "as", "well", "please", "then", "now", "side", "sides", "looking", "looks", "color",
           "colour", "colored", "coloured", "size", "sized", "shaped", "guy", "over", "end", "row", "will", "am",
           "have", "are", "closest", "nearest", "near", "nearer", "closer", "sure", "fine", "alright"}
_SEPARATORS = {",", "and", "plus", "also"}
_NUMBER_MARKS = {"number", "nr", "num", "option", "candidate", "box", "choice"}
_LAST = {"last", "final"}

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
_INSTRUCTION_MARKS = {"actually", "instead", "rather", "forget", "scratch", "wait", "new", "also", "now"}


@dataclass(frozen=True)
class Item:
    """One thing an answer names; its words must agree ("number 1, the left one")."""

    numbers: tuple[int, ...] = ()
    """Candidate numbers said outright (1-based), ranges written out."""
    from_last: int | None = None
    """1: "the last one", 2: "the second to last"."""
    side: Side | None = None
    nth: int = 1
    """With ``side``: "second from the right" is side rightmost, nth 2."""
    corner: tuple[Side, Side] | None = None
    """("leftmost", "topmost") for "top left"."""
    count: int | None = None
    """"the two on the left": this many, by ``side``."""
    size: str | None = None
    shade: str | None = None
    colour: str | None = None
    words: tuple[str, ...] = ()
    """The item's own words, for follow-up questions."""

    @property
    def described(self) -> bool:
        """Whether it names by description (place, size, colour) rather than only by number."""
        return any((self.from_last, self.side, self.corner, self.size, self.shade, self.colour))


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


class _Unclear(Exception):
    """Raised inside the parser with the clause the follow-up question will use."""


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


def _quote(words: Sequence[str]) -> str:
    text = " ".join(words)
    return "\"" + (text if len(text) <= 30 else text[:27] + "...") + "\""


def _is_colour(words: Sequence[str]) -> str | None:
    """The colour these words name (one word, or two like "light blue"), or None."""
    from tools.color import parse_color
    from tools.errors import ChatEditError

    text = " ".join(words)
    if not words or any(w in _SIDES or w in _SIZES or w in _FILLER or number(w) is not None for w in words):
        return None
    try:
        parse_color(text)
    except (ChatEditError, ValueError):
        return None
    return text


def _item(words: list[str], kinds: set[str]) -> Item:
    """Parse one item; raises :class:`_Unclear` naming the words it could not read."""
    numbers: list[int] = []
    sides: list[Side] = []
    fields: dict[str, object] = {}
    i = 0
    unknown: list[str] = []
    count: int | None = None
    nth = 1
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        n = number(w)
        o = ordinal(w)
        if w in _NUMBER_MARKS and nxt and (number(nxt) is not None):
            numbers.append(number(nxt) or 0)
            i += 2
            continue
        if n is not None and nxt in ("-", "to", "through", "thru", "till", "until") and i + 2 < len(words) \
                and number(words[i + 2]) is not None:
            hi = number(words[i + 2]) or 0
            if hi < n or hi - n > 50:
                raise _Unclear(f"{_quote(words)} is not a range I can use")
            numbers.extend(range(n, hi + 1))
            i += 3
            continue
        ahead = next((j for j in range(i + 1, len(words)) if words[j] not in kinds and words[j] != "one"), None)
        if (o is not None or (n is not None and w != "one")) and ahead is not None and words[ahead] == "from":
            j = next((k for k in range(ahead + 1, len(words)) if words[k] not in ("the", "one", "end", "side")),
                     len(words))
            if j < len(words) and words[j] in _SIDES and _SIDES[words[j]] != "center":
                fields["side"] = _SIDES[words[j]]
                nth = o or n or 1
                i = j + 1
                continue
            raise _Unclear(f"{_quote(words)} does not say from which side")
        if o is not None and nxt in _LAST:                          # "second last"
            fields["from_last"] = o
            i += 2
            continue
        if o is not None and nxt == "to" and i + 2 < len(words) and words[i + 2] in _LAST:
            fields["from_last"] = o                                 # "second to last"
            i += 3
            continue
        if w == "penultimate" or (w == "next" and nxt == "to" and words[i + 2:i + 3] and words[i + 2] in _LAST):
            fields["from_last"] = 2
            i += 1 if w == "penultimate" else 3
            continue
        if w in _LAST:
            fields["from_last"] = 1
            i += 1
            continue
        if o is not None:
            k = number(nxt) if nxt and nxt != "one" else None
            if w == "first" and k:                                  # "the first two"
                numbers.extend(range(1, k + 1))
                i += 2
                continue
            numbers.append(o)
            i += 1
            continue
        if n is not None and w != "one":
            # a spelled count next to a place is "the two on the left"; digits are candidate numbers
            if not w.isdigit() and any(t in _SIDES for t in words) and n >= 2:
                count = n
            else:
                numbers.append(n)
            i += 1
            continue
        if w in kinds:
            i += 1
            continue
        if w in _SIDES:
            sides.append(_SIDES[w])
            i += 1
            continue
        if w in _SIZES:
            fields["size"] = _SIZES[w]
            i += 1
            continue
        colour = _is_colour(words[i:i + 2]) if nxt else None
        if colour and nxt not in kinds:
            fields["colour"] = colour
            i += 2
            continue
        if w in _SHADES:
            fields["shade"] = _SHADES[w]
            i += 1
            continue
        colour = _is_colour([w])
        if colour:
            fields["colour"] = colour
            i += 1
            continue
        if w in _FILLER or w in ("-",):
            i += 1
            continue
        unknown.append(w)
        i += 1
    if unknown:
        raise _Unclear(f"I can't tell which one {_quote(unknown)} is")
    if sides:
        kinds_of = list(dict.fromkeys(sides))
        horizontal = [s for s in kinds_of if s in ("leftmost", "rightmost")]
        vertical = [s for s in kinds_of if s in ("topmost", "bottommost")]
        if len(kinds_of) == 1:
            if "side" in fields and fields["side"] != kinds_of[0]:
                raise _Unclear(f"{_quote(words)} names two sides")
            fields.setdefault("side", kinds_of[0])
        elif len(kinds_of) == 2 and len(horizontal) == 1 and len(vertical) == 1 and "side" not in fields:
            fields["corner"] = (horizontal[0], vertical[0])
        else:
            raise _Unclear(f"{_quote(words)} names places that do not go together")
    if count is not None and "side" not in fields:
        raise _Unclear(f"{_quote(words)} does not say which {count}")
    item = Item(numbers=tuple(numbers), nth=nth, count=count, words=tuple(words), **fields)  # type: ignore[arg-type]
    if not item.numbers and not item.described:
        raise _Unclear(f"{_quote(words)} names none of them")
    return item


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


def _is_cancel(words: list[str]) -> bool:
    rest = [w for w in words if w not in (",", "it", "that", "of", "them", "the", "above", "please", "thanks",
                                          "these", "those", "thx", "now", "then", "ok", "okay",
                                          "one", "ones", "do", "anything", "this", "about", "all", "just",
                                          "want", "i", "any", "mind", "leave", "as", "is", "thank", "you")]
    said = [w for w in words if w != ","]
    if not said:
        return False
    cancel_word = any(w in _CANCEL for w in said)
    return cancel_word and all(w in _CANCEL for w in rest) and not any(number(w) for w in said if w != "one")


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
    except _Unclear:
        return True
    last = [w for w in rest if w not in (",", "please", "thanks", "instead", "too", "now")][-2:]
    if answer.kind == "cancel" or (last and (last[-1] in _COMPARATIVES or _is_colour(last) or _is_colour(last[-1:]))):
        return True                                     # "make the left one green / bigger": a new request
    return rest                                         # "make the red one blue" (asked about blue): an answer


def _answer(words: list[str], kinds: set[str]) -> Answer:
    """Parse the answer proper (after any correction); raises :class:`_Unclear`."""
    words = [w for w in words if w not in ("please", "thanks", "pls")]
    while words and words[-1] in (",", "thank", "you", "ok", "okay", "instead"):
        words = words[:-1]
    if not words:
        raise _Unclear("that names none of them")
    if _is_cancel(words):
        return Answer("cancel")
    cut = next((j for j, w in enumerate(words) if w in _EXCEPT), None)
    head = words[:cut] if cut is not None else words
    other = [w for w in head if w not in _ALL and w not in kinds and w not in _FILLER and w != ","
             and number(w) is None]
    if any(w in _ALL for w in head) and other:
        words = [w for w in words if w not in _ALL]     # "both the left one and the right one": a list
    elif any(w in _ALL for w in head):
        # "all", "them all", "both of them", "every cup", "I want all of them", "all four"
        counts = [number(w) for w in head if number(w) is not None and w != "one"]
        said = 2 if "both" in head else (counts[0] if len(counts) == 1 else None)
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
        raise _Unclear("\"or\" leaves the choice open")
    if not groups:
        raise _Unclear("that names none of them")
    kept = [j for j, g in enumerate(groups) if not all(w in _FILLER for w in g)] or list(range(len(groups)))
    commas = [commas[b - 1] for b in kept[1:]]              # "yes, the left one": "yes" is no item
    groups = [groups[j] for j in kept]
    items = tuple(_item(g, kinds) for g in groups)
    appositions = tuple((j, j + 1) for j, comma in enumerate(commas)
                        if comma and (items[j].described != items[j + 1].described))
    return items, appositions


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
    move = read_move(text)
    if move is not None and not _is_cancel(words):
        return Reading("move", move=move)
    if _is_cancel(words):
        return Reading("answer", Answer("cancel"))
    rest, _ = _strip_front(list(words))
    verb = _instruction(words, kinds, action, content)
    if verb is True:
        return Reading("instruction")
    if verb:
        rest = verb                                                     # "remove the left one": the choice
    try:
        return Reading("answer", _answer(rest, kinds))
    except _Unclear as e:
        why = str(e)
    if any(w in _INSTRUCTION_MARKS for w in words[:3]) and len(said) >= 3:
        why += "; to do something else instead, say the whole instruction (e.g. \"make the saucer blue\")"
    return Reading("unclear", why=why)


# -- answers: meaning ---------------------------------------------------------------------------------

Box = Sequence[float]
ColourOf = Callable[[Box], tuple[float, float, float]]
"""A box's typical colour in Lab (the median of its middle), for "the red one"."""


@dataclass(frozen=True)
class Resolved:
    """What an answer means: the boxes to act on, a cancel, or (``boxes`` empty) a clause saying why not."""

    kind: Literal["pick", "all", "cancel", "unclear"]
    boxes: tuple[tuple[float, ...], ...] = ()
    why: str = ""


@dataclass
class _Pool:
    boxes: list[tuple[float, ...]]
    size: tuple[int, int] | None
    colour_of: ColourOf | None
    colours: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    def lab(self, i: int) -> tuple[float, float, float]:
        if i not in self.colours:
            assert self.colour_of is not None
            self.colours[i] = self.colour_of(self.boxes[i])
        return self.colours[i]


def _by_side(pool: _Pool, side: Side) -> list[int]:
    """Indices ordered by how far they are toward ``side`` (first = most)."""
    idx = list(range(len(pool.boxes)))
    c = [box_center(b) for b in pool.boxes]
    if side == "center":
        cx, cy = (pool.size[0] / 2, pool.size[1] / 2) if pool.size else box_center(outer_box(pool.boxes))
        return sorted(idx, key=lambda i: math.dist(c[i], (cx, cy)))
    key = {"leftmost": lambda i: c[i][0], "rightmost": lambda i: -c[i][0],
           "topmost": lambda i: c[i][1], "bottommost": lambda i: -c[i][1]}[side]
    return sorted(idx, key=key)


def _one(pool: _Pool, item: Item, order: Sequence[int]) -> list[int]:
    """What an item's description picks from ``pool`` (numbers are handled by the caller)."""
    picks: list[list[int]] = []
    n = len(pool.boxes)
    if item.from_last:
        if item.from_last > n:
            raise _Unclear(f"there are only {n} of them")
        picks.append([order[n - item.from_last]])
    if item.side:
        ranked = _by_side(pool, item.side)
        if item.count:
            if item.count > n:
                raise _Unclear(f"there are only {n} of them")
            picks.append(sorted(ranked[: item.count]))
        else:
            if item.nth > n:
                raise _Unclear(f"there are only {n} of them")
            picks.append([ranked[item.nth - 1]])
    if item.corner:
        x0, y0, x1, y1 = outer_box(pool.boxes)
        h, v = item.corner
        corner = (x0 if h == "leftmost" else x1, y0 if v == "topmost" else y1)
        picks.append([min(range(n), key=lambda i: math.dist(box_center(pool.boxes[i]), corner))])
    if item.size:
        def measure(i: int) -> float:
            x0, y0, x1, y1 = pool.boxes[i]
            return {"largest": box_area(pool.boxes[i]), "smallest": -box_area(pool.boxes[i]),
                    "tallest": y1 - y0, "shortest": -(y1 - y0), "widest": x1 - x0, "narrowest": -(x1 - x0)}[
                item.size or "largest"]
        picks.append([max(range(n), key=measure)])
    if item.shade or item.colour:
        if pool.colour_of is None:
            raise _Unclear("I can't compare colours here")
        if item.colour:
            from tools.color import parse_color, rgb_to_lab
            import numpy as np

            target = tuple(float(v) for v in rgb_to_lab(np.array(parse_color(item.colour), dtype=np.uint8)))
            dist = sorted((math.dist(pool.lab(i), target), i) for i in range(n))
            if dist[0][0] > 60 or (n > 1 and dist[0][0] > 0.75 * dist[1][0]):
                what = "none of them looks" if dist[0][0] > 60 else "more than one of them looks"
                raise _Unclear(f"{what} clearly {item.colour}")
            picks.append([dist[0][1]])
        if item.shade:
            light = [pool.lab(i)[0] for i in range(n)]
            pick = max(range(n), key=lambda i: light[i] if item.shade == "lightest" else -light[i])
            picks.append([pick])
    chosen = picks[0] if picks else []
    if any(p != chosen for p in picks[1:]):
        raise _Unclear(f"{_quote(item.words)} does not fit any single one of them")
    return chosen


def _evaluate(item: Item, pool: _Pool, numbered: Sequence[tuple[float, ...]]) -> list[int]:
    """Indices into ``pool`` that ``item`` names; numbers point at the numbered candidates."""
    shown = len(numbered)
    by_number: list[int] = []
    for k in item.numbers:
        if not 1 <= k <= shown:
            raise _Unclear(f"there is no number {k}; the numbers go from 1 to {shown}")
        box = tuple(numbered[k - 1])
        by_number.append(next(i for i, b in enumerate(pool.boxes) if b == box))
    order = sorted(range(len(pool.boxes)), key=lambda i: (box_center(pool.boxes[i])[0], box_center(pool.boxes[i])[1]))
    if not item.described:
        return list(dict.fromkeys(by_number))
    described = _one(pool, item, order)
    if by_number and sorted(set(by_number)) != sorted(described):
        raise _Unclear(f"{_quote(item.words)} contradicts itself")
    return described


def resolve(answer: Answer, candidates: Sequence[Box], *, matches: Sequence[Box] | None = None,
            want: int | None = None, image_size: tuple[int, int] | None = None,
            colour_of: ColourOf | None = None) -> Resolved:
    """Turn a parsed answer into boxes.

    Args:
        answer: from :func:`read_reply`.
        candidates: the numbered candidates' boxes (candidate 1 first).
        matches: every match's box (shown or not): what "all" means; None: the candidates.
        want: how many the step means (the answer must pick that many, or say "all").
        image_size: (width, height), for "the middle one".
        colour_of: a box's Lab colour, for "the red one" / "the dark one" (None: colours unreadable).
    """
    shown = [tuple(float(v) for v in b) for b in candidates]
    if not shown:
        return Resolved("unclear", why="there is nothing to choose from")
    if answer.kind == "cancel":
        return Resolved("cancel")
    every = [tuple(float(v) for v in b) for b in (matches or ())] or list(shown)
    for box in shown:
        if box not in every:
            every.append(box)
    try:
        if answer.kind == "all":
            if answer.said is not None and not answer.items and answer.said != len(every):
                raise _Unclear(f"there are {len(every)} of them, not {answer.said}; say which ones")
            pool = _Pool(every, image_size, colour_of)
            dropped = {i for item in answer.items for i in _evaluate(item, pool, shown)}
            kept = tuple(b for i, b in enumerate(every) if i not in dropped)
            if not kept:
                raise _Unclear("that leaves none of them")
            return Resolved("all", kept)
        pool = _Pool(shown, image_size, colour_of)
        parts = [_evaluate(item, pool, shown) for item in answer.items]
        for a, b in answer.appositions:
            if sorted(parts[a]) != sorted(parts[b]):
                raise _Unclear(f"{_quote(answer.items[a].words)} and {_quote(answer.items[b].words)} "
                               "are different ones")
        picked = list(dict.fromkeys(i for p in parts for i in p))
        if answer.negated:
            picked = [i for i in range(len(shown)) if i not in picked]
            if not picked:
                raise _Unclear("that leaves none of them")
            if want is None and len(picked) > 1:
                raise _Unclear("that leaves " + " and ".join(str(i + 1) for i in picked) + "; which of those")
        if want is not None and len(picked) != want:
            raise _Unclear(f"that names {len(picked)}, but the instruction is about {want}")
        return Resolved("pick", tuple(shown[i] for i in picked))
    except _Unclear as e:
        return Resolved("unclear", why=str(e))


def forms(count: int, want: int | None = None) -> str:
    """The answer forms that work, for a follow-up question (``want``: how many the step means)."""
    last = f"1-{count}" if count > 1 else "1"
    if want is not None and want > 1:
        spelled = {v: k for k, v in _NUMBER_WORDS.items()}.get(want, str(want))
        return (f"Answer with {want} numbers ({last}, like \"1 and 3\"), positions (\"the {spelled} on the left\"), "
                "\"all\", \"all except 2\", or \"cancel\".")
    return (f"Answer with a number ({last}) or several (\"1 and 3\"), a position (\"the left one\", "
            "\"second from the right\"), a size or colour (\"the biggest\", \"the red one\"), \"all\", "
            "\"all except 2\", or \"cancel\".")


# -- pointing as an answer ------------------------------------------------------------------------------

def pick_pointed(candidates: Sequence[dict], pointing: object) -> int | None:
    """The number of the question's candidate a pointing lands on ("this one" with a click inside box 2 → 2):
    the smallest box holding the click(s), or the box a dragged box overlaps most; None when none."""
    from agent.graph.pointing import Pointing, pick

    if not isinstance(pointing, Pointing) or not candidates:
        return None
    index = pick([c["box"] for c in candidates], pointing)
    return int(candidates[index]["number"]) if index is not None else None
