"""The session's ``checkpoints.sqlite``: LangGraph's SQLite checkpointer, opened only when it is ours.

A damaged file, or a database that holds other tables, is refused with a one-line
:class:`~agent.session.errors.SessionDamagedError` (before anything is written to it). Read back,
the checkpoints revive only the types the graph's state names (an allowlist), never any class a
foreign file might ask for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.session.errors import (
    SessionDamagedError,
    SessionReadOnlyError,
    SessionStorageError,
)

TABLES = {"checkpoints", "writes"}
"""The tables LangGraph's SqliteSaver makes (and all a chatedit checkpoint file may hold)."""


def _damaged(path: Path, why: str) -> SessionDamagedError:
    return SessionDamagedError(f"{path} is damaged ({why}); move it aside to reopen the session: the versions, "
                               "history and conversation are kept, only a pending question is lost")


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to ``path``; read-only ones never write (not even WAL's shared-memory file)."""
    if not read_only:
        return sqlite3.connect(path, check_same_thread=False)
    if not path.is_file():
        return sqlite3.connect(":memory:", check_same_thread=False)
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A folder nobody can write (a read-only filesystem): WAL cannot make its shared-memory file,
        # and since nobody can be writing, the file may be read as an immutable one.
        conn.close()
        return sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True, check_same_thread=False)


def open_checkpointer(path: Path, *, read_only: bool, types: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    """Open ``path`` and return ``(connection, SqliteSaver)``; read-only opens never write to it.

    Args:
        path: the session's checkpoints.sqlite (created when missing, unless ``read_only``).
        read_only: open without writing (a missing file gives an empty in-memory checkpointer).
        types: ``(module, class)`` pairs the checkpoints may revive (the graph state's models).

    Raises:
        SessionDamagedError: the file is not a SQLite database, or not LangGraph's.
        SessionReadOnlyError: it cannot be created or written.
    """
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    serde = JsonPlusSerializer(allowed_msgpack_modules=list(types))
    try:
        conn = _connect(path, read_only=read_only)
    except sqlite3.Error as e:
        raise SessionReadOnlyError(f"{path} cannot be opened ({e}); check the folder's permissions, "
                                   "or open the session read-only") from e
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = sorted(n for n in names - TABLES if not n.startswith("sqlite_"))
        if foreign:
            raise _damaged(path, f"it is not chatedit's: it holds the table(s) {', '.join(foreign[:4])}")
        if names and conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise _damaged(path, "SQLite's integrity check failed")
        if not read_only:
            # LangGraph's saver turns on WAL; with synchronous=NORMAL a commit survives a crash of this
            # process without an fsync each (replies are made durable by the session's own files).
            conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn, serde=serde)
        saver.setup()
    except SessionDamagedError:
        conn.close()
        raise
    except sqlite3.DatabaseError as e:
        conn.close()
        if "full" in str(e):
            raise SessionStorageError(f"{path} cannot be written ({e}); free some disk space and open the session "
                                      "again (nothing saved was lost)") from e
        if "readonly" in str(e) or "read-only" in str(e) or "unable to open" in str(e):
            raise SessionReadOnlyError(f"{path} cannot be written ({e}); open the session read-only, or copy "
                                       "it somewhere writable") from e
        raise _damaged(path, str(e)) from e
    return conn, saver
