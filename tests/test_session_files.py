"""Session files are untrusted input: a scripted session file's bombs, depth, size, bad bytes and odd values end in
one-line errors, quickly; a session folder's damaged files reopen with everything that can be read back, said once."""

from __future__ import annotations

import os
import random
import re
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from agent.editor import Editor
from agent.session.content import content_id
from agent.session.errors import SessionDamagedError
from agent.scripted.runner import EXIT_BAD_FILE, EXIT_OK, run_main
from agent.scripted.session_file import (MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_TURNS,
                                         SessionFileError, load_session_file, parse_text)
from agent.scripted.transcript import read_json

WHERE = "sessions/x.yaml"

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
"""The classic YAML alias bomb: 9^9 (387 million) "lol"s from 342 bytes."""

PLANNED_TURN = ("  - user: paint the tower red\n"
                "    plan:\n"
                "      reasoning: Recolour a tower red; the user does not say which of them.\n"
                "      steps:\n"
                "        - action: recolor\n"
                "          referent: {phrase: tower}\n"
                "          content: red\n"
                "    expect: {asked: true, edited: false, version: 1}\n")


def error_of(text: str, seconds: float = 1.0) -> str:
    """The error parse_text gives for ``text``: one printable line, within ``seconds``."""
    start = time.perf_counter()
    with pytest.raises(SessionFileError) as info:
        parse_text(text, where=WHERE, base=Path("."))
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert message.startswith(f"{WHERE} line "), message
    assert message.isprintable() and len(message) < 400, message
    assert elapsed < seconds, f"{elapsed:.2f} s: {message}"
    return message


# -- aliases -----------------------------------------------------------------------------------

def test_the_billion_laughs_bomb_is_refused_at_once_in_little_memory():
    tracemalloc.start()
    try:
        message = error_of(BILLION_LAUGHS, seconds=0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (f"{WHERE} line 6: too many YAML aliases ('*e' here expands the file past "
                       f"{MAX_ALIAS_NODES} repeated nodes); write the turns out")
    assert peak < 20_000_000


def test_a_bomb_inside_the_turns_and_from_disk_is_refused_too(tmp_path, capsys):
    levels = "".join(f"  - user: hi\n    replies: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n"
                     for i in range(8))
    text = "image: coffee\nturns:\n  - user: hi\n    replies: &a [x,x,x,x,x,x,x,x,x]\n" + levels
    assert "too many YAML aliases" in error_of(text)
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    start = time.perf_counter()
    assert run_main([str(path), "--out", str(tmp_path / "out")]) == EXIT_BAD_FILE
    assert time.perf_counter() - start < 1.0
    assert capsys.readouterr().err.strip().startswith(f"{path} line 6: too many YAML aliases")


@pytest.mark.parametrize("text", ["image: coffee\nturns: &t [*t]\n", "a: &a {b: [1, *a]}\n"])
def test_an_alias_inside_its_own_anchor_is_refused(text):
    assert "refers to a node that contains it" in error_of(text)


def test_a_few_aliases_still_work():
    sf = parse_text("image: coffee\nturns:\n  - user: hi\n    expect: &quiet {edited: false, asked: false}\n"
                    "  - user: ho\n    expect: *quiet\n", where=WHERE, base=Path("."))
    assert sf.spec.turns[1].expect == sf.spec.turns[0].expect and sf.turn_lines == (3, 5)


# -- depth, size, counts -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, "{a: " * 100_000,
                                  "- " * 10_000 + "x\n", "".join("  " * i + f"k{i}:\n" for i in range(300)),
                                  "image: coffee\nturns:\n  - user: hi\n    replies: " + "[" * 60 + "x" + "]" * 60],
                         ids=["flow lists", "closed flow lists", "flow mappings", "block lists", "block mappings",
                              "in a turn"])
def test_deep_nesting_is_a_one_line_error_not_a_recursion_error(text):
    assert f"the YAML nests deeper than {MAX_DEPTH} levels" in error_of(text)


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("image: coffee\nturns:\n  - undo: 1\n" + "#" * MAX_FILE_BYTES)
    start = time.perf_counter()
    with pytest.raises(SessionFileError) as info:
        load_session_file(path)
    assert time.perf_counter() - start < 0.5
    size = path.stat().st_size
    assert str(info.value) == (f"{path}: the file is too large ({size} bytes; at most {MAX_FILE_BYTES}); "
                               "split it into several session files")
    assert "too long" in error_of("x" * (MAX_FILE_BYTES + 1))


