"""The session folder: original, versions and masks named by content hash, history.json, checkpoints.

Layout::

    <session>/original.png            the image as opened (RGB)
    <session>/versions/<sha256>.png   every version's pixels, named by :func:`content_id`
    <session>/masks/<sha256>.png      edit masks (white = edited)
    <session>/drafts/<sha256>.png     images of a turn waiting on a question (other drafts stay in memory)
    <session>/questions/<sha256>.png  annotated candidates shown with a clarification question
    <session>/history.json            versions and head, written atomically (temp file + os.replace)
    <session>/checkpoints.sqlite      LangGraph's checkpointer (conversation, pending question)

Every path is computed here from a content hash or a fixed name: nothing a planner or a user
writes ever becomes part of a path.

Files are written through an :class:`agent.session.writer.Writer`: at once by default, or (``background=True``,
as the Editor opens its sessions) in order on a background thread, so a turn's reply does not wait
for its PNGs. Until a file lands, its pixels are served from memory; history.json is queued behind
the images it names.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.session.history import History, is_content_id
from agent.session.writer import Writer
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
"""Decoded version images kept in memory (a turn reads the head and its drafts' bases again and again)."""


_LIVE: weakref.WeakValueDictionary[Path, SessionStore] = weakref.WeakValueDictionary()
"""The open stores by folder: reopening a folder first lets its live store's queued files land."""


def content_id(image: Image.Image) -> str:
    """An image's id: the sha256 of its mode, size and raw pixels (equal ids, equal pixels).

    Hashing the pixels, not the PNG, keeps encoding off the path of a turn: 68 ms at 12 MP instead
    of about a second. Sessions from before this scheme keep their PNG-hash ids (any sha256 is valid).
    """
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode("ascii"))
    digest.update(image.tobytes())
    return digest.hexdigest()


