"""A session's content-addressed image files: versions, drafts, masks, question images and references,
each named by the hash of its pixels, checked against that name when read, and cached decoded."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from agent.session.content import content_id, mask_id, png_bytes, ppm, rgb
from agent.session.errors import SessionDamagedError
from agent.session.history import is_content_id
from agent.session.strays import KINDS
from tools.errors import InvalidInputError

CACHED_IMAGES = 4
"""Decoded images kept in memory (a turn reads the head and its drafts' bases again and again)."""

Decoded = TypeVar("Decoded")


class SessionImages:
    """The image files of :class:`agent.session.store.SessionStore`, its base class.

    It reads and names files; writing goes through the store's :meth:`_write` (atomic, durable, refused
    when read-only) and a version's PNG through its :meth:`_compact` (the background writer).
    """

    root: Path
    size: tuple[int, int]
    read_only: bool
    _lock: threading.Lock
    _decoded: OrderedDict[tuple[str, str], Image.Image]
    _drafts: dict[str, Image.Image]
    _masks: OrderedDict[str, np.ndarray]

    if TYPE_CHECKING:                           # given by SessionStore
        def _write(self, path: Path, data: bytes, *, durable: bool = True) -> None: ...

        def _compact(self, image_id: str, image: Image.Image | None = None) -> None: ...

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

    def _put_png(self, kind: str, image: Image.Image, *, durable: bool) -> str:
        """Store ``image`` (as RGB) as ``<kind>/<id>.png`` unless it is there intact; returns its :func:`content_id`."""
        image = rgb(image)
        image_id = content_id(image)
        path = self._path(kind, image_id)
        if not path.is_file() or not self._intact_png(kind, image_id):
            self._write(path, png_bytes(image), durable=durable)
        return image_id

    def _intact_png(self, kind: str, image_id: str) -> bool:
        """Whether ``<kind>/<image_id>.png`` reads back as the pixels it is named by (a damaged one is written anew)."""
        try:
            self._load_png(kind, image_id, lambda im: im.convert("RGB"), content_id, what="the file", remedy="")
        except SessionDamagedError:
            return False
        return True

    def _load_png(self, kind: str, image_id: str, decode: Callable[[Image.Image], Decoded],
                  identify: Callable[[Decoded], str], *, what: str, remedy: str, sized: bool = False) -> Decoded:
        """``<kind>/<image_id>.png`` decoded by ``decode`` and checked: ``identify`` of it must give ``image_id``,
        and with ``sized`` it must be this session's size.

        Raises:
            SessionDamagedError: the file is missing, unreadable, of the wrong size, or not what its name says;
                the message names ``what`` and ends "put the right file back, or ``remedy``".
        """
        path = self._path(kind, image_id)
        try:
            with Image.open(path) as im:
                if sized and im.size != self.size:
                    raise ValueError(f"it is {im.size[0]}x{im.size[1]}, not {self.size[0]}x{self.size[1]}")
                decoded = decode(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise SessionDamagedError(f"{what} {path} cannot be read ({type(e).__name__}: {e}); put the right file "
                                      f"back, or {remedy}") from e
        if identify(decoded) != image_id:
            raise SessionDamagedError(f"{what} {path} does not hold what its name says (the file was changed or "
                                      f"damaged); put the right file back, or {remedy}")
        return decoded

    def put_version(self, image: Image.Image, image_id: str | None = None) -> str:
        """Store a version's pixels durably (raw now, a PNG in the background); returns its content id."""
        image = rgb(image)
        image_id = image_id or content_id(image)
        if not self._holds_version(image_id):
            self._write(self._path("versions", image_id, ".ppm"), ppm(image))
            self._compact(image_id, image)
        self._remember("versions", image_id, image)
        return image_id

    def _holds_version(self, image_id: str) -> bool:
        """Whether ``versions/`` already holds these pixels intact (a damaged file by that name is removed when
        the session is writable, so the version is written again instead of trusting it)."""
        path = self._version_file(image_id)
        if path is None:
            return False
        try:
            self._read(path, image_id)
        except FileNotFoundError:                   # the raw file became its PNG between the look and the read
            return self._version_file(image_id) is not None
        except SessionDamagedError:
            if not self.read_only:
                path.unlink(missing_ok=True)
            return False
        return True

    def put_image(self, image: Image.Image) -> str:
        """Store a version image (a copy is kept); returns its id (:func:`content_id`)."""
        return self.put_version(rgb(image).copy())

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
        damaged: SessionDamagedError | None = None
        for _ in range(2):                     # the raw file may turn into a PNG between the look and the read
            path = self._version_file(content_id)
            if path is None:
                break
            try:
                image = self._read(path, content_id)
            except FileNotFoundError:
                continue
            except SessionDamagedError as e:
                damaged = e
                break
            self._remember("versions", content_id, image)
            return image.copy()
        if (original := self._original(content_id)) is not None:      # version 0's pixels are the original's too
            self._remember("versions", content_id, original)
            return original.copy()
        if damaged is not None:
            raise damaged
        raise SessionDamagedError(f"the image {content_id[:12]}... of this session is missing from "
                                  f"{self.root / 'versions'}; put the file back, or revert to another version")

    def _original(self, content_id: str) -> Image.Image | None:
        """original.png's pixels when they are ``content_id`` (version 0's), else None."""
        try:
            return self._read(self.root / "original.png", content_id)
        except (OSError, SessionDamagedError):
            return None

    def _read(self, path: Path, expected: str) -> Image.Image:
        """Decode a session image, refusing any that is not the session's size or not the pixels it is named by."""
        try:
            with Image.open(path) as im:
                if im.size != self.size:
                    raise SessionDamagedError(f"{path} is {im.size[0]}x{im.size[1]}, not this session's "
                                              f"{self.size[0]}x{self.size[1]}: the file was replaced; put the "
                                              "right one back, or revert to another version")
                im.load()
                image = rgb(im)
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
                self._write(path, ppm(image))

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
        kept = self._load_png("masks", content_id, lambda im: np.asarray(im.convert("L")) > 127, mask_id,
                              what="the mask", remedy="revert to another version", sized=True)
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
        return self._put_png("questions", image, durable=False)

    def question_path(self, content_id: str) -> Path:
        return self._path("questions", content_id)

    def put_reference(self, image: Image.Image) -> str:
        """Store a reference image (RGB) durably as ``references/<id>.png``; returns its :func:`content_id`."""
        return self._put_png("references", image, durable=True)

    def reference_intact(self, reference_id: str) -> bool:
        """Whether ``references/<reference_id>.png`` is there and holds the pixels it is named by."""
        return self._path("references", reference_id).is_file() and self._intact_png("references", reference_id)

    def reference_path(self, content_id: str) -> Path:
        return self._path("references", content_id)

    def load_reference(self, reference_id: str) -> Image.Image:
        """A stored reference image (RGB), checked against its id.

        Raises:
            SessionDamagedError: the file is missing, unreadable, or holds other pixels.
        """
        return self._load_png("references", reference_id, lambda im: im.convert("RGB"), content_id,
                              what="the reference image", remedy="give the reference again")

