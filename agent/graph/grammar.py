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
- several clauses: ``A and B``, ``A, then B``, ``A; B`` (a split happens only before a verb)

Referents: "the man on the left" (selector leftmost), "the second cup from the left"
(nth_from_left, n=2), "the biggest dog" (largest), "all the cups" (all), "both cups" (count 2),
"the three cups" (count 3), "all the cups except the one on the left" (all, exclude leftmost),
"the red cup" (attributes [red]), "the man in the black top" (attributes [black top]),
"the cup left of the plate" / "the dog on the sofa" (relation + anchor), "it"/"that" (last edited).
"""

from __future__ import annotations

import re

from PIL import ImageColor
from pydantic import ValidationError

from agent.graph.plan import MAX_STEPS, Anchor, Exclusion, Plan, Referent, Step

FORMS = ('remove the cup', 'replace the cup with a vase', 'make the cup red',
         'put the cat on a beach background', 'make it a watercolour / autumn / night',
         'add a bird next to the tree', 'remove the spoon and make the table white')
"""Examples of what the grammar reads, for replies that list them."""

# ------------------------------------------------------------------ vocabulary

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
_STYLE = {"watercolour", "watercolor", "painting", "painted", "oil", "acrylic", "sketch", "sketched", "drawing",
          "drawn", "pencil", "charcoal", "crayon", "pastels", "cartoon", "cartoonish", "anime", "manga", "comic",
          "pixel", "lego", "claymation", "render", "illustration", "illustrated", "poster", "mosaic",
          "impressionist", "impressionism", "cubist", "cubism", "surreal", "surrealist", "renaissance", "baroque",
          "vintage", "retro", "sepia", "noir", "monochrome", "grayscale", "greyscale", "cyberpunk", "steampunk",
          "futuristic", "vaporwave", "photorealistic", "cinematic", "polaroid", "style", "styled", "ghibli",
          "pixar", "disney", "woodcut", "engraving", "origami", "gothic", "psychedelic", "abstract", "minimalist",
          "van", "gogh", "monet", "picasso", "rembrandt", "warhol", "dali", "hokusai", "ukiyo-e", "art",
          "artwork", "filter", "effect", "look", "aesthetic", "old", "older", "antique", "dreamy", "fantasy"}
_SEASON = {"autumn", "autumnal", "fall", "winter", "wintry", "wintery", "snowy", "snow", "snowing", "spring",
           "springtime", "summer", "summery", "summertime", "rainy", "raining", "rain", "foggy", "fog", "misty",
           "sunny", "stormy", "cloudy", "overcast"}
_TIME = {"night", "nighttime", "night-time", "midnight", "day", "daytime", "daylight", "sunset", "sunrise",
         "dawn", "dusk", "evening", "morning", "twilight", "noon", "golden hour"}
_LIGHT = {"brighter", "darker", "warmer", "cooler", "moodier", "vibrant", "saturated", "desaturated",
          "dramatic", "gloomy", "cheerful", "spooky", "hdr"}
_GLOBAL_WORDS = _STYLE | _SEASON | _TIME | _LIGHT
_MONO = re.compile(r"\b(?:black and white|black-and-white|b&w)\b")

_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_POSITION = {"left": "leftmost", "leftmost": "leftmost", "left-most": "leftmost", "left-hand": "leftmost",
             "right": "rightmost", "rightmost": "rightmost", "right-most": "rightmost", "right-hand": "rightmost",
             "top": "topmost", "topmost": "topmost", "upper": "topmost", "uppermost": "topmost",
             "bottom": "bottommost", "bottommost": "bottommost", "lower": "bottommost", "lowest": "bottommost",
             "middle": "center", "central": "center", "center": "center", "centre": "center",
             "biggest": "largest", "largest": "largest", "smallest": "smallest", "tiniest": "smallest"}
_RELATIONS = {"to the left of": "left_of", "left of": "left_of", "on the left of": "left_of",
              "to the right of": "right_of", "right of": "right_of", "on the right of": "right_of",
              "above": "above", "over": "above", "below": "below", "under": "below", "underneath": "below",
              "beneath": "below", "next to": "next_to", "beside": "next_to", "by": "next_to", "near": "next_to",
              "alongside": "next_to", "close to": "next_to", "on top of": "on", "on": "on", "onto": "on",
              "upon": "on", "in": "in", "inside": "in", "into": "in", "within": "in", "in front of": "in_front_of",
              "behind": "behind"}
_RELATION_RE = "|".join(sorted((re.escape(k) for k in _RELATIONS), key=len, reverse=True))
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
_VAGUE = {"something", "anything", "whatever", "nicer", "better", "prettier", "different", "else", "stuff",
          "cooler", "interesting", "etc"}
"""Words that leave the new content open: the grammar does not guess what they mean."""
_WHOLE = re.compile(r"(?:it|this|everything|all of it|the (?:whole |entire )?(?:image|picture|pic|photo|photograph"
                    r"|scene|thing|shot|view))")
_IT = {"it", "that", "this", "them", "that one", "this one", "the same one", "the same thing", "it again",
       "that thing", "the thing i just edited", "what you just edited"}
_DEFINITE = re.compile(r"^(?:the|this|that|these|those|my|your|his|her|their|our|its|it|them)\b")
_DETERMINER = re.compile(r"^(?:the|a|an|this|that|these|those|my|your|his|her|their|our|its)\s+")
_VERB = (r"(?:remove|delete|erase|get rid of|take out|take away|eliminate|replace|swap|switch|exchange|substitute|"
         r"turn|change|transform|convert|make|colou?r|paint|recolou?r|dye|tint|put|place|set|add|insert|give|"
         r"render|stylize|stylise|apply|draw)\b")
_SEPARATOR = re.compile(r"\s*(?:;|,\s*and\s+then|\band\s+then|,\s*then|\bthen|,\s*and|\band\b|,)\s*")
_FILLERS = re.compile(r"^(?:please|pls|kindly|ok|okay|now|also|and|then|just|so|hey|hi|right|alright|great|good|"
                      r"(?:can|could|would|will) you(?: please)?|i(?:'d| would)? (?:like|want)(?: you)? to|"
                      r"i want|let's|lets|go ahead and|try to)(?:\s*,\s*|\s+)")
_TRAILING = re.compile(r"\s+(?:please|for me|thanks|thank you|if you can|if possible|instead|as well|too)$")


# ------------------------------------------------------------------ entry point

def read_plan(text: str) -> Plan | None:
    """The plan for ``text`` when every clause of it is a form the grammar reads, else None.

    Args:
        text: the user's words, e.g. "remove the cup and make the table white".

    Returns:
        A validated :class:`Plan` (one step per clause, more when a clause names several things),
        or None: the text is not an edit instruction the grammar is sure of.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        return None
    clauses = split_clauses(_strip_fillers(normalize(text)))
    if clauses is None:
        return None
    steps: list[Step] = []
    for clause in clauses:
        read = read_clause(clause) or _elided(clause)
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


