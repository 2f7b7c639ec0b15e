"""A session's history.json on disk: reading it (or saying how to recover), its hard-linked backup."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PIL import Image

from agent.session.content import content_id, png_bytes, rgb
from agent.session.errors import SessionDamagedError
from agent.session.history import History, HistoryFormatError, is_content_id
from agent.session.salvage import Salvaged, adopt, read_lines, salvage
from tools.atomic import atomic_write

logger = logging.getLogger(__name__)

HISTORY = "history.json"
BACKUP = "history.json.bak"
ORIGINAL = "original.png"
MAX_HISTORY_BYTES = 256 * 1024 * 1024
"""A history.json larger than this is refused as damaged (100 000 versions take far less)."""


DAMAGED = "history.json.damaged"
"""Where a damaged history.json is kept once the versions it still held were read back."""


def is_session(path: str | Path) -> bool:
    """Whether ``path`` is a session folder (it holds a history.json or its backup, or, when both were lost,
    its original.png beside a versions/ folder)."""
    root = Path(path)
    return (root / HISTORY).exists() or (root / BACKUP).is_file() or \
        ((root / ORIGINAL).is_file() and (root / "versions").is_dir())


def keep_backup(root: Path) -> None:
    """Make the current history.json also ``history.json.bak`` (a hard link: no copy), before it is replaced.

    A failure is logged, never raised: the new history is still written.
    """
    path = root / HISTORY
    try:
        if path.is_file():
            backup_tmp = root / f".{BACKUP}.link.tmp"
            backup_tmp.unlink(missing_ok=True)
            os.link(path, backup_tmp)
            os.replace(backup_tmp, root / BACKUP)
    except OSError as e:
        logger.warning("could not keep %s: %s", BACKUP, e)


def read_history(root: Path) -> History:
    """The session's version tree, as history.json says.

    Raises:
        SessionDamagedError: history.json is missing or damaged; the message says how to recover.
    """
    path = root / HISTORY
    try:
        return _read(path)
    except (OSError, ValueError, RecursionError) as e:
        reason = _reason(e)
    backup = root / BACKUP
    hint = (f"the history before the last change is in {BACKUP}: copy it over {HISTORY} to reopen the session "
            "(the last change may be lost)" if backup.is_file() and path.exists() and _readable(backup) else
            f"the versions' images are safe in {root / 'versions'}; export the one you want with an image viewer, "
            f"or start again from {root / ORIGINAL}")
    if not path.exists() and backup.is_file() and _readable(backup):
        hint = f"copy {BACKUP} to {HISTORY} to reopen the session (the last change may be lost)"
    raise SessionDamagedError(f"{path} is damaged ({reason}); {hint}")


def open_history(root: Path, *, writable: bool) -> tuple[History, str | None]:
    """The session's version tree, and what had to be repaired to read it (None: nothing).

    A damaged or missing history.json is read back as far as it and its backup go
    (:mod:`agent.session.salvage`; with only original.png left, the tree is version 0). When ``writable``
    the damaged file is kept as history.json.damaged and the tree read back becomes history.json.

    Raises:
        SessionDamagedError: not even version 0 can be read back.
    """
    try:
        return _read(root / HISTORY), None
    except (OSError, ValueError, RecursionError) as e:
        reason = _reason(e)
        if isinstance(e, FileNotFoundError) and not (root / BACKUP).exists():
            reason = "it is missing: the session stopped while it was being made, or the file was removed"
    images = _version_ids(root)
    got = salvage(read_lines(root / HISTORY, MAX_HISTORY_BYTES), read_lines(root / BACKUP, MAX_HISTORY_BYTES),
                  images)
    sources = "what was left of it"
    if got is None:
        original = _original_id(root)
        if original is None:
            read_history(root)                     # raises, saying what to do
        got, sources = Salvaged(History.start(original), (), ()), ORIGINAL   # type: ignore[arg-type]
    history = got.history
    if got.from_backup:
        sources = BACKUP if len(got.from_backup) == len(history) else \
            f"{sources} and {BACKUP} ({_numbers(got.from_backup)})"
    numbers = "version 0" if len(history) == 1 else f"versions 0-{history.latest}"
    note = f"{HISTORY} was damaged ({reason}); the session reopened at version {history.head} with {numbers} " \
           f"read back from {sources}"
    if got.partial:
        note += f"; the instructions and masks of {_numbers(got.partial)} were lost, their images are kept"
    named = {v.image for v in history.versions}
    orphans = sorted((i for i in images if i not in named), key=lambda i: (_mtime(root, i), i))
    if orphans:
        first = history.latest + 1
        history = adopt(history, orphans)
        added = f"v{first}" if first == history.latest else f"v{first}-v{history.latest}"
        note += (f"; {len(orphans)} image(s) in versions/ that no entry named any more were added as {added}, "
                 "oldest first (what made them and their parents are unknown)")
    if writable:
        try:
            kept = _keep_damaged(root)
            atomic_write(root / HISTORY, history.to_text().encode("utf-8"))
            if kept is not None:
                note += f"; the damaged file is kept as {kept.name}"
        except OSError as e:
            note += f" (the repair could not be saved: {e.strerror or e})"
    logger.warning("%s", note)
    return history, note + "."


def _read(path: Path) -> History:
    if path.stat().st_size > MAX_HISTORY_BYTES:
        raise HistoryFormatError(f"it is {path.stat().st_size // 2 ** 20} MB, more than a history can be")
    return History.from_json(json.loads(path.read_bytes()))


def _reason(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "it is missing"
    if isinstance(e, HistoryFormatError):
        return str(e)
    if isinstance(e, RecursionError):
        return "it is nested too deeply"
    if isinstance(e, ValueError):
        return f"it is not JSON: {e}"
    return f"it cannot be read: {getattr(e, 'strerror', None) or e}"


def _numbers(numbers: tuple[int, ...]) -> str:
    shown = ", ".join(f"v{n}" for n in numbers[:6])
    return shown + (f" and {len(numbers) - 6} more" if len(numbers) > 6 else "")


def _mtime(root: Path, image: str) -> float:
    for suffix in (".png", ".ppm"):
        try:
            return (root / "versions" / f"{image}{suffix}").stat().st_mtime
        except OSError:
            continue
    return 0.0


def _version_ids(root: Path) -> set[str]:
    try:
        return {p.stem for p in (root / "versions").iterdir() if p.suffix in (".png", ".ppm") and
                is_content_id(p.stem)}
    except OSError:
        return set()


def _original_id(root: Path) -> str | None:
    try:
        with Image.open(root / ORIGINAL) as im:
            im.load()
            return content_id(rgb(im))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _keep_damaged(root: Path) -> Path | None:
    """Move a damaged history.json aside (to a name not taken yet); None when there is none."""
    path = root / HISTORY
    if not path.exists() and not path.is_symlink():
        return None
    kept = root / DAMAGED
    n = 1
    while kept.exists() or kept.is_symlink():
        n += 1
        kept = root / f"{DAMAGED}.{n}"
    os.replace(path, kept)
    return kept


def _readable(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            return False
        History.from_json(json.loads(path.read_bytes()))
        return True
    except (OSError, ValueError, RecursionError, HistoryFormatError):
        return False


def original_size(root: Path) -> tuple[int, int]:
    """(width, height) of the session's original.png.

    Raises:
        SessionDamagedError: it is missing or cannot be read.
    """
    path = root / ORIGINAL
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise SessionDamagedError(f"{path} cannot be read ({type(e).__name__}: {e}); the session needs its "
                                  "original image: put it back") from e


def open_original(root: Path, history: History, *, writable: bool) -> tuple[tuple[int, int], str | None]:
    """(width, height) of the session, and what had to be repaired to know it (None: nothing).

    A damaged or missing original.png is made again from version 0's file (the same pixels) when ``writable``.

    Raises:
        SessionDamagedError: neither original.png nor version 0's image can be read.
    """
    try:
        return original_size(root), None
    except SessionDamagedError as error:
        damaged = error
    first = history[0].image
    for suffix in (".png", ".ppm"):
        path = root / "versions" / f"{first}{suffix}"
        try:
            with Image.open(path) as im:
                im.load()
                pixels = rgb(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
        if content_id(pixels) != first:
            continue
        note = f"{ORIGINAL} was missing or damaged; version 0's image stands in for it"
        if writable:
            try:
                if (root / ORIGINAL).is_dir():
                    raise IsADirectoryError(21, "it is a folder")
                atomic_write(root / ORIGINAL, png_bytes(pixels))
                note = f"{ORIGINAL} was missing or damaged; it was made again from version 0's image"
            except OSError as e:
                note += f" (it could not be written again: {e.strerror or e})"
        logger.warning("%s", note)
        return pixels.size, note + "."
    for version in reversed(history.versions[1:]):          # version 0 is gone too: any other gives the size
        for suffix in (".png", ".ppm"):
            try:
                with Image.open(root / "versions" / f"{version.image}{suffix}") as im:
                    size = im.size
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue
            note = (f"{ORIGINAL} and version 0's image are both missing or damaged, so the original cannot be "
                    "shown; the other versions are kept (put a copy of the original back as "
                    f"{root / ORIGINAL} to see it)")
            logger.warning("%s", note)
            return size, note + "."
    raise damaged
