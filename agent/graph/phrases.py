"""Noun phrases as referents: "the second cup from the left", "all the cups except the red one", "the dog on
the sofa", "it"; colour words ("dark blue", "red and white striped"); and words for a reference image ("the one
in the picture"). Used by :mod:`agent.graph.grammar`."""

from __future__ import annotations

import re

from PIL import ImageColor
from pydantic import ValidationError

from agent.graph.plan import Anchor, Exclusion, Referent

_COLOURS = {
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white", "grey",
    "gray", "gold", "golden", "silver", "beige", "cream", "navy", "teal", "turquoise", "maroon", "burgundy",
    "crimson", "scarlet", "magenta", "cyan", "lime", "olive", "mint", "lavender", "lilac", "mustard", "rust",
    "bronze", "copper", "peach", "tan", "khaki", "ivory", "charcoal", "emerald", "ruby", "sapphire", "indigo",
    "aqua", "coral", "salmon", "amber", "ochre", "fuchsia", "mauve", "plum", "cherry", "lemon", "sky",
    "reddish", "bluish", "greenish", "yellowish", "pinkish", "purplish", "brownish", "greyish", "grayish",
    "orangey", "multicoloured", "multicolored", "rainbow", "transparent",
} | {name for name in ImageColor.colormap if name.isalpha() and len(name) > 3}
_CORE = {"red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white", "grey",
         "gray", "gold", "golden", "silver", "beige", "navy", "teal", "turquoise", "maroon", "striped", "spotted"}
"""Colour words that, before a noun, pick among things ("the red cup"): a small set, so "orange juice" stays a kind."""
_SHADES = {"light", "dark", "bright", "pale", "deep", "pastel", "neon", "vivid", "muted", "hot", "baby", "royal",
           "navy", "forest", "olive", "sky", "lime", "dusty", "soft", "rich", "matte", "glossy", "shiny",
           "metallic", "darker", "lighter", "brighter", "fluorescent", "electric", "warm", "cool"}
_PATTERNS = {"striped", "stripes", "stripy", "checkered", "chequered", "checked", "plaid", "tartan", "spotted",
             "dotted", "polka", "dot", "dots", "spots", "floral", "camo", "camouflage", "patterned", "speckled",
             "marbled", "gradient", "ombre", "and", "with", "colour", "color", "coloured", "colored", "tone",
             "toned", "shade", "paint", "pattern", "wood", "wooden", "marble", "glass", "leather", "velvet",
             "denim", "chrome", "plastic", "stone", "brick", "tiger", "leopard", "zebra", "print"}
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_POSITION = {"left": "leftmost", "leftmost": "leftmost", "left-most": "leftmost", "left-hand": "leftmost",
             "right": "rightmost", "rightmost": "rightmost", "right-most": "rightmost", "right-hand": "rightmost",
             "top": "topmost", "topmost": "topmost", "upper": "topmost", "uppermost": "topmost",
             "bottom": "bottommost", "bottommost": "bottommost", "lower": "bottommost", "lowest": "bottommost",
             "middle": "center", "central": "center", "center": "center", "centre": "center",
             "biggest": "largest", "largest": "largest", "smallest": "smallest", "tiniest": "smallest"}
RELATIONS = {"to the left of": "left_of", "left of": "left_of", "on the left of": "left_of",
              "to the right of": "right_of", "right of": "right_of", "on the right of": "right_of",
              "above": "above", "over": "above", "below": "below", "under": "below", "underneath": "below",
              "beneath": "below", "next to": "next_to", "beside": "next_to", "by": "next_to", "near": "next_to",
              "alongside": "next_to", "close to": "next_to", "on top of": "on", "on": "on", "onto": "on",
              "upon": "on", "in": "in", "inside": "in", "into": "in", "within": "in", "in front of": "in_front_of",
              "behind": "behind"}
RELATION_RE = "|".join(sorted((re.escape(k) for k in RELATIONS), key=len, reverse=True))
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
              "geese": "goose", "teeth": "tooth", "feet": "foot", "sheep": "sheep", "fish": "fish"}
