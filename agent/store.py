"""The session folder: original, versions and masks named by content hash, history.json, checkpoints.

Layout::

    <session>/original.png            the image as opened (RGB)
    <session>/versions/<sha256>.png   every version's pixels, named by the PNG's sha256
    <session>/masks/<sha256>.png      edit masks (white = edited)
    <session>/drafts/<sha256>.png     images of a turn in flight (dropped when the turn ends)
    <session>/questions/<sha256>.png  annotated candidates shown with a clarification question
    <session>/history.json            versions and head, written atomically (temp file + os.replace)
    <session>/checkpoints.sqlite      LangGraph's checkpointer (conversation, pending question)

Every path is computed here from a content hash or a fixed name: nothing a planner or a user
writes ever becomes part of a path.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.history import History, is_content_id
from tools.errors import ImageLoadError, ImageSaveError, InvalidInputError

logger = logging.getLogger(__name__)

HISTORY = "history.json"
ORIGINAL = "original.png"
ALPHA = "alpha.png"
CHECKPOINTS = "checkpoints.sqlite"
_KINDS = ("versions", "masks", "drafts", "questions")


PNG_LEVEL = 1
"""zlib level of the session's PNGs: 3x faster to write than the default 6 (2 s instead of 6 s at
12 MP, on the path of every edit) for files about 20% larger."""
CACHED_IMAGES = 4
"""Decoded images kept in memory (the versions and drafts a turn reads again and again)."""


def png_bytes(image: Image.Image) -> bytes:
    """The PNG encoding of an image (deterministic for the same pixels: no timestamps)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ImageSaveError(f"could not write {path}: {e.strerror or e}; check the folder's permissions "
                             "and free space") from e


def is_session(path: str | Path) -> bool:
    """Whether ``path`` is a session folder (it holds a history.json)."""
    return (Path(path) / HISTORY).is_file()


