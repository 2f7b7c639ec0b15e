"""Finding the one JSON object a planner's reply holds, around fences and prose; strict where JSON is lax.

JSON allows a key twice (the decoder keeps the last) and a reply may hold several objects: a plan whose
meaning depends on which one a decoder happens to keep is refused with a reason the re-ask can show.
"""

from __future__ import annotations

import json
from typing import Any

MAX_REPLY_CHARS = 100_000
"""Only this much of a reply is searched for JSON."""


class _RepeatedKey(ValueError):
    """A JSON object names ``key`` twice: which one the planner meant is unknown."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict, each key once (``json``'s ``object_pairs_hook``)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _canonical(value: dict, text: str) -> str:
    """``value`` as JSON with sorted keys (``text`` as it is, should encoding fail: nesting at the stack's limit)."""
    try:
        return json.dumps(value, sort_keys=True)
    except (ValueError, RecursionError):
        return text


def find_json(reply: str) -> tuple[str | None, str]:
    """The plan's JSON object in ``reply`` (see :func:`agent.graph.planning.extract_json`), or None and a one-line
    reason: no object, a malformed or repeated-key one, or two different plans."""
    if not isinstance(reply, str):
        return None, "the reply is not text"
    text = reply[:MAX_REPLY_CHARS]
    if "```" in text:  # look inside code fences first (a language tag before the brace is skipped below)
        text = "\n".join([*text.split("```")[1::2], text])
    decoder = json.JSONDecoder(object_pairs_hook=_once)
    objects: list[tuple[str, dict]] = []
    plan: tuple[str, str] | None = None     # the first plan's text and its canonical form
    first_error: ValueError | RecursionError | None = None
    start = text.find("{")
    for _ in range(50):  # bounded: a reply full of stray braces must not make this quadratic
        if start < 0:
            break
        try:
            value, end = decoder.raw_decode(text, start)
        # besides JSONDecodeError: ints past 4300 digits raise a plain ValueError, and nesting past the
        # stack a RecursionError; each is only a bad reply
        except (ValueError, RecursionError) as e:
            first_error = first_error if first_error or objects else e
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            objects.append((text[start:end], value))
            if value.keys() & {"reasoning", "steps"}:
                # a plan said twice (in a fence and around it) is one plan; two different ones are a question
                same = _canonical(value, text[start:end])
                if plan is None:
                    plan = (text[start:end], same)
                elif same != plan[1]:
                    return None, "the reply holds two different plans; answer with one plan object"
        start = text.find("{", end)
    if plan is not None:
        return plan[0], ""
    if first_error is not None:  # the outer object is broken: say so rather than validate a fragment of it
        return None, _malformed(first_error)
    if objects:
        return objects[0][0], ""
    return None, "the reply holds no JSON object; answer with one JSON object only"


def _malformed(error: ValueError | RecursionError) -> str:
    """Why the decoder refused the reply's JSON, in words the re-ask can show the model."""
    if isinstance(error, json.JSONDecodeError):
        return f"the reply's JSON is malformed ({error.msg}, at character {error.pos})"
    if isinstance(error, _RepeatedKey):
        return f"the reply's JSON names the key {one_line(repr(error.key), 60)} twice; answer with one plan object"
    if isinstance(error, RecursionError):
        return "the reply's JSON nests too deeply; answer with one plan object"
    return "the reply's JSON holds a number too long to read; answer with one plan object"


def one_line(text: str, limit: int = 400) -> str:
    """``text`` as one printable line of at most ``limit`` characters.

    Reasons quote the model's reply (keys, messages): lone surrogates would break printing and
    logging, and escape or bidi characters would reach the user's terminal, so all become ``?``.
    """
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return "".join(c if c.isprintable() else "?" for c in text)