_STOP = {"and", "or", "then", "to", "with", "from", "into", "is", "are", "be", "was", "not", "no", "yes", "what",
         "why", "how", "where", "which", "who", "please", "can", "could", "would", "should", "will", "i", "you",
         "me", "we", "us", "it", "them", "that", "this", "these", "those", "so", "if", "but", "except", "also",
         "make", "remove", "delete", "replace", "add", "put", "change", "turn", "paint", "colour", "color",
         "undo", "redo", "revert", "go", "back", "one", "ones", "all", "both", "every", "each", "a", "an",
         "the", "some", "any", "more", "less", "bigger", "smaller", "of", "at", "for", "by", "on", "in",
         "left", "right", "middle", "center", "centre", "everything", "everyone", "something", "anything",
         "nothing", "image", "picture", "photo", "pic", "scene"}
_NOT_A_KIND = {"other", "others", "not", "non", "never", "without", "dont", "don't", "nor", "neither", "none",
               "twice", "thrice", "times", "again", "pls", "plz", "asap"}
"""Words that make a phrase no kind a detector can look for: "the other cup", "the non-red cup" (a detector
asked for "non-red cup" finds red cups)."""
_IT = {"it", "that", "this", "them", "that one", "this one", "the same one", "the same thing", "it again",
       "that thing", "the thing i just edited", "what you just edited"}
_POINTED = {"here", "there", "this thing", "this part", "this area", "this spot", "this region", "this object",
            "the thing i pointed at", "what i pointed at", "the one i pointed at", "the thing i clicked on",
            "what i clicked on", "the selection", "the selected area", "the marked area", "the pointed region"}
"""Phrases that mean the region the person pointed at on the image (a click or a box)."""
_DETERMINER = re.compile(r"^(?:the|a|an|this|that|these|those|my|your|his|her|their|our|its)\s+")
_PICTURE = r"(?:picture|image|photo|pic|reference(?: image| picture| photo| pic)?|attachment)"
REFERENCE_RE = (rf"(?:(?:this|that)(?: one| {_PICTURE})?|the attached (?:one|{_PICTURE})"
                rf"|(?:the|my|this|that) {_PICTURE}(?: i (?:sent|attached|gave you|added|uploaded))?"
                rf"|the (?:one|ones|thing|object|look) (?:in|from|on|of) (?:the|this|that|my) {_PICTURE}"
                rf"(?: i (?:sent|attached|gave you|added|uploaded))?)")
"""Words for a reference image given with the turn: "this", "that one", "the one in the picture", "the
reference image", "the photo i sent" (read as the reference only when one came with the words)."""


def is_reference(text: str) -> bool:
    """Whether ``text`` is only words for the turn's reference image (:data:`REFERENCE_RE`)."""
    return re.fullmatch(REFERENCE_RE, " ".join(text.split())) is not None


def is_colour(words: list[str]) -> bool:
    """Whether ``words`` are a colour: starting with a colour or shade, then only colour, shade or pattern words."""
    if not words or words[-1] in ("and", "with"):
        return False
    parts = [p for w in words for p in w.split("-") if p]
    if not parts:
        return False
    first = parts[0]
    if not (first in _COLOURS or first in _SHADES or re.fullmatch(r"#[0-9a-f]{3}(?:[0-9a-f]{3})?", first)):
        return False
    known = _COLOURS | _SHADES | _PATTERNS
    if not all(p in known or re.fullmatch(r"#[0-9a-f]{3}(?:[0-9a-f]{3})?", p) for p in parts):
        return False
    return any(p in _COLOURS or p.startswith("#") for p in parts)


_MATERIALS = {"wooden", "marble", "marbled", "leather", "velvet", "denim", "chrome", "chromed", "glassy", "striped",
              "stripy", "checkered", "chequered", "plaid", "tartan", "spotted", "floral", "camo", "camouflage",
              "speckled", "leopard", "zebra", "tiger"}
