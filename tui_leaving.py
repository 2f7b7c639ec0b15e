"""Leaving the chat TUI with nothing typed lost: the session's input history (Up/Down, kept in the session
folder), what is typed and not taken yet (kept in the session's ``unsent.json`` as it changes, so a killed app
loses none of it, and offered back on reopening), and what quitting says of a running turn, queued messages and
the draft. A part of :class:`tui.ChatEditApp` (a mixin, like `tui_worker` and `tui_commands`)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.css.query import NoMatches

from tui_clarify import ClarifyScreen
from tui_widgets import ProgressStrip, printable
from tui_worker import error_text

if TYPE_CHECKING:
    from agent.session.unsent import Unsent

logger = logging.getLogger(__name__)

KEEP_EVERY = 0.25
"""Seconds between looks at the drafts (the input, a question's answer box); queueing or sending writes at once."""
INPUT_HISTORY = "input_history.json"
"""Earlier inputs (Up/Down), kept in the session folder beside its record."""


def read_input_history(session_dir: Path) -> list[str]:
    """The session's earlier inputs, oldest first ([] when there are none or the file is unreadable)."""
    try:
        items = json.loads((session_dir / INPUT_HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [t for t in items if isinstance(t, str)] if isinstance(items, list) else []


def write_input_history(session_dir: Path, items: list[str], keep: int = 200) -> None:
    """Keep the last ``keep`` inputs in the session folder (written atomically)."""
    from tools.atomic import atomic_write

    atomic_write(session_dir / INPUT_HISTORY, json.dumps(items[-keep:], ensure_ascii=False).encode(),
                 durable=False)


class Leaving:
    """The quitting side of :class:`tui.ChatEditApp` (it provides the editor, the queue, the prompt and the screen)."""

    editor: Any
    snapshot: Any
    session_dir: Path | None
    quitting: bool
    unsent: list[str]
    close_error: str | None
    # and from the app: idle, busy, running, queued, last_turn, prompt, screen, query_one(), exit()

    async def action_quit(self) -> None:
        """Leave at once; wait only for a running edit to stop and the last version's image to be written.

        Nothing typed is lost unsaid: queued messages, the draft in the input and a running turn's message
        stay in the input history (Up brings them back after ``--resume``) and :attr:`unsent` says so.
        """
        if self.quitting:
            return
        self.quitting = True
        shown = self.snapshot.current if self.snapshot is not None else None
        if self.editor is not None and not self.idle.is_set():
            self.editor.cancel()
            self.query_one(ProgressStrip).set_progress("stopping the edit before quitting", 0, 0)
            await asyncio.to_thread(self.idle.wait, 60)
        if self.editor is not None and getattr(getattr(self.editor, "store", None), "writing", False):
            self.query_one(ProgressStrip).start("writing the last version's image before quitting")
            await asyncio.to_thread(self.editor.flush)
        self._keep_unsent(shown)
        self.exit()

    def _quit_turn(self, text: str, shown: int | None, later: str) -> str:
        """What became of the turn about ``text`` that quitting stopped (or that ended as the app quit)."""
        reply, error, cancelled = self.last_turn
        now = getattr(self.editor, "current_version", shown)
        if getattr(reply, "question", None) is not None:
            return f"\"{text}\" asked a question before quitting; it waits for your answer after --resume."
        if now != shown:
            return f"\"{text}\" finished before quitting (kept as v{now})."
        why = "" if cancelled else str(getattr(reply, "text", "") or error or "")
        why = "" if why.startswith("Cancelled") else why
        return f"\"{text}\" was stopped by quitting; nothing of it was kept{later}." + (f" ({why})" if why else "")

    def _keep_unsent(self, shown: int | None) -> None:
        """Put what was typed and not done in the input history and :attr:`unsent` (said after quitting)."""
        self.keep_typed()
        draft = " ".join(filter(None, (self.prompt.text.strip(),
                                       self._answer_typed())))
        queued = [text for text, _ in self.queued]
        kept = self.session_dir is not None and not (self.snapshot and self.snapshot.read_only)
        later = " (Up brings it back after --resume)" if kept else ""
        if self.running is not None and self.editor is not None and self.busy:
            self.unsent.append(self._quit_turn(self.running, shown, later))
        self.unsent += [f"Not sent (queued when you quit): \"{text}\"{later}" for text in queued]
        self.unsent += [f"Not sent (given back when the session opened): \"{e.text}\"{later}" for e in self._offered]
        if draft:
            self.unsent.append(f"Not sent (left in the input): \"{draft}\"{later}")
            self.prompt.remember(draft)
        if kept and self.session_dir is not None and (draft or queued):
            try:
                write_input_history(self.session_dir, self.prompt.recall)
            except OSError as exc:
                self.unsent.append(f"(the input history could not be written: {exc})")

    # -- what is typed and not taken yet, kept in unsent.json (agent.session.unsent) --------------

    _kept: tuple[Unsent, ...] = ()
    """What unsent.json holds now (as last written by this app)."""
    _sending: Unsent | None = None
    """The text handed to the session whose turn has not ended yet."""
    _offered: tuple[Unsent, ...] = ()
    """What reopening gave back (in Up) and that has not been sent since."""
    _since: dict[str, str] | None = None
    """When each text now kept was first seen (ISO-8601 UTC): the log's later messages take it."""
    _keep_failed = False
    _keeper: Any = None
    """The timer that calls :meth:`keep_typed` (stopped on unmount)."""

    def _keeping(self) -> bool:
        return self.session_dir is not None and self.editor is not None and not (
            self.snapshot is not None and self.snapshot.read_only)

    def _typed_now(self) -> list[Unsent]:
        """What is typed and not taken: the message being sent, the queue, a half-typed answer, the input's draft,
        what reopening gave back (each with the time it was first seen)."""
        from agent.session.history import now
        from agent.session.unsent import Unsent

        since = self._since if self._since is not None else {}
        entries = [self._sending] if self._sending is not None else []
        entries += [Unsent(text, "queued") for text, _ in self.queued]
        if answer := self._answer_typed():
            entries.append(Unsent(answer, "answer"))
        if draft := self.prompt.text.strip():
            entries.append(Unsent(draft, "draft"))
        entries += self._offered
        self._since = {e.text: e.time or since.get(e.text) or now() for e in entries}
        return [Unsent(e.text, e.kind, self._since[e.text]) for e in entries]

    def _answer_typed(self) -> str:
        """What is typed in the open question's answer box ("" when none is open, or not composed yet)."""
        try:
            return self.screen.typed() if isinstance(self.screen, ClarifyScreen) else ""
        except NoMatches:
            return ""

    def keep_typed(self, *, sending: str | None = None) -> None:
        """Write what is typed and not taken to ``unsent.json`` when it changed (fsynced unless only a draft did).

        ``sending``: the text just handed to the session; it is kept until the turn it started ends (the
        conversation log holds it by then), and a given-back entry of that text is dropped.
        """
        from agent.session.unsent import Unsent, write_unsent

        if not self._keeping() or self.session_dir is None:
            return
        if sending is not None:
            self._sending = Unsent(sending, "sending", (self._since or {}).get(sending, ""))
            self._offered = tuple(e for e in self._offered if e.text != sending.strip())
        elif self._sending is not None and not self.busy:
            self._sending = None
        try:
            entries = tuple(self._typed_now())
        except NoMatches:                               # the screen is being torn down: quitting keeps it
            return
        if entries == self._kept:
            return
        settled = [e for e in entries if e.kind not in ("draft", "answer")]
        durable = settled != [e for e in self._kept if e.kind not in ("draft", "answer")]
        try:
            write_unsent(self.session_dir, entries, durable=durable)
        except OSError as exc:
            logger.warning("could not keep what is typed in %s: %s", self.session_dir, exc)
            if not self._keep_failed:
                self._keep_failed = True
                self.notify(f"What you type cannot be kept in case chatedit stops ({exc}); it is still sent.",
                            severity="warning", markup=False)
            return
        self._kept = entries

    def offer_unsent(self) -> bool:
        """On opening: say what an earlier run left typed and not taken, put the first (a half-typed answer while
        its question is open) in the input and the rest in Up, and start keeping what is typed. Nothing is sent.
        Returns whether a half-typed answer was put in the input (then the question is asked without its box)."""
        from agent.session.unsent import Unsent, left_unsent

        if not self._keeping() or self.session_dir is None:
            return False
        self._keeper = self.set_interval(KEEP_EVERY, self.keep_typed)
        left = left_unsent(self.session_dir, self.editor.store.conversation.messages)
        if not left:
            self.keep_typed()                        # an unsent.json of what the log took since is removed
            return False
        question = self.snapshot is not None and self.snapshot.question is not None
        answer = next((e for e in left if e.kind == "answer"), None) if question else None
        first = answer or left[0]
        rest = [e for e in left if e is not first]
        self._since = {e.text: e.time for e in left}
        self._offered = tuple(Unsent(e.text, "offered", e.time) for e in rest)
        if not self.prompt.text.strip():
            self.action_prefill(first.text)
        else:
            rest.insert(0, first)
            self._offered = (Unsent(first.text, "offered", first.time), *self._offered)
        self.prompt.recall += [e.text for e in reversed(rest)]
        where = ("your half-typed answer to the question is in the input" if answer is first
                 else "the first is in the input") if self.prompt.text.strip() == first.text else ""
        how = "; ".join(filter(None, [where, "Up brings back the others" if rest else "",
                                      "nothing is sent until you press Enter"]))
        self.chat.say("Not sent yet (typed before chatedit last stopped): "
                      + ", ".join(f"\"{printable(e.text)}\"" for e in left) + f". {how[:1].upper()}{how[1:]}.",
                      "system")
        self.keep_typed()
        return answer is not None and answer is first and self.prompt.text.strip() == first.text

    def on_unmount(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
        if self.editor is not None:
            self.editor.cancel()
            if self.idle.is_set():
                try:
                    self.editor.close()             # waits for the last version's PNG to land
                except Exception as exc:  # noqa: BLE001 - said after the screen is restored, not as a traceback
                    self.close_error = error_text(exc)
