"""Why the offline grammar did not read a message, in one specific sentence: a greeting, a question, a
request for help, "no remove the cup" (said not to), an operation no tool makes (crop, rotate, resize), a
change of mind it could not place, or no words at all. None: only the general "it could not read that"."""

from __future__ import annotations

import re

MAX_CHARS = 1000
"""The longest message the grammar reads."""

_GREETING = re.compile(r"(?:hi|hello|hey|hiya|yo|howdy|good (?:morning|afternoon|evening)|greetings)(?: there)?")
_THANKS = re.compile(r"(?:no thanks|thanks|thank you|thx|ty|cheers|great|nice|perfect|cool|awesome|ok|okay|bye|goodbye)"
                     r"(?: a lot| so much| very much| again)?")
_HELP = re.compile(r"(?:help|commands|usage|what can (?:you|i) do|what do you do|how does (?:this|it) work|how do i "
                   r"(?:use (?:this|it)|start)|what (?:can|should|do) i (?:say|type|ask|write)|what are the commands"
                   r"|what do you understand|\?+)")
_NEGATED = re.compile(r"(?:no|don't|dont|do not|never|not)(?: (?:please|pls))? (?P<rest>.+)")
_UNSUPPORTED = {"crop": "crop", "cropping": "crop", "rotate": "rotate", "rotation": "rotate", "flip": "flip",
                "mirror": "mirror", "resize": "resize", "rescale": "resize", "scale": "resize", "zoom": "zoom",
                "enhance": "enhance", "sharpen": "sharpen", "sharper": "sharpen", "upscale": "upscale",
                "denoise": "denoise", "blur": "blur", "move": "move", "bigger": "make things bigger",
                "smaller": "make things smaller", "larger": "make things bigger", "enlarge": "make things bigger",
                "shrink": "make things smaller", "straighten": "straighten", "trim": "crop", "cut": "crop"}
"""Words for operations no tool here makes, with the verb a reply names."""
_QUESTION = re.compile(r"(?:what|which|who|where|why|how|when|is|are|does|do|did|can you see|do you see)\b")


def unread_reason(text: str, read: object = None) -> str | None:
    """Why ``text`` was not read, as a clause to follow "it could not read that: " (no full stop), or None.

    Args:
        text: the user's words.
        read: :func:`agent.graph.grammar.read_plan`'s reader, to tell "no remove the cup" from nonsense; None
            skips that check.
    """
    if not isinstance(text, str):
        return None
    raw = " ".join(text.split())
    if len(raw) > MAX_CHARS:
        return f"the message is {len(raw)} characters long, and it reads instructions of up to {MAX_CHARS}"
    words = re.sub(r"[^a-z0-9#'?\- ]+", " ", raw.lower().replace("\u2019", "'"))
    plain = " ".join(words.replace("?", " ? ").split()).strip(" -")
    bare = plain.rstrip(" ?").strip()
    if not re.search(r"[a-z0-9]", plain):
        if any(c.isalpha() for c in raw):               # "把杯子变成红色", "احذف الكوب": words, not English ones
            return "it reads English words only"
        return "there are no words in it"
    if _THANKS.fullmatch(bare):
        return f"\"{bare}\" asks for no edit (you're welcome)"
    if _GREETING.fullmatch(bare):
        return f"\"{bare}\" is a greeting; tell it an edit to make"
    if _HELP.fullmatch(bare) or _HELP.fullmatch(plain):
        return f"\"{bare or plain}\" asks what it can do: the forms below"
    negated = _NEGATED.fullmatch(bare)
    if negated and callable(read) and read(negated.group("rest")) is not None:
        rest = negated.group("rest")
        hint = f"\"no, {rest}\" with the comma, or \"{rest}\"" if bare.startswith("no ") else f"\"{rest}\""
        return f"\"{bare}\" says not to {rest} ({hint} does it)"
    found = [_UNSUPPORTED[w] for w in bare.split() if w in _UNSUPPORTED]
    if found:
        return f"no tool here can {found[0]}"
    if re.search(r"\b(?:but|except(?: for)?|other than|save|apart from) (?:one|1|a single one|a few|some)$", bare):
        return "it cannot tell which to keep; name them (\"all the cups except the one on the left\")"
    if re.fullmatch(r"(?:add|insert|put|place|draw) (?:a|an|some|one|two|\d+) [a-z' -]+", bare) \
            and not re.search(r"\b(?:on|in|next to|beside|behind|above|below|under|over|left|right|near|here|there)\b",
                              bare):
        return f"it needs to know where: say \"{bare} next to the ...\" (or on, left of, behind ...)"
    if plain.endswith("?") or _QUESTION.match(bare):
        return "it reads edit instructions, not questions (a planner model answers those)"
    if re.search(r"(?:,\s*(?:no|nope|sorry|wait|i mean|i meant|actually|rather)|\bno,? wait|\bi meant?)\b", raw.lower()):
        return "it could not tell which part the change of mind replaces; say the whole instruction again"
    return None