"""Words that say a look without a colour ("make the table wooden"): read as the new look after "make X"."""


def is_look(words: list[str]) -> bool:
    """Whether ``words`` are a colour, or a material or pattern said alone ("wooden", "leopard print",
    "dark wooden"): the new look of a "make the table wooden" clause (a diffusion recolour)."""
    if is_colour(words):
        return True
    parts = [p for w in words for p in w.split("-") if p]
    known = _COLOURS | _SHADES | _PATTERNS
    return bool(parts) and any(p in _MATERIALS for p in parts) and all(p in known for p in parts) \
        and parts[-1] not in ("and", "with")


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(?:ch|sh|ss|x|z)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


_ONLY_PLURAL = {"glasses", "sunglasses", "pants", "jeans", "trousers", "shorts", "scissors", "pliers", "tongs",
                "goggles", "binoculars", "headphones", "earphones", "clothes", "stairs", "leggings", "overalls",
                "pajamas", "pyjamas", "news", "series", "species", "lens", "dress", "grass", "glass", "blinds",
                "curtains", "drapes", "sweets", "leaves", "remains", "belongings", "surroundings", "lips", "eyes",
                "canvas", "atlas", "gas", "christmas", "pancreas", "physics", "graphics", "electronics", "woods",
                "headquarters", "barracks", "means", "odds", "thanks", "arms", "suds", "scales", "stands"}
"""Words ending in "s" that name one thing, or a pair people mean as one ("the glasses", "the eyes")."""


def _plural(word: str) -> bool:
    """Whether ``word`` is a plain plural noun ("cups", "dogs"): "the cups" then means all of them."""
    return word not in _ONLY_PLURAL and word not in _STOP and _singular(word) != word and word[-1] == "s"


def _phrase_ok(phrase: str) -> bool:
    """A kind of thing a detector can look for: one to four plain words, no verbs or pronouns, not a colour."""
    words = phrase.split()
    return (1 <= len(words) <= 4 and all(re.fullmatch(r"[a-z][a-z'-]*", w) for w in words)
            and not any(w in _STOP or w in _NOT_A_KIND or w.startswith("non-") for w in words)
            and words[-1] not in _CORE)


def _ordinal(word: str) -> int | None:
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", word)
    return int(m.group(1)) if m else _ORDINALS.get(word)


def _count(word: str) -> int | None:
    return int(word) if re.fullmatch(r"[2-9]|[1-4]\d", word) else _NUMBERS.get(word)


def parse_referents(text: str) -> list[Referent] | None:
    """One or more referents: "the cup and the spoon" is two (each side starts with a determiner)."""
    parts = re.split(r"\s*(?:,\s*and|,|\band)\s+(?=(?:the|a|an|that|this|my|all|both|every|it)\b)", text.strip())
    refs = [parse_referent(p) for p in parts]
    shared = re.fullmatch(r"(?P<d>the|my|this|that|these|those|your) (?P<a>[a-z][a-z' -]*?) (?:and|&) (?P<b>[a-z][a-z' -]*)",
                          " ".join(text.split()))
    if (any(r is None for r in refs) or not refs) and shared and not re.match(
            r"(?:the|a|an|that|this|my|all|both|every|it)\b", shared["b"]) and not _verbish(shared["b"]):
        # "the cup and saucer": the determiner is shared, two things
        refs = [parse_referent(f"{shared['d']} {shared['a']}"), parse_referent(f"{shared['d']} {shared['b']}")]
    if any(r is None for r in refs) or not refs:
        whole = parse_referent(text)
        return [whole] if whole is not None else None
    return refs  # type: ignore[return-value]


_NOT_THINGS = {"dance", "go", "leave", "stop", "run", "sing", "jump", "sit", "stand", "wait", "walk", "smile", "fly",
               "swim", "come", "stay", "look", "see", "watch", "play", "sleep", "eat", "drink", "move", "help", "continue",
               "finish", "save", "exit", "quit", "then", "so", "more", "also", "too", "again", "now", "done", "thanks",
               "stuff", "things", "everything", "anything", "something", "whatever", "etc"}