class SessionStore:
    """One session folder and its in-memory :class:`History`.

    Use :meth:`create` for a new session and :meth:`open` for an existing one.
    """

    def __init__(self, root: Path, history: History) -> None:
        self.root = root
        self.history = history
        self._conn: sqlite3.Connection | None = None
        # Files are content-addressed, so a decoded image never goes stale: keep the latest few.
        self._decoded: OrderedDict[tuple[str, str], Image.Image] = OrderedDict()

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, image: Image.Image, alpha: Image.Image | None = None) -> SessionStore:
        """Start a session in ``root`` (created; it must not hold files yet) with ``image`` as version 0.

        ``alpha`` (mode "L"), when the opened image had one, is kept beside it and put back on export.
        """
        root = Path(root).expanduser().resolve()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InvalidInputError(f"session folder {root} already exists and is not empty; "
                                    "open it to resume, or choose a new folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for kind in _KINDS:
                (root / kind).mkdir(exist_ok=True)
        except OSError as e:
            raise ImageSaveError(f"could not create session folder {root}: {e.strerror or e}") from e
        image = image.convert("RGB")
        data = png_bytes(image)
        _atomic_write(root / ORIGINAL, data)
        if alpha is not None:
            _atomic_write(root / ALPHA, png_bytes(alpha.convert("L")))
        store = cls(root, History.start(hashlib.sha256(data).hexdigest()))
        store._put("versions", data, image)
        store.save_history()
        logger.info("new session in %s", root)
        return store

    @classmethod
    def open(cls, root: str | Path) -> SessionStore:
        """Reopen the session in ``root``.

        Versions on the redo branch whose images are gone are dropped from the history in memory,
        from the first missing one on (logged; history.json is rewritten only by the next save).
        A missing image at or before the head is an error: that version cannot be shown.
        """
        root = Path(root).expanduser().resolve()
        path = root / HISTORY
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            history = History.from_json(data)
        except FileNotFoundError as e:
            raise InvalidInputError(f"{root} is not a chatedit session (no {HISTORY})") from e
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInputError(f"{path} is damaged ({e}); the session cannot be reopened") from e
        for kind in _KINDS:
            (root / kind).mkdir(exist_ok=True)
        store = cls(root, history)
        missing = [v.number for v in history.versions if not store.image_path(v.image).is_file()]
        if missing and missing[0] <= history.head:
            raise InvalidInputError(f"session {root} lacks the images of versions {missing}; it cannot be reopened")
        if missing:
            logger.warning("session %s lacks the images of redo versions %s; dropping versions %d-%d from redo",
                           root, missing, missing[0], history.latest)
            store.history = History(list(history.versions[: missing[0]]), head=history.head)
        return store

    # -- history ------------------------------------------------------------------------------

    def save_history(self) -> Path:
        """Write ``history.json`` atomically (a crash leaves the old or the new file, never half of one)."""
        path = self.root / HISTORY
        _atomic_write(path, json.dumps(self.history.to_json(), indent=1).encode("utf-8"))
        return path

    # -- content-addressed files --------------------------------------------------------------

    def _path(self, kind: str, content_id: str) -> Path:
        if kind not in _KINDS:
            raise InvalidInputError(f"unknown store folder {kind!r}")
        if not is_content_id(content_id):
            raise InvalidInputError(f"not a content id: {content_id!r} (expected a sha256 hex digest)")
        return self.root / kind / f"{content_id}.png"

    def _put(self, kind: str, data: bytes, image: Image.Image | None = None) -> str:
        content_id = hashlib.sha256(data).hexdigest()
        path = self._path(kind, content_id)
        if not path.is_file():
            _atomic_write(path, data)
        if image is not None and kind in ("versions", "drafts"):
            self._remember(kind, content_id, image.copy())
        return content_id

    def _remember(self, kind: str, content_id: str, image: Image.Image) -> None:
        self._decoded[(kind, content_id)] = image
        self._decoded.move_to_end((kind, content_id))
        while len(self._decoded) > CACHED_IMAGES:
            self._decoded.popitem(last=False)

    def _load(self, kind: str, content_id: str) -> Image.Image:
        path = self._path(kind, content_id)
        cached = self._decoded.get((kind, content_id))
        if cached is not None and path.is_file():
            self._decoded.move_to_end((kind, content_id))
            return cached.copy()
        try:
            with Image.open(path) as im:
                im.load()
                image = im.copy()
        except (OSError, ValueError) as e:
            raise ImageLoadError(f"could not read {path} from the session: {e}") from e
        if kind in ("versions", "drafts"):
            self._remember(kind, content_id, image.copy())
        return image

    def put_image(self, image: Image.Image) -> str:
        """Store a version image; returns its id (the PNG's sha256)."""
        image = image.convert("RGB")
        return self._put("versions", png_bytes(image), image)

    def image_path(self, content_id: str) -> Path:
        return self._path("versions", content_id)

    def load_image(self, content_id: str) -> Image.Image:
        return self._load("versions", content_id).convert("RGB")

    def put_draft(self, image: Image.Image) -> str:
        """Store an image of a turn in flight; returns its id."""
        image = image.convert("RGB")
        return self._put("drafts", png_bytes(image), image)

    def load_draft(self, content_id: str) -> Image.Image:
        return self._load("drafts", content_id).convert("RGB")

    def promote_draft(self, content_id: str) -> str:
        """Copy a draft into ``versions/`` (same bytes, same id) and return the id."""
        data = self._path("drafts", content_id).read_bytes()
        cached = self._decoded.get(("drafts", content_id))
        return self._put("versions", data, cached)

    def clear_drafts(self) -> None:
        """Delete every draft image (a turn ended, committed or not)."""
        for path in (self.root / "drafts").glob("*.png"):
            path.unlink(missing_ok=True)

    def put_mask(self, mask: np.ndarray) -> str:
        """Store a bool H×W mask as a black/white PNG; returns its id."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InvalidInputError(f"a mask must be H×W, got shape {mask.shape}")
        return self._put("masks", png_bytes(Image.fromarray(np.where(mask.astype(bool), 255, 0).astype(np.uint8))))

    def mask_path(self, content_id: str) -> Path:
        return self._path("masks", content_id)

    def load_mask(self, content_id: str) -> np.ndarray:
        return np.asarray(self._load("masks", content_id).convert("L")) > 127

    def put_question_image(self, image: Image.Image) -> str:
        """Store an annotated candidates image shown with a question; returns its id."""
        return self._put("questions", png_bytes(image.convert("RGB")))

    def question_path(self, content_id: str) -> Path:
        return self._path("questions", content_id)

    # -- versions -----------------------------------------------------------------------------

    @property
    def original_path(self) -> Path:
        return self.root / ORIGINAL

    @property
    def alpha(self) -> Image.Image | None:
        """The opened image's alpha channel (mode "L"), or None when it had none."""
        path = self.root / ALPHA
        if not path.is_file():
            return None
        with Image.open(path) as im:
            return im.convert("L")

    def version_image(self, number: int | None = None) -> Image.Image:
        """The pixels of version ``number`` (None: the head)."""
        version = self.history.current if number is None else self.history[number]
        return self.load_image(version.image)

    # -- checkpoints --------------------------------------------------------------------------

    @property
    def checkpoints_path(self) -> Path:
        return self.root / CHECKPOINTS

    def checkpointer(self) -> Any:
        """LangGraph's SQLite checkpointer on ``checkpoints.sqlite`` (one connection, shared across threads)."""
        from langgraph.checkpoint.sqlite import SqliteSaver

        if self._conn is None:
            self._conn = sqlite3.connect(self.checkpoints_path, check_same_thread=False)
        return SqliteSaver(self._conn)

    def close(self) -> None:
        """Close the checkpoint database (the folder stays as it is)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
