"""The ``expect:`` checks of a scripted turn, judged on what the turn did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Outcome:
    """What one turn did, as the checks see it.

    Attributes:
        before: the current image before the turn (RGB).
        after: the current image after it.
        new_version: the version the turn committed (None: none).
        version: the current version after the turn.
        asked: the question the turn ended with, as {"candidates": [...], ...} (None: no question).
        reply: the agent's reply text.
        error: the turn's error, if any.
        mask: the new version's mask (bool H×W, white = may change), when one was recorded.
        tree: every version's parent after the turn (number → parent; None for the original).
    """

    before: Image.Image
    after: Image.Image
    new_version: int | None
    version: int
    asked: dict[str, Any] | None
    reply: str
    error: str | None
    mask: np.ndarray | None
    tree: dict[int, int | None] = field(default_factory=dict)


def _changed(before: Image.Image, after: Image.Image) -> np.ndarray | None:
    """Where the pixels differ (bool H×W), or None when the sizes differ (everything changed)."""
    a, b = np.asarray(before.convert("RGB")), np.asarray(after.convert("RGB"))
    if a.shape != b.shape:
        return None
    return np.any(a != b, axis=2)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def check(expect: dict[str, Any], outcome: Outcome) -> list[str]:
    """Judge a turn's expectations.

    Args:
        expect: the ``expect:`` mapping (keys of :class:`agent.scripted.session_file.Expect`; None values skipped).
        outcome: what the turn did.

    Returns:
        One message per failed expectation, e.g. ``"expected version 2, got 1"`` (empty: all hold).
    """
    failures: list[str] = []
    exp = {k: v for k, v in expect.items() if v is not None}
    if "edited" in exp and (outcome.new_version is not None) != exp["edited"]:
        got = f"version {outcome.new_version} was committed" if outcome.new_version is not None else "no new version"
        failures.append(f"expected edited: {_yes(exp['edited'])}, got {got}")
    if "asked" in exp and (outcome.asked is not None) != exp["asked"]:
        failures.append(f"expected asked: {_yes(exp['asked'])}, got "
                        + ("a question" if outcome.asked is not None else "no question"))
    if "candidates" in exp:
        if outcome.asked is None:
            failures.append(f"expected {exp['candidates']} candidates, got no question")
        elif len(outcome.asked.get("candidates", [])) != exp["candidates"]:
            failures.append(f"expected {exp['candidates']} candidates, got {len(outcome.asked['candidates'])}")
    if "version" in exp and outcome.version != exp["version"]:
        failures.append(f"expected version {exp['version']}, got {outcome.version}")
    if "parent" in exp and outcome.tree.get(outcome.version) != exp["parent"]:
        failures.append(f"expected the current version's parent to be {exp['parent']}, "
                        f"got {outcome.tree.get(outcome.version)}")
    if "versions" in exp and len(outcome.tree) != exp["versions"]:
        failures.append(f"expected {exp['versions']} versions in the tree, got {len(outcome.tree)}")
    if "children" in exp:
        kids = sorted(n for n, p in outcome.tree.items() if p == outcome.version)
        if kids != sorted(exp["children"]):
            failures.append(f"expected the current version's children {sorted(exp['children'])}, got {kids}")
    changed = _changed(outcome.before, outcome.after)
    if "unchanged" in exp:
        same = changed is not None and not changed.any()
        if same != exp["unchanged"]:
            detail = "sizes differ" if changed is None else f"{int(changed.sum())} pixels changed"
            failures.append(f"expected unchanged: {_yes(exp['unchanged'])}, got "
                            + (f"changed ({detail})" if not same else "the image unchanged"))
    if exp.get("within_mask"):
        if outcome.mask is None:
            failures.append("expected the change within the edit mask, got no mask recorded")
        elif changed is None or changed.shape != outcome.mask.shape:
            failures.append("expected the change within the edit mask, got an image or mask of another size")
        else:
            outside = int((changed & ~outcome.mask).sum())
            if outside:
                failures.append(f"expected the change within the edit mask, got {outside} changed pixels outside it")
    if "reply_contains" in exp and exp["reply_contains"].lower() not in outcome.reply.lower():
        failures.append(f"expected the reply to contain {exp['reply_contains']!r}, got {outcome.reply!r}")
    if "error" in exp and (outcome.error is not None) != exp["error"]:
        failures.append(f"expected error: {_yes(exp['error'])}, got "
                        + (f"error {outcome.error!r}" if outcome.error else "no error"))
    return failures
