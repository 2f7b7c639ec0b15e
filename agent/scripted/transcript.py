"""A played session's record: transcript.json (everything, for replay), transcript.md and contact_sheet.png."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from tools.atomic import atomic_write
from tools.errors import ImageSaveError, InvalidInputError

FORMAT = 1
"""transcript.json's format number."""


@dataclass
class VersionRecord:
    """One version the session made, in the order it was made (every branch of the tree).

    Paths are relative to the output folder.
    """

    number: int
    turn: int
    """The turn that made it (0: the original)."""
    parent: int | None = None
    """The version it was made from (None: the original)."""
    instruction: str = ""
    image: str = ""
    sha256: str = ""
    """The PNG's sha256 (the session folder's content id): equal ids, equal pixels."""
    mask: str | None = None
    """The mask that bounded the change (white = may change), None for the original."""
    seed: int | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)


@dataclass
class TurnRecord:
    """One turn as played."""

    index: int
    """1-based."""
    kind: str
    """user, answer, undo, redo or revert."""
    value: str | int
    line: int | None = None
    pinned: int = 0
    """How many planner replies the session file pinned for the turn."""
    planner_replies: list[str] = field(default_factory=list)
    """Every reply the planner model gave during the turn, in call order (pinned or live)."""
    plan: dict[str, Any] | None = None
    reply: str = ""
    error: str | None = None
    question: dict[str, Any] | None = None
    """{"text", "candidates": [{"number", "box", "label", "score"}], "image": path}."""
    new_version: int | None = None
    version: int = 0
    """The current version after the turn."""
    seeds: list[int] = field(default_factory=list)
    """The seeds of the turn's edit steps."""
    seconds: float = 0.0
    expect: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    pointing: dict[str, Any] | None = None
    """``point``/``box``/``points`` given with the turn (None: it pointed at nothing); a replay gives them again."""
    reference: str | None = None
    """The reference image given with the turn, copied into the output folder (``references/<sha256>.<ext>``,
    :func:`keep_reference`); a replay gives it again. None: none."""
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds per stage of the turn ("plan", "locate", "segment", "edit", "verify", "commit", "load <role>")."""
    planned_by: str | None = None
    """Who planned the turn: "planner", "grammar", "commands" or "direct" (None: no plan was made)."""

    @property
    def label(self) -> str:
        return str(self.value) if self.kind == "user" else f"{self.kind} {self.value}"


@dataclass
class SessionRecord:
    """A whole played session."""

    name: str
    image_source: str
    original: str
    profile: str
    seed: int
    description: str = ""
    session_file: str | None = None
    replay_of: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    session_dir: str = ""
    started: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    turns: list[TurnRecord] = field(default_factory=list)
    versions: list[VersionRecord] = field(default_factory=list)
    passed: bool = True
    format: int = FORMAT
    verify: bool | None = None
    """Whether the planner judged each edit, when the session file said (None: the profile's setting)."""
    quality: str = ""
    """The profile's edit quality (fast, balanced or best; see tools.quality)."""
    engine: str = ""
    """The repaint engine the session ran with (sd, sdxl, flux2-klein)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionRecord:
        if data.get("format") != FORMAT:
            raise InvalidInputError(f"transcript format {data.get('format')!r} is not supported (expected {FORMAT})")
        try:
            body = {k: v for k, v in data.items() if k not in ("turns", "versions")}
            return cls(**body, turns=[TurnRecord(**t) for t in data["turns"]],
                       versions=[VersionRecord(**v) for v in data["versions"]])
        except (KeyError, TypeError) as e:
            raise InvalidInputError(f"the transcript is damaged ({e}); it cannot be replayed") from e


def _atomic_write_text(path: Path, text: str) -> None:
    try:
        atomic_write(path, text.encode("utf-8", "replace"), durable=False, mode=0o644)  # (a lone surrogate: "?")
    except OSError as e:
        raise ImageSaveError(f"could not write {path}: {e.strerror or e}") from e


def keep_reference(source: Path, out: Path) -> str:
    """Copy a turn's reference image into ``out/references/`` named by its bytes' sha256; returns the relative path.

    Raises:
        ImageSaveError: it could not be read or written.
    """
    import hashlib

    try:
        data = Path(source).read_bytes()
    except OSError as e:
        raise ImageSaveError(f"could not read the reference image {source}: {e.strerror or e}") from e
    suffix = "".join(c for c in Path(source).suffix.lower()[:8] if c.isalnum() or c == ".") or ".img"
    relative = f"references/{hashlib.sha256(data).hexdigest()}{suffix}"
    target = out / relative
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data, durable=False, mode=0o644)
        except OSError as e:
            raise ImageSaveError(f"could not write {target}: {e.strerror or e}") from e
    return relative


def write_json(record: SessionRecord, path: Path) -> Path:
    _atomic_write_text(path, json.dumps(record.to_json(), indent=1, ensure_ascii=False) + "\n")
    return path


def read_json(path: str | Path) -> SessionRecord:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InvalidInputError(f"{path}: no such transcript") from e
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"{path} is not a readable transcript.json ({e})") from e
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} is not a transcript (expected a JSON object)")
    return SessionRecord.from_json(data)


# -- transcript.md ---------------------------------------------------------------------------

def _quote(text: str) -> str:
    return "\n".join("> " + line for line in str(text).splitlines() or [""])


def _turn_markdown(turn: TurnRecord, versions: dict[int, VersionRecord]) -> list[str]:
    where = f" (line {turn.line})" if turn.line else ""
    said = turn.value if turn.kind in ("user", "answer") else turn.label
    out = [f"## Turn {turn.index}: {turn.kind}{where}", "", _quote(str(said)), ""]
    if turn.reference:
        out += [f"**Reference:** ![reference]({turn.reference})", ""]
    if turn.pointing:
        out += ["**Pointed at:** " + "; ".join(f"{k} {json.dumps(v)}" for k, v in turn.pointing.items()), ""]
    if turn.planner_replies:
        source = f"{turn.pinned} pinned" if turn.pinned else "from the planner model"
        out += [f"<details><summary>Planner replies ({len(turn.planner_replies)}, {source})</summary>", ""]
        for reply in turn.planner_replies:
            out += ["```json", reply.strip(), "```", ""]
        out += ["</details>", ""]
    if turn.plan is not None and turn.kind == "user":
        steps = "; ".join(_step_text(s) for s in turn.plan.get("steps", []))
        out += [f"**Plan:** {steps}", ""]
    if turn.question is None or turn.reply != turn.question.get("text"):
        out += [f"**Agent:** {turn.reply}" if turn.reply else "**Agent:** (no reply)", ""]
    if turn.error:
        out += [f"**Error:** {turn.error}", ""]
    if turn.question is not None:
        out += [f"**Question:** {turn.question.get('text', '')}", ""]
        if turn.question.get("image"):
            out += [f"![candidates]({turn.question['image']})", ""]
        out += ["| # | box | label | score |", "|---|---|---|---|"]
        for c in turn.question.get("candidates", []):
            box = ", ".join(f"{v:.0f}" for v in c["box"])
            out.append(f"| {c['number']} | {box} | {c['label']} | {c['score']:.2f} |")
        out.append("")
    version = versions.get(turn.index)
    if version is not None:
        mask = f" · [mask]({version.mask})" if version.mask else ""
        out += [f"**Version {version.number}** (seed {version.seed}){mask}", "",
                f"![version {version.number}]({version.image})", ""]
    else:
        out += [f"Current version: {turn.version} (no new version)", ""]
    checks = _checks(turn)
    out += [f"_{turn.seconds:.2f} s_" + (f" · checks: {checks}" if checks else ""), ""]
    return out


def _step_text(step: dict[str, Any]) -> str:
    ref = step.get("referent") or {}
    target = "it (last edited)" if ref.get("last_edited") else ref.get("phrase", "")
    if ref.get("pointed"):
        target = f"{target} (pointed at)" if target else "the region pointed at"
    if ref.get("selector"):
        target += f" [{ref['selector']}{' ' + str(ref['n']) if ref.get('n') else ''}]"
    parts = [step.get("action", "?"), target, f"→ {step['content']}" if step.get("content") else ""]
    if step.get("count"):
        parts.append(f"×{step['count']}")
    if step.get("version") is not None:
        parts.append(f"v{step['version']}")
    return " ".join(p for p in parts if p)


def _checks(turn: TurnRecord) -> str:
    if not turn.expect:
        return ""
    failed = bool(turn.failures)
    keys = ", ".join(f"{k}={v!r}" for k, v in turn.expect.items())
    return f"**failed** ({'; '.join(turn.failures)})" if failed else f"passed ({keys})"


def write_markdown(record: SessionRecord, path: Path, *, contact_sheet: str | None = "contact_sheet.png") -> Path:
    """Write transcript.md: every turn with the agent's reply, questions, versions and masks as image links."""
    by_turn = {v.turn: v for v in record.versions if v.turn > 0}
    status = "passed" if record.passed else "FAILED"
    total = record.timings.get("total_s", 0.0)
    out = [f"# Session: {record.name}", ""]
    if record.description:
        out += [record.description.strip(), ""]
    source = f" · replay of `{record.replay_of}`" if record.replay_of else ""
    out += [f"Image `{record.image_source}` · profile `{record.profile}` · seed {record.seed} · "
            f"{len(record.turns)} turns · {total:.1f} s · **{status}**{source}", ""]
    if contact_sheet:
        out += [f"![contact sheet]({contact_sheet})", ""]
    out += ["## Original", "", f"![original]({record.original})", ""]
    for turn in record.turns:
        out += _turn_markdown(turn, by_turn)
    _atomic_write_text(path, "\n".join(out) + "\n")
    return path


# -- contact sheet ---------------------------------------------------------------------------

def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError, TypeError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def contact_sheet(entries: list[tuple[Path, str, str]], path: Path, *, thumb: int = 256, per_row: int = 4,
                  font_size: int = 14) -> Path:
    """Versions side by side, each under a title (blue) and captioned with its instruction (black).

    Args:
        entries: (image file, title, caption) in order, e.g. (v1.png, "v1 · turn 2", "remove the tower").
        path: where the PNG goes.
        thumb: the longest side of each thumbnail, in pixels.
        per_row: thumbnails per row before wrapping.
        font_size: text size.
    """
    if not entries:
        raise InvalidInputError("a contact sheet needs at least one image")
    font = _font(font_size)
    pad, line_h = 12, font_size + 5
    thumbs = []
    for image_path, _, _ in entries:
        with Image.open(image_path) as im:
            im = im.convert("RGB")
            im.thumbnail((thumb, thumb))
            thumbs.append(im)
    chars = max(12, int(thumb / (font_size * 0.55)))
    texts = [[title, *(textwrap.wrap(caption, chars, max_lines=3, placeholder=" …") if caption else [])]
             for _, title, caption in entries]
    cols = min(per_row, len(entries))
    rows = (len(entries) + cols - 1) // cols
    cell_w = max(t.width for t in thumbs) + pad
    img_h = max(t.height for t in thumbs)
    cell_h = img_h + 6 + max(len(t) for t in texts) * line_h + pad
    sheet = Image.new("RGB", (cols * cell_w + pad, rows * cell_h + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (im, lines) in enumerate(zip(thumbs, texts)):
        x = pad + (i % cols) * cell_w
        y = pad + (i // cols) * cell_h
        sheet.paste(im, (x, y + img_h - im.height))   # bottom-aligned: captions line up
        for k, line in enumerate(lines):
            draw.text((x, y + img_h + 6 + k * line_h), line, fill=(20, 60, 160) if k == 0 else (0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