def normalize(text: str) -> str:
    """Lower case, one space between words, plain quotes, no final full stop ("" for a question)."""
    text = " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split()).strip("\"' ")
    polite = re.match(r"^(?:\w+,? )?(?:can|could|would|will) you\b", text) is not None   # "could you ...?"
    while text and text[-1] in ".!?":
        if text[-1] == "?" and not polite:
            return ""                                   # a question is not an instruction
        text = text[:-1].rstrip()
    return text


def _strip_fillers(text: str) -> str:
    for _ in range(6):
        stripped = _FILLERS.sub("", text)
        stripped = _TRAILING.sub("", stripped)
        if stripped == text:
            break
        text = stripped
    return text.strip(" ,")


def split_clauses(text: str) -> list[str] | None:
    """``text`` cut into clauses at "and", "then", commas and semicolons that come before a verb."""
    if not text:
        return None
    clauses, start = [], 0
    for m in _SEPARATOR.finditer(text):
        if m.start() < start or not m.group().strip():
            continue
        rest = _strip_fillers(text[m.end():])
        if m.start() > start and re.match(_VERB, rest):
            clauses.append(text[start:m.start()])
            start = m.end()
    clauses.append(text[start:])
    clauses = [_strip_fillers(c) for c in clauses]
    return clauses if all(clauses) else None


