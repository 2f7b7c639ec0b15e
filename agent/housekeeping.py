"""`chatedit sessions`: list the saved sessions, and remove files of a session that belong to no version."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.session.errors import SessionLockedError
from agent.session.lock import holder
from agent.session.sessions import list_sessions, sessions_root
from agent.session.store import SessionStore
from agent.turns import Turns
from tools.arguments import OneLineParser
from tools.errors import ChatEditError


def collect(path: Path) -> str:
    """``chatedit sessions --gc DIR``: remove the files of a session that belong to no version; what was done."""
    try:
        store = SessionStore.open(path)
    except SessionLockedError:                 # its message offers read-only, which cannot collect
        raise SessionLockedError(f"{path} is open in another chatedit ({holder(path.expanduser().resolve())}); "
                                 "close it there, then run --gc again") from None
    try:
        store.find_strays(Turns(store).in_flight())
        count, size = store.collect()
    finally:
        store.close()
    if not count:
        return f"{path}: every file belongs to a version; nothing to remove"
    return f"{path}: removed {count} file(s) that belonged to no version ({size / 1e6:.1f} MB)"


def sessions_main(argv: list[str]) -> int:
    """``chatedit sessions``: list saved sessions."""
    p = OneLineParser(prog="chatedit sessions", description="List saved sessions, newest first.")
    p.add_argument("--root", metavar="DIR", help="sessions folder (default: the one chatedit saves to)")
    p.add_argument("--gc", metavar="SESSION", nargs="+",
                   help="remove the files of these session folders that belong to no version (reopening a session "
                        "reports them; nothing is removed without this)")
    args = p.parse_args(argv)
    if args.gc:
        status = 0
        for folder in args.gc:
            try:
                print(collect(Path(folder).expanduser()))
            except ChatEditError as e:
                print(f"chatedit sessions --gc: {e}", file=sys.stderr)
                status = 1
        return status
    root = Path(args.root).expanduser() if args.root else sessions_root()
    if root.exists() and not root.is_dir():
        print(f"chatedit sessions: --root {root} is a file, not a folder; give the folder that holds the sessions",
              file=sys.stderr)
        return 2
    sessions = list_sessions(root)
    if not sessions:
        print(f"no sessions under {root}")
        return 0
    print(f"{'session':28s} {'last change':17s} {'versions':>8s}  question")
    for s in sessions:
        versions = "damaged" if s.damaged else str(s.versions)
        print(f"{s.name:28s} {s.last_change:17s} {versions:>8s}  {'yes' if s.awaiting_answer else 'no'}")
    print(f"\n{len(sessions)} session(s) in {root}; reopen one with: chatedit --resume {root}/NAME")
    return 0
