"""The chat's slash commands, the command palette and the help screen's text.

:class:`SlashCommands` holds the actions that slash commands, keys and the palette share; it is a base
class of :class:`tui.ChatEditApp`, which gives it the editor, the snapshot and the widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from textual.command import Hit, Hits, Provider

from tui_args import ENGINES
from tui_snapshot import tree_text
from tui_widgets import HelpScreen

if TYPE_CHECKING:
    from textual.app import App
    from textual.widget import Widget

    from tui_image import ImagePane
    from tui_snapshot import Snapshot
    from tui_widgets import ChatLog, PromptArea

    _App = App[None]
else:
    _App = object

HELP = """\
**Say what to change**, e.g. *make the cup red*, *remove the spoon*, *make it look like autumn*.

| command | does |
|---|---|
| `/undo [N]`, `/redo [N]` | step back / forward (also **ctrl+z** / **ctrl+y**) |
| `/revert N` | make version N current, on any branch (or pick it in the history list and press Enter) |
| `/ref PATH` | attach a reference image to the next message (*make the cup look like this*); `/ref` or **Esc** \
clears it |
| `/history` | the version tree: an edit made after undo starts a branch; every version is kept |
| `/save PATH` | write the current image (PNG keeps how it was made) |
| `/before`, `/mask` | toggle before/after (**f2**) and the last edit's mask (**f3**) |
| `/question` | show the pending question again |
| `/drop` | take back the last message queued while an edit runs |
| `/verify on`, `/verify off` | let the planner judge each edit and redo a bad one (slower), or not, from now on |
| `/engine` | which repaint engine paints the edits, and how to start with another |
| `/help`, `/quit` | this help (**F1**); leave (**ctrl+q**) |

