"""Leaving the chat TUI with nothing typed lost: the session's input history (Up/Down, kept in the session
folder) and what quitting says of a running turn, queued messages and the draft. A part of
:class:`tui.ChatEditApp` (a mixin, like `tui_worker` and `tui_commands`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tui_clarify import ClarifyScreen
from tui_widgets import ProgressStrip
from tui_worker import error_text

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
        draft = " ".join(filter(None, (self.prompt.text.strip(),
                                       self.screen.typed() if isinstance(self.screen, ClarifyScreen) else "")))
        queued = [text for text, _ in self.queued]
        kept = self.session_dir is not None and not (self.snapshot and self.snapshot.read_only)
        later = " (Up brings it back after --resume)" if kept else ""
        if self.running is not None and self.editor is not None and self.busy:
            self.unsent.append(self._quit_turn(self.running, shown, later))
        self.unsent += [f"Not sent (queued when you quit): \"{text}\"{later}" for text in queued]
        if draft:
            self.unsent.append(f"Not sent (left in the input): \"{draft}\"{later}")
            self.prompt.remember(draft)
        if kept and self.session_dir is not None and (draft or queued):
            try:
                write_input_history(self.session_dir, self.prompt.recall)
            except OSError as exc:
                self.unsent.append(f"(the input history could not be written: {exc})")

    def on_unmount(self) -> None:
        if self.editor is not None:
            self.editor.cancel()
            if self.idle.is_set():
                try:
                    self.editor.close()             # waits for the last version's PNG to land
                except Exception as exc:  # noqa: BLE001 - said after the screen is restored, not as a traceback
                    self.close_error = error_text(exc)
