"""The public API: open an image or a session, talk to it, answer its questions, move in its version tree.

Used by the TUI, the scripted-session runner and people's own scripts::

    editor = Editor.open("photo.jpg", profile="tiny")
    reply = editor.send("remove the cup")
    if reply.question:
        reply = editor.answer("the left one")
    editor.undo()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from agent import inputs, opening
from agent.graph.context import ProgressCallback
from agent.replies import Candidate, Question, Reply, VersionInfo
from agent.session.errors import (
    SessionDamagedError,
    SessionLockedError,
    SessionReadOnlyError,
)
from agent.session.sessions import default_session_dir
from agent.session.store import SessionStore
from agent.talk import Talk
from agent.turns import Turns, quoted
from agent.workbench import Workbench
from tools.errors import InvalidInputError
from tools.profiles import Profile

__all__ = ["Candidate", "Editor", "Question", "Reply", "SessionDamagedError", "SessionLockedError",
           "SessionReadOnlyError", "VersionInfo", "default_session_dir"]


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
        self.store = store
        self._bench = Workbench(profile=profile, toolkit=toolkit, planner=planner, seed=seed)
        self._guard = threading.RLock()
        self._turns = Turns(store)
        self._talk = Talk(store, self._turns, self._bench)
        self.graph = self._turns.graph
        self.opening_note: str | None = self._turns.reopen()
        """What reopening found: a turn a crash cut short, missing images, stray files (None: nothing)."""

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
        resolved = opening.resolve(profile, engine=engine, verify=verify, quality=quality)
        planner = opening.given_planner(planner, resolved)
        store, notes = opening.open_store(image_or_session, session_dir=session_dir, read_only=read_only)
        try:
            toolkit = opening.make_toolkit(resolved, engine) if toolkit is None else toolkit
            editor = cls(store, resolved, toolkit=toolkit, planner=planner, seed=seed)
            editor.opening_note = editor.opening_note or notes  # a new session's: how its image was read
            return editor
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
        number = self.current_version if version is None else inputs.version_number(self.store, version)
        return self.store.export(number, path, profile=self.profile.name)

    # -- state --------------------------------------------------------------------------------

    @property
    def session_dir(self) -> Path:
        return self.store.root

    @property
    def profile(self) -> Profile:
        """The resolved profile this session runs with."""
        return self._bench.profile

    @property
    def toolkit(self) -> Any:
        """The :class:`tools.toolkit.Toolkit` whose models make the edits."""
        return self._bench.toolkit

    @property
    def seed(self) -> int:
        """The base seed of every edit (set it to change the next turns')."""
        return self._bench.seed

    @seed.setter
    def seed(self, seed: int) -> None:
        self._bench.seed = seed

    @property
    def on_progress(self) -> ProgressCallback | None:
        """Who hears ``(stage, step, total)`` (see the class's docstring); set it, or None to stop."""
        return self._bench.progress.listener

    @on_progress.setter
    def on_progress(self, listener: ProgressCallback | None) -> None:
        self._bench.progress.listener = listener

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
        self._bench.profile = replace(self.profile, verify=on)     # one assignment: safe while a turn runs elsewhere

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
        return self.store.version_image(inputs.version_number(self.store, number))

    @_locked
    def version_mask(self, number: int) -> Any:
        """The bool H×W mask of what version ``number``'s turn changed, or None (the original, direct moves)."""
        mask = self.store.history[inputs.version_number(self.store, number)].mask
        return self.store.load_mask(mask) if mask else None

    @property
    def versions(self) -> list[tuple[int, str, str, bool, int | None]]:
        """(number, instruction, created, has a mask, parent) per version, without waiting for any file."""
        return [(v.number, v.instruction, v.created, v.mask is not None, v.parent)
                for v in self.store.history.versions]

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
        return self._bench.load_planner()

    @property
    def _planner(self) -> Any:
        """The planner if one is given or loaded already, else None (loading nothing)."""
        return self._bench.planner

    # -- talking ------------------------------------------------------------------------------

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
        return inputs.pointed_mask(self.store, self.toolkit, point, box, points)

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
        return self._talk.send(text, point=point, box=box, points=points, reference=reference)

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
        return self._talk.answer(value, point=point, box=box, points=points, reference=reference)

    def cancel(self) -> None:
        """Ask a running edit to stop; its turn ends with nothing changed. Safe from any thread."""
        self._bench.cancel.set()

    # -- moving in the version tree, directly (the graph runs the move; no planner) ------------------

    @_locked
    def _move(self, kind: str, amount: int) -> Reply:
        return inputs.refused(self.store) or self._talk.move(kind, amount)

    def undo(self, n: int = 1) -> Reply:
        """Go back ``n`` edits towards the original, along the current branch (no planner involved)."""
        return self._move("undo", n)

    def redo(self, n: int = 1) -> Reply:
        """Go forward ``n`` edits, each time to the version visited most recently from there."""
        return self._move("redo", n)

    def revert(self, n: int) -> Reply:
        """Make version ``n`` current (0 = the original), on any branch; every version is kept."""
        return self._move("revert", n)
