"""Session files are untrusted input: bombs, depth, size, bad bytes and odd values end in one-line errors, quickly."""

from __future__ import annotations

import os
import random
import time
import tracemalloc
from pathlib import Path

import pytest

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
