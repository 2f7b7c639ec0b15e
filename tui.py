"""chatedit's entry point: the chat TUI, and the `edit` subcommand (direct tool use).

Importing this module stays cheap: torch and the models load only inside the commands.
"""

from __future__ import annotations

import sys

COMMANDS = {
    "edit": "one edit straight through the tools, no planner (chatedit edit --help)",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``chatedit [COMMAND] ...`` and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "edit":
        from tools.cli import main as edit_main

        return edit_main(argv[1:])
    lines = ["usage: chatedit COMMAND [OPTIONS]", "", "commands:"]
    lines += [f"  {name:10s}{text}" for name, text in COMMANDS.items()]
    print("\n".join(lines))
    return 0 if not argv or argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