def _verbish(text: str) -> bool:
    """Whether the words after "the cup and" are plainly not a thing ("dance", "then", "running"): then "the
    cup and ..." is not two things."""
    first = text.split()[0]
    return first in _NOT_THINGS or (first.endswith(("ing", "ly")) and first not in ("ring", "king", "wing", "string",
                                                                                  "building", "painting", "ceiling"))


def parse_referent(text: str) -> Referent | None:
    """A referent from a noun phrase ("the second cup from the left"), or None when it is not one."""
    parts = _parse(text, allow_empty=False)
    if parts is None:
        return None
    try:
        return Referent(**parts)
    except ValidationError:
        return None


def _parse(text: str, *, allow_empty: bool) -> dict | None:
    """The referent's fields for ``text``; ``allow_empty``: "the one on the left" (no kind) is fine."""
    text = " ".join(text.strip(" ,").split())
    if text in _IT:
        return {"last_edited": True}
    if text in _POINTED:
        return {"pointed": True}
    fields: dict = {}
    attributes: list[str] = []
    m = re.match(r"^(?P<x>.+?) (?:except(?: for)?|but not|but|other than|apart from|excluding|save for) (?P<e>.+)$",
                 text)
    if m is not None:
        excluded = [_exclusion(e) for e in re.split(r"\s*(?:,\s*and|,|\band|\bor)\s+", m.group("e"))]
        if not excluded or any(e is None for e in excluded):
            return None
        fields["exclude"], text = excluded, m.group("x")

    plural = True
    m = re.match(r"^(?:all|every|each)(?: of)?(?: the| these| those| my)? (?P<x>.+)$", text)
    if m is not None:
        fields["selector"], text = "all", m.group("x")
        first, _, rest = text.partition(" ")
        if rest and _count(first) is not None:
            fields["count"], text = _count(first), rest
    elif (m := re.match(r"^both(?: of)?(?: the| these| those| my)? (?P<x>.+)$", text)) is not None:
        fields["count"], text = 2, m.group("x")
    elif (m := re.match(r"^(?:(?:the|these|those|my) )?(?P<n>\w+) (?P<x>.+)$", text)) is not None \
            and _count(m.group("n")) is not None:
        fields["count"], text = _count(m.group("n")), m.group("x")    # "the two cups", "two cups", "2 cups"
    elif (m := re.fullmatch(r"(?:the|these|those|my) (?P<x>(?:[a-z'-]+ ){0,3}[a-z'-]+)", text)) is not None \
            and _plural(m.group("x").split()[-1]):
        fields["selector"], text = "all", m.group("x")                 # "the cups": every cup
    elif fields.get("exclude"):
        fields["selector"] = "all"                      # "the cups except the red one": all but that
    else:
        plural = False
    text = _DETERMINER.sub("", text)

    side = None
    if (m := re.match(r"^(?P<x>.*?) ?from the (?P<side>left|right)$", text)) is not None:
        side, text = m.group("side"), m.group("x")
    first, _, rest = text.partition(" ")
    if _ordinal(first) is not None or first == "last":
        n = _ordinal(first)
        if "selector" in fields:
            return None
        if n is None:
            fields["selector"] = "leftmost" if side == "left" else "rightmost"
        else:
            fields["selector"], fields["n"] = ("nth_from_right" if side == "right" else "nth_from_left"), n
        text = rest
    elif side is not None:
        return None

    text = _take_attribute(text, attributes)          # "the guy in the black top on the left"
    m = re.match(r"^(?P<x>.*?) ?(?:on|at|to|in|towards) the (?:very |far )?(?P<p>left|right|top|bottom|middle|"
                 r"center|centre)(?:-hand)?(?: side| edge| corner| end)?$", text)
    if m is not None:
        if not _may_place(fields):
            return None
        fields["selector"], text = _POSITION[m.group("p")], m.group("x")
    words = text.split()
    while words and (words[0] in _POSITION or words[0] in ("far", "very")):
        word = words.pop(0)
        if word in _POSITION:
            if not _may_place(fields):
                return None
            fields["selector"] = _POSITION[word]
    text = " ".join(words)

    text = _take_attribute(text, attributes)
    m = re.match(rf"^(?P<x>.+?) (?P<rel>{RELATION_RE}) (?P<y>.+)$", text)
    if m is not None:
        if re.fullmatch(r"(?:the )?(?:back|front|foreground|background|distance|corner|picture|image|photo)",
                        m.group("y")):
            return None                                 # "the cup in the back": no thing to stand by
        anchor = _anchor(m.group("y"))
        if anchor is None:
            return None
        fields["relation"], fields["anchor"], text = RELATIONS[m.group("rel")], anchor, m.group("x")

    colours, kind = _split_colours(text.split())
    if colours:
        attributes.insert(0, colours)
    if attributes:
        fields["attributes"] = attributes
    phrase = " ".join(kind)
    if phrase in ("", "one", "ones"):
        if not allow_empty:
            return None
        phrase = ""
    elif not _phrase_ok(phrase):
        return None
    elif plural:
        phrase = " ".join([*kind[:-1], _singular(kind[-1])])
    fields["phrase"] = phrase
    return fields


