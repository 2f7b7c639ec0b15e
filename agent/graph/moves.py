"""Moves in the version tree read from plain words ("undo the last two", "go back to the original").

Part of the command layer (:mod:`agent.graph.commands` has the whole grammar). Only a message that is
nothing but a move is one; the tokenizer here is shared with the answer reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# -- tokens ------------------------------------------------------------------------------------------

NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
MAX_DIGITS = 6
"""Longer digit runs are no number at all (no list or history is that long; int() of thousands of
digits would be slow or raise)."""


def tokens(text: str) -> list[str]:
    """Lower-case words, numbers (``2``, ``2nd``), and the marks that carry meaning (``,`` ``-``).

    "never mind" and "nvm" are one token; "do not" is "dont"; hesitations ("uhh", "errm") are "um"; "#2" and
    "no. 2" read as "number 2"; "v3" as "v 3"; "&" as "and"; "1/2" as "1 or 2".
    """
    text = str(text).lower().replace("\u2019", "'")
    text = re.sub(r"\bno\.\s*(?=\d)", " number ", text)
    text = re.sub(r"#\s*(?=\d)", " number ", text)
    text = re.sub(r"\bnever\s*mind\b|\bnvm\b", "nevermind", text)
    text = re.sub(r"\bdo\s+not\b", "dont", text)
    text = re.sub(r"\b(?:u+h+|u+m+|e+r+m*|h+m+|a+h+|e+h+m*)\b", "um", text)   # hesitations: "uhh", "errr", "hmmm"
    text = re.sub(r"(?<=\d)\s*/\s*(?=\d)", " or ", text)                   # "1/2": one or the other
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
    return NUMBER_WORDS.get(token)


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
    ("undo", "undo [that|it|the|my] [last] [edit|change|step] [one|once] more [time]", 1),
    ("undo", "undo what you [just] did", 1),
    ("undo", "one more undo", 1),
    ("undo", "another undo", 1),
    ("undo", f"take [that|it|this] back [the] [last] {_UNIT}", 1),
    ("undo", f"go back [<n>] {_UNIT}", None),
    ("undo", "go|step back <t>", None),
    ("undo", f"go back a {_UNIT}", 1),
    ("undo", f"[go|step|move] back <n> {_UNIT}", None),
    ("undo", "[a|one] step back", 1),
    ("undo", f"roll back [<n>] {_UNIT}", None),
    ("undo", "step back", 1),
    ("undo", f"revert [that|it|this] {_THAT} {_THAT} {_THAT}", 1),
    ("undo", "revert [it|that] back", 1),
    ("undo", "[go|get|switch|return|revert] [back] [to] the|my previous version", 1),
    ("undo", "previous version", 1),
    ("undo", "[go|get|switch|return|revert] [back] [to] [the|my] previous [one|edit|change]", 1),
    ("undo", f"<n> {_UNIT} back", None),
    ("undo", "back", 1),
    ("undo", "undo x <n>", None),
    ("undo", "undo <n> x", None),
    ("undo", "cancel|remove|delete|discard|scrap|drop|ditch [that|the|my] [last|latest|previous] edit|change", 1),
    ("revert0", "undo|revert everything|all [of] [it|them|the] [edits|changes]", 0),
    ("revert0", "undo it|them|everything all", 0),
    ("redo", "undo [the|that|my] undo", 1),
    ("redo", "redo [the|that|my] [last] undo", 1),
    ("redo", f"redo {_THAT} {_THAT} {_THAT}", 1),
    ("redo", f"redo [the] [last|next] <n> {_UNIT}", None),
    ("redo", "redo <t>", None),
    ("redo", "redo x <n>", None),
    ("redo", "redo <n> x", None),
    ("redo", f"[go|step|move] forward [<n>] {_UNIT}", None),
    ("redo", f"go|step|move forward a {_UNIT}", 1),
    ("revert", "revert|restore|return|switch|jump|go|change|roll|get [back] [to] [version|v] [number] <v>", None),
    ("revert", "back to [version|v] [number] <v>", None),
    ("revert", "show|open|load|display|see|view [me] [the] version|v [number] <v>", None),
    ("revert", "version|v [number] <v>", None),
    ("revert0", "[revert|return|switch|jump|go|get|roll|change|restore|reset|set|bring] [it|everything] "
                "[back] [to] [the] original [image|photo|picture|version|one]", 0),
    ("revert0", "back to the original [image|photo|picture|version|one]", 0),
    ("revert0", "[get|bring|give] [me] [back] the original [image|photo|picture|version|one] back", 0),
    ("revert0", "[go|get] [back] [to] square one", 0),
    ("revert0", "start [all] over|again [from] [scratch] [again]", 0),
    ("revert0", "[go|get] [back] [to] the start|beginning", 0),
    ("revert0", "show|open [me] the original [image|photo|picture|version|one]", 0),
    ("revert0", "start from scratch", 0),
    ("revert0", "reset [it|everything|all] [the|image|photo|picture]", 0),
    ("revert0", "restore the original [image|photo|picture]", 0),
)
_LEAD = {"please", "pls", "ok", "okay", "oops", "oh", "hmm", "just", "now", "then", "and", "so", "no", "nope",
         "actually", "well", "can", "could", "would", "will", "you", "lets", "let", "us", "i", "want", "to",
         "like", "id", "wanna", "try", "sorry", "whoops", "ugh", "meh", "yes", "yeah", "alright", "we", "maybe",
         "um", "yep", "yup", "me", "nevermind"}
_NEGATIONS = {"no", "nope", "not", "never", "dont", "cant", "wont", "shouldnt", "without"}
"""A negation right before a command ("no undo", "don't undo") says not to run it: no move."""
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


def trim(words: list[str]) -> list[str]:
    """Politeness around a command: "ok, please undo that, thanks" → "undo that"."""
    words = [w for w in words if w != ","]
    while words and words[0] in _LEAD and words[0] not in ("undo", "redo"):
        words = words[1:]
    while words and words[-1] in _TRAIL and words[-2:] != ["start", "again"]:   # "start again": a move
        words = words[:-1]
    return words


_MOVE_VERBS = {"undo", "redo", "revert", "reset", "restore", "go", "start", "take", "step", "roll", "switch",
               "return", "jump"}


def negated_move(text: str) -> str | None:
    """The words of a move a negation stands right before ("don't undo", "no undo", "never go back to
    version 2"), or None: such a message is never a move, and no model is asked to read it as one."""
    words = tokens(text)
    if len(words) > 16:
        return None
    for i, w in enumerate(words[:-1]):
        if w in _NEGATIONS and words[i + 1] in _MOVE_VERBS:
            rest = words[i + 1:]
            rest = rest[:next((k for k, r in enumerate(rest) if r == ","), len(rest))]
            stripped = " ".join(trim(rest))
            if read_move(stripped) is not None:
                return stripped
    return None


def read_move(text: str) -> Move | None:
    """The move a whole message asks for, or None when it is anything else (then the planner reads it).

    Examples: "undo" → undo 1; "undo the last two" → undo 2; "go back 3 steps" → undo 3; "redo
    twice" → redo 2; "revert to 3" / "back to version 3" / "go to v3" → revert 3; "go back to the
    original" / "start over" → revert 0. "undo the blue and make it red" → None.
    """
    words = tokens(text)
    if not words or len(words) > 16 or "-" in words:
        return None
    if any(w in _NEGATIONS and words[i + 1:i + 2] != [","] for i, w in enumerate(words)):
        return None                         # "no undo", "don't undo", "never go back": never run it ("no, undo" is one)
    words = trim(words)
    if len(words) > 1 and len(set(words)) == 1 and words[0] in ("undo", "redo"):
        return Move(words[0], len(words))  # type: ignore[arg-type]   # "undo undo", "undo, undo, undo"
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
