"""The public API: open an image or a session, talk to it, answer its questions, undo and redo.

Used by the TUI, the scripted-session runner and people's own scripts::

    editor = Editor.open("photo.jpg", profile="tiny")
    reply = editor.send("remove the cup")
    if reply.question:
        reply = editor.answer("the left one")
    editor.undo()
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from agent.graph.plan import Plan
from agent.replies import Candidate, Question, Reply, VersionInfo
from agent.session.store import SessionStore, is_session
from tools.errors import ChatEditError, InvalidInputError
from tools.profiles import Profile

__all__ = ["Candidate", "Editor", "Question", "Reply", "VersionInfo", "default_session_dir"]

logger = logging.getLogger(__name__)

THREAD_ID = "session"
"""Every session folder holds one conversation thread."""

_INT64 = (-(2 ** 63), 2 ** 63 - 1)
"""The ints an answer may be (the checkpoint stores the resume value as a 64-bit integer)."""


def _quoted(value: object, limit: int = 40) -> str:
    """``value`` as a short one-line repr for a message (huge ints are not spelled out)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a very large number"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def default_session_dir() -> Path:
    """A new folder name under ``$XDG_DATA_HOME/chatedit/sessions`` (``~/.local/share/...``)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "chatedit" / "sessions"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = base / stamp, 1
    while path.exists():
        i += 1
        path = base / f"{stamp}-{i}"
    return path


class Editor:
    """A session: its folder, the agent graph on the folder's checkpointer, the models.

    Build it with :meth:`open`. ``send``/``answer``/``undo``/``redo``/``revert`` return a :class:`Reply`
    and never raise for bad planner output or tool failures.

    Set :attr:`on_progress` to hear ``(stage, step, total)``: stages are "plan", "locate", "segment",
    "edit" (with diffusion steps), "verify", "commit", and "load <role>" before a model loads.

    A turn replies before its version's PNG is on disk: the session writes it in the background
    (see :mod:`agent.session.store`). Every call here waits for it first; :attr:`history` hands out paths
    only once their files exist; :meth:`flush` and :meth:`close` wait explicitly.
    """

    def __init__(self, store: SessionStore, profile: Profile, *, toolkit: Any, planner: Any = None,
                 seed: int = 0) -> None:
        from agent.graph import compile_graph

        self.store = store
        self.profile = profile
        self.toolkit = toolkit
        self._planner = planner
        self.seed = seed
        self.on_progress: Callable[[str, int, int], None] | None = None
        self._cancel = threading.Event()
        self._config = {"configurable": {"thread_id": THREAD_ID}}
        if getattr(toolkit, "on_load", False) is None:
            toolkit.on_load = self._loading     # model loads show up as progress stages ("load inpainting")
        self.graph = compile_graph(store.checkpointer())
        self._recover()

    def _loading(self, role: str, model_id: str) -> None:
        logger.info("loading %s model %s", role, model_id)
        if self.on_progress is not None:
            self.on_progress(f"load {role}", 0, 1)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, image_or_session: str | Path | Image.Image, *, profile: str | Profile = "auto",
             session_dir: str | Path | None = None, planner: Any = None, toolkit: Any = None,
             seed: int = 0) -> Editor:
        """Open an image (a new session) or an existing session folder (resumed where it stopped).

        Args:
            image_or_session: an image path, a PIL image, a session folder, or the name of a
                bundled sample photo (``coffee``, ``chelsea``, ``astronaut``, ``rocket``).
            profile: ``auto``, ``full``, ``lite``, ``tiny``, or a :class:`Profile`.
            session_dir: where a new session goes (None: a new folder under ~/.local/share/chatedit/sessions).
            planner: a LangChain chat model (None: the profile's planner, loaded on first use).
            toolkit: a :class:`tools.toolkit.Toolkit` (None: one for the profile).
            seed: base seed for every edit.

        Raises:
            ImageLoadError: the image cannot be read.
            InvalidInputError: a bad profile name, or a session folder that is damaged or already used.
        """
        from tools.profiles import resolve_profile

        resolved = profile if isinstance(profile, Profile) else resolve_profile(profile)
        if isinstance(image_or_session, (str, Path)) and is_session(image_or_session):
            store = SessionStore.open(image_or_session, background=True)
        else:
            from tools.imageio import as_rgb, load_image
            from tools.samples import is_sample, sample_path

            if isinstance(image_or_session, str) and is_sample(image_or_session) \
                    and not Path(image_or_session).exists():
                image_or_session = sample_path(image_or_session)
            loaded = as_rgb(image_or_session) if isinstance(image_or_session, Image.Image) \
                else load_image(image_or_session)
            for warning in loaded.warnings:
                logger.warning("%s", warning)
            store = SessionStore.create(session_dir if session_dir is not None else default_session_dir(),
                                        loaded.image, alpha=loaded.alpha, background=True)
        if toolkit is None:
            from tools.toolkit import Toolkit

            toolkit = Toolkit(resolved)
        return cls(store, resolved, toolkit=toolkit, planner=planner, seed=seed)

    def _recover(self) -> None:
        """After a crash mid-turn, drop the turn in flight (a pending question is kept).

        history.json is written before the checkpoint that records it: when the history's head is
        newer than the checkpoint's ``version`` and holds this turn's words, the edit was committed
        before the crash, and the message says so.
        """
        state = self.graph.get_state(self._config)
        if state.next and not state.interrupts:
            hist = self.store.history
            recorded = state.values.get("version", hist.head)
            if hist.head > recorded and hist.head == hist.latest \
                    and hist.current.instruction == state.values.get("text"):
                logger.warning("the session stopped after saving version %d", hist.head)
                text = f"The session stopped while finishing the last edit; it was saved as version {hist.head}."
            elif hist.head != recorded:
                logger.warning("the session stopped in the middle of a turn; the history is at %d", hist.head)
                text = (f"The session stopped in the middle of a turn; the rest of it was lost. "
                        f"Now at version {hist.head}.")
            else:
                logger.warning("the session stopped in the middle of a turn; that edit is lost")
                text = "The edit in flight when the session stopped was lost; nothing changed."
            self._end_turn(text, error="interrupted")
        elif not state.next:
            self.store.clear_drafts()
            # The reply went out; did the process die before its files (written after it) landed?
            hist, reply = self.store.history, state.values.get("reply") or {}
            made, image, recorded = reply.get("version"), reply.get("image"), state.values.get("version")
            if isinstance(made, int) and (made > hist.latest or (isinstance(image, str)
                                                                 and hist[made].image != image)):
                text = (f"The session stopped before version {made} was written to disk; that edit is lost. "
                        f"Now at version {hist.head}.")
            elif isinstance(recorded, int) and recorded != hist.head:
                text = (f"The session stopped before its last move in the history was written to disk; "
                        f"now at version {hist.head}.")
            else:
                return
            logger.warning("%s", text)
            self._end_turn(text, error="interrupted")

    def export(self, path: str | Path, *, version: int | None = None) -> Path:
        """Write a version (default: the current one) to ``path``, with the opened image's alpha
        channel put back and how it was made (instruction, version, seed, models) as PNG text.

        Raises:
            ImageSaveError: the file cannot be written (the session is untouched).
        """
        from tools.imageio import save_image

        number = self.current_version if version is None else version
        info = next((v for v in self.history if v.number == number), None)
        if info is None:
            raise InvalidInputError(f"there is no version {number}; versions are 0 to {len(self.history) - 1}")
        metadata = {"chatedit:version": str(number), "chatedit:session": str(self.session_dir),
                    "chatedit:profile": self.profile.name}
        if info.instruction:
            metadata["chatedit:instruction"] = info.instruction
        if info.seed is not None:
            metadata["chatedit:seed"] = str(info.seed)
        if info.models:
            metadata["chatedit:models"] = ", ".join(f"{k}={v}" for k, v in info.models.items())
        with Image.open(info.image_path) as im:
            image = im.convert("RGB")
        return save_image(image, path, alpha=self.store.alpha, metadata=metadata)

    def flush(self) -> None:
        """Wait until the last edit's files are on disk (every call of this class does so first).

        Raises:
            ImageSaveError: a file could not be written; it is kept in memory, and the next call tries again.
        """
        self.store.flush()

    def close(self) -> None:
        """Let the last files land and close the session (the folder keeps everything; reopen it to go on).

        Raises:
            ImageSaveError: the last edit could not be written to disk.
        """
        self.store.close()

    def __enter__(self) -> Editor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state --------------------------------------------------------------------------------

    @property
    def session_dir(self) -> Path:
        return self.store.root

    @property
    def current_version(self) -> int:
        """The current version's number (0 = the original)."""
        return self.store.history.head

    @property
    def current_image(self) -> Image.Image:
        """The current version's pixels (PIL RGB)."""
        return self.store.version_image()

    def version_image(self, number: int) -> Image.Image:
        """Version ``number``'s pixels (PIL RGB), from memory while its file is still being written."""
        return self.store.version_image(self._number(number))

    def version_mask(self, number: int) -> Any:
        """The bool H×W mask of what version ``number``'s turn changed, or None (the original, direct moves)."""
        mask = self.store.history[self._number(number)].mask
        return self.store.load_mask(mask) if mask else None

    @property
    def versions(self) -> list[tuple[int, str, str, bool]]:
        """(number, instruction, created, has a mask) per version: :attr:`history` without waiting for files."""
        return [(v.number, v.instruction, v.created, v.mask is not None) for v in self.store.history.versions]

    def _number(self, number: int) -> int:
        latest = self.store.history.latest
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= latest:
            raise InvalidInputError(f"there is no version {_quoted(number)}; versions are 0 to {latest}")
        return number

    @property
    def history(self) -> list[VersionInfo]:
        """Every version, the redo branch included (those numbered above :attr:`current_version`).

        Its files are on disk: this waits for the last edit's to land.
        """
        self.store.flush()
        s = self.store
        return [VersionInfo(number=v.number, image_path=s.image_path(v.image),
                            mask_path=s.mask_path(v.mask) if v.mask else None, instruction=v.instruction,
                            steps=v.steps, seed=v.seed, models=dict(v.models), created=v.created)
                for v in s.history.versions]

    @property
    def pending_question(self) -> Question | None:
        """The question the agent waits on, if any (it survives closing and reopening the session)."""
        interrupts = self.graph.get_state(self._config).interrupts
        return self._question(interrupts[-1].value) if interrupts else None

    @property
    def conversation(self) -> list[tuple[str, str]]:
        """The conversation so far as (role, text) pairs; role is "user" or "assistant"."""
        messages = self.graph.get_state(self._config).values.get("messages", [])
        return [("user" if m.type == "human" else "assistant", str(m.content)) for m in messages
                if m.type in ("human", "ai")]

    @property
    def planner(self) -> Any:
        """The planner chat model, loaded on first use."""
        if self._planner is None:
            from agent.planner import load_planner

            if self.on_progress is not None:
                self.on_progress("load planner", 0, 1)
            self._planner = load_planner(self.profile, getattr(self.toolkit, "placement", None),
                                         memory=getattr(self.toolkit, "memory", None))
        return self._planner

    # -- talking ------------------------------------------------------------------------------

    def send(self, text: str) -> Reply:
        """One user turn. While a question is open, the text is taken as its answer."""
        text = str(text).strip()
        if not text:
            return Reply("Say what to change, e.g. \"remove the cup\" or \"make the sky blue\".")
        unsaved = self._unsaved()
        if unsaved is not None:
            return unsaved
        if self.pending_question is not None:
            return self.answer(text)
        try:
            planner = self.planner
        except ChatEditError as e:
            return Reply(f"The planner model could not be loaded: {e}", error=str(e))
        return self._run({"text": text}, planner)

    def answer(self, value: str | int) -> Reply:
        """Answer the open question: a number, "the second", "the left one", "all" or "cancel".

        Anything but a string or an int (a bool is not a number here) is refused with the question
        still open; it does not count as the one unclear answer that gets the question asked again.
        """
        unsaved = self._unsaved()
        if unsaved is not None:
            return unsaved
        question = self.pending_question
        if question is None:
            return Reply("There is no open question to answer.", error="no open question")
        if isinstance(value, bool) or not isinstance(value, (str, int)) \
                or (isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]):
            text = (f"An answer is a number from 1 to {len(question.candidates)}, words like \"the left one\", "
                    f"\"all\" or \"cancel\", not {_quoted(value)}; the question is still open.")
            return Reply(text, question=question, error="not an answer")
        from langgraph.types import Command

        planner = self._planner
        if planner is None and self.profile.verify:
            try:
                planner = self.planner          # the verifier judges the edit this answer lets run
            except ChatEditError as e:
                logger.warning("no planner to verify with: %s", e)
        return self._run(Command(resume=value), planner)

    def _unsaved(self, *, after: bool = False) -> Reply | None:
        """Let the last files land; a reply saying what could not be written, or None.

        ``after``: the call's own change was just made (the reply goes after its text), rather than
        an earlier one blocking this call.
        """
        try:
            self.store.flush()
        except ChatEditError as e:
            text = (f"It could not be saved to disk: {e}. It is kept in memory and saved once that is fixed."
                    if after else f"Could not save the last change: {e}. It is kept in memory; try again "
                                  "once that is fixed. Nothing else was done.")
            return Reply(text, error=str(e))
        return None

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

    def _run(self, graph_input: Any, planner: Any) -> Reply:
        self._cancel.clear()
        head = self.store.history.head
        try:
            out = self.graph.invoke(graph_input, self._config, context=self._context(planner))
        except Exception as e:  # the API's boundary: a failed turn is a reply, never a crash
            logger.exception("turn failed")
            message = f"{type(e).__name__}: {e}" if not isinstance(e, ChatEditError) else str(e)
            moved = self.store.history.head
            # an undo/redo/revert step before the failure was saved: say where the history is now
            text = f"Something went wrong ({message}). " + ("Nothing changed." if moved == head else
                                                           f"Nothing else changed; now at version {moved}.")
            self._end_turn(text, error=message)
            return Reply(text, error=message)
        plan = Plan.model_validate(out["plan"]) if out.get("plan") else None
        replies = tuple(out.get("planner_replies") or ())
        if out.get("__interrupt__"):
            question = self._question(out["__interrupt__"][-1].value)
            return Reply(question.text, question=question, plan=plan, planner_replies=replies)
        reply = out.get("reply") or {}
        text, error = reply.get("text", ""), reply.get("error")
        failed = self.store.write_error          # a write done at once (the history) failed in this turn
        if failed is not None:
            text, error = f"{text} It could not be saved to disk: {failed}. It is kept in memory and saved " \
                          "once that is fixed.", error or str(failed)
        return Reply(text, version=reply.get("version"), plan=plan, planner_replies=replies, error=error)

    def _question(self, payload: dict[str, Any]) -> Question:
        return Question(text=payload["text"],
                        candidates=tuple(Candidate(number=int(c["number"]), box=tuple(float(v) for v in c["box"]),
                                                   label=str(c["label"]), score=float(c["score"]))
                                         for c in payload["candidates"]),
                        image_path=self.store.question_path(payload["image"]))

    def _end_turn(self, text: str, *, error: str | None = None, said: str | None = None) -> None:
        """Close whatever turn is open in the checkpoint (as if it had replied ``text``), keeping no drafts."""
        from langchain_core.messages import AIMessage, HumanMessage

        self.store.clear_drafts()
        messages = ([HumanMessage(said)] if said else []) + [AIMessage(text)]
        self.graph.update_state(self._config, {
            "messages": messages, "reply": {"text": text, "version": None, "error": error}, "halt": False,
            "question": None, "draft": None, "result": None, "records": [], "version": self.store.history.head,
        }, as_node="respond")

    # -- history, directly --------------------------------------------------------------------

    def _move(self, kind: str, amount: int) -> Reply:
        from agent.graph.nodes.history import describe_move
        from tools.errors import InvalidInputError

        unsaved = self._unsaved()
        if unsaved is not None:
            return unsaved
        hist = self.store.history
        least = 0 if kind == "revert" else 1
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < least:
            what = "a version number (0 or more)" if kind == "revert" else "a whole number of edits (1 or more)"
            text = f"{kind} needs {what}, got {_quoted(amount)}."
            return Reply(text, error=text)
        if kind == "revert" and amount > hist.latest:
            name = str(amount) if amount.bit_length() <= 64 else "that large"
            text = f"There is no version {name}; versions go from 0 (the original) to {hist.latest}."
            return Reply(text, error=text)
        if self.pending_question is not None:
            self.answer("cancel")
        try:
            move = {"undo": hist.undo, "redo": hist.redo, "revert": hist.revert}[kind](amount)
        except InvalidInputError as e:
            return Reply(str(e), error=str(e))
        self.store.save_history()
        text = describe_move(kind, move, hist)
        self._end_turn(text, said=f"/{kind} {_quoted(amount)}")
        unsaved = self._unsaved(after=True)        # the history could not be written: say so now
        return Reply(f"{text} {unsaved.text}", error=unsaved.error) if unsaved is not None else Reply(text)

    def undo(self, n: int = 1) -> Reply:
        """Go back ``n`` turns' edits (no planner involved)."""
        return self._move("undo", n)

    def redo(self, n: int = 1) -> Reply:
        """Go forward ``n`` undone turns (no planner involved)."""
        return self._move("redo", n)

    def revert(self, n: int) -> Reply:
        """Make version ``n`` current (0 = the original); later versions stay redoable until the next edit."""
        return self._move("revert", n)
