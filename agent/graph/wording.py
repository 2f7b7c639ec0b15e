"""A message's surface made plain before the offline grammar reads it: case, quotes, slips of the keyboard,
smileys, "!" inside a message, one instruction a line, and the polite words around an instruction."""

from __future__ import annotations

import re

_FILLERS = re.compile(r"^(?:(?:please|pls|plz|kindly|ok|okay|now|also|and|then|just|so|hey|hi|hello|right|alright|"
                      r"great|good|actually|instead|rather|oh|ah|um|uhm|hmm+|wait|sorry|well|fine|cool|yes|yeah|"
                      r"thanks|thank you|maybe|perhaps|on second thought|never mind that|forget (?:it|that)|"
                      r"(?:can|could|would|will) (?:you|u)(?: please| pls)?|(?:would|will) it be possible to|"
                      r"is it possible to|i(?:'d| would)? (?:like|want)(?: you)? to|"
                      r"i want|let's|lets|go ahead and|try to)(?:\s*,\s*|\s+)|(?:no|nope)\s*,\s*)")
"""Words before an instruction that change nothing. "no" needs its comma: "no remove the cup" says not to."""
_TYPOS = {"teh": "the", "hte": "the", "adn": "and", "nad": "and", "plese": "please", "pleas": "please",
          "remvoe": "remove", "rmeove": "remove", "reomve": "remove", "remoev": "remove", "delte": "delete",
          "chnage": "change", "cahnge": "change", "maek": "make", "mkae": "make", "repalce": "replace",
          "relpace": "replace", "colur": "colour", "backgroud": "background", "backround": "background"}
"""Common slips of the keyboard on the grammar's own words (never on the names of things)."""
CORRECTION = re.compile(r"(?:\s*,\s*(?:no|nope|sorry|wait|i mean|i meant|or rather|rather|actually|scratch that)\b"
                        r"|\s+(?:no,? wait|wait|sorry|i mean|i meant|or rather)\b)+\s*,?\s*")
"""A change of mind inside one message: "make it a watercolour, no wait, a sketch"."""
_TRAILING = re.compile(r"\s*,?\s+(?:please|pls|plz|for me|thanks|thank you|thx|if you can|if possible|instead|"
                       r"as well|too|asap|now|quickly|lol|again|completely|entirely|fully|totally)$")
_EMOTICON = re.compile(r"(?:\s*(?::-?[)(dp]|;-?\)|<3|\bxd|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F]))+$")
"""Smileys and emoji after the words: "remove the cup :)"."""


def normalize(text: str) -> str:
    """Lower case, one space between words, plain quotes, no final full stop ("" for a question)."""
    text = re.sub(r"[.!;]?\s*[\r\n]+\s*", ". ", text.strip())           # one instruction a line
    text = " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split()).strip("\"' ")
    text = re.sub(r"[a-z]+", lambda m: _TYPOS.get(m.group(), m.group()), text)
    text = _EMOTICON.sub("", re.sub(r"\s*!+\s+", ", ", text)).strip()   # "hey! remove the cup :)"
    polite = re.match(r"^(?:\w+,? )?(?:(?:can|could|would|will) (?:you|u)|(?:would|will|is) it (?:be )?possible)\b",
                      text) is not None                                               # "could you ...?"
    while text and text[-1] in ".!?":
        if text[-1] == "?" and not polite:
            return ""                                   # a question is not an instruction
        text = text[:-1].rstrip()
    return text


def strip_fillers(text: str) -> str:
    """``text`` without the words before and after an instruction that change nothing ("please", "ok, now")."""
    for _ in range(6):
        stripped = _FILLERS.sub("", text)
        stripped = _TRAILING.sub("", stripped)
        if stripped == text:
            break
        text = stripped
    return text.strip(" ,")