def read_clause(clause: str) -> list[Step] | None:
    """The steps of one clause (one verb), or None when no form matches it exactly."""
    for reader in (_global, _background, _add, _replace, _recolor, _remove):
        steps = reader(clause)
        if steps is not None:
            return steps
    return None


def _elided(clause: str) -> list[Step] | None:
    """A clause whose second half leaves its verb out: "make the cup red and the saucer blue"."""
    verb = clause.split()[0]
    for m in _SEPARATOR.finditer(clause):
        left, right = clause[:m.start()], clause[m.end():]
        if not left or not right or not re.match(r"(?:the|a|an|that|this|my|all|both|every|it)\b", right):
            continue
        first = read_clause(left)
        second = read_clause(f"{verb} {right}") if first is not None else None
        if first is not None and second is not None:
            return first + second
    return None


# ------------------------------------------------------------------ the forms

def _step(**fields) -> Step | None:
    try:
        return Step(**fields)
    except ValidationError:
        return None


def _steps(*steps: Step | None) -> list[Step] | None:
    return list(steps) if steps and all(s is not None for s in steps) else None  # type: ignore[arg-type]


def _has_global_words(text: str) -> bool:
    words = set(re.findall(r"[a-z0-9&'-]+", text))
    return bool(words & _GLOBAL_WORDS) or bool(_MONO.search(text)) or "golden hour" in text or "3d" in words


def _global(clause: str) -> list[Step] | None:
    whole = _WHOLE.pattern
    forms = (rf"^(?:make|turn|render|convert|change|transform|redo|restyle|stylize|stylise|paint|draw|"
             rf"recreate|reimagine|show) {whole}(?: look)?(?: (?:like|into|to|as|in|a|an))* (?P<s>.+)$",
             rf"^(?:(?:make|render|paint|draw|redo|show|recreate) (?:{whole} )?)?in the style of (?P<s>.+)$",
             r"^(?:convert|turn|change) (?:to|into) (?P<s>.+)$",
             r"^(?:apply|add|use) (?:a |an |the )?(?P<s>.+?) (?:filter|effect|style|look)$",
             r"^(?:(?:make|render|paint|draw) (?:it|this) )?(?:as|like) (?:a |an )?(?P<s>.+)$")
    for form in forms:
        m = re.match(form, clause)
        if m and (_has_global_words(m.group("s")) or "style of" in clause):
            return _steps(_step(action="global", content=clause))
    return None


def _background(clause: str) -> list[Step] | None:
    m = (re.match(r"^(?:put|place|set|show) (?P<x>.+?) (?:on|in front of|against|onto|in|over) (?P<y>.+?) "
                  r"(?:background|backdrop)$", clause)
         or re.match(r"^give (?P<x>.+?) (?P<y>(?:a|an|some) .+?) (?:background|backdrop)$", clause)
         or re.match(r"^(?:change|replace|swap|switch|set|turn|make) the (?:background|backdrop) "
                     r"(?:behind|of|around) (?P<x>.+?) (?:with|to|into|for|as) (?P<y>.+)$", clause)
         or re.match(r"^(?:put|place|move) (?P<x>(?:the|my|this|that|it|them|him|her)\b.*?) (?:on|in|at|into) "
                     r"(?P<y>(?:a|an|the|some)? ?(?:beach|desert|forest|jungle|space|outer space|snow|city|"
                     r"street|field|meadow|mountain|mountains|garden|park|ocean|sea|studio|moon|mars|"
                     r"library|office|kitchen|room|lake|river|island|castle|cave|stage|sunset)\b.*)$", clause))
    if m is not None:
        ref = parse_referent(m.group("x"))
        content = _content(m.group("y"))
        if ref is None or content is None:
            return None
        return _steps(_step(action="background", referent=ref, content=content))
    m = re.match(r"^(?:change|replace|swap|switch|set|turn|make) the (?:background|backdrop) "
                 r"(?:with|to|into|for|as) (?P<y>.+)$", clause)
    if m is None:
        return None
    content = _content(m.group("y"))
    if content is None:
        return None
    action = "recolor" if _is_colour(content.split()) else "replace"
    return _steps(_step(action=action, referent=Referent(phrase="background"), content=content))


