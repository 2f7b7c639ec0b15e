"""One item of an answer to "which one?" ("the second from the left", "number 2", "the red one") read
into an :class:`Item`; part of the command layer (:mod:`agent.graph.answers` reads whole answers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.graph.moves import number, ordinal


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
FILLER = {"the", "a", "an", "one", "ones", "please", "pls", "on", "in", "at", "of", "side", "to", "is", "that",
          "this", "thats", "it", "its", "with", "i", "want", "wanted", "mean", "meant", "pick", "choose", "take",
          "go", "do", "lets", "just", "only", "hand", "most", "far", "very", "corner", "part", "image",
          "picture", "photo", "thanks", "thank", "you", "yes", "ok", "okay", "yeah", "yep", "yup", "sure", "guess",
          "say", "think", "probably", "id", "like", "would", "be", "them", "em", "those", "these", "thing", "things",
          "object", "objects", "item", "items", "number", "numbers", "nr", "num", "option", "options",
          "candidate", "box", "boxes", "choice", "edge", "there", "way", "all", "of", "whole", "exactly",
          "also", "too", "as", "well", "please", "then", "now", "side", "sides", "looking", "looks", "color",
          "colour", "colored", "coloured", "size", "sized", "shaped", "guy", "over", "end", "row", "will", "am",
          "have", "are", "closest", "nearest", "near", "nearer", "closer", "sure", "fine", "alright", "maybe",
          "perhaps", "furthest", "farthest", "further", "farther", "furthermost", "single", "plz", "obviously",
          "definitely", "certainly", "surely", "clearly", "absolutely", "for", "great", "good", "perfect", "nice"}
_NUMBER_MARKS = {"number", "nr", "num", "option", "candidate", "box", "choice", "numbered", "labelled", "labeled",
                 "marked", "tagged"}
_LAST = {"last", "final"}


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


def places(word: str) -> bool:
    """Whether ``word`` names a place or a size ("left", "top", "bigger"): "the right 1" is "the right one"."""
    return word in _SIDES or word in _SIZES or word in _SHADES


class Unclear(Exception):
    """Raised inside the parser with the clause the follow-up question will use."""


def quote(words: Sequence[str]) -> str:
    text = " ".join(words)
    return "\"" + (text if len(text) <= 30 else text[:27] + "...") + "\""


def is_colour(words: Sequence[str]) -> str | None:
    """The colour these words name (one word, or two like "light blue"), or None."""
    from tools.color import parse_color
    from tools.errors import ChatEditError

    text = " ".join(words)
    if not words or any(w in _SIDES or w in _SIZES or w in FILLER or number(w) is not None for w in words):
        return None
    try:
        parse_color(text)
    except (ChatEditError, ValueError):
        return None
    return text


def parse_item(words: list[str], kinds: set[str]) -> Item:
    """Parse one item; raises :class:`Unclear` naming the words it could not read."""
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
                raise Unclear(f"{quote(words)} is not a range I can use")
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
            raise Unclear(f"{quote(words)} does not say from which side")
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
        if w in _LAST and nxt and nxt != "one" and (number(nxt) or 0) >= 2:
            fields["from_last"], count = 1, number(nxt)                # "the last two"
            i += 2
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
        colour = is_colour(words[i:i + 2]) if nxt else None
        if colour and nxt not in kinds:
            fields["colour"] = colour
            i += 2
            continue
        if w in _SHADES:
            fields["shade"] = _SHADES[w]
            i += 1
            continue
        colour = is_colour([w])
        if colour:
            fields["colour"] = colour
            i += 1
            continue
        if w == "-" and number(nxt) is not None:
            raise Unclear(f"{quote(words)} is not one of the numbers shown")   # "-1"
        if w in FILLER or w in ("-",):
            i += 1
            continue
        unknown.append(w)
        i += 1
    if unknown:
        raise Unclear(f"I can't tell which one {quote(unknown)} is")
    if sides:
        kinds_of = list(dict.fromkeys(sides))
        horizontal = [s for s in kinds_of if s in ("leftmost", "rightmost")]
        vertical = [s for s in kinds_of if s in ("topmost", "bottommost")]
        if len(kinds_of) == 1:
            if "side" in fields and fields["side"] != kinds_of[0]:
                raise Unclear(f"{quote(words)} names two sides")
            fields.setdefault("side", kinds_of[0])
        elif len(kinds_of) == 2 and len(horizontal) == 1 and len(vertical) == 1 and "side" not in fields:
            fields["corner"] = (horizontal[0], vertical[0])
        else:
            raise Unclear(f"{quote(words)} names places that do not go together")
    if count is not None and "side" not in fields and "from_last" not in fields:
        raise Unclear(f"{quote(words)} does not say which {count}")
    item = Item(numbers=tuple(numbers), nth=nth, count=count, words=tuple(words), **fields)  # type: ignore[arg-type]
    if not item.numbers and not item.described:
        raise Unclear(f"{quote(words)} names none of them")
    return item
