"""The session's ``checkpoints.sqlite``: LangGraph's SQLite checkpointer, opened only when it is ours.

A damaged file is moved aside to ``checkpoints.sqlite.damaged`` and a new one started (it holds only the
turn in flight: at most a pending question is lost, and said so); read-only, the damaged file is left as it
is and an empty in-memory one stands in. A database that holds other tables is not chatedit's and is refused
with a one-line :class:`~agent.session.errors.SessionDamagedError` (nothing is written to it). Read back,
the checkpoints revive only the types the graph's state names (an allowlist), never any class a
foreign file might ask for.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.session.errors import (
    SessionDamagedError,
    SessionReadOnlyError,
    SessionStorageError,
)
from tools.atomic import aside_name

logger = logging.getLogger(__name__)

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
    except sqlite3.DatabaseError:
        conn.close()
        raise


def open_checkpointer(path: Path, *, read_only: bool, types: Iterable[tuple[str, str]],
                      repairs: list[str] | None = None) -> tuple[Any, Any]:
    """Open ``path`` and return ``(connection, SqliteSaver)``; read-only opens never write to it.

    Args:
        path: the session's checkpoints.sqlite (created when missing, unless ``read_only``).
        read_only: open without writing (a missing file gives an empty in-memory checkpointer).
        types: ``(module, class)`` pairs the checkpoints may revive (the graph state's models).
        repairs: where to say, in one sentence, that a damaged file was set aside (or, read-only, left alone).

    Raises:
        SessionDamagedError: the file is not LangGraph's (it holds other tables).
        SessionReadOnlyError: it cannot be created or written.
    """
    try:
        return _open(path, read_only=read_only, types=types)
    except SessionDamagedError as error:
        if "not chatedit's" in str(error) or (read_only and not path.is_file()):
            raise
        why = str(error).split(" is damaged (", 1)[-1].split("); move it aside", 1)[0]
    if read_only:
        note = (f"{path.name} is damaged ({why}); the session opened read-only without the turn in flight "
                "(a pending question is not shown; the file was left as it is).")
        conn, saver = _open(Path(":memory:"), read_only=False, types=types)
    else:
        kept = set_aside(path)
        conn, saver = _open(path, read_only=False, types=types)
        note = (f"{path.name} was damaged ({why}); it was moved aside to {kept.name} and a new one started: the "
                "versions, history and conversation are kept, only a pending question was lost.")
    logger.warning("%s", note)
    if repairs is not None:
        repairs.append(note)
    return conn, saver


def set_aside(path: Path) -> Path:
    """Move a damaged checkpoints.sqlite (with its -wal and -shm files) to a free ``.damaged`` name.

    Raises:
        SessionReadOnlyError: it cannot be moved.
    """
    kept = aside_name(path)
    try:
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, kept.with_name(kept.name + suffix))
        os.replace(path, kept)
    except OSError as e:
        raise SessionReadOnlyError(f"{path} is damaged and cannot be moved aside ({e.strerror or e}); move it "
                                   "aside yourself, or open the session read-only") from e
    return kept


def _open(path: Path, *, read_only: bool, types: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    serde = JsonPlusSerializer(allowed_msgpack_modules=list(types))
    if path.exists() and not path.is_file():
        raise _damaged(path, "it is a folder, not a database")
    try:
        conn = _connect(path, read_only=read_only)
    except sqlite3.Error as e:
        if isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError):
            raise _damaged(path, str(e)) from e
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
        next(iter(saver.list(None, limit=1)), None)    # the latest checkpoint (all get_state reads) decodes
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
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:   # a checkpoint that cannot be decoded
        conn.close()
        raise _damaged(path, f"{type(e).__name__}: {e}") from e
    return conn, saver