_PLACE_RE = re.compile(rf"^(?P<n>.+?) (?P<rel>{_RELATION_RE}|to) (?P<y>.+)$")


def _add(clause: str) -> list[Step] | None:
    m = re.match(r"^(?P<verb>add|insert|put|place|draw|paint|stick) (?P<rest>.+)$", clause)
    if m is not None:
        placed = _PLACE_RE.match(m.group("rest"))
        if placed is None:
            return None
        new = placed.group("n")
        if m.group("verb") not in ("add", "insert") and _DEFINITE.match(new):
            return None                                 # "put the cat on ..." moves what is there: not an add
        rel = "on" if placed.group("rel") == "to" else _RELATIONS[placed.group("rel")]
        ref = parse_referent(placed.group("y"))
        content = _content(new)
        if ref is None or content is None:
            return None
        return _steps(_step(action="add", referent=ref, content=content, place=rel))
    m = re.match(r"^give (?P<x>.+?) (?P<n>(?:a|an|some) .+)$", clause)
    if m is not None:
        ref, content = parse_referent(m.group("x")), _content(m.group("n"))
        if ref is None or content is None:
            return None
        return _steps(_step(action="add", referent=ref, content=content, place="on"))
    return None


def _replace(clause: str) -> list[Step] | None:
    m = (re.match(r"^(?:swap out|switch out|replace|swap|switch|exchange|substitute) (?P<x>.+?) (?:with|for|by) "
                  r"(?P<y>.+)$", clause)
         or re.match(r"^(?:turn|change|transform|convert|make) (?P<x>.+?) into (?P<y>.+)$", clause)
         or re.match(r"^change (?P<x>.+?) to (?P<y>.+)$", clause)
         or re.match(r"^make (?P<x>.+?) (?P<y>(?:a|an) .+)$", clause))
    if m is None:
        return None
    content = _content(m.group("y"))
    refs = parse_referents(m.group("x"))
    if content is None or refs is None:
        return None
    action = "replace"
    if _is_colour(re.sub(r"^(?:a|an) ", "", content).split()):   # "change the cup to red", "make it a deep red"
        action, content = "recolor", re.sub(r"^(?:a|an) ", "", content)
    if action == "replace" and len(refs) > 1:
        return None
    return _steps(*(_step(action=action, referent=r, content=content) for r in refs))


def _recolor(clause: str) -> list[Step] | None:
    m = (re.match(r"^(?:change|set|make|turn) the colou?r of (?P<x>.+?) (?:to|into|in) (?P<c>.+)$", clause)
         or re.match(r"^(?:i want|i'd like|i would like) (?P<x>.+?) (?:to be|in) (?P<c>.+)$", clause)
         or re.match(r"^(?P<x>(?:the|my|this|that|it|all|both)\b.*?) (?:to be|should be|must be|needs to be|has to "
                     r"be) (?P<c>.+)$", clause)
         or re.match(r"^(?:change|set) (?P<x>.+?)(?:'s)? colou?r (?:to|into) (?P<c>.+)$", clause))
    if m is not None:
        x, colour = m.group("x"), m.group("c").split()
        if not _is_colour(colour):
            return None
    else:
        m = re.match(r"^(?:make|turn|colou?r|paint|repaint|recolou?r|dye|tint|change) (?P<rest>.+)$", clause)
        if m is None:
            return None
        words = m.group("rest").split()
        cut = next((i for i in range(1, len(words)) if _is_colour(words[i:])), None)
        if cut is None:
            return None
        head = words[:cut]
        while head and head[-1] in ("to", "in", "into", "a", "an", "look"):
            head = head[:-1]
        x, colour = " ".join(head), words[cut:]
    refs = parse_referents(x)
    if refs is None:
        return None
    return _steps(*(_step(action="recolor", referent=r, content=" ".join(colour)) for r in refs))


