"""The public API: open an image or a session, talk to it, answer its questions, move in its version tree.

Used by the TUI, the scripted-session runner and people's own scripts::

    editor = Editor.open("photo.jpg", profile="tiny")
    reply = editor.send("remove the cup")
    if reply.question:
        reply = editor.answer("the left one")
    editor.undo()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from agent.graph.pointing import Pointing
from agent.replies import Candidate, Question, Reply, VersionInfo
from agent.session.errors import (
    SessionDamagedError,
    SessionLockedError,
    SessionReadOnlyError,
)
from agent.session.sessions import default_session_dir
from agent.session.store import SessionStore, is_session
from agent.turns import quoted
from tools.errors import ChatEditError, InvalidInputError
from tools.profiles import Profile

__all__ = ["Candidate", "Editor", "Question", "Reply", "SessionDamagedError", "SessionLockedError",
           "SessionReadOnlyError", "VersionInfo", "default_session_dir"]

logger = logging.getLogger(__name__)

def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method`` holding the Editor's lock: calls from several threads run one at a time."""
    def call(self: Editor, *args: Any, **kwargs: Any) -> Any:
        with self._guard:
            return method(self, *args, **kwargs)
    call.__doc__, call.__name__ = method.__doc__, method.__name__
    return call


class Editor:
    """A session: its folder (locked while open), the agent graph on its checkpoints, the models.

    Build it with :meth:`open`. ``send``/``answer``/``undo``/``redo``/``revert`` return a :class:`Reply`
    and never raise for bad planner output, tool failures or a full disk; what a reply announces
    (a version, a move) is on disk, durably, when it returns. Calls from several threads are
    serialized; each turn starts from the version current when it starts.

    Set :attr:`on_progress` to hear ``(stage, step, total)``: stages are "plan", "locate", "segment",
    "edit" (with diffusion steps), "verify", "commit", and "load <role>" as a model loads: (0, 1) when it
    starts (finding or fetching its files), then bytes of its weights taken in, (0, total) up to (total, total).

    Errors (all :class:`tools.errors.ChatEditError`, one line naming the problem and what to do):
    :class:`SessionLockedError` (open elsewhere), :class:`SessionReadOnlyError` (a folder that cannot
    be written), :class:`SessionDamagedError` (a damaged history.json, checkpoints.sqlite or image),
    ``ImageLoadError``, ``InvalidInputError``.
    """

    def __init__(self, store: SessionStore, profile: Profile, *, toolkit: Any, planner: Any = None,
                 seed: int = 0) -> None:
        from agent.turns import Turns

        self.store = store
        self.profile = profile
        self.toolkit = toolkit
        self._planner = planner
        self.seed = seed
        self.on_progress: Callable[[str, int, int], None] | None = None
        self._cancel = threading.Event()
        self._guard = threading.RLock()
        if getattr(toolkit, "on_load", False) is None:
            toolkit.on_load = self._loading     # model loads show up as progress stages ("load inpainting")
        if getattr(toolkit, "on_load_progress", False) is None:
            toolkit.on_load_progress = self._load_bytes     # ... counted in bytes of their weights
        self._turns = Turns(store)
        self.graph = self._turns.graph
        self.opening_note: str | None = self._turns.reopen()
        """What reopening found: a turn a crash cut short, missing images, stray files (None: nothing)."""

    def _loading(self, role: str, model_id: str) -> None:
        logger.info("loading %s model %s", role, model_id)
        if self.on_progress is not None:
            self.on_progress(f"load {role}", 0, 1)

    def _load_bytes(self, role: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(f"load {role}", done, total)

    # -- opening and closing --------------------------------------------------------------------

    @classmethod
    def open(cls, image_or_session: str | Path | Image.Image, *, profile: str | Profile = "auto",
             session_dir: str | Path | None = None, planner: Any = None, toolkit: Any = None,
             seed: int = 0, read_only: bool = False, verify: bool | None = None,
             engine: str | None = None, quality: str | None = None) -> Editor:
        """Open an image (a new session) or an existing session folder (resumed where it stopped).

        Args:
            image_or_session: an image path, a PIL image, a session folder, or the name of a
                bundled sample photo (``coffee``, ``chelsea``, ``astronaut``, ``rocket``).
            profile: ``auto``, ``full``, ``lite``, ``tiny``, or a :class:`Profile`.
            session_dir: where a new session goes (None: a new folder under ~/.local/share/chatedit/sessions).
            planner: a LangChain chat model, or the URL of an OpenAI-compatible server
                (``http://host:8000/v1``: :mod:`agent.served`); None: the profile's planner, loaded on first use.
            toolkit: a :class:`tools.toolkit.Toolkit` (None: one for the profile).
            seed: base seed for every edit.
            read_only: open a session to look at it without the lock (every change is refused).
            verify: let the planner judge each edit (None: the profile's setting; off on lite).
            engine: the repaint engine, ``sd``, ``sdxl`` or ``flux2-klein`` (None: the profile's choice;
                :mod:`tools.engines`); used when the toolkit is made here.
            quality: ``fast``, ``balanced`` or ``best`` (None: the profile's; lite is fast: LCM-LoRA,
                4 steps; :mod:`tools.quality`); used when the toolkit is made here.

        Raises:
            ImageLoadError: the image cannot be read.
            InvalidInputError: a bad profile, engine or quality name, or a folder that is not a session or is
                already used.
            SessionLockedError: the session is open for writing elsewhere (the message names who).
            SessionReadOnlyError: the session's folder cannot be written (open it ``read_only``).
            SessionDamagedError: a session file is damaged (the message says which and what to do).
        """
        from tools.loading import resolve_profile

        resolved = profile if isinstance(profile, Profile) else resolve_profile(profile)
        if engine is not None:
            from tools.engines import check_engine

            check_engine(engine)
        if verify is not None:
            from dataclasses import replace

            resolved = replace(resolved, verify=bool(verify))
        if quality is not None:
            from dataclasses import replace

            from tools.quality import check_quality

            resolved = replace(resolved, quality=check_quality(quality))
        if isinstance(planner, str) or getattr(planner, "image_side", 0) is None:   # served: images at the profile's size
            from agent.served import for_profile

            planner = for_profile(planner, resolved)
        if isinstance(image_or_session, (str, Path)) and is_session(image_or_session):
            store = SessionStore.open(image_or_session, read_only=read_only)
        else:
            store = SessionStore.start(image_or_session, session_dir or default_session_dir())
        try:
            if toolkit is None:
                from tools.toolkit import Toolkit

                toolkit = Toolkit(resolved, engine=engine)
            return cls(store, resolved, toolkit=toolkit, planner=planner, seed=seed)
        except BaseException:
            store.close()
            raise

    @_locked
    def flush(self) -> None:
        """Wait until the background writer has made every version's PNG (replies never wait for it)."""
        self.store.flush()

    @_locked
    def close(self) -> None:
        """Let the last PNGs land, close the session and give its lock back (reopen the folder to go on)."""
        self.store.close()

    def __enter__(self) -> Editor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_locked
    def export(self, path: str | Path, *, version: int | None = None) -> Path:
        """Write a version (default: the current one) to ``path``, with the opened image's alpha
        channel put back and how it was made (instruction, version, seed, models) as PNG text.

        Raises:
            ImageSaveError: the file cannot be written (the session is untouched).
            InvalidInputError: there is no such version.
        """
        number = self.current_version if version is None else self._number(version)
        return self.store.export(number, path, profile=self.profile.name)

    # -- state --------------------------------------------------------------------------------

    @property
    def session_dir(self) -> Path:
        return self.store.root

    @property
    def read_only(self) -> bool:
        """Whether this session was opened read-only (no lock; every change is refused)."""
        return self.store.read_only

    @property
    def verify(self) -> bool:
        """Whether the planner judges each edit (and a bad one is redone); set it to turn that on or off from
        the next turn on, for the rest of this session (a turn already running keeps its setting).

        Raises (on setting):
            InvalidInputError: anything but True or False.
        """
        return self.profile.verify

    @verify.setter
    def verify(self, on: bool) -> None:
        from dataclasses import replace

        if not isinstance(on, bool):
            raise InvalidInputError(f"verify is True or False, got {quoted(on)}")
        self.profile = replace(self.profile, verify=on)     # one assignment: safe while a turn runs elsewhere

    @property
    def current_version(self) -> int:
        """The current version's number (0 = the original)."""
        return self.store.history.head

    @property
    def current_image(self) -> Image.Image:
        """The current version's pixels (PIL RGB). Raises SessionDamagedError for a damaged file."""
        with self._guard:
            return self.store.version_image()

    @_locked
    def version_image(self, number: int) -> Image.Image:
        """Version ``number``'s pixels (PIL RGB)."""
        return self.store.version_image(self._number(number))

    @_locked
    def version_mask(self, number: int) -> Any:
        """The bool H×W mask of what version ``number``'s turn changed, or None (the original, direct moves)."""
        mask = self.store.history[self._number(number)].mask
        return self.store.load_mask(mask) if mask else None

    @property
    def versions(self) -> list[tuple[int, str, str, bool, int | None]]:
        """(number, instruction, created, has a mask, parent) per version, without waiting for any file."""
        return [(v.number, v.instruction, v.created, v.mask is not None, v.parent)
                for v in self.store.history.versions]

    def _number(self, number: int) -> int:
        latest = self.store.history.latest
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= latest:
            raise InvalidInputError(f"there is no version {quoted(number)}; versions are 0 to {latest}")
        return number

    @property
    def history(self) -> list[VersionInfo]:
        """Every version of every branch, by number (each knows its parent and children).

        Their files are PNGs: this waits for the background writer to finish them.
        """
        with self._guard:
            self.store.flush()
            return [VersionInfo.of(v, self.store) for v in self.store.history.versions]

    @property
    def pending_question(self) -> Question | None:
        """The question the agent waits on, if any (it survives closing and reopening the session)."""
        with self._guard:
            return self._turns.question()

    @property
    def conversation(self) -> list[tuple[str, str]]:
        """The conversation so far as (role, text) pairs; role is "user" or "assistant"."""
        return [(m.role, m.text) for m in self.store.conversation.messages]

    @property
    def planner(self) -> Any:
        """The planner chat model, loaded on first use."""
        if self._planner is None:
            from agent.planner import load_planner
            from tools.load_progress import local_folder, metered

            if self.on_progress is not None:
                self.on_progress("load planner", 0, 1)
            folder = local_folder(self.profile.planner)      # None: downloaded first, then loaded uncounted
            told = None if self.on_progress is None else lambda done, total: self._load_bytes("planner", done, total)
            with metered(folder, told):
                self._planner = load_planner(self.profile, getattr(self.toolkit, "placement", None),
                                             memory=getattr(self.toolkit, "memory", None))
        return self._planner

    # -- talking ------------------------------------------------------------------------------

    def _refused(self) -> Reply | None:
        if self.store.read_only:
            text = ("This session is open read-only, so nothing was changed; to edit it, close any other chatedit "
                    "that has it open and reopen it without --read-only (or copy a read-only folder elsewhere).")
            return Reply(text, error="read-only session")
        return None

    def _read_pointing(self, point: Any, box: Any, points: Any) -> Pointing | None:
        """The checked pointing on the current image (None: nothing pointed at). Raises InvalidInputError."""
        from agent.graph.pointing import read_pointing

        if point is None and box is None and points is None:
            return None
        return read_pointing(point=point, box=box, points=points, size=self.store.version_image().size)

    def _read_reference(self, reference: Any) -> Any:
        """The reference image read and kept in the session (None: none given). Raises ChatEditError."""
        from agent.session.references import attach

        return None if reference is None else attach(self.store, reference)

    def _bad_reference(self, e: ChatEditError) -> Reply:
        question = self._turns.question()
        still = " The question is still open." if question is not None else ""
        return Reply(f"That reference image cannot be used: {e}. Nothing changed.{still}", question=question,
                     error=str(e))

    def _bad_pointing(self, e: ChatEditError) -> Reply:
        question = self._turns.question()
        still = " The question is still open." if question is not None else ""
        return Reply(f"That pointing cannot be used: {e}. Nothing changed.{still}", question=question, error=str(e))

    @_locked
    def pointed_mask(self, *, point: Any = None, box: Any = None, points: Any = None) -> Any:
        """The bool H×W mask SAM 2 outlines for a pointing on the current version (a preview to draw
        before sending: no version, no conversation entry; works on a read-only session too).

        ``point`` (x, y), ``box`` (x0, y0, x1, y1) and ``points`` [(x, y, positive), ...] are pixels of
        the current image, as for :meth:`send`.

        Raises:
            InvalidInputError: nothing pointed at, or a bad pointing (outside the image, NaN, wrong shape).
            ChatEditError: the segmenter could not run (e.g. its model cannot be loaded).
        """
        from agent.graph.pointing import pointed_mask
        from tools.errors import InvalidInputError

        pointing = self._read_pointing(point, box, points)
        if pointing is None:
            raise InvalidInputError("nothing is pointed at: give point=(x, y), box=(x0, y0, x1, y1) or points")
        return pointed_mask(self.toolkit, self.store.version_image(), pointing)

    @_locked
    def send(self, text: str, *, point: Any = None, box: Any = None, points: Any = None,
             reference: Any = None) -> Reply:
        """One user turn. While a question is open, the text goes to :meth:`answer` (which tells an answer
        from a move or a new instruction). A move in words ("undo the last two", "go back to the
        original") is read by the command layer and runs without the planner.

        Pointing, in pixels of the current image: ``point`` (x, y) one click, ``box`` (x0, y0, x1, y1) a
        dragged box, ``points`` [(x, y, positive), ...] clicks ("not this" when positive is False);
        together they are one SAM 2 prompt. "this", "here", "it" and an instruction without an
        object ("make it red", "remove") then mean the pointed region. A bad pointing is a reply
        with a one-line error; nothing changes. Pointing without words while a question is open answers it.

        ``reference``: an image path or PIL image to take a look or an object from ("make the cup look
        like this", "put this hat on the cat"). It is kept in the session folder (``references/``) and
        recorded with the version; an engine that cannot use one says so and edits from the words alone.
        One that cannot be read is a reply with a one-line error; nothing changes.
        """
        import dataclasses

        from agent.graph.commands import read_move

        text = str(text).strip()
        pointed = point is not None or box is not None or points is not None
        if not text and pointed and self._turns.question_payload() is not None:
            return self.answer("", point=point, box=box, points=points)     # pointing alone answers the question
        if not text:
            return Reply("Say what to change, e.g. \"remove the cup\" or \"make the sky blue\".")
        refused = self._refused()
        if refused is not None:
            return refused
        if self._turns.question_payload() is not None:
            return self.answer(text, point=point, box=box, points=points, reference=reference)
        try:
            pointing = self._read_pointing(point, box, points)
        except ChatEditError as e:
            return self._bad_pointing(e)
        move = read_move(text)
        if move is not None:
            self._cancel.clear()
            reply = self._turns.move(move.kind, move.amount, self._context(None), words=text)
            unused = f" (The reference image was not used: a {move.kind} needs none.)"
            return reply if reference is None else dataclasses.replace(reply, text=reply.text + unused)
        try:
            ref = self._read_reference(reference)
        except ChatEditError as e:
            return self._bad_reference(e)
        try:
            planner = self.planner
        except ChatEditError as e:
            return Reply(f"The planner model could not be loaded: {e}", error=str(e))
        self._cancel.clear()
        return self._turns.say(text, self._context(planner), pointing=pointing, reference=ref)

    @_locked
    def answer(self, value: str | int, *, point: Any = None, box: Any = None, points: Any = None,
               reference: Any = None) -> Reply:
        """Answer the open question: a number or several ("1 and 3"), "the second", "the left cup", "the
        red one", "all", "all except 2", "no, the left one", or "cancel" (see :mod:`agent.graph.commands`).
        Pointing (as for :meth:`send`) with words that name no candidate ("this one") picks the candidate
        it lands on: the smallest box holding the click, or the box a dragged box overlaps most.

        A move ("undo") or a new instruction ("actually, make the saucer blue") drops the question with
        one line saying so and runs in the same reply. Words neither the command layer nor a real
        planner can read get a follow-up question; the question stays open. Anything but a string or
        an int (a bool is not a number here) is refused with the question still open.
        ``reference`` (as for :meth:`send`) goes with the turn the answer resumes, or with the new instruction.
        """
        from agent.turns import planner_reads_answers

        refused = self._refused() or self._turns.refuse_answer(value)
        if refused is not None:
            return refused
        try:
            pointing = self._read_pointing(point, box, points)
        except ChatEditError as e:
            return self._bad_pointing(e)
        self._cancel.clear()
        reading = self._turns.read(value)
        if reading.kind == "move" and reading.move is not None:
            return self._turns.move(reading.move.kind, reading.move.amount, self._context(None), words=str(value))
        try:
            ref = self._read_reference(reference)
        except ChatEditError as e:
            return self._bad_reference(e)
        if reading.kind == "instruction":
            try:
                planner = self.planner
            except ChatEditError as e:
                return Reply(f"The planner model could not be loaded, so \"{quoted(str(value), 60)[1:-1]}\" was not "
                             f"done: {e}. The question is still open.", question=self._turns.question(), error=str(e))
            return self._turns.instead(str(value), self._context(planner), pointing=pointing, reference=ref)
        random = getattr(self.profile.planner, "random_weights", False) is True
        planner = self._planner
        wanted = self.profile.verify or (reading.kind == "unclear" and not random)
        if planner is None and wanted:
            try:
                planner = self.planner          # judges the edit this answer lets run, or reads the answer
            except ChatEditError as e:
                logger.warning("no planner to verify with or to read the answer: %s", e)
        ask = reading.kind == "unclear" and planner_reads_answers(planner)
        return self._turns.answer(value, self._context(planner), ask_planner=ask, pointing=pointing, reference=ref)

    def cancel(self) -> None:
        """Ask a running edit to stop; its turn ends with nothing changed. Safe from any thread."""
        self._cancel.set()

    def _context(self, planner: Any) -> Any:
        from agent.graph.context import Context

        def progress(stage: str, step: int, total: int) -> None:
            if self.on_progress is not None:
                self.on_progress(stage, step, total)

        return Context(store=self.store, tools=self.toolkit, planner=planner, seed=self.seed,
                       verify=self.profile.verify and planner is not None, progress=progress, cancel=self._cancel)

    # -- moving in the version tree, directly (the graph runs the move; no planner) ------------------

    @_locked
    def _move(self, kind: str, amount: int) -> Reply:
        return self._refused() or self._turns.move(kind, amount, self._context(None))

    def undo(self, n: int = 1) -> Reply:
        """Go back ``n`` edits towards the original, along the current branch (no planner involved)."""
        return self._move("undo", n)

    def redo(self, n: int = 1) -> Reply:
        """Go forward ``n`` edits, each time to the version visited most recently from there."""
        return self._move("redo", n)

    def revert(self, n: int) -> Reply:
        """Make version ``n`` current (0 = the original), on any branch; every version is kept."""
        return self._move("revert", n)
