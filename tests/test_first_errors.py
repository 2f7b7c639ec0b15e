"""A newcomer's mistakes on the command line and in session files: each is one line on stderr naming the problem
and what to do, never argparse's usage block or a traceback; profiles whose weights are not here say which,
how big and how to get them, before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tui
from agent.scripted.runner import EXIT_FAILED, run_main
from agent.scripted.session_file import SessionFileError, parse_text
from tools.arguments import OneLineParser
from tools.profiles import FULL, LITE, TINY
from tools.readiness import cache_problem, missing, needed, unavailable


def _tui(capsys, *argv: str) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as stop:
        tui.main(list(argv))
    err = capsys.readouterr().err
    return stop.value.code, err.strip().splitlines()


@pytest.mark.parametrize(("argv", "says"), [
    (["--profle", "tiny"], "unknown option --profle; did you mean --profile?"),
    (["--profile", "huge"], "--profile takes one of auto, full, lite, tiny, got 'huge'"),
    (["--profile", "lit"], "did you mean 'lite'?"),
    (["--engine", "flux"], "did you mean 'flux2-klein'?"),
    (["--quality", "ultra"], "--quality takes one of fast, balanced, best, got 'ultra'"),
    (["--seed", "abc"], "--seed takes a whole number, got 'abc'"),
    (["--planner"], "--planner needs a value after it"),
    (["coffee", "chelsea"], "unexpected argument: chelsea"),
    (["--no-verfy"], "did you mean --no-verify?"),
])
def test_a_bad_option_is_one_line_that_names_it_and_the_help(capsys, argv, says):
    code, lines = _tui(capsys, *argv)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("chatedit: error: ") and says in lines[0]
    assert lines[0].endswith("(chatedit --help lists the options)")


@pytest.mark.parametrize(("argv", "says"), [
    (["nosuch.jpg"], "nosuch.jpg is not a file"),
    (["{tmp}"], "is a folder; give an image file"),                        # a folder given as the photo
    (["--resume", "{tmp}"], "`chatedit sessions` lists the saved ones"),
    (["--read-only"], "use it with --resume"),
    (["--planner", "gpu-box"], "the planner URL must look like http://host:8000/v1"),
])
def test_a_bad_value_is_one_line_of_our_own(capsys, tmp_path, argv, says):
    code, lines = _tui(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and len(lines) == 1, lines
    assert says in lines[0] and "--help lists" not in lines[0]


def test_chatedit_run_options_are_one_line_too(capsys):
    for argv, says in ([["--profle", "tiny", "a.yaml"], "did you mean --profile?"],
                       [["--jobs", "many", "a.yaml"], "--jobs takes a whole number, got 'many'"]):
        with pytest.raises(SystemExit) as stop:
            run_main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith("chatedit run: error: ")
        assert says in lines[0]


def test_chatedit_edit_options_are_one_line_too(capsys):
    from tools.cli import main as edit_main

    for argv, says in ([["coffee", "--remove", "--fnd", "cup"], "did you mean --find?"],
                       [["coffee", "--recolor"], "--recolor needs a value after it"],
                       [["coffee", "--find", "cup"], "one of the arguments --replace-with"]):
        with pytest.raises(SystemExit) as stop:
            edit_main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith("chatedit edit: error: ")
        assert says in lines[0] and lines[0].endswith("(chatedit edit --help lists the options)")

def test_help_still_prints_the_whole_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        tui.main(["--help"])
    assert stop.value.code == 0 and "--profile {auto,full,lite,tiny}" in capsys.readouterr().out


def test_a_program_error_is_printed_as_given():
    parser = OneLineParser(prog="x")
    assert parser._reworded("my own words (no history.json)") == "my own words (no history.json)"


# -- models that are not on this machine ----------------------------------------------------------------------

def test_lite_offline_names_every_missing_model_its_size_how_to_get_it_and_tiny(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    absent = missing(LITE)
    if not absent:
        pytest.skip("lite's models are cached on this machine")
    line = unavailable(LITE)
    assert line is not None and "\n" not in line
    assert line.startswith(f"profile lite needs {len(absent)} model")
    for spec in absent:
        assert spec.model_id in line
    total = sum(spec.download_gb for spec in absent)
    assert f"{total:.1f} GB in all" in line
    assert "HF_HUB_OFFLINE is set" in line and "unset HF_HUB_OFFLINE" in line
    assert "hf download" in line and "--profile tiny, which works offline" in line


def test_the_hub_unreachable_is_said_and_online_nothing_is_refused(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    if not missing(LITE):
        pytest.skip("lite's models are cached on this machine")
    assert "the Hugging Face hub cannot be reached" in unavailable(LITE, reachable=False)
    assert unavailable(LITE, reachable=True) is None           # they will download on first use
    assert unavailable(TINY, reachable=False) is None          # built here, always


def test_what_a_run_needs_follows_engine_quality_and_a_served_planner():
    assert LITE.lcm_lora in needed(LITE) and LITE.lcm_lora not in needed(LITE, quality="balanced")
    assert LITE.planner not in needed(LITE, served=True)
    assert any(s.family == "flux2-klein" for s in needed(FULL, engine="flux2-klein"))
    ids = [s.model_id for s in needed(FULL)]
    assert len(ids) == len(set(ids))


def test_the_tui_refuses_lite_offline_before_the_app_starts(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not missing(LITE):
        pytest.skip("lite's models are cached on this machine")
    code, lines = _tui(capsys, "coffee", "--profile", "lite")
    assert code == 2 and len(lines) == 1
    assert "profile lite needs" in lines[0] and "--profile tiny" in lines[0]


def test_a_run_on_lite_offline_could_not_run_and_says_why_once_per_session(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not missing(LITE):
        pytest.skip("lite's models are cached on this machine")
    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nturns:\n  - user: remove the cup\n")
    assert run_main([str(session), "--profile", "lite", "--out", str(tmp_path / "out")]) == EXIT_FAILED
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "profile lite needs" in lines[0] and lines[0].startswith(str(session))
    assert not (tmp_path / "out" / "session").exists()          # nothing was opened or played


@pytest.mark.parametrize("bad", ["file", "file/below"])
def test_a_cache_folder_that_cannot_be_made_is_one_line(capsys, monkeypatch, tmp_path, bad):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CHATEDIT_CACHE", str(tmp_path / bad))
    line = cache_problem()
    assert line is not None and f"CHATEDIT_CACHE={tmp_path / bad}" in line and "is a file, not a folder" in line
    code, lines = _tui(capsys, "coffee", "--profile", "tiny")
    assert code == 2 and lines == [f"chatedit: error: {line}"]
    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nturns:\n  - user: remove the cup\n")
    assert run_main([str(session), "--profile", "tiny", "--out", str(tmp_path / "out")]) == EXIT_FAILED
    assert capsys.readouterr().err.strip() == f"chatedit run: {line}"


def test_a_writable_cache_is_no_problem(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATEDIT_CACHE", str(tmp_path / "new" / "cache"))
    assert cache_problem() is None and (tmp_path / "new" / "cache").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_cache_is_one_line(monkeypatch, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("CHATEDIT_CACHE", str(locked))
    assert "cannot be written (permission denied)" in cache_problem()


# -- session files ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "says"), [
    ("image: coffee\nturnz:\n  - user: hi\n", "line 2: unknown key 'turnz' in the session (did you mean 'turns'?)"),
    ("image: coffee\nturns: []\n", "line 2: turns is empty; give at least one turn, e.g. '- user: remove the cup'"),
    ("image: coffee\nturns:\n  - hi\n", "line 3: turn 1: a turn is a mapping such as 'user: remove the cup', got 'hi'"),
    ("image: coffee\nturns:\n  - user:\n", "line 3: turn 1: user is empty; write the words the person says"),
    ("image: coffee\nturns:\n  - user: '  '\n", "line 3: turn 1: user is empty"),
    ("image: coffee\nturns:\n  - answer: ''\n", "line 3: turn 1: answer is empty; write the answer"),
    ("image: coffee\nturns:\n  - undo:\n", "line 3: turn 1: undo is empty; write a number"),
    ("image: coffee\nturns:\n  - user: hi\n    expect: 3\n", "line 4: turn 1's expect: should be a mapping"),
    ("image: coffee\nprofile: huge\nturns:\n  - undo: 1\n", "line 2: profile: input should be 'auto', 'full'"),
    ("image: .\nturns:\n  - undo: 1\n", "line 1: image '.' is a folder; give an image file"),
    ("image: pics/none.png\nturns:\n  - undo: 1\n", "line 1: image 'pics/none.png' is neither a file next to"),
])
def test_a_session_file_mistake_is_one_line_naming_its_line(tmp_path, text, says):
    with pytest.raises(SessionFileError) as caught:
        parse_text(text, where="s.yaml", base=tmp_path)
    assert str(caught.value) == f"s.yaml {says}" or str(caught.value).startswith(f"s.yaml {says}")
    assert "instance of" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_profile_in_the_file_is_refused_even_when_the_command_line_names_one(capsys, tmp_path):
    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nprofile: huge\nturns:\n  - user: remove the cup\n")
    assert run_main([str(session), "--profile", "tiny", "--out", str(tmp_path / "out")]) == 2
    assert "line 2: profile:" in capsys.readouterr().err


def test_every_shipped_session_file_still_parses():
    from agent.scripted.session_file import load_session_file

    for path in sorted(Path(__file__).resolve().parent.parent.glob("sessions/*.yaml")):
        assert load_session_file(path).spec.turns


def test_auto_falling_back_to_tiny_says_how_big_the_real_models_are_and_how_to_get_them(monkeypatch):
    from agent.opening import resolve

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not missing(LITE):
        pytest.skip("lite's models are cached on this machine")
    profile = resolve("auto")
    if profile.name != "tiny":
        pytest.skip("auto chose a real profile here")
    wanted = LITE if "lite wanted" in profile.note else FULL
    size = sum(spec.download_gb for spec in missing(wanted))
    assert f"to use {wanted.name}'s real models ({size:.1f} GB to download), unset HF_HUB_OFFLINE" in profile.note
    assert "\n" not in profile.note and resolve("tiny").note.endswith("asked for")


def test_a_session_folder_under_a_file_is_refused_before_the_app_starts(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, lines = _tui(capsys, "coffee", "--profile", "tiny", "--session", str(tmp_path / "file" / "s"))
    assert code == 2 and len(lines) == 1
    assert lines[0] == (f"chatedit: error: --session {tmp_path / 'file' / 's'} cannot hold a session: "
                        f"{tmp_path / 'file'} is a file, not a folder; choose another folder")


def test_a_missing_transcript_is_named_once(capsys, tmp_path):
    missing_file = tmp_path / "nope.json"
    assert run_main(["--replay", str(missing_file)]) == 2
    assert capsys.readouterr().err.strip() == f"{missing_file}: no such transcript"


def test_resume_with_no_saved_session_says_how_to_start_one(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    code, lines = _tui(capsys, "--resume")
    assert code == 2 and len(lines) == 1 and "no saved session" in lines[0] and "`chatedit IMAGE`" in lines[0]


@pytest.mark.parametrize("value", ["foo", "float64", " fp8 "])
def test_a_bad_chatedit_dtype_is_one_line_before_anything_loads(capsys, monkeypatch, tmp_path, value):
    monkeypatch.setenv("CHATEDIT_DTYPE", value)
    code, lines = _tui(capsys, "coffee", "--profile", "tiny")
    assert code == 2 and len(lines) == 1
    assert lines[0] == (f"chatedit: error: CHATEDIT_DTYPE must be float16, bfloat16 or float32, got {value!r}; "
                        "set one of them or unset it (the default suits the device)")
    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nturns:\n  - user: remove the cup\n")
    assert run_main([str(session), "--profile", "tiny", "--out", str(tmp_path / "out")]) == EXIT_FAILED
    assert capsys.readouterr().err.strip().startswith("chatedit run: CHATEDIT_DTYPE must be")


def test_every_dtype_name_the_check_takes_is_one_the_loader_takes(monkeypatch):
    from tools.device import parse_dtype
    from tools.readiness import DTYPES, environment_problem

    monkeypatch.setenv("CHATEDIT_DTYPE", "  ")
    assert environment_problem() is None                        # blank is unset, as the loader reads it
    for name in DTYPES:
        parse_dtype(name)
        monkeypatch.setenv("CHATEDIT_DTYPE", name.upper())
        assert environment_problem() is None
