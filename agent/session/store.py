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

Every path is computed here from a content hash or a fixed name: nothing a planner or a user
writes ever becomes part of a path. What a reply announces is on disk before the reply: a new
version's raw pixels and its history entry are written and fsynced at once; only the PNG
re-encoding of those pixels (a second at 12 MP) happens later, on the background writer.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agent.session.conversation import CONVERSATION, Conversation
from agent.session.errors import (
    SessionDamagedError,
    SessionReadOnlyError,
    SessionStorageError,
)
from agent.session.history import History, HistoryFormatError, is_content_id
from agent.session.lock import SessionLock
from agent.session.writer import Writer
from tools.atomic import atomic_write, is_temp_file
from tools.errors import InvalidInputError

logger = logging.getLogger(__name__)

HISTORY = "history.json"
BACKUP = "history.json.bak"
ORIGINAL = "original.png"
ALPHA = "alpha.png"
CHECKPOINTS = "checkpoints.sqlite"
KINDS = ("versions", "masks", "drafts", "questions", "references")
MAX_HISTORY_BYTES = 256 * 1024 * 1024
"""A history.json larger than this is refused as damaged (100 000 versions take far less)."""

PNG_LEVEL = 1
"""zlib level of the session's PNGs: 3x faster to write than the default 6 for files about 20% larger."""
CACHED_IMAGES = 4
"""Decoded images kept in memory (a turn reads the head and its drafts' bases again and again)."""


def content_id(image: Image.Image) -> str:
    """An image's id: the sha256 of its mode, size and raw pixels (equal ids, equal pixels)."""
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\n".encode("ascii"))
    digest.update(image.tobytes())
    return digest.hexdigest()


def mask_id(mask: np.ndarray) -> str:
    """A bool mask's id: the sha256 of its shape and packed bits (2 ms at 12 MP)."""
    digest = hashlib.sha256(f"mask {mask.shape[0]}x{mask.shape[1]}\n".encode("ascii"))
    digest.update(np.packbits(mask))
    return digest.hexdigest()


def png_bytes(image: Image.Image) -> bytes:
    """The PNG encoding of an image (deterministic for the same pixels: no timestamps)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _rgb(image: Image.Image) -> Image.Image:
    """``image`` itself when it is RGB (no copy), else its RGB conversion."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _ppm(image: Image.Image) -> bytes:
    """Raw RGB pixels with a PPM header: written in milliseconds, read by any image tool."""
    return f"P6\n{image.width} {image.height}\n255\n".encode("ascii") + image.tobytes()


def is_session(path: str | Path) -> bool:
    """Whether ``path`` is a session folder (it holds a history.json, or its backup)."""
    return (Path(path) / HISTORY).is_file() or (Path(path) / BACKUP).is_file()


def _storage_error(path: Path, e: OSError) -> SessionStorageError:
    return SessionStorageError(f"could not write {path}: {e.strerror or e}; free some disk space or check "
                               "the folder's permissions (nothing saved before was lost)")