def mask_id(mask: np.ndarray) -> str:
    """A bool mask's id: the sha256 of its shape and packed bits (2 ms at 12 MP)."""
    digest = hashlib.sha256(f"mask {mask.shape[0]}x{mask.shape[1]}\n".encode("ascii"))
    digest.update(np.packbits(mask))
    return digest.hexdigest()


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` itself when it is RGB (no copy), else its RGB conversion."""
    return image if image.mode == "RGB" else image.convert("RGB")


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

    Use :meth:`create` for a new session and :meth:`open` for an existing one. With
    ``background=True`` images and history.json are written by a background thread, in order;
    :meth:`flush` waits for them (and raises if one could not be written).
    """

    def __init__(self, root: Path, history: History, *, background: bool = False) -> None:
        self.root = root
        self.history = history
        self._conn: sqlite3.Connection | None = None
        self._writer = Writer(background=background)
        self._lock = threading.Lock()
        # Files are content-addressed, so a decoded image never goes stale: keep the latest few.
        self._decoded: OrderedDict[tuple[str, str], Image.Image] = OrderedDict()
        self._unwritten: dict[tuple[str, str], Any] = {}            # queued, not landed: served from here
        self._drafts: dict[str, Image.Image] = {}                   # this turn's drafts (disk only for a question)
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()   # the latest masks (read-only arrays)
        _LIVE[root] = self

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, image: Image.Image, alpha: Image.Image | None = None, *,
               background: bool = False) -> SessionStore:
        """Start a session in ``root`` (created; it must not hold files yet) with ``image`` as version 0.

        ``alpha`` (mode "L"), when the opened image had one, is kept beside it and put back on export.
        The original, version 0 and history.json are on disk when this returns.
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
        image_id = content_id(image)
        _atomic_write(root / "versions" / f"{image_id}.png", data)
        store = cls(root, History.start(image_id), background=background)
        store._remember("versions", image_id, image.copy())
        store.save_history()
        logger.info("new session in %s", root)
        return store

    @classmethod
    def open(cls, root: str | Path, *, background: bool = False) -> SessionStore:
        """Reopen the session in ``root``.

        Versions on the redo branch whose images are gone are dropped from the history in memory,
        from the first missing one on (logged; history.json is rewritten only by the next save).
        A missing image at or before the head is an error: that version cannot be shown.
        """
        root = Path(root).expanduser().resolve()
        live = _LIVE.get(root)
        if live is not None:
            live.flush()                    # the same folder, still open here: let its queued files land first
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
        store = cls(root, history, background=background)
        missing = [v.number for v in history.versions if not store.image_path(v.image).is_file()]
        if missing and missing[0] <= history.head:
            raise InvalidInputError(f"session {root} lacks the images of versions {missing}; it cannot be reopened")
        if missing:
            logger.warning("session %s lacks the images of redo versions %s; dropping versions %d-%d from redo",
                           root, missing, missing[0], history.latest)
            store.history = History(list(history.versions[: missing[0]]), head=history.head)
        return store

    # -- writing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until every queued file has landed (at once when nothing is queued).

        Raises:
            ImageSaveError: a file could not be written even on a retry; it stays queued, its
                pixels in memory, and the next flush tries again.
        """
        self._writer.flush()

    @property
    def write_error(self) -> ImageSaveError | None:
        """The failure that stopped the writes, if one did (:meth:`flush` retries; nothing waits here)."""
        return self._writer.error

    @property
    def writing(self) -> bool:
        """Whether some file is queued and has not landed yet."""
        return self._writer.busy

    def save_history(self) -> Path:
        """Write ``history.json`` atomically (a crash leaves the old or the new file, never half of one).

        It is written at once when no image is queued, else queued behind them (so it never names
        an image that is not on disk). With background writes, a write at once that fails is
        queued too: :meth:`flush` raises until it lands (a plain store raises here).
        """
        path = self.root / HISTORY
        data = json.dumps(self.history.to_json(), indent=1).encode("utf-8")

        def write() -> None:
            _atomic_write(path, data)

        if not self._writer.background:
            write()
        elif self._writer.busy:
            self._writer.submit("the history", write)
        else:
            try:
                write()
            except ImageSaveError as e:
                self._writer.defer("the history", write, e)
        return path

    # -- content-addressed files --------------------------------------------------------------

    def _path(self, kind: str, content_id: str) -> Path:
        if kind not in _KINDS:
            raise InvalidInputError(f"unknown store folder {kind!r}")
        if not is_content_id(content_id):
            raise InvalidInputError(f"not a content id: {content_id!r} (expected a sha256 hex digest)")
        return self.root / kind / f"{content_id}.png"

    def _queue(self, kind: str, content_id: str, payload: Any, encode: Callable[[], bytes], label: str) -> None:
        """Queue ``<kind>/<id>.png`` (``encode()`` gives its bytes) unless it is there or queued.

        ``payload`` (the image, or a mask's array; never handed out, loads return copies) is
        served from memory until the file lands.
        """
        path, key = self._path(kind, content_id), (kind, content_id)
        with self._lock:
            if key in self._unwritten:
                return
        if path.is_file():
            return
        with self._lock:
            self._unwritten[key] = payload

        def write() -> None:
            _atomic_write(path, encode())
            with self._lock:
                self._unwritten.pop(key, None)

        self._writer.submit(label, write)

    def _put_version(self, image: Image.Image, image_id: str | None = None, *, private: bool = False) -> str:
        kept = image if private else image.copy()           # private: nobody else holds (or changes) it
        image_id = image_id or content_id(kept)
        self._queue("versions", image_id, kept, lambda: png_bytes(kept), "the new version's image")
        self._remember("versions", image_id, kept)
        return image_id

    def _remember(self, kind: str, content_id: str, image: Image.Image) -> None:
        with self._lock:
            self._decoded[(kind, content_id)] = image
            self._decoded.move_to_end((kind, content_id))
            while len(self._decoded) > CACHED_IMAGES:
                self._decoded.popitem(last=False)

    def _load(self, kind: str, content_id: str) -> Image.Image:
        path = self._path(kind, content_id)
        with self._lock:
            pending = self._unwritten.get((kind, content_id))
            cached = self._decoded.get((kind, content_id))
            if isinstance(pending, Image.Image):
                return pending.copy()
        if cached is not None and path.is_file():
            with self._lock:
                if (kind, content_id) in self._decoded:
                    self._decoded.move_to_end((kind, content_id))
            return cached.copy()
        try:
            with Image.open(path) as im:
                im.load()
                image = im.copy()
        except (OSError, ValueError) as e:
            raise ImageLoadError(f"could not read {path} from the session: {e}") from e
        if kind == "versions":
            self._remember(kind, content_id, image.copy())
        return image

    def put_image(self, image: Image.Image) -> str:
        """Store a version image; returns its id (:func:`content_id`)."""
        return self._put_version(_rgb(image))

    def image_path(self, content_id: str) -> Path:
        """Where a version's PNG is (written by now unless :attr:`writing`; :meth:`flush` to be sure)."""
        return self._path("versions", content_id)

    def load_image(self, content_id: str) -> Image.Image:
        image = self._load("versions", content_id)
        return _rgb(image)

    def version_png(self, content_id: str) -> bytes | None:
        """A version's PNG file as it is on disk, or None while it is queued or missing (no encoding)."""
        with self._lock:
            if ("versions", content_id) in self._unwritten:
                return None
        try:
            return self._path("versions", content_id).read_bytes()
        except OSError:
            return None

    def put_draft(self, image: Image.Image) -> str:
        """Keep an image of a turn in flight (in memory; see :meth:`persist_drafts`); returns its id."""
        image = image.convert("RGB")          # a copy, even of an RGB image: the caller may change theirs
        draft_id = content_id(image)
        self._drafts[draft_id] = image
        return draft_id

    def load_draft(self, content_id: str) -> Image.Image:
        draft = self._drafts.get(content_id)
        if draft is not None:
            return draft.copy()
        image = self._load("drafts", content_id)                       # a draft kept on disk with a question
        return _rgb(image)

    def persist_drafts(self) -> None:
        """Write the turn's drafts (and every queued mask) to disk now: a question may outlive this process."""
        self.flush()
        for draft_id, image in self._drafts.items():
            path = self._path("drafts", draft_id)
            if not path.is_file():
                _atomic_write(path, png_bytes(image))

    def promote_draft(self, content_id: str) -> str:
        """Make a draft a version image (queued for ``versions/``; same pixels, same id) and return the id."""
        draft = self._drafts.get(content_id)
        if draft is not None:
            return self._put_version(draft, content_id, private=True)
        return self.put_image(self.load_draft(content_id))

    def clear_drafts(self) -> None:
        """Forget every draft, in memory and on disk (a turn ended, committed or not)."""
        self._drafts.clear()
        for path in (self.root / "drafts").glob("*.png"):
            path.unlink(missing_ok=True)

    def put_mask(self, mask: np.ndarray) -> str:
        """Store a bool H×W mask as a black/white PNG; returns its id (:func:`mask_id`)."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InvalidInputError(f"a mask must be H×W, got shape {mask.shape}")
        kept = np.array(mask, dtype=bool)                  # a copy: the caller may change theirs
        kept.flags.writeable = False
        mask_key = mask_id(kept)
        self._queue("masks", mask_key, kept,
                    lambda: png_bytes(Image.fromarray(kept.view(np.uint8) * np.uint8(255))), "an edit mask")
        self._remember_mask(mask_key, kept)
        return mask_key

    def mask_path(self, content_id: str) -> Path:
        return self._path("masks", content_id)

    def load_mask(self, content_id: str) -> np.ndarray:
        path = self._path("masks", content_id)
        with self._lock:
            kept = self._unwritten.get(("masks", content_id))
            if kept is None and content_id in self._masks:
                self._masks.move_to_end(content_id)
                kept = self._masks[content_id]
        if kept is not None:
            return kept.copy()
        try:
            with Image.open(path) as im:
                kept = np.asarray(im.convert("L")) > 127
        except (OSError, ValueError) as e:
            raise ImageLoadError(f"could not read {path} from the session: {e}") from e
        self._remember_mask(content_id, kept)
        return kept.copy()

    def _remember_mask(self, content_id: str, mask: np.ndarray) -> None:
        with self._lock:
            self._masks[content_id] = mask
            self._masks.move_to_end(content_id)
            while len(self._masks) > CACHED_IMAGES:
                self._masks.popitem(last=False)

    def put_question_image(self, image: Image.Image) -> str:
        """Store an annotated candidates image shown with a question (on disk at once); returns its id."""
        image = image.convert("RGB")
        image_id = content_id(image)
        path = self._path("questions", image_id)
        if not path.is_file():
            _atomic_write(path, png_bytes(image))
        return image_id

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
            # LangGraph's saver turns on WAL; with synchronous=NORMAL a commit survives a crash of this
            # process without an fsync each (a checkpoint per graph step: 3x less time spent in them).
            self._conn.execute("PRAGMA synchronous=NORMAL")
        return SqliteSaver(self._conn)

    def close(self) -> None:
        """Let queued files land, then close the checkpoint database (the folder stays as it is).

        Raises:
            ImageSaveError: a queued file could not be written (the database is closed anyway).
        """
        try:
            self.flush()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
