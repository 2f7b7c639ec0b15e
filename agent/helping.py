""""help", "?", "what can you do?", "hi", "thanks" when the planner has random weights (the tiny profile):
what chatedit can be told, said without a model, as an answer rather than an error (the offline grammar reads no
such words)."""

from __future__ import annotations

import re

_ASKS = re.compile(
    r"(?:please )?(?:help(?: me| please)?|\?+|usage|commands|what are the commands|instructions"
    r"|what (?:can|could) (?:you|i) (?:do|say|ask|type)(?: here)?|what do you do|what (?:should|do) i (?:say|type|do)"
    r"|how does (?:this|it) work|how do i (?:use (?:this|it)|start|begin)|what is this|who are you)"
    r"(?: please)?")

_GREETS = re.compile(r"(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening))(?: there)?")

_THANKS = re.compile(r"(?:thanks|thank you|thx|ty|cheers)(?: a lot| so much| very much| again)?")

EXAMPLES = ("remove the cup", "replace the cup with a teapot", "make the cup red", "put the cat on a beach background",
            "make it autumn", "make it look like an oil painting", "add a bird next to the tree",
            "remove the spoon and make the table white")
"""Instructions every profile plans (the offline grammar reads each of them too)."""


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z? ]+", " ", str(text).lower().replace("\u2019", "'")).split())


def asks_for_help(text: str) -> bool:
    """Whether ``text`` only asks what chatedit can do ("help", "?", "what can you do?"), greets ("hi") or thanks."""
    plain = _plain(text)
    bare = plain.rstrip(" ?")
    return bool(_ASKS.fullmatch(bare or plain) or _GREETS.fullmatch(bare) or _THANKS.fullmatch(bare))


def help_text(text: str = "help") -> str:
    """What to say to ``text``, a request for help, a greeting or thanks, when the planner has random weights (the tiny
    profile): the offline grammar reads the words, so only forms like the examples work."""
    bare = _plain(text).rstrip(" ?")
    if _THANKS.fullmatch(bare):
        return "You're welcome. Nothing was changed; say what to change next (\"help\" lists what I read)."
    hello = "Hello. " if _GREETS.fullmatch(bare) else ""
    said = ", ".join(f"\"{e}\"" for e in EXAMPLES)
    return (f"{hello}Tell me what to change in the picture, in forms like these: {said}. (The planner model here "
            "has random weights, so an offline grammar reads your words.) I find the thing, change only its pixels "
            "and keep every version: say \"undo\", \"redo\", \"go back to version 2\" or \"show history\". When "
            "several things match, I number them on the picture and you answer with a number or \"the left one\". "
            "Nothing was changed.")