class SessionStore:
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
        self.conversation = Conversation(root / CONVERSATION, writable=lock is not None)
        self.strays: list[Path] = []
        self.missing: list[int] = []
        """Files in the folder that belong to no version (found on opening; :meth:`collect` removes them)."""
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
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
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
        image = _rgb(image).copy()
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
            history = _read_history(root)
            size = _original_size(root)
            store = cls(root, history, size=size, lock=lock, background=background)
            if lock is not None:
                store._tidy()
            store._check_images()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return store

    def _check_images(self) -> None:
        """The head's image must be there (as PNG or raw pixels); other missing images are reported."""
        self.missing = [v.number for v in self.history.versions if self._version_file(v.image) is None]
        """Versions whose image file is gone (found on opening); reverting to one says so."""
        if self.history.head in self.missing:
            raise SessionDamagedError(f"session {self.root} lacks the image of its current version "
                                      f"{self.history.head} in versions/; put the file back, or copy "
                                      f"{BACKUP} over {HISTORY} if it names another version")
        if self.missing:
            shown = ", ".join(map(str, self.missing[:8])) + (" ..." if len(self.missing) > 8 else "")
            logger.warning("session %s lacks the images of versions %s", self.root, shown)

    def _tidy(self) -> None:
        """Remove temp files a crash left, and finish the raw-to-PNG work it cut short."""
        used = {v.image for v in self.history.versions}
        for folder in [self.root, *(self.root / k for k in KINDS)]:
            try:
                folder.mkdir(exist_ok=True)
                entries = list(folder.iterdir())
            except OSError as e:
                raise SessionReadOnlyError(f"session {self.root} cannot be written ({e.strerror or e}); "
                                           "open it read-only, or copy it somewhere writable") from e
            for path in entries:
                if is_temp_file(path):
                    path.unlink(missing_ok=True)
                    logger.info("removed %s, left by an interrupted write", path)
                elif folder.name == "versions" and path.suffix == ".ppm" and path.stem in used:
                    if (folder / f"{path.stem}.png").is_file():
                        path.unlink(missing_ok=True)
                    else:
                        self._compact(path.stem)

    def find_strays(self, in_flight: set[str] = frozenset()) -> list[Path]:  # type: ignore[assignment]
        """List (in :attr:`strays`) the files that belong to no version, no message and nothing in ``in_flight``.

        Args:
            in_flight: content ids the turn in flight still needs (a pending question's drafts and masks).
        """
        used = {"versions": {v.image for v in self.history.versions} | in_flight,
                "masks": {m for v in self.history.versions
                          for m in [v.mask, *(r.mask for r in v.steps), *(r.region for r in v.steps)] if m}
                         | in_flight,
                "questions": {m.image for m in self.conversation.messages if m.image} | in_flight,
                "references": {r.reference.id for v in self.history.versions for r in v.steps if r.reference}
                              | in_flight,
                "drafts": in_flight}
        self.strays = [path for kind, ids in used.items() for path in sorted((self.root / kind).glob("*.*"))
                       if path.is_file() and not is_temp_file(path) and path.stem not in ids]
        if self.strays:
            size = sum(p.stat().st_size for p in self.strays if p.exists()) / 1e6
            logger.warning("session %s holds %d file(s) (%.1f MB) that belong to no version; "
                           "`chatedit sessions --gc %s` removes them", self.root, len(self.strays), size, self.root)
        return self.strays

    def collect(self) -> tuple[int, int]:
        """Delete the files that belong to no version (:attr:`strays`); returns (files, bytes) removed."""
        self._writable()
        count = size = 0
        for path in self.strays:
            try:
                n = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as e:
                raise _storage_error(path, e) from e
            count, size = count + 1, size + n
        self.strays = []
        return count, size

    # -- writing ------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise SessionReadOnlyError(f"session {self.root} is open read-only; reopen it without --read-only "
                                       "(once no other chatedit has it open) to change it")

    def _write(self, path: Path, data: bytes, *, durable: bool = True) -> None:
        self._writable()
        try:
            atomic_write(path, data, durable=durable)
        except OSError as e:
            raise _storage_error(path, e) from e

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
        try:
            if path.is_file():                 # keep the previous good history: a hard link costs no copy
                backup_tmp = self.root / f".{BACKUP}.link.tmp"
                backup_tmp.unlink(missing_ok=True)
                os.link(path, backup_tmp)
                os.replace(backup_tmp, self.root / BACKUP)
        except OSError as e:
            logger.warning("could not keep %s: %s", BACKUP, e)
        self._write(path, data)
        return path

    # -- content-addressed files --------------------------------------------------------------

    def _path(self, kind: str, content_id: str, suffix: str = ".png") -> Path:
        if kind not in KINDS:
            raise InvalidInputError(f"unknown store folder {kind!r}")
        if not is_content_id(content_id):
            raise InvalidInputError(f"not a content id: {content_id!r} (expected a sha256 hex digest)")
        return self.root / kind / f"{content_id}{suffix}"

    def _version_file(self, image_id: str) -> Path | None:
        for suffix in (".png", ".ppm"):
            path = self._path("versions", image_id, suffix)
            if path.is_file():
                return path
        return None

    def put_version(self, image: Image.Image, image_id: str | None = None) -> str:
        """Store a version's pixels durably (raw now, a PNG in the background); returns its content id."""
        image = _rgb(image)
        image_id = image_id or content_id(image)
        if self._version_file(image_id) is None:
            self._write(self._path("versions", image_id, ".ppm"), _ppm(image))
            self._compact(image_id, image)
        self._remember("versions", image_id, image)
        return image_id

    def put_image(self, image: Image.Image) -> str:
        """Store a version image (a copy is kept); returns its id (:func:`content_id`)."""
        return self.put_version(_rgb(image).copy())

    def _compact(self, image_id: str, image: Image.Image | None = None) -> None:
        """Queue the PNG of a version stored raw; the raw file goes once the PNG is on disk."""
        png, raw = self._path("versions", image_id), self._path("versions", image_id, ".ppm")

        def run() -> None:
            pixels = image if image is not None else self.load_image(image_id)
            atomic_write(png, png_bytes(pixels))
            raw.unlink(missing_ok=True)

        self._writer.submit(f"the PNG of {raw.name}", run)

    def image_path(self, content_id: str) -> Path:
        """Where a version's file is: its PNG, or its raw pixels while the PNG is being made."""
        return self._version_file(content_id) or self._path("versions", content_id)

    def load_image(self, content_id: str) -> Image.Image:
        """A version's pixels (RGB; a copy), checked against its content id when read from disk.

        Raises:
            SessionDamagedError: the file is missing, unreadable, of the wrong size, or holds other pixels.
        """
        key = ("versions", content_id)
        with self._lock:
            cached = self._decoded.get(key)
            if cached is not None:
                self._decoded.move_to_end(key)
                return cached.copy()
        for _ in range(2):                     # the raw file may turn into a PNG between the look and the read
            path = self._version_file(content_id)
            if path is None:
                break
            try:
                image = self._read(path, content_id)
            except FileNotFoundError:
                continue
            self._remember("versions", content_id, image)
            return image.copy()
        raise SessionDamagedError(f"the image {content_id[:12]}... of this session is missing from "
                                  f"{self.root / 'versions'}; put the file back, or revert to another version")

    def _read(self, path: Path, expected: str) -> Image.Image:
        """Decode a session image, refusing any that is not the session's size or not the pixels it is named by."""
        try:
            with Image.open(path) as im:
                if im.size != self.size:
                    raise SessionDamagedError(f"{path} is {im.size[0]}x{im.size[1]}, not this session's "
                                              f"{self.size[0]}x{self.size[1]}: the file was replaced; put the "
                                              "right one back, or revert to another version")
                im.load()
                image = _rgb(im)
                if image is im:
                    image = im.copy()
        except FileNotFoundError:
            raise
        except SessionDamagedError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SessionDamagedError(f"{path} cannot be read ({type(e).__name__}: {e}); put a good copy back, "
                                      "or revert to another version") from e
        if content_id(image) != expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            # (sessions from before pixel-hash ids named a version by the sha256 of its PNG file)
            raise SessionDamagedError(f"{path} does not hold the pixels the history names (the file was changed "
                                      "or damaged); put the right file back, or revert to another version")
        return image

    def version_png(self, content_id: str) -> bytes | None:
        """A version's PNG file as it is on disk, or None while only its raw pixels are (no encoding here)."""
        try:
            return self._path("versions", content_id).read_bytes()
        except OSError:
            return None

    def _remember(self, kind: str, content_id: str, image: Image.Image) -> None:
        with self._lock:
            self._decoded[(kind, content_id)] = image
            self._decoded.move_to_end((kind, content_id))
            while len(self._decoded) > CACHED_IMAGES:
                self._decoded.popitem(last=False)

    # -- drafts: a turn's images before it commits ----------------------------------------------

    def put_draft(self, image: Image.Image) -> str:
        """Keep an image of a turn in flight (in memory; see :meth:`persist_drafts`); returns its id."""
        image = image.convert("RGB")          # a copy, even of an RGB image: the caller may change theirs
        draft_id = content_id(image)
        with self._lock:
            self._drafts[draft_id] = image
        return draft_id

    def load_draft(self, content_id: str) -> Image.Image:
        with self._lock:
            draft = self._drafts.get(content_id)
        if draft is not None:
            return draft.copy()
        path = self._path("drafts", content_id, ".ppm")           # a draft kept on disk with a question
        try:
            image = self._read(path, content_id)
        except FileNotFoundError:
            raise SessionDamagedError(f"the draft {content_id[:12]}... of the pending question is missing from "
                                      f"{self.root / 'drafts'}; answer \"cancel\" and say the instruction again") \
                from None
        with self._lock:
            self._drafts[content_id] = image
        return image.copy()

    def persist_drafts(self) -> None:
        """Write the turn's drafts to disk now: a question may outlive this process."""
        with self._lock:
            drafts = list(self._drafts.items())
        for draft_id, image in drafts:
            path = self._path("drafts", draft_id, ".ppm")
            if not path.is_file():
                self._write(path, _ppm(image))

    def promote_draft(self, content_id: str) -> str:
        """Make a draft a version (durably; same pixels, same id) and return the id."""
        return self.put_version(self.load_draft(content_id), content_id)

    def clear_drafts(self) -> None:
        """Forget every draft, in memory and on disk (a turn ended, committed or not)."""
        with self._lock:
            self._drafts.clear()
        if self.read_only:
            return
        for path in (self.root / "drafts").glob("*.*"):
            path.unlink(missing_ok=True)

    # -- masks and question images ----------------------------------------------------------------

    def put_mask(self, mask: np.ndarray) -> str:
        """Store a bool H×W mask as a 1-bit PNG (on disk when this returns); returns its id (:func:`mask_id`)."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InvalidInputError(f"a mask must be H×W, got shape {mask.shape}")
        kept = np.array(mask, dtype=bool)                  # a copy: the caller may change theirs
        kept.flags.writeable = False
        key = mask_id(kept)
        path = self._path("masks", key)
        if not path.is_file():
            self._write(path, png_bytes(Image.fromarray(kept)), durable=True)
        self._remember_mask(key, kept)
        return key

    def mask_path(self, content_id: str) -> Path:
        return self._path("masks", content_id)

    def load_mask(self, content_id: str) -> np.ndarray:
        """A stored mask (bool H×W; a copy).

        Raises:
            SessionDamagedError: the file is missing, unreadable, or not the mask it is named by.
        """
        with self._lock:
            kept = self._masks.get(content_id)
            if kept is not None:
                self._masks.move_to_end(content_id)
                return kept.copy()
        path = self._path("masks", content_id)
        try:
            with Image.open(path) as im:
                if im.size != self.size:
                    raise ValueError(f"it is {im.size[0]}x{im.size[1]}, not {self.size[0]}x{self.size[1]}")
                kept = np.asarray(im.convert("L")) > 127
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SessionDamagedError(f"the mask {path} cannot be read ({e}); put it back, or revert to another "
                                      "version") from e
        if mask_id(kept) != content_id:
            raise SessionDamagedError(f"the mask {path} does not hold the mask the history names; put the right "
                                      "file back")
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
            self._write(path, png_bytes(image), durable=False)
        return image_id

    def question_path(self, content_id: str) -> Path:
        return self._path("questions", content_id)

    def put_reference(self, image: Image.Image) -> str:
        """Store a reference image (RGB) durably as ``references/<id>.png``; returns its :func:`content_id`."""
        image = _rgb(image)
        image_id = content_id(image)
        path = self._path("references", image_id)
        if not path.is_file():
            self._write(path, png_bytes(image))
        return image_id

    def reference_path(self, content_id: str) -> Path:
        return self._path("references", content_id)

    def load_reference(self, reference_id: str) -> Image.Image:
        """A stored reference image (RGB), checked against its id.

        Raises:
            SessionDamagedError: the file is missing, unreadable, or holds other pixels.
        """
        path = self._path("references", reference_id)
        try:
            with Image.open(path) as im:
                im.load()
                image = im.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SessionDamagedError(f"the reference image {path} cannot be read ({type(e).__name__}); put it "
                                      "back, or give the reference again") from e
        if content_id(image) != reference_id:
            raise SessionDamagedError(f"the reference image {path} does not hold the pixels it is named by; put "
                                      "the right file back, or give the reference again")
        return image

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
        from tools.imageio import save_image

        info = self.history[number]
        metadata = {"chatedit:version": str(number), "chatedit:session": str(self.root)}
        if profile:
            metadata["chatedit:profile"] = profile
        if info.instruction:
            metadata["chatedit:instruction"] = info.instruction
        if info.seed is not None:
            metadata["chatedit:seed"] = str(info.seed)
        if info.seeds:
            metadata["chatedit:seeds"] = ", ".join(str(s) for s in info.seeds)
        if info.models:
            metadata["chatedit:models"] = ", ".join(f"{k}={v}" for k, v in info.models.items())
        references = [r.reference for r in info.steps if r.reference is not None]
        if references:
            metadata["chatedit:reference"] = "; ".join(
                f"{r.name or 'an image'} sha256={r.id} used={'yes' if r.used else 'no'}" for r in references)
        if info.planned_by:
            metadata["chatedit:planned_by"] = ", ".join(f"{k}={v}" for k, v in info.planned_by.items())
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

        Raises:
            SessionDamagedError: the file is not a database, or not chatedit's.
        """
        from agent.session.checkpoints import open_checkpointer

        if self._conn is None:
            self._conn, self._saver = open_checkpointer(self.checkpoints_path, read_only=self.read_only,
                                                        types=types)
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