def test_too_many_yaml_values_are_refused_while_composing():
    text = "image: coffee\nturns:\n  - undo: 1\nextra: [" + "1," * MAX_NODES + "]\n"
    assert f"more than {MAX_NODES} YAML values" in error_of(text, seconds=10)


def test_a_thousand_planned_turns_load_and_past_the_turn_limit_is_refused():
    sf = parse_text("image: rocket\nturns:\n" + PLANNED_TURN * 1000, where=WHERE, base=Path("."))
    assert len(sf.spec.turns) == 1000 and sf.turn_lines[-1] == 3 + 8 * 999
    message = error_of("image: coffee\nturns:\n" + "  - undo: 1\n" * (MAX_TURNS + 1), seconds=10)
    assert message == (f"{WHERE} line 3: {MAX_TURNS + 1} turns is too many (at most {MAX_TURNS}); "
                       "split the session into several files")


@pytest.mark.slow
def test_a_thousand_turn_session_plays(tmp_path, coffee):
    coffee.resize((96, 64)).save(tmp_path / "small.png")
    turn = ("  - user: hello\n    plan: {reasoning: chat, steps: [{action: answer, content: hi}]}\n"
            "    expect: {edited: false}\n")
    path = tmp_path / "long.yaml"
    path.write_text("image: small.png\nturns:\n" + turn * 1000)
    assert run_main([str(path), "--profile", "tiny", "--out", str(tmp_path / "out")]) == EXIT_OK
    record = read_json(tmp_path / "out" / "transcript.json")
    assert len(record.turns) == 1000 and record.passed


# -- reading the file ----------------------------------------------------------------------------

def test_folders_fifos_and_bad_bytes_are_one_line_errors(tmp_path):
    with pytest.raises(SessionFileError, match="is a folder, not a session file"):
        load_session_file(tmp_path)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SessionFileError, match="is not a regular file"):  # reading it would block for ever
        load_session_file(fifo)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"image: coffee\nturns:\n  - user: caf\xe9\n")
    with pytest.raises(SessionFileError) as info:
        load_session_file(latin)
    assert str(info.value) == f"{latin} line 3: the file is not UTF-8 text (byte 34); save it as UTF-8"
    with pytest.raises(SessionFileError, match="no such session file"):
        load_session_file(tmp_path / "missing.yaml")


ODD = {
    "NUL": ("image: coffee\nturns:\n  - user: a\x00b\n", 3, "does not allow the character #x0000"),
    "lone surrogate": ("image: coffee\nturns:\n  - user: a\ud800b\n", 3, "does not allow the character #xd800"),
    "no such date": ("image: coffee\nseed: 2024-13-45\nturns: [{undo: 1}]\n", 2,
                     "'2024-13-45' cannot be read as timestamp"),
    "5000-digit int": ("image: coffee\nseed: " + "9" * 5000 + "\nturns: [{undo: 1}]\n", 2, "cannot be read as int"),
    "!!float abc": ("image: coffee\nseed: !!float abc\nturns: [{undo: 1}]\n", 2, "'abc' cannot be read as float"),
    "newline and escape in a key": ("image: coffee\nturns:\n  - user: hi\n    \"exp\\nect\\u001b\": 1\n", 4,
                                    "unknown key 'exp ect?'"),
    "5000-character plain key": ("image: coffee\nturns:\n  - user: hi\n    " + "k" * 5000 + ": 1\n", 4,
                                 "YAML syntax error"),
    "1000-character key": ("image: coffee\nturns:\n  - user: hi\n    " + "k" * 1000 + ": 1\n", 4,
                           "unknown key 'kkk"),
    "5000-character image": ("image: " + "p" * 5000 + "\nturns: [{undo: 1}]\n", 1, "is neither a file"),
    "unknown ~user": ("image: ~nosuchuser/a.png\nturns: [{undo: 1}]\n", 1, "is neither a file"),
    "NUL in the image": ('image: "a\\0b"\nturns: [{undo: 1}]\n', 1, "image 'a?b' is neither a file"),
    "5000-digit string": ("image: coffee\nturns:\n  - user: hi\n    expect: {version: \"" + "9" * 5000 + "\"}\n", 4,
                          "got '999"),
    "!!binary": ("image: coffee\nturns:\n  - user: !!binary ~~~\n", 3, "input should be a valid string"),
    "!!python": ("image: coffee\nturns:\n  - user: !!python/object:os.system x\n", 3, "YAML syntax error"),
}


