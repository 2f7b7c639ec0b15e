"""Helpers the nodes share: the current step, the working image, stopping a turn, step wording."""

from __future__ import annotations

from typing import Any

from PIL import Image

from agent.graph.context import Context
from agent.graph.plan import Step
from agent.graph.state import State


def current_step(state: State) -> Step:
    """The plan step being executed."""
    if state.plan is None:
        raise ValueError("no plan in the state")
    return state.plan.steps[state.step_index]


def working_image(state: State, ctx: Context) -> Image.Image:
    """The image this turn's next step edits: the latest draft, or the head version."""
    if state.draft is not None:
        return ctx.store.load_draft(state.draft)
    return ctx.store.version_image()


def stop(text: str, *, error: str | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """A state update that ends the turn without committing anything.

    Args:
        text: the sentence the user reads (what happened and what to do).
        error: a one-line reason for :attr:`agent.editor.Reply.error` (None for a plain stop, e.g. cancel).
        notes: the turn's notes so far, kept before ``text``.
    """
    return {"halt": True, "error": error, "notes": [*(notes or []), text], "question": None, "result": None}


def what(step: Step) -> str:
    """How a reply names a step's referent: "the cup", "the last edited region", "the marked area"."""
    ref = step.referent
    if ref is None:
        return "the image"
    if ref.last_edited:
        return "the last edited region"
    if ref.phrase.strip():
        phrase = " ".join(ref.phrase.split())
        if ref.attributes:
            phrase += " (" + ", ".join(ref.attributes) + ")"
        return phrase if phrase.lower().startswith(("the ", "a ", "an ", "all ", "every ")) else f"the {phrase}"
    return "the marked area"


def describe(step: Step, *, count: int = 1) -> str:
    """One sentence saying what an edit step did."""
    target = what(step)
    if count > 1:
        target = f"{target} ({count} of them)"
    content = step.content.strip()
    if step.action == "remove":
        return f"Removed {target}."
    if step.action == "replace":
        return f"Replaced {target} with {content}."
    if step.action == "recolor":
        return f"Made {target} {content}."
    if step.action == "add":
        return f"Added {content} at {target}."
    if step.action == "background":
        return f"Changed the background behind {target} to {content}."
    if step.action == "global":
        if step.referent is not None:
            return f"Changed {target}: {content}."
        return f"Applied \"{content}\" to the whole image."
    return f"Did {step.action}."


def versions_text(numbers: list[int]) -> str:
    """Version numbers as short ranges: [1, 2, 3, 7] → "v1–v3 and v7"."""
    runs: list[str] = []
    start = prev = None
    for n in sorted(numbers):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            runs.append(f"v{start}" if start == prev else f"v{start}–v{prev}")
        start = prev = n
    if start is not None:
        runs.append(f"v{start}" if start == prev else f"v{start}–v{prev}")
    return runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1]