def _read_history(root: Path) -> History:
    path = root / HISTORY
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            raise HistoryFormatError(f"it is {path.stat().st_size // 2 ** 20} MB, more than a history can be")
        data = json.loads(path.read_bytes())
        return History.from_json(data)
    except FileNotFoundError:
        reason = "it is missing"
    except (ValueError, RecursionError, HistoryFormatError) as e:
        reason = str(e) if isinstance(e, HistoryFormatError) else \
            ("it is nested too deeply" if isinstance(e, RecursionError) else f"it is not JSON: {e}")
    except OSError as e:
        reason = f"it cannot be read: {e.strerror or e}"
    backup = root / BACKUP
    hint = (f"the history before the last change is in {BACKUP}: copy it over {HISTORY} to reopen the session "
            "(the last change may be lost)" if backup.is_file() and path.exists() and _readable(backup) else
            f"the versions' images are safe in {root / 'versions'}; export the one you want with an image viewer, "
            f"or start again from {root / ORIGINAL}")
    if not path.exists() and backup.is_file() and _readable(backup):
        hint = f"copy {BACKUP} to {HISTORY} to reopen the session (the last change may be lost)"
    raise SessionDamagedError(f"{path} is damaged ({reason}); {hint}")


def _readable(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            return False
        History.from_json(json.loads(path.read_bytes()))
        return True
    except (OSError, ValueError, RecursionError, HistoryFormatError):
        return False


def _original_size(root: Path) -> tuple[int, int]:
    path = root / ORIGINAL
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise SessionDamagedError(f"{path} cannot be read ({type(e).__name__}: {e}); the session needs its "
                                  "original image: put it back") from e