@pytest.mark.parametrize(("text", "line", "words"), list(ODD.values()), ids=list(ODD))
def test_odd_values_name_their_line_in_one_line(text, line, words):
    message = error_of(text)
    assert message.startswith(f"{WHERE} line {line}: ") and words in message, message


def test_mangled_session_files_only_ever_give_session_file_errors():
    """Seeded mutations of a real session file: parsing returns or raises SessionFileError, quickly."""
    original = (Path(__file__).resolve().parent.parent / "sessions" / "ambiguous.yaml").read_text()
    rng = random.Random(7)
    junk = ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "'", '"', "\\", "!!int ", "!!binary ", "<<: ",
            "? ", "|", ">", "%", "@", "`", "\t", "\x00", "\ufeff", "9" * 5000, "2024-13-45", "*" * 3, "&b [*a,*a]"]
    for _ in range(150):
        text = original
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(text) + 1)
            cut = rng.choice([0, 0, 1, rng.randint(1, 40)])
            text = text[:at] + rng.choice(junk) + text[at + cut:]
        start = time.perf_counter()
        try:
            parse_text(text, where=WHERE, base=Path("."))
        except SessionFileError as e:
            assert str(e).startswith(f"{WHERE} line ") and str(e).isprintable(), str(e)
        assert time.perf_counter() - start < 2.0


# -- a session folder's own files, damaged -----------------------------------------------------------

BRANCHED = [("cup", "red"), ("table", "blue"), "undo", ("cup", "green"), "revert 2", ("table", "white"), "undo"]
"""Versions 1 and 2 on one branch, 3 from 1, 4 from 2; the head ends at 2."""
START = re.compile(rb'\{"number": (\d+), "parent": (?:null|\d+), "image": "[0-9a-f]{64}"')


@pytest.fixture(scope="module")
def branched(tmp_path_factory, tiny_profile):
    """A session made by real turns (tiny models, fixed detections) with a branched history; copy it to use."""
    from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
    from tools.samples import sample_image

    toolkit = FixedDetections(tiny_profile, {"cup": [det((10, 20, 50, 60), 0.9)],
                                             "table": [det((0, 70, 150, 100), 0.9)]})
    root = tmp_path_factory.mktemp("branched") / "session"
    planner = QueuePlanner()
    editor = Editor.open(sample_image("coffee").resize((150, 100)), profile=tiny_profile, session_dir=root,
                         planner=planner, toolkit=toolkit)
    for step in BRANCHED:
        if isinstance(step, tuple):
            planner.push(plan({"action": "recolor", "referent": {"phrase": step[0]}, "content": step[1]}))
            assert editor.send(f"make the {step[0]} {step[1]}").version is not None
        elif step == "undo":
            editor.undo()
        else:
            editor.revert(2)
    tree = [(v.image, v.parent) for v in editor.store.history.versions]
    editor.close()
    assert [p for _, p in tree] == [None, 0, 1, 1, 2]
    return root, tree, toolkit


