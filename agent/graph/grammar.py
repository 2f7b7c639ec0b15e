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

from agent.graph.phrases import (REFERENCE_RE, RELATION_RE, RELATIONS, is_colour, is_look, is_reference, parse_referent,
                                 parse_referents)
from agent.graph.plan import MAX_STEPS, Plan, Referent, Step
from agent.graph.wording import CORRECTION, normalize, strip_fillers

FORMS = ('remove the cup', 'replace the cup with a vase', 'make the cup red',
         'put the cat on a beach background', 'make it a watercolour / autumn / night',
         'add a bird next to the tree', 'remove the spoon and make the table white')
"""Examples of what the grammar reads, for replies that list them."""

# ------------------------------------------------------------------ vocabulary

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
_MONO = re.compile(r"\b(?:black (?:and|&) white|black-and-white|b&w)\b")

_VAGUE = {"something", "anything", "whatever", "nicer", "better", "prettier", "different", "else", "stuff",
          "cooler", "interesting", "etc", "colour", "color"}
"""Words that leave the new content open: the grammar does not guess what they mean."""
_WHOLE = re.compile(r"(?:it|this|everything|all of it|the (?:whole |entire )?(?:image|picture|pic|photo|photograph"
                    r"|scene|thing|shot|view))")
_DEFINITE = re.compile(r"^(?:the|this|that|these|those|my|your|his|her|their|our|its|it|them)\b")
_VERB = (r"(?:remove|delete|erase|get rid of|take out|take away|eliminate|replace|swap|switch|exchange|substitute|"
         r"turn|change|transform|convert|make|colou?r|paint|recolou?r|dye|tint|put|place|set|add|insert|give|"
         r"render|stylize|stylise|apply|draw)\b")
_SEPARATOR = re.compile(r"\s*(?:;|\.\s+(?:and\s+)?(?:then\s+)?|,\s*and\s+then|\band\s+then|,\s*then|\bthen|,\s*and|\band\b|,)\s*")
_NOTHING = re.compile(r"(?:nothing|none|nothing at all|empty space|blank space|empty|blank|thin air|air|"
                      r"(?:the )?background|(?:an? )?empty (?:space|spot|area))")
"""New content that is no thing: "replace the cup with nothing" means remove it."""


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
        read = (_from_reference(clause) if referenced else None) or _read_one(clause)
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
    for m in _SEPARATOR.finditer(text):
        if m.start() < start or not m.group().strip():
            continue
        rest = strip_fillers(text[m.end():])
        if m.start() > start and re.match(_VERB, rest):
            clauses.append(text[start:m.start()])
            start = m.end()
    clauses.append(text[start:])
    clauses = [strip_fillers(c) for c in clauses]
    return clauses if all(clauses) else None


def read_clause(clause: str) -> list[Step] | None:
    """The steps of one clause (one verb), or None when no form matches it exactly."""
    for reader in (_global, _background, _add, _replace, _recolor, _remove):
        steps = reader(clause)
        if steps is not None:
            return steps
    return None


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
    if re.match(_VERB, right):                          # a whole new clause takes the last one's place
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
    for m in _SEPARATOR.finditer(clause):
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
    action = "recolor" if is_colour(content.split()) else "replace"
    return _steps(_step(action=action, referent=Referent(phrase="background"), content=content))


_PLACE_RE = re.compile(rf"^(?P<n>.+?) (?P<rel>{RELATION_RE}|to) (?P<y>.+)$")


_HERE = re.compile(r"^(?:add|insert|put|place|draw|paint|stick) (?P<n>.+?) (?:right )?(?:here|there|in this spot|"
                   r"at this spot|in this area|in this place|where i pointed|where i clicked)$")


