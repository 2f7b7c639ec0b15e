"""Two processes (or two openers) on one session: one writer, the others refused with its name; a lock left by a
killed process, damaged or not a file never locks anyone out; a folder moved while open is never written into."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.scripted.runner import EXIT_BAD_FILE, run_main
from tools.errors import InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ROOT / "sessions"
PLAYED = [SESSIONS / "dialog.yaml", SESSIONS / "first_run.yaml"]

HOLD = """
import sys
from agent.session.store import SessionStore
store = SessionStore.open(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()                                   # until the test closes our stdin
store.close()
"""

WRITE = """
import sys, time
from agent.session.errors import SessionLockedError
from agent.session.store import SessionStore
go, angle = float(sys.argv[2]), int(sys.argv[3])
while time.time() < go:
    time.sleep(0.001)
try:
    store = SessionStore.open(sys.argv[1])
except SessionLockedError as e:
    print("refused", e)
    sys.exit(0)
store.history.commit(store.put_image(store.version_image(0).rotate(angle)), instruction=f"turn {angle}")
store.save_history()
time.sleep(1.0)                                    # hold it while the others try
store.close()
print("wrote", angle)
"""


def _session(tmp_path: Path, name: str = "s") -> Path:
    from agent.session.store import SessionStore

    store = SessionStore.create(tmp_path / name, Image.new("RGB", (32, 24), "red"), background=False)
    store.close()
    return store.root


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True, **kwargs)


def test_writers_at_once_one_writes_the_others_are_refused_and_one_after_another_all_land(tmp_path):
    from agent.session.store import SessionStore

    root = _session(tmp_path)
    go = time.time() + 4                               # every process has imported by then
    racers = [_python(WRITE, str(root), str(go), str(angle), stdout=subprocess.PIPE) for angle in (90, 180, 270)]
    said = [p.communicate(timeout=60)[0].strip() for p in racers]
    wrote = [s for s in said if s.startswith("wrote")]
    refused = [s for s in said if s.startswith("refused")]
    assert len(wrote) == 1 and len(refused) == 2, said
    for line in refused:
        assert "already open in another chatedit (pid " in line and "read-only" in line and "\n" not in line
    for angle in (90, 180, 270):                       # one after another: every edit lands
        assert _python(WRITE, str(root), "0", str(angle), stdout=subprocess.PIPE).communicate(timeout=60)[0].strip() \
            == f"wrote {angle}"
    store = SessionStore.open(root, read_only=True)
    assert sorted(v.instruction for v in store.history.versions[1:]) == sorted(
        [wrote[0].replace("wrote", "turn"), "turn 90", "turn 180", "turn 270"])
    store.close()


def test_a_second_run_on_an_out_whose_session_is_open_is_refused_and_leaves_it(tmp_path, capsys):
    from agent.scripted.runner import prepare_out
    from agent.session.store import is_session

    out = tmp_path / "out"
    _session(out, "session")
    (out / "transcript.json").write_text("{}")        # a previous run's output, still playing
    holder = _python(HOLD, str(out / "session"), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert run_main([str(PLAYED[0]), "--profile", "tiny", "--out", str(out)]) == EXIT_BAD_FILE
        err = capsys.readouterr().err
        assert f"--out {out} is in use: session {out / 'session'} is open in another chatedit (pid {holder.pid} " in err
        assert err.count("\n") == 1 and is_session(out / "session") and (out / "transcript.json").is_file()
    finally:
        holder.communicate("", timeout=30)
    prepare_out(out)                                   # once it is closed, a new run replaces it
    assert not (out / "session").exists() and not (out / "transcript.json").exists()


def test_collecting_a_session_open_in_another_process_says_to_close_it_there(tmp_path, capsys):
    from agent.housekeeping import sessions_main

    root = _session(tmp_path)
    holder = _python(HOLD, str(root), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert sessions_main(["--gc", str(root)]) == 1
        err = capsys.readouterr().err
        assert err == (f"chatedit sessions --gc: {root} is open in another chatedit (pid {holder.pid} on "
                       f"{socket.gethostname()}, since {err.split(', since ')[1][:19]}); close it there, then run "
                       "--gc again\n")
    finally:
        holder.communicate("", timeout=30)
    assert sessions_main(["--gc", str(root)]) == 0


def test_two_session_files_of_one_name_in_one_run_get_their_own_folders(tmp_path):
    from agent.scripted.runner import _jobs, build_parser

    other = tmp_path / "other" / PLAYED[0].name
    other.parent.mkdir()
    other.write_text(PLAYED[0].read_text())
    jobs, bad, _ = _jobs(build_parser().parse_args([str(PLAYED[0]), str(other), "--out", str(tmp_path / "o")]))
    assert not bad and [job.out for job in jobs] == [tmp_path / "o" / "dialog", tmp_path / "o" / "dialog-2"]


def test_the_same_session_twice_in_one_process_says_so_and_symlinks_are_the_same_session(tmp_path):
    from agent.session.errors import SessionLockedError
    from agent.session.store import SessionStore

    root = _session(tmp_path)
    (tmp_path / "link").symlink_to(root)
    store = SessionStore.open(root)
    for path in (root, tmp_path / "link"):
        with pytest.raises(SessionLockedError) as raised:
            SessionStore.open(path)
        assert f"already open in this process (pid {os.getpid()}, since " in str(raised.value)
        assert "close that one first" in str(raised.value)
    other = SessionStore.open(_session(tmp_path, "other"))   # another session beside it is its own
    other.close()
    store.close()


@pytest.mark.parametrize("content", [b"", b"\x00\xff" * 3000, b"[1, 2]", b'{"pid": "x", "host": 5}',
                                     b'{"pid": 1, "host": "HOST", "since": "2020-01-01T00:00:00"}',
                                     b'{"pid": 4242, "host": "elsewhere", "since": "2020-01-01T00:00:00"}'],
                         ids=["empty", "junk", "a list", "bad fields", "a live process not chatedit", "another host"])
def test_a_damaged_or_stale_lock_file_never_locks_anyone_out(tmp_path, content):
    from agent.session.store import SessionStore

    root = _session(tmp_path)
    (root / "session.lock").write_bytes(content.replace(b"HOST", socket.gethostname().encode()))
    store = SessionStore.open(root)
    assert json.loads((root / "session.lock").read_text())["pid"] == os.getpid()   # it names who holds it now
    store.close()


@pytest.mark.parametrize("kind", ["folder", "symbolic link", "fifo"])
def test_a_lock_file_that_is_not_a_file_is_named_with_what_to_do(tmp_path, kind):
    from agent.session.errors import SessionReadOnlyError
    from agent.session.store import SessionStore

    root = _session(tmp_path)
    lock = root / "session.lock"
    lock.unlink()
    {"folder": lock.mkdir, "symbolic link": lambda: lock.symlink_to(tmp_path / "elsewhere"),
     "fifo": lambda: os.mkfifo(lock)}[kind]()
    with pytest.raises(SessionReadOnlyError) as raised:
        SessionStore.open(root)
    message = str(raised.value)
    assert f"its lock file {lock} is " in message and "move it out of the way" in message and "\n" not in message
    assert kind in message or kind == "fifo" and "not a regular file" in message
    lock.rename(tmp_path / "aside")                    # what the message says to do
    SessionStore.open(root).close()


def test_a_file_system_without_locks_is_said_as_such(tmp_path, monkeypatch):
    import errno

    import filelock._unix

    from agent.session.errors import SessionReadOnlyError
    from agent.session.store import SessionStore

    root = _session(tmp_path)

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(filelock._unix.fcntl, "flock", no_flock)
    with pytest.raises(SessionReadOnlyError, match="its file system does not support file locks.*local disk"):
        SessionStore.open(root)


def test_a_folder_moved_removed_or_replaced_while_open_is_never_written_into(tmp_path):
    from agent.session.conversation import Message
    from agent.session.errors import SessionStorageError
    from agent.session.store import SessionStore

    store = SessionStore.open(_session(tmp_path))
    root, image = store.root, store.version_image(0).rotate(180)
    root.rename(tmp_path / "moved")
    newcomer = SessionStore.create(root, Image.new("RGB", (32, 24), "blue"))   # a new session at the old name
    with pytest.raises(SessionStorageError, match=f"was moved to {tmp_path / 'moved'} while it was open.*--resume"):
        store.conversation.append(Message(role="user", text="make it red", turn=1, kind="say"))
    with pytest.raises(SessionStorageError, match="was moved to"):
        store.put_image(image)
    with pytest.raises(SessionStorageError, match="was moved to"):
        store.save_history()
    newcomer.flush()
    assert not (root / "conversation.jsonl").exists()
    assert [p.name for p in (root / "versions").iterdir()] == [f"{newcomer.history.current.image}.png"]
    assert SessionStore.open(root, read_only=True).history.latest == 0
    newcomer.close()
    store.close()
    store = SessionStore.open(tmp_path / "moved")
    shutil.rmtree(store.root)
    with pytest.raises(SessionStorageError, match="was removed while it was open") as raised:
        store.put_image(image)
    assert "\n" not in str(raised.value)
    store.close()


def test_two_creators_of_one_new_folder_one_makes_it_the_other_is_refused(tmp_path, monkeypatch):
    from agent.session import store as store_module
    
    first, second = Image.new("RGB", (32, 24), "red"), Image.new("RGB", (32, 24), "blue")
    root, lock = tmp_path / "new", store_module.SessionLock

    class Late(lock):
        """The lock of a creator that found the folder empty just before another made its session there."""

        def acquire(self) -> None:
            monkeypatch.setattr(store_module, "SessionLock", lock)
            store_module.SessionStore.create(tmp_path / "other", second).close()
            shutil.copytree(tmp_path / "other", root, dirs_exist_ok=True)     # the other's files land here
            super().acquire()

    monkeypatch.setattr(store_module, "SessionLock", Late)
    with pytest.raises(InvalidInputError, match="already exists and is not empty"):
        store_module.SessionStore.create(root, first)
    kept = store_module.SessionStore.open(root, read_only=True)
    assert np.array_equal(np.asarray(kept.version_image(0)), np.asarray(second)) and kept.history.latest == 0
    kept.close()


# -- slow: whole runs on the tiny profile ----------------------------------------------------------------------

