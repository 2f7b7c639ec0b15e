"""Command-line parsing whose every error is one line: the problem, a close match for a typo, and where the
options are listed (argparse's own error prints the whole usage block first)."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are ``prog: error: MESSAGE`` on one line of stderr (exit 2).

    An unknown option or value names the nearest known one ("did you mean --profile?"); argparse's own
    complaints end by pointing at ``prog --help``; a message the program gives ``error()`` is printed as given.
    Subclassing keeps ``--help`` and the usage exactly as argparse prints them.
    """

    def error(self, message: str) -> NoReturn:
        reworded = " ".join(self._reworded(message).split())
        if reworded != message or message.startswith(("argument ", "the following arguments", "one of the arguments")):
            reworded += f" ({self.prog} --help lists the options)"     # argparse's own complaint, not ours
        self.exit(2, f"{self.prog}: error: {reworded}\n")

    def _reworded(self, message: str) -> str:
        unknown = re.fullmatch(r"unrecognized arguments: (.*)", message)
        if unknown:
            return self._unrecognized(unknown.group(1).split())
        message = re.sub(r"^argument (--[\w-]+)/-\w+:", r"argument \1:", message)   # "--jobs/-j" is "--jobs"
        bad_int = re.fullmatch(r"argument (\S+): invalid int value: '(.*)'", message)
        if bad_int:
            return f"{bad_int.group(1)} takes a whole number, got '{bad_int.group(2)}'"
        bad_float = re.fullmatch(r"argument (\S+): invalid float value: '(.*)'", message)
        if bad_float:
            return f"{bad_float.group(1)} takes a number, got '{bad_float.group(2)}'"
        choice = re.fullmatch(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)", message)
        if choice:
            flag, value, allowed = choice.groups()
            names = [a.strip().strip("'") for a in allowed.split(",")]
            close = [n for n in names if value and n.startswith(value)] or difflib.get_close_matches(value, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return f"{flag} takes one of {', '.join(names)}, got '{value}'{hint}"
        needs = re.fullmatch(r"argument (\S+): expected one argument", message)
        if needs:
            return f"{needs.group(1)} needs a value after it"
        return message

    def _unrecognized(self, words: list[str]) -> str:
        options = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
        flags = [w for w in words if w.startswith("-")]
        if not flags:
            return f"unexpected argument{'s' if len(words) > 1 else ''}: {' '.join(words)}"
        flag = flags[0].split("=", 1)[0]
        close = difflib.get_close_matches(flag, options, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown option {flag}{hint}"