def _add(clause: str) -> list[Step] | None:
    here = _HERE.match(clause)
    if here is not None:                                # "add a bird here": on the pointed region
        content = _content(here.group("n"))
        return _steps(_step(action="add", referent=Referent(pointed=True), content=content, place="on")) \
            if content is not None and not _DEFINITE.match(content) else None
    m = re.match(r"^(?P<verb>add|insert|put|place|draw|paint|stick) (?P<rest>.+)$", clause)
    if m is not None:
        placed = _PLACE_RE.match(m.group("rest"))
        if placed is None:
            return None
        new = placed.group("n")
        if m.group("verb") not in ("add", "insert") and _DEFINITE.match(new):
            return None                                 # "put the cat on ..." moves what is there: not an add
        rel = "on" if placed.group("rel") == "to" else RELATIONS[placed.group("rel")]
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
    refs = parse_referents(m.group("x"))
    if refs is not None and _NOTHING.fullmatch(m.group("y")):   # "replace the cup with nothing": remove it
        return _steps(*(_step(action="remove", referent=r) for r in refs))
    content = _content(m.group("y"))
    if content is None or refs is None:
        return None
    action = "replace"
    if is_colour(re.sub(r"^(?:a|an) ", "", content).split()):   # "change the cup to red", "make it a deep red"
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
        if not is_colour(colour):
            return None
    else:
        m = re.match(r"^(?:make|turn|colou?r|paint|repaint|recolou?r|dye|tint|change) (?P<rest>.+)$", clause)
        if m is None:
            return None
        words = m.group("rest").split()
        cut = next((i for i in range(1, len(words)) if is_colour(words[i:])), None)
        if cut is None:                                 # "make the table wooden": a look, not a colour
            cut = next((i for i in range(1, len(words)) if is_look(words[i:])), None)
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
    m = (re.match(r"^make (?P<x>.+?) (?:disappear|vanish|go away)$", clause)
         or re.match(r"^(?:remove|delete|erase|get rid of|take out|take away|eliminate|cut out|rub out|clear away|"
                     r"clear out) (?P<x>.+?)(?: (?:from|in|out of) (?:the |this )?(?:image|picture|photo|pic|scene|"
                     r"shot))?$", clause)
         or re.match(r"^take (?P<x>.+?) (?:out|away)$", clause))
    if m is None:
        return None
    refs = parse_referents(m.group("x"))
    return _steps(*(_step(action="remove", referent=r) for r in refs)) if refs else None


def _content(text: str) -> str | None:
    """The new thing / background / colour as said, when it is plain words (None otherwise)."""
    text = text.strip()
    if not text or len(text) > 120 or not re.fullmatch(r"[a-z0-9#][a-z0-9 '&#-]*", text):
        return None
    if is_reference(text):
        return None                                     # "turn the vase into this": only a reference says what
    if _NOTHING.fullmatch(text):
        return None                                     # "add nothing next to the cup"
    if set(text.split()) & _VAGUE:
        return None                                     # "something nicer": a question for a real planner
    if re.search(rf"(?:,|\band|\bthen)\s+{_VERB}", text):
        return None                                     # another instruction inside it
    return text


_LOOK_LIKE = re.compile(rf"^(?:make|get) (?P<x>.+?)(?: (?:look|looks|appear|seem)(?: more)?)?(?: just| exactly)? "
                        rf"(?:like|the same as) (?P<r>{REFERENCE_RE})$|^make (?P<m>.+?) match (?P<q>{REFERENCE_RE})$")
_BECOME = re.compile(rf"^(?:(?:turn|change|transform|convert|make) (?P<x>.+?) into|(?:swap out|switch out|replace|"
                     rf"swap|switch|exchange|substitute) (?P<y>.+?) (?:with|for|by)) (?P<r>{REFERENCE_RE})$")
REFERENCE_CONTENT = "the object in the reference image"
"""What a replace turns its referent into when the reference image alone says what ("turn the vase into this")."""


def _from_reference(clause: str) -> list[Step] | None:
    """A clause whose new content is the turn's reference image: "make the cup look like this", "turn the vase
    into the one in the picture". One referent, replaced; "make the picture look like this" is a whole-picture edit."""
    look = _LOOK_LIKE.match(clause)
    become = _BECOME.match(clause) if look is None else None
    if look is None and become is None:
        return None
    x = look.group("x") or look.group("m") if look is not None else become.group("x") or become.group("y")
    if x not in ("it", "this", "that") and re.fullmatch(_WHOLE.pattern, x):
        return _steps(_step(action="global", content=clause))
    refs = parse_referents(x) if not _has_global_words(x) else None   # "make the sky stormy like this": not here
    if refs is None or len(refs) != 1:
        return None
    ref, content = refs[0], REFERENCE_CONTENT
    if look is not None and ref.phrase.strip():
        phrase = ref.phrase.strip()
        plural = re.search(r"[^s]s$", phrase) is not None   # "the cups" (each of "all the cups" is "a cup")
        article = "" if plural else "an " if phrase[0] in "aeiou" else "a "
        content = f"{article}{phrase} like the one in the reference image"
    return _steps(_step(action="replace", referent=ref, content=content))
