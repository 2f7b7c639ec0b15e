"""A chat TUI process on a pseudo-terminal, for tests that kill it (kill -9) or open its session from elsewhere.

The TUI runs the tiny profile with a scripted planner: ``hold`` (its first plan waits for ever, so an edit is in
flight) or ``ask`` (two mugs are found, so it asks which). Keys are written to the terminal; what it draws is
drained and kept only in part (:attr:`Terminal.output`, for a failure's message).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

TUI = """
import sys
import tui
from tui_pilot import held_planner, recolor_box
gate, fake = held_planner(recolor_box())
toolkit = None
if sys.argv[3] == "ask":
    from tests.agent_fakes import FixedDetections, det
    from tools.profiles import get_profile
    toolkit = FixedDetections(get_profile("tiny"), {"cup": [det((30, 30, 200, 200), 0.9),
                                                            det((300, 30, 500, 200), 0.8)]})
    from tui_pilot import planner, plan
    fake = planner(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "blue"}))
source = sys.argv[1]
tui.ChatEditApp(source, profile="tiny", session_dir=sys.argv[2] if sys.argv[2] != "-" else None, planner=fake,
                toolkit=toolkit, image_mode="halfcell").run()
"""


class Terminal:
    """A TUI process on a pseudo-terminal (100x30): keys go in, its screen output is drained and dropped."""

    def __init__(self, *args: str) -> None:
        import fcntl
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
               "OMP_NUM_THREADS": "1", "TEXTUAL_ANIMATIONS": "none"}
        self.process = subprocess.Popen([sys.executable, "-c", TUI, *args], cwd=ROOT, stdin=slave, stdout=slave,
                                        stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output = (self.output + data)[-65536:]

    def opened(self, root: Path) -> None:
        """Wait until the TUI has its session in ``root`` open (made, locked, and a moment to draw it)."""
        wait_for(lambda: (root / "history.json").exists() and (root / "session.lock").exists(), terminal=self)
        time.sleep(1.0)

    def shows(self, text: str) -> bool:
        """Whether ``text`` is in what the TUI drew lately (escape sequences taken out)."""
        return text in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", bytes(self.output).decode(errors="replace"))

    @staticmethod
    def pause(seconds: float) -> None:
        time.sleep(seconds)

    def type(self, text: str) -> None:
        for ch in text:
            os.write(self.master, ch.encode())
            time.sleep(0.02)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        os.close(self.master)


def wait_for(what: Callable[[], T], timeout: float = 240.0, terminal: Terminal | None = None) -> T:
    """What ``what()`` gives once it is truthy (polled); fails after ``timeout`` s or when ``terminal`` ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := what()):
            return found
        if terminal is not None and terminal.process.poll() is not None:
            raise AssertionError(f"the TUI ended: {bytes(terminal.output[-2000:])!r}")
        time.sleep(0.1)
    raise AssertionError("timed out")