def _copy(branched, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(branched[0], root)
    return root


def _reopen(branched, root: Path, **kwargs) -> Editor:
    from tests.agent_fakes import QueuePlanner

    return Editor.open(root, profile="tiny", planner=QueuePlanner(), toolkit=branched[2], **kwargs)


def _tree(editor: Editor) -> list[tuple[str, int | None]]:
    return [(v.image, v.parent) for v in editor.store.history.versions]


def test_a_history_cut_anywhere_reopens_with_every_version_its_lines_or_backup_hold(branched, tmp_path):
    """history.json cut at seeded random offsets, with and without its backup: the session opens (never a
    traceback, never a refusal) with every version whose line start survived, each the same as before, and the
    images no line names any more added after them, oldest first (never left for the collector)."""
    data = (branched[0] / "history.json").read_bytes()
    rng = random.Random(11)
    for n, cut in enumerate(sorted(rng.sample(range(1, len(data)), 10))):
        for backup in (True, False):
            root = tmp_path / f"cut{n}{backup}"
            shutil.copytree(branched[0], root)
            (root / "history.json").write_bytes(data[:cut])
            if not backup:
                (root / "history.json.bak").unlink()
            kept = 5 if backup else max(1, len(START.findall(data[:cut])))
            editor = _reopen(branched, root)
            try:
                note = editor.opening_note
                assert note.startswith("history.json was damaged") and "\n" not in note, note
                tree = _tree(editor)
                assert tree[:kept] == branched[1][:kept], (cut, backup)
                assert [image for image, _ in tree] == [image for image, _ in branched[1]]
                assert [parent for _, parent in tree[kept:]] == list(range(kept - 1, 4))
                for number in range(5):
                    editor.version_image(number)                   # every version read back shows its pixels
                assert not [p for p in editor.store.find_strays() if p.parent.name == "versions"]
                assert (root / "history.json.damaged").read_bytes() == data[:cut]
            finally:
                editor.close()
            again = _reopen(branched, root)                         # the repair was saved: nothing to say twice
            assert _tree(again) == tree and "damaged" not in (again.opening_note or "")
            again.close()


@pytest.mark.parametrize("damage", ["half-written end", "garbage", "empty", "a folder", "removed", "head is text",
                                    "a flipped byte in a hash", "duplicate line", "lines out of order",
                                    "a parent that does not exist"])
def test_a_damaged_history_reopens_with_what_can_be_read_back_and_says_so(branched, tmp_path, damage):
    root = _copy(branched, tmp_path)
    path = root / "history.json"
    data = path.read_bytes()
    lines = data.split(b"\n")
    if damage == "half-written end":
        path.write_bytes(data + b'{"number": 5, "parent": 2, "ima')
    elif damage == "garbage":
        path.write_bytes(bytes(random.Random(3).randrange(256) for _ in range(300)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "a folder":
        path.unlink()
        path.mkdir()
    elif damage == "removed":
        path.unlink()
    elif damage == "head is text":
        path.write_bytes(data.replace(b'"head": 2', b'"head": "2"', 1))
    elif damage == "a flipped byte in a hash":
        at = data.index(branched[1][3][0].encode()) + 5
        path.write_bytes(data[:at] + b"Z" + data[at + 1:])
    elif damage == "duplicate line":
        path.write_bytes(b"\n".join([*lines[:3], lines[2], *lines[3:]]))
    elif damage == "lines out of order":
        path.write_bytes(b"\n".join([lines[0], lines[1], lines[3], lines[2], *lines[4:]]))
    elif damage == "a parent that does not exist":
        path.write_bytes(data.replace(b'"number": 3, "parent": 1', b'"number": 3, "parent": 9', 1))
    editor = _reopen(branched, root)
    try:
        note = editor.opening_note
        assert note.startswith("history.json was damaged") and "\n" not in note, note
        # versions come back from the file's own lines where they read, else from the backup (all five there)
        assert _tree(editor) == branched[1]
        assert editor.current_version == (2 if damage in ("half-written end", "a flipped byte in a hash",
                                                          "duplicate line", "lines out of order",
                                                          "a parent that does not exist") else 4)
        assert f"now at version {editor.current_version}" in note or \
            f"reopened at version {editor.current_version}" in note
        assert editor.undo().error is None and editor.redo().error is None
    finally:
        editor.close()


@pytest.mark.parametrize("damage", ["empty", "garbage", "removed", "a folder", "removed while open"])
def test_a_damaged_original_is_made_again_from_version_0_and_stands_in_for_it(branched, tmp_path, damage):
    root = _copy(branched, tmp_path)
    original = root / "original.png"
    pixels = original.read_bytes()
    if damage == "empty":
        original.write_bytes(b"")
    elif damage == "garbage":
        original.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    elif damage == "a folder":
        original.unlink()
        original.mkdir()
    elif damage == "removed":
        original.unlink()
    if damage != "removed while open":
        editor = _reopen(branched, root)
        assert editor.opening_note.startswith("original.png was missing or damaged") and "\n" not in editor.opening_note
        assert _tree(editor) == branched[1] and editor.current_version == 2
        if damage != "a folder":
            with Image.open(original) as im:                          # made again: the same pixels
                assert content_id(im) == branched[1][0][0]
        editor.close()
    # version 0's own file gone: the original stands in for it (it holds the same pixels), nothing is missing
    if damage in ("a folder", "removed while open"):
        if original.is_dir():
            original.rmdir()
        original.write_bytes(pixels)
    (root / "versions" / f"{branched[1][0][0]}.png").unlink()
    editor = _reopen(branched, root)
    assert editor.store.missing == [] and editor.opening_note is None
    assert content_id(editor.version_image(0)) == branched[1][0][0]
    assert editor.revert(0).error is None and content_id(editor.current_image) == branched[1][0][0]
    editor.close()


@pytest.mark.parametrize("cut", ["at a line", "mid-line", "empty", "a folder"])
def test_a_conversation_log_that_lost_its_end_says_so_and_no_turn_number_is_used_twice(branched, tmp_path, cut):
    """The log cut after turn 2 (the history went on to turn 6, the checkpoint to 7): reopening says the log lost its
    end instead of claiming an instruction was never done, and the next edit's turn follows the last one."""
    root = _copy(branched, tmp_path)
    path = root / "conversation.jsonl"
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    if cut == "at a line":
        path.write_bytes(b"".join(lines[:4]))
    elif cut == "mid-line":
        path.write_bytes(b"".join(lines[:4]) + lines[4][:30])
    elif cut == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
        path.mkdir()
    from tests.agent_fakes import QueuePlanner, plan

    planner = QueuePlanner().push(plan({"action": "recolor", "referent": {"phrase": "cup"}, "content": "pink"}))
    editor = Editor.open(root, profile="tiny", planner=planner, toolkit=branched[2])
    try:
        note = editor.opening_note
        assert "The conversation log lost its end" in note and "every saved version is kept" in note, note
        assert "nothing changed" not in note and "\n" not in note
        if cut == "a folder":
            assert note.startswith("conversation.jsonl was not a file; it was moved aside")
            assert (root / "conversation.jsonl.damaged").is_dir()
        assert _tree(editor) == branched[1] and editor.current_version == 2
        reply = editor.send("make the cup pink")
        assert reply.version == 5 and editor.store.history[5].turn == 8, reply.text
    finally:
        editor.close()
    again = _reopen(branched, root)
    assert again.opening_note is None or "lost its end" not in again.opening_note
    assert [m[1] for m in again.conversation][-1].startswith("Made the cup pink")
    again.close()


def test_a_damaged_checkpoint_file_is_set_aside_and_read_only_left_alone(branched, tmp_path):
    root = _copy(branched, tmp_path)
    path = root / "checkpoints.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                        # cut in half: SQLite finds it malformed
    viewer = _reopen(branched, root, read_only=True)
    assert "checkpoints.sqlite is damaged" in viewer.opening_note and "left as it is" in viewer.opening_note
    assert _tree(viewer) == branched[1] and viewer.current_version == 2
    viewer.close()
    assert path.read_bytes() == data[: len(data) // 2]
    editor = _reopen(branched, root)
    assert editor.opening_note.startswith("checkpoints.sqlite was damaged") and "\n" not in editor.opening_note
    assert (root / "checkpoints.sqlite.damaged").read_bytes() == data[: len(data) // 2]
    assert _tree(editor) == branched[1] and editor.undo().error is None
    editor.close()


@pytest.mark.parametrize("damaged", ["the head's image", "its parent's image", "the head's mask"])
def test_a_damaged_image_never_keeps_the_tui_from_showing_the_session(branched, tmp_path, damaged):
    """What the TUI reads on opening (tui_snapshot.take_snapshot) works with any one image file damaged: a damaged
    head opens at the version before it, saying so; a damaged before-image or mask is left out of the view."""
    from tui_snapshot import take_snapshot

    root = _copy(branched, tmp_path)
    viewer = _reopen(branched, root, read_only=True)
    head = viewer.store.history[2]
    viewer.close()
    path = {"the head's image": root / "versions" / f"{head.image}.png",
            "its parent's image": root / "versions" / f"{branched[1][1][0]}.png",
            "the head's mask": root / "masks" / f"{head.mask}.png"}[damaged]
    path.write_bytes(path.read_bytes()[:100])
    editor = _reopen(branched, root)
    try:
        snapshot = take_snapshot(editor)
        if damaged == "the head's image":
            assert editor.current_version == snapshot.current == 1 and _tree(editor) == branched[1]
            assert editor.opening_note.startswith("The image of version 2, the current one, is damaged")
            assert "\n" not in editor.opening_note
        else:
            assert snapshot.current == 2 and snapshot.after is not None
            assert (snapshot.before is None) == (damaged == "its parent's image")
            assert (snapshot.overlay is None) == (damaged == "the head's mask")
    finally:
        editor.close()


def test_with_the_original_and_version_0_both_damaged_the_other_versions_still_open(branched, tmp_path):
    root = _copy(branched, tmp_path)
    (root / "original.png").write_bytes(b"")
    first = root / "versions" / f"{branched[1][0][0]}.png"
    first.write_bytes(first.read_bytes()[:64])
    editor = _reopen(branched, root)
    try:
        assert editor.opening_note.startswith("original.png and version 0's image are both missing or damaged")
        assert _tree(editor) == branched[1] and editor.current_version == 2
        assert content_id(editor.current_image) == branched[1][2][0]
        with pytest.raises(SessionDamagedError) as raised:
            editor.version_image(0)
        assert "\n" not in str(raised.value)
    finally:
        editor.close()
