"""Questions about the session's versions that need no model, answered from the version tree itself.

:func:`read_query` reads a whole message as such a question ("show history", "list the versions",
"which version is this?", "compare with the original"); politeness around it is allowed ("can you show me the
history, please"). Anything else is None and goes on to the planner, which also answers "what did you
change?" (it can say what the edit looks like). "show me version 2" is not a question but a move (it is read by :func:`agent.graph.moves.read_move` first).

:func:`answer_query` answers from the :class:`agent.session.history.History`: it is the truth by
construction, so a planner with random weights (the tiny profile) or no planner at all answers alike.
"""

from __future__ import annotations

import re
from typing import Literal

from agent.graph.moves import tokens, trim
from agent.session.history import History

Query = Literal["history", "current", "compare"]

_HISTORY = re.compile(
    r"(?:show|list|give|tell|display|print|see)?(?: me| us)?(?: the| all| all the| your| my)?"
    r" ?(?:(?:version|edit|edits|change|undo) )?(?:history|versions|edits|changes|version tree)"
    r"(?: so far| of (?:edits|changes|versions))?"
    r"|what (?:edits|changes|versions) (?:are there|have been made|do i have)"
    r"|(?:history|versions)")
_CURRENT = re.compile(
    r"(?:which|what) version (?:is (?:this|it|that|shown)|am i (?:on|at|looking at)|are we (?:on|at))"
    r"|where am i(?: in the history)?|(?:what is|whats) the current version")
_COMPARE = re.compile(
    r"(?:compare|diff)(?: it| this| that| the image| the picture| the current(?: one| version)?)?"
    r" (?:with|to|against|and) (?:the )?original(?: image| picture| photo| version| one)?"
    r"|(?:what|how much) (?:has )?changed (?:since|from) the original(?: image| picture| photo| version)?"
    r"|(?:how is it|whats|what is) different (?:from|to) the original(?: image| picture| photo| version)?"
    r"|(?:show me |what are )?the (?:differences?|changes) (?:from|to|with|since) the original"
    r"(?: image| picture| photo| version)?")


def read_query(text: str) -> Query | None:
    """The question about the versions a whole message asks ("history" or "current"), or None."""
    words = trim(tokens(text))
    if not words or len(words) > 12:
        return None
    said = " ".join(words)
    if _CURRENT.fullmatch(said):
        return "current"
    if _HISTORY.fullmatch(said):
        return "history"
    if _COMPARE.fullmatch(said):
        return "compare"
    return None


def answer_query(kind: Query, history: History) -> str:
    """The answer, in words, from the version tree: where the session is, and (for "history") every version."""
    head = history.current
    where = "the original (version 0)" if head.number == 0 else f"version {head.number}"
    made = f', made by "{head.instruction}"' if head.instruction else ""
    now = f"This is {where}{made}, of {len(history)} version{'s' if len(history) != 1 else ''}."
    if kind == "current":
        return now
    if kind == "compare":
        return f"{now} {_since_original(history)}"
    if len(history) == 1:
        return f"{now} Nothing has been changed yet."
    lines = []
    on_path = set(history.path())
    for v in history.versions:
        what = f'"{v.instruction}"' if v.instruction else ("the original" if v.number == 0 else "(no words)")
        branch = f" (from v{v.parent})" if v.parent is not None and v.parent != v.number - 1 else ""
        mark = " ← current" if v.number == head.number else "" if v.number in on_path else " (another branch)"
        lines.append(f"v{v.number}: {what}{branch}{mark}")
    return f"{now} Every version is kept: " + "; ".join(lines) + "."


def _since_original(history: History) -> str:
    """What lies between the original and the current version: the edits on its path, in order."""
    path = history.path()[1:]
    if not path:
        return "It is the original: nothing differs."
    edits = "; ".join(f'v{n}: "{history[n].instruction}"' if history[n].instruction else f"v{n}" for n in path)
    return (f"It differs from the original by {len(path)} edit{'s' if len(path) != 1 else ''}: {edits}. "
            "To see the original, say \"show me the original\" (every version is kept).")