**Enter** sends; **ctrl+j** starts a new line. Typed while an edit runs, a message is queued and sent when
the edit ends. **Up**/**Down** bring back earlier inputs. **Esc** cancels a running edit; nothing is
half-applied. **ctrl+p**: every command by name (undo, revert, save, theme, ...).

**Point** at the image: a click marks a point, a drag a box, ctrl/shift/alt- or right-click a "not this" point
(more clicks refine); the region found is tinted. Then say *make this red*, *remove it*, or *this one* to
answer a question; **Esc** clears the pointing. In a question, click a box, or **ctrl+o** for the full-size picture."""


def help_text() -> str:
    """The F1 screen: the keys, the slash commands and what you can say (the grammar's and command layer's forms)."""
    from agent.graph import commands, grammar

    return "\n\n".join([f"# chatedit\n\n{HELP}", "## Moves and answers (no model needed)", _rst(commands.__doc__),
                        "## Instructions the offline grammar reads", _rst(grammar.__doc__)])


def _rst(doc: str | None) -> str:
    """A module docstring (reST-ish) as Markdown: ``x`` and :func:`x` as code, ``::`` blocks fenced."""
    import re

    out, block = [], False
    for line in (doc or "").splitlines():
        if block and line.strip() and not line.startswith(" "):
            out.append("```")
            block = False
        line = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", line).replace("``", "`")
        if line.rstrip().endswith("::") and not block:
            out += [line.rstrip()[:-1], "", "```"]
            block = True
            continue
        out.append(line)
    return "\n".join(out + (["```"] if block else []))


IMMEDIATE = ("ref", "help", "drop", "history", "question", "before", "mask", "quit", "exit", "sessions", "engine")
"""Slash commands that run at once even while an edit runs (the others are queued after it)."""


class ChatEditCommands(Provider):
    """The app's commands in the command palette (ctrl+p): undo, redo, revert to a version, save, ..."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        assert isinstance(app, SlashCommands)
        snap = app.snapshot
        save = f"/save {snap.session_dir.name}-v{snap.current}.png" if snap is not None else "/save "
        found = [("undo", "step back one version (ctrl+z)", app.action_undo),
                 ("redo", "step forward one version (ctrl+y)", app.action_redo),
                 ("save the current image", "put /save PATH in the input to finish", lambda: app.action_prefill(save)),
                 ("reference image", "attach an image to the next message: put /ref PATH in the input to finish",
                  lambda: app.action_prefill("/ref ")),
                 ("before/after", "toggle the previous version (f2)", app.action_toggle_before),
                 ("mask", "toggle the last edit's mask (f3)", app.action_toggle_mask),
                 ("history", "the version tree in the chat (/history)", app.action_history),
                 ("sessions", "the saved sessions and how to resume them", app.action_sessions),
                 ("question", "show the pending question again", app.action_question),
                 ("drop the last queued message", "/drop", app.action_drop),
                 ("verify on", "the planner judges each edit from now on (/verify on)",
                  lambda: app.action_verify("on")),
                 ("verify off", "edits are not judged from now on (/verify off)", lambda: app.action_verify("off")),
                 ("help", "keys and what you can say (F1)", app.action_help),
                 ("theme", "change the colour theme", app.action_change_theme)]
        for row in snap.versions if snap is not None else ():
            found.append((f"revert to v{row.number}", row.instruction or "the original",
                          lambda n=row.number: app.action_revert(n)))
        return found

    async def discover(self) -> Hits:
        from textual.command import DiscoveryHit

        for name, help_, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_)


class SlashCommands(_App):
    """Slash commands (:meth:`run_command`) and the actions behind them, for :class:`tui.ChatEditApp`."""

    if TYPE_CHECKING:                          # given by ChatEditApp
        editor: Any
        snapshot: Snapshot | None
        busy: bool
        reference: Path | None
        session_dir: Path | None
        queued: list[tuple[str, Widget]]

        @property
        def chat(self) -> ChatLog: ...

        @property
        def image_pane(self) -> ImagePane: ...

        @property
        def prompt(self) -> PromptArea: ...

        def _start(self, stage: str, call: Callable[[Any], Any]) -> None: ...

        def _ask(self, question: Any, modal: bool = True, *, hold: bool = True) -> None: ...

        def _queue(self, text: str) -> None: ...

    def action_drop(self) -> None:
        """Take back the last queued message."""
        if not self.queued:
            self._refuse("Nothing is queued; /drop takes back a message typed while an edit runs.")
            return
        text, line = self.queued.pop()
        line.remove()
        self.notify(f"Dropped: {text}", markup=False)

    def run_command(self, text: str) -> None:
        """Run a slash command (``/undo``, ``/redo``, ``/revert N``, ``/save PATH``, ``/help``, ``/quit``...)."""
        name, _, arg = text[1:].partition(" ")
        name, arg = name.lower(), arg.strip()
        self.chat.say(text, "user")
        if name in ("undo", "redo", "revert"):
            if (name == "revert" and not arg.isdigit()) or (arg and not arg.isdigit()):
                self._refuse(f"/{name} takes a version number, e.g. /revert 2" if name == "revert" else
                             f"/{name} takes a number of steps (or none), e.g. /{name} 2")
            elif name == "revert":
                self.action_revert(int(arg))
            else:
                getattr(self, f"action_{name}")(int(arg or 1))
        elif name == "save":
            if not arg:
                self._refuse("/save needs a path, e.g. /save out/cup.png")
            elif (where := _expand(arg)) is None:
                self._refuse(f"/save: {arg} names a home folder that does not exist; give a full path")
            else:
                self._start("saving", lambda editor: _save(editor, where))
        elif name == "help":
            self.action_help()
        elif name == "drop":
            self.action_drop()
        elif name == "history":
            self.action_history()
        elif name in ("quit", "exit"):
            self.call_later(self.run_action, "quit")
        elif name == "before":
            self.action_toggle_before()
        elif name == "mask":
            self.action_toggle_mask()
        elif name == "question":
            self.action_question()
        elif name == "ref":
            self.action_reference(arg)
        elif name == "sessions":
            self.action_sessions()
        elif name == "verify":
            self.action_verify(arg)
        elif name == "engine":
            if arg:
                self._refuse(f"/engine {arg}: the engine is chosen when chatedit starts, not switched in a session "
                             "(see below).")
            self.action_engine()
        else:
            self.chat.say(f"There is no command /{name}; `/help` lists them. Nothing changed.", "system")
            self.notify(f"Unknown command /{name}; /help lists them.", severity="warning", markup=False)

    def action_reference(self, path: str = "") -> None:
        """``/ref PATH``: attach a reference image to the next message (shown under the input); ``/ref``: clear it."""
        if not path:
            self.reference = None
            self.prompt.border_subtitle = ""
            return
        where = _expand(path)
        if where is None or not _is_image(where):
            self._refuse(f"/ref: {where or path} is not an image file; give the path of one, e.g. /ref ~/hat.png")
            return
        self.reference = where
        self.prompt.border_subtitle = f"reference: {where.name} (goes with your next message; Esc clears)"

    def _refuse(self, text: str) -> None:
        """Say in the chat (and as a notice) why a command did nothing."""
        said = text if text.endswith((".", "?", "!")) else f"{text}."     # "e.g. /revert 2." then the next sentence
        self.chat.say(f"{said} Nothing changed.", "error")
        self.notify(text, severity="warning", markup=False)

    def _move(self, stage: str, call: Callable[[Any], Any], command: str) -> None:
        """Start a move in the version tree (its reply says when it dropped a pending question); while an edit
        runs (ctrl+z, say) it is queued as ``command``, like a typed one, and runs after the edit."""
        if self.busy and self.editor is not None:
            self._queue(command)
        else:
            self._start(stage, call)

    def action_undo(self, n: int = 1) -> None:
        self._move("undo", lambda editor: editor.undo(n), "/undo" + (f" {n}" if n != 1 else ""))

    def action_redo(self, n: int = 1) -> None:
        self._move("redo", lambda editor: editor.redo(n), "/redo" + (f" {n}" if n != 1 else ""))

    def action_revert(self, number: int) -> None:
        self._move(f"reverting to v{number}", lambda editor: editor.revert(number), f"/revert {number}")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_text()))

    def action_verify(self, state: str = "") -> None:
        """``/verify on|off``: whether the planner judges each edit, from the next turn on (``/verify``: say which)."""
        if state.lower() not in ("on", "off", ""):
            self._refuse("/verify takes on or off, e.g. /verify off")
            return
        on = None if not state else state.lower() == "on"
        self._start("verification", lambda editor: _verify(editor, on))

    def action_engine(self) -> None:
        """``/engine``: say which repaint engine paints the edits; it is chosen when the session starts."""
        if self.editor is None:
            self.chat.say("The session is still opening; `/engine` says which engine paints once it is open.", "system")
            return
        name = str(getattr(self.editor.toolkit, "engine_name", "") or "the profile's")
        others = " or ".join(f"`{e}`" for e in ENGINES if e != name)
        self.chat.say(f"Edits are painted by the **{name}** engine. It is chosen when chatedit starts: "
                      f"`chatedit --resume {self.editor.session_dir} --engine ENGINE` (ENGINE: {others}) keeps "
                      "every version and paints the next edits with it.", "system")

    def action_history(self) -> None:
        if self.snapshot is not None:
            self.chat.say("```\n" + tree_text(self.snapshot.versions, self.snapshot.current) + "\n```", "system")

    def action_question(self) -> None:
        if self.snapshot is not None and self.snapshot.question is not None:
            self._ask(self.snapshot.question)
        else:
            self._refuse("No question is pending.")

    def action_sessions(self) -> None:
        """List the saved sessions in the chat, newest first, with the command that resumes each."""
        from agent.session.sessions import list_sessions, sessions_root

        found = {s.path.resolve(): s for root in {sessions_root(), *([self.session_dir.parent] if self.session_dir
                                                                     else [])} for s in list_sessions(root)}
        rows = [f"- `{s.path}`: {_versions(s.versions)}, {s.last_change}"
                + (", waits for an answer" if s.awaiting_answer else "")
                + (" (this one)" if self.session_dir and s.path.resolve() == self.session_dir.resolve() else "")
                for s in sorted(found.values(), key=lambda s: -s.modified)[:10]]
        self.chat.say("Saved sessions (`chatedit --resume DIR` reopens one):\n\n" + "\n".join(rows)
                      if rows else "No saved sessions yet.", "system")

    def action_prefill(self, text: str) -> None:
        """Put ``text`` in the input to finish and send (the palette's save)."""
        self.prompt.load_text(text)
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()

    def action_toggle_before(self) -> None:
        self._toggle("before")

    def action_toggle_mask(self) -> None:
        self._toggle("mask")

    def _toggle(self, view: Literal["before", "mask"]) -> None:
        """Show or hide the previous version (f2) or the last edit's mask (f3), in place of the other and of a
        previewed version; a notice when this version has none."""
        pane, snap = self.image_pane, self.snapshot
        before = view == "before"
        if pane.parent is not None and pane.parent.styles.display == "none":     # a narrow terminal hides it
            self.notify("The image is hidden: the terminal is too narrow; widen it to see the image.")
            return
        if snap is None or (snap.before if before else snap.overlay) is None:
            self.notify("Nothing before this version." if before else "This version has no edit mask.")
            return
        on = not (pane.showing_before if before else pane.showing_mask)
        pane.preview = None
        pane.showing_before, pane.showing_mask = before and on, not before and on


def _verify(editor: Any, on: bool | None) -> str:
    """Turn verification on or off (None: leave it) and say how it is now."""
    if on is not None:
        editor.verify = on
    now = " from now on" if on is not None else ""
    if editor.verify:
        return (f"Verification is **on**{now}: the planner judges each edit and a bad one is redone "
                "(on a CPU, about as long again as the edit). `/verify off` turns it off.")
    return f"Verification is **off**{now}: edits are not judged. `/verify on` turns it on."


def _versions(count: int | None) -> str:
    """"1 version", "3 versions", "? versions" (unknown)."""
    return "1 version" if count == 1 else f"{'?' if count is None else count} versions"


def _expand(path: str) -> Path | None:
    """``path`` with ``~`` expanded (None when it names a home folder that does not exist)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return None


def _is_image(path: Path) -> bool:
    """Whether ``path`` is a file PIL can read as an image (its header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, ValueError):
        return False
    return True


def _save(editor: Any, path: Path) -> str:
    from tools.errors import ImageSaveError

    try:
        written = editor.export(path)
    except OSError as exc:              # what export does not name itself (a name too long for the disk, say)
        raise ImageSaveError(f"cannot save {path}: {exc.strerror or exc}; check the path") from exc
    return f"Saved v{editor.current_version} to `{written}`."