def _take_attribute(text: str, attributes: list[str]) -> str:
    """``text`` without a trailing "with a hat" / "wearing a scarf" / "in the black top", kept in ``attributes``."""
    m = re.match(r"^(?P<x>.+?) (?P<w>with|wearing|in) (?:a |an |the |his |her |their )?(?P<a>.+)$", text)
    if m is not None and (m.group("w") != "in" or m.group("a").split()[0] in _CORE) and _attribute_ok(m.group("a")):
        attributes.append(m.group("a"))
        return m.group("x")
    return text


def _may_place(fields: dict) -> bool:
    """Whether a position word may set the selector: none yet, or "all" with a count ("the two on the left")."""
    if "selector" not in fields:
        return True
    if fields["selector"] == "all" and "count" in fields:
        return True
    return False


def _split_colours(words: list[str]) -> tuple[str, list[str]]:
    """("dark blue", ["car"]) from "dark blue car": colour words before the last word are an attribute."""
    colours, kind = [], []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        shade = word in _SHADES and not last and words[i + 1] in _CORE
        if not last and (word in _CORE or shade or (word == "and" and colours and words[i + 1] in _CORE)):
            colours.append(word)
        else:
            kind.append(word)
    return " ".join(colours), kind


def _attribute_ok(text: str) -> bool:
    colours, kind = _split_colours(text.split())
    return bool(kind) and _phrase_ok(" ".join(kind))


def _anchor(text: str) -> Anchor | None:
    parts = _parse(text, allow_empty=False)
    if parts is None or set(parts) - {"phrase", "attributes", "selector", "n"} or parts.get("selector") == "all":
        return None
    try:
        return Anchor(**parts)
    except ValidationError:
        return None


def _exclusion(text: str) -> Exclusion | None:
    """ "the one on the left", "the red one", "the two on the left", "the biggest" as an :class:`Exclusion`."""
    text = " ".join(text.split())
    if re.fullmatch(r"(?:number |#)?\d+", text):
        return None                                     # "except 2": a candidate number, not a description
    if re.fullmatch(r"the \w+", text):
        text += " one"                                  # "the biggest" is "the biggest one"
    parts = _parse(text, allow_empty=True)
    if parts is None or set(parts) - {"phrase", "attributes", "selector", "n", "count"}:
        return None
    try:
        return Exclusion(selector=parts.get("selector"), n=parts.get("n"), attributes=parts.get("attributes", []),
                         count=parts.get("count"))
    except ValidationError:
        return None
