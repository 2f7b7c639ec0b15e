"""What one edit step did, as a typed record: kept in the graph state, then in the version it made."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Reference(BaseModel):
    """A reference image given with a turn ("make the cup look like this"), kept in the session folder.

    Its pixels are ``references/<id>.png`` in the session folder, so the session stays self-contained.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    """The content id of its RGB pixels (sha256 hex, :func:`agent.session.store.content_id`)."""
    name: str = ""
    """The file's name as the person gave it ("hat.png"); "" for an in-memory image."""
    size: tuple[int, int] = (0, 0)
    """(width, height) of the stored pixels."""
    used: bool | None = None
    """In a record: whether the step's engine used it (False: it cannot take one; the step used only the
    words). None on a turn's input, before any step ran."""
    engine: str = ""
    """In a record: the repaint engine the step ran on ("sd", "sdxl", "flux2-klein")."""

    @field_validator("id")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"a reference id is a sha256 hex digest, got {value[:80]!r}")
        return value

    def describe(self) -> str:
        """ "hat.png (640x480)" or "an image (640x480)" """
        return f"{self.name or 'an image'} ({self.size[0]}x{self.size[1]})"


class EditRecord(BaseModel):
    """One accepted edit step of a turn.

    Boxes are XYXY in pixels of the edited image; ids are content ids of the session's files.
    Unknown keys of older sessions are ignored when read back.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    action: str
    """The plan step's action: remove, replace, recolor, add, background or global."""
    target: str = ""
    """How the reply named what was edited ("the cup", "the last edited region")."""
    instruction: str = ""
    """The user's words of the turn."""
    step: dict[str, Any] = Field(default_factory=dict)
    """The plan step as the planner gave it (``Step.model_dump()``)."""
    box: list[float] | None = None
    """Where "it" now is: the located box, the new object's box, or the tool's own box."""
    boxes: list[list[float]] = Field(default_factory=list)
    """Every box the step acted on (several for "all of them")."""
    mask: str | None = None
    """Id of the object mask (``masks/<id>.png``), None for steps without one."""
    region: str | None = None
    """Id of the mask of pixels the step was allowed to change."""
    seed: int | None = None
    models: dict[str, str] = Field(default_factory=dict)
    """Role → model id of the models that made it."""
    operation: str = ""
    prompt: str = ""
    attempt: int = 0
    """0 for the first try, 1 for the retry after a failed verification."""
    new_box: list[float] | None = None
    """The box a resized replace put the new object in."""
    verified: bool | None = None
    """The verifier's verdict: True, False, or None when no verdict was had."""
    pointing: dict[str, Any] | None = None
    """Where the person pointed when the step acted on the pointed region: ``box`` and/or ``points``
    ([x, y, positive]) in pixels of the edited image (:meth:`agent.graph.pointing.Pointing.to_json`)."""
    reference: Reference | None = None
    """The reference image the turn gave, on the step it was meant for, and whether the engine used it."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)
