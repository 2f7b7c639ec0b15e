"""The forms of one clause the offline grammar reads (:mod:`agent.graph.grammar` lists them): each reader
takes one clause with one verb and returns its steps, or None when the clause is not exactly that form."""

from __future__ import annotations

import re

from pydantic import ValidationError

from agent.graph.phrases import (REFERENCE_RE, RELATION_RE, RELATIONS, is_colour, is_look, is_reference, parse_referent,
                                 parse_referents)
from agent.graph.plan import Referent, Step

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
VERB = (r"(?:remove|delete|erase|get rid of|take out|take away|eliminate|replace|swap|switch|exchange|substitute|"
         r"turn|change|transform|convert|make|colou?r|paint|recolou?r|dye|tint|put|place|set|add|insert|give|"
         r"render|stylize|stylise|apply|draw)\b")
SEPARATOR = re.compile(r"\s*(?:;|\.\s+(?:and\s+)?(?:then\s+)?|,\s*and\s+then|\band\s+then|,\s*then|\bthen|,\s*and|\band\b|,)\s*")
_NOTHING = re.compile(r"(?:nothing|none|nothing at all|empty space|blank space|empty|blank|thin air|air|"
                      r"(?:the )?background|(?:an? )?empty (?:space|spot|area))")
"""New content that is no thing: "replace the cup with nothing" means remove it."""


def read_clause(clause: str) -> list[Step] | None:
    """The steps of one clause (one verb), or None when no form matches it exactly."""
    for reader in (_global, _background, _add, _replace, _recolor, _remove):
        steps = reader(clause)
        if steps is not None:
            return steps
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
    if re.search(rf"(?:,|\band|\bthen)\s+{VERB}", text):
        return None                                     # another instruction inside it
    return text


_LOOK_LIKE = re.compile(rf"^(?:make|get) (?P<x>.+?)(?: (?:look|looks|appear|seem)(?: more)?)?(?: just| exactly)? "
                        rf"(?:like|the same as) (?P<r>{REFERENCE_RE})$|^make (?P<m>.+?) match (?P<q>{REFERENCE_RE})$")
_BECOME = re.compile(rf"^(?:(?:turn|change|transform|convert|make) (?P<x>.+?) into|(?:swap out|switch out|replace|"
                     rf"swap|switch|exchange|substitute) (?P<y>.+?) (?:with|for|by)) (?P<r>{REFERENCE_RE})$")
REFERENCE_CONTENT = "the object in the reference image"
"""What a replace turns its referent into when the reference image alone says what ("turn the vase into this")."""


def from_reference(clause: str) -> list[Step] | None:
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
