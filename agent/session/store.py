"""The session folder: original, versions and masks named by content hash, the tree, the conversation, checkpoints.

Layout::

    <session>/original.png             the image as opened (RGB); alpha.png beside it when it had one
    <session>/versions/<sha256>.png    every version's pixels, named by :func:`content_id`
                       <sha256>.ppm    ... as raw pixels until the background writer made the PNG
    <session>/masks/<sha256>.png       edit masks (1-bit, white = edited), named by :func:`mask_id`
    <session>/drafts/<sha256>.ppm      images of a turn waiting on a question (other drafts stay in memory)
    <session>/questions/<sha256>.png   annotated candidates shown with a clarification question
    <session>/references/<sha256>.png  reference images given with turns ("make the cup look like this")
    <session>/history.json             the version tree and head (atomic; history.json.bak: the one before)
    <session>/conversation.jsonl       everything said, one line a message (agent.session.conversation)
    <session>/checkpoints.sqlite       LangGraph's checkpointer: the turn in flight, a pending question
    <session>/session.lock             held while the session is open for writing (agent.session.lock)
    <session>/unsent.json              what the chat app has typed and not sent yet (agent.session.unsent)

The parts live beside this module: ``content`` (ids, encodings), ``images`` (the content-addressed
files, a base class of :class:`SessionStore`), ``history_file`` (history.json and its backup), ``strays``
(tidying and gc), ``export`` (an exported PNG's text). :class:`SessionStore` composes them.

Every path is computed here from a content hash or a fixed name: nothing a planner or a user
writes ever becomes part of a path. What a reply announces is on disk before the reply: a new
version's raw pixels and its history entry are written and fsynced at once; only the PNG
re-encoding of those pixels (a second at 12 MP) happens later, on the background writer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.session import strays
from agent.session.content import content_id, png_bytes, rgb
from agent.session.conversation import CONVERSATION, Conversation, Message
from agent.session.errors import SessionDamagedError, SessionReadOnlyError, SessionStorageError
from agent.session.export import clear_stale_temps, png_text
from agent.session.history import History
from agent.session.history_file import (
    BACKUP,
    HISTORY,
    ORIGINAL,
    is_session,
    keep_backup,
    open_history,
    open_original,
)
from agent.session.images import SessionImages
from agent.session.lock import SessionLock
from agent.session.strays import KINDS, storage_error
from agent.session.writer import Writer
from tools.atomic import atomic_write
from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

ALPHA = "alpha.png"
CHECKPOINTS = "checkpoints.sqlite"


class SessionStore(SessionImages):
    """One session folder, its version tree and its conversation.

    Build it with :meth:`create` (a new session) or :meth:`open` (an existing one). Open for
    writing, it holds the folder's lock until :meth:`close`; ``read_only`` takes no lock and
    refuses every change.
    """

    def __init__(self, root: Path, history: History, *, size: tuple[int, int], lock: SessionLock | None,
                 background: bool = True) -> None:
        self.root = root
        self.history = history
        self.size = size
        """(width, height) of the session's images (every version has the original's size)."""
        self.read_only = lock is None
        self.conversation = _Conversation(root / CONVERSATION, lock)
        self.strays: list[Path] = []
        self.missing: list[int] = []
        """Files in the folder that belong to no version (found on opening; :meth:`collect` removes them)."""
        self.repairs: list[str] = []
        """What opening repaired (a damaged history.json or original.png), one sentence each."""
        self._lock_file = lock
        self._conn: Any = None
        self._writer = Writer(background=background)
        self._lock = threading.Lock()
        self._decoded: OrderedDict[tuple[str, str], Image.Image] = OrderedDict()
        self._drafts: dict[str, Image.Image] = {}
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | Path, image: Image.Image, alpha: Image.Image | None = None, *,
               background: bool = True) -> SessionStore:
        """Start a session in ``root`` (created; it must not hold files yet) with ``image`` as version 0.

        ``alpha`` (mode "L"), when the opened image had one, is kept beside it and put back on export.
        Everything is on disk when this returns.

        Raises:
            InvalidInputError: ``root`` exists and holds files.
            SessionStorageError: the folder or its files cannot be written.
        """
        root = Path(root).expanduser().resolve()
        if root.exists() and (not root.is_dir() or not strays.unstarted(root)):   # a creation killed early: reuse
            raise InvalidInputError(f"session folder {root} already exists and is not empty; "
                                    "open it to resume, or choose a new folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for kind in KINDS:
                (root / kind).mkdir(exist_ok=True)
        except OSError as e:
            raise SessionStorageError(f"could not create session folder {root}: {e.strerror or e}; "
                                      "choose a folder you can write to") from e
        lock = SessionLock(root)
        lock.acquire()
        if is_session(root) or not strays.unstarted(root):   # another opener made it since the look above
            lock.release()
            raise InvalidInputError(f"session folder {root} already exists and is not empty; "
                                    "open it to resume, or choose a new folder")
        strays.tidy_temps(root)                # what a creator killed before us left half written
        image = rgb(image).copy()
        store = cls(root, History.start(content_id(image)), size=image.size, lock=lock, background=background)
        try:
            store._write(root / ORIGINAL, png_bytes(image))
            if alpha is not None:
                store._write(root / ALPHA, png_bytes(alpha.convert("L")))
            store.put_version(image)
            store.save_history()
        except BaseException:
            lock.release()
            raise
        logger.info("new session in %s", root)
        return store

    @classmethod
    def start(cls, source: str | Path | Image.Image, root: str | Path) -> SessionStore:
        """:meth:`create` a session in ``root`` from an image path, a PIL image or a bundled sample's name.

        Raises:
            ImageLoadError: the image cannot be read.
        """
        from tools.imageio import as_rgb, load_image
        from tools.samples import is_sample, sample_path

        if isinstance(source, str) and is_sample(source) and not Path(source).exists():
            source = sample_path(source)
        loaded = as_rgb(source) if isinstance(source, Image.Image) else load_image(source)
        for warning in loaded.warnings:
            logger.warning("%s", warning)
        return cls.create(root, loaded.image, alpha=loaded.alpha)

    @classmethod
    def open(cls, root: str | Path, *, read_only: bool = False, background: bool = True) -> SessionStore:
        """Reopen the session in ``root``: for writing (locked), or ``read_only``.

        Raises:
            InvalidInputError: ``root`` is not a session.
            SessionLockedError: another process has it open for writing.
            SessionReadOnlyError: it cannot be written (open it ``read_only``).
            SessionDamagedError: its history.json or original is damaged (the message says what to do).
        """
        root = Path(root).expanduser().resolve()
        if not is_session(root):
            raise InvalidInputError(f"{root} is not a chatedit session (no {HISTORY}); give a session folder")
        lock = None if read_only else SessionLock(root)
        if lock is not None:
            lock.acquire()
        try:
            history, repaired = open_history(root, writable=lock is not None)
            size, remade = open_original(root, history, writable=lock is not None)
            store = cls(root, history, size=size, lock=lock, background=background)
            store.repairs = [note for note in (repaired, remade) if note]
            if lock is not None:
                store._tidy()
            store._check_images()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return store

    def _check_images(self) -> None:
        """Find the versions whose image file is gone; a missing head's image moves the head to the nearest
        earlier version that has one (said in :attr:`repairs`)."""
        self.missing = [v.number for v in self.history.versions if self._version_file(v.image) is None
                        and not (v.number == 0 and self._original(v.image) is not None)]
        """Versions whose image file is gone (found on opening); reverting to one says so."""
        lost = self.history.head
        shown = next((n for n in reversed(self.history.path()) if n not in self.missing), None)
        if lost in self.missing and shown is not None:      # open at the nearest earlier version that has one
            self.history.revert(shown)
            if not self.read_only:
                self.save_history()
            self.repairs.append(f"The image of version {lost}, the current one, is missing from versions/; the "
                                f"session opened at version {shown}, made before it (put the file back and "
                                f"revert to {lost} to see it).")
        if self.history.head in self.missing:
            raise SessionDamagedError(f"session {self.root} lacks the image of its current version "
                                      f"{self.history.head} in versions/; put the file back, or copy "
                                      f"{BACKUP} over {HISTORY} if it names another version")
        if self.missing:
            shown = ", ".join(map(str, self.missing[:8])) + (" ..." if len(self.missing) > 8 else "")
            logger.warning("session %s lacks the images of versions %s", self.root, shown)

    def _tidy(self) -> None:
        """Remove temp files a crash left, and finish the raw-to-PNG work it cut short."""
        strays.tidy(self.root, self.history, self._compact)

    def find_strays(self, in_flight: set[str] = frozenset()) -> list[Path]:  # type: ignore[assignment]
        """List (in :attr:`strays`) the files that belong to no version, no message and nothing in ``in_flight``.

        Args:
            in_flight: content ids the turn in flight still needs (a pending question's drafts and masks).
        """
        self.strays = strays.find_strays(self.root, self.history, self.conversation, in_flight)
        return self.strays

    def collect(self) -> tuple[int, int]:
        """Delete the files that belong to no version (:attr:`strays`); returns (files, bytes) removed."""
        self._writable()
        removed = strays.remove(self.strays)
        self.strays = []
        return removed

    # -- writing ------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise SessionReadOnlyError(f"session {self.root} is open read-only; reopen it without --read-only "
                                       "(once no other chatedit has it open) to change it")
        if self._lock_file is not None:
            self._lock_file.check()            # still the folder it locked: not moved, removed or replaced

    def _write(self, path: Path, data: bytes, *, durable: bool = True) -> None:
        self._writable()
        try:
            atomic_write(path, data, durable=durable)
        except OSError as e:
            raise storage_error(path, e) from e

    def flush(self) -> None:
        """Wait until the background writer has made every PNG (what a reply announced was on disk already)."""
        self._writer.flush()

    @property
    def writing(self) -> bool:
        """Whether the background writer still has PNGs to make."""
        return self._writer.busy

    def save_history(self) -> Path:
        """Write ``history.json`` atomically and durably; the one it replaces becomes ``history.json.bak``.

        Raises:
            SessionStorageError: it could not be written (the file on disk is the old one, intact).
        """
        path = self.root / HISTORY
        data = self.history.to_text().encode("utf-8")
        self._writable()
        keep_backup(self.root)                 # the previous good history: a hard link costs no copy
        self._write(path, data)
        return path

    def _compact(self, image_id: str, image: Image.Image | None = None) -> None:
        """Queue the PNG of a version stored raw; the raw file goes once the PNG is on disk."""
        png, raw = self._path("versions", image_id), self._path("versions", image_id, ".ppm")

        def run() -> None:
            self._writable()                   # a folder moved meanwhile: its raw file went with it
            pixels = image if image is not None else self.load_image(image_id)
            atomic_write(png, png_bytes(pixels))
            raw.unlink(missing_ok=True)

        self._writer.submit(f"the PNG of {raw.name}", run)

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
        try:
            with Image.open(path) as im:
                if im.size != self.size:
                    raise ValueError(f"it is {im.size[0]}x{im.size[1]}")
                return im.convert("L")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SessionDamagedError(f"{path} cannot be read ({e}); remove it to export without transparency") \
                from e

    def export(self, number: int, path: str | Path, *, profile: str = "") -> Path:
        """Write version ``number`` to ``path`` with the opened image's alpha put back and how it was made
        (instruction, version, first seed and every step's seed, models, who planned it) as PNG text.

        Raises:
            ImageSaveError: the file cannot be written (the session is untouched).
        """
        from tools.imageio import output_path, save_image

        info = self.history[number]
        metadata = png_text(info, number, self.root, profile=profile)
        clear_stale_temps(output_path(path))   # what an export to this file killed midway left beside it
        return save_image(self.load_image(info.image), path, alpha=self.alpha, metadata=metadata)

    def version_image(self, number: int | None = None) -> Image.Image:
        """The pixels of version ``number`` (None: the head)."""
        version = self.history.current if number is None else self.history[number]
        return self.load_image(version.image)

    # -- checkpoints --------------------------------------------------------------------------

    @property
    def checkpoints_path(self) -> Path:
        return self.root / CHECKPOINTS

    def checkpointer(self, types: Iterable[tuple[str, str]] = ()) -> Any:
        """LangGraph's SQLite checkpointer on ``checkpoints.sqlite`` (one connection, shared across threads).

        Args:
            types: ``(module, class)`` pairs the checkpoints may revive (the graph state's models).

        A damaged file is set aside and a new one started (said in :attr:`repairs`).

        Raises:
            SessionDamagedError: the file is not chatedit's.
        """
        from agent.session.checkpoints import open_checkpointer

        if self._conn is None:
            self._conn, self._saver = open_checkpointer(self.checkpoints_path, read_only=self.read_only,
                                                        types=types, repairs=self.repairs)
        return self._saver

    def close(self) -> None:
        """Let the background PNGs land, close the checkpoint database and give the lock back."""
        try:
            self.flush()
        finally:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # noqa: BLE001 - closing: nothing left to lose
                    logger.warning("closing %s failed", self.checkpoints_path, exc_info=True)
                self._conn = None
            if self._lock_file is not None:
                self._lock_file.release()


class _Conversation(Conversation):
    """The conversation of a session open for writing (``lock``; None: read-only), each message appended only
    while the folder is still the one locked (:meth:`SessionLock.check`)."""

    def __init__(self, path: Path, lock: SessionLock | None) -> None:
        super().__init__(path, writable=lock is not None)
        self._session_lock = lock

    def append(self, message: Message) -> Message:
        if self._session_lock is not None:
            self._session_lock.check()
        return super().append(message)