def _remove(clause: str) -> list[Step] | None:
    m = (re.match(r"^make (?P<x>.+?) (?:disappear|vanish|go away)$", clause) or re.match(r"^(?:remove|delete|erase|get rid of|take out|take away|eliminate|cut out|rub out|clear away|"
                  r"clear out) (?P<x>.+?)(?: (?:from|in|out of) (?:the |this )?(?:image|picture|photo|pic|scene|"
                  r"shot))?$", clause)
         or re.match(r"^take (?P<x>.+?) (?:out|away)$", clause))
    if m is None:
        return None
    refs = parse_referents(m.group("x"))
    return _steps(*(_step(action="remove", referent=r) for r in refs)) if refs else None


# ------------------------------------------------------------------ words

def _is_colour(words: list[str]) -> bool:
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


def _content(text: str) -> str | None:
    """The new thing / background / colour as said, when it is plain words (None otherwise)."""
    text = text.strip()
    if not text or len(text) > 120 or not re.fullmatch(r"[a-z0-9#][a-z0-9 '&#-]*", text):
        return None
    if set(text.split()) & _VAGUE:
        return None                                     # "something nicer": a question for a real planner
    if re.search(rf"(?:,|\band|\bthen)\s+{_VERB}", text):
        return None                                     # another instruction inside it
    return text


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


def _phrase_ok(phrase: str) -> bool:
    """A kind of thing a detector can look for: one to four plain words, no verbs or pronouns, not a colour."""
    words = phrase.split()
    return (1 <= len(words) <= 4 and all(re.fullmatch(r"[a-z][a-z'-]*", w) for w in words)
            and not any(w in _STOP for w in words) and words[-1] not in _CORE)


def _ordinal(word: str) -> int | None:
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", word)
    return int(m.group(1)) if m else _ORDINALS.get(word)


def _count(word: str) -> int | None:
    return int(word) if re.fullmatch(r"[2-9]|[1-4]\d", word) else _NUMBERS.get(word)


def parse_referents(text: str) -> list[Referent] | None:
    """One or more referents: "the cup and the spoon" is two (each side starts with a determiner)."""
    parts = re.split(r"\s*(?:,\s*and|,|\band)\s+(?=(?:the|a|an|that|this|my|all|both|every|it)\b)", text.strip())
    refs = [parse_referent(p) for p in parts]
    if any(r is None for r in refs) or not refs:
        whole = parse_referent(text)
        return [whole] if whole is not None else None
    return refs  # type: ignore[return-value]


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
    elif (m := re.match(r"^(?:the|these|those|my) (?P<n>\w+) (?P<x>.+)$", text)) is not None \
            and _count(m.group("n")) is not None:
        fields["count"], text = _count(m.group("n")), m.group("x")
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
    m = re.match(rf"^(?P<x>.+?) (?P<rel>{_RELATION_RE}) (?P<y>.+)$", text)
    if m is not None:
        if re.fullmatch(r"(?:the )?(?:back|front|foreground|background|distance|corner|picture|image|photo)",
                        m.group("y")):
            return None                                 # "the cup in the back": no thing to stand by
        anchor = _anchor(m.group("y"))
        if anchor is None:
            return None
        fields["relation"], fields["anchor"], text = _RELATIONS[m.group("rel")], anchor, m.group("x")

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
