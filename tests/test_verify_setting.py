"""Verification is a profile setting (off on lite, on for full) that --verify/--no-verify and Editor.open override."""

from __future__ import annotations

import pytest

from tools.profiles import FULL, LITE, TINY


def test_verification_is_off_on_lite_and_tiny_and_on_for_full():
    assert (LITE.verify, FULL.verify, TINY.verify) == (False, True, False)


@pytest.mark.parametrize(("verify", "expected"), [(None, False), (True, True), (False, False)])
def test_editor_open_takes_verify_over_the_profile(tmp_path, coffee, verify, expected):
    from agent.editor import Editor

    editor = Editor.open(coffee, profile="tiny", session_dir=tmp_path / "s", verify=verify)
    try:
        assert editor.profile.verify is expected and editor.profile.name == "tiny"
    finally:
        editor.close()


@pytest.mark.parametrize(("argv", "expected"), [([], None), (["--verify"], True), (["--no-verify"], False)])
def test_chatedit_takes_verify_and_no_verify(argv, expected):
    from tui import ChatEditApp, build_parser

    args = build_parser().parse_args(["coffee", *argv])
    assert args.verify is expected
    assert ChatEditApp("coffee", profile="tiny", verify=args.verify).open_kwargs["verify"] is expected


@pytest.mark.parametrize(("flag", "expected"), [([], True), (["--no-verify"], False), (["--verify"], True)])
def test_chatedit_run_verify_flags_override_the_files_setting(tmp_path, monkeypatch, flag, expected):
    import agent.scripted.runner as runner

    session = tmp_path / "s.yaml"
    session.write_text("image: coffee\nprofile: tiny\nverify: true\nturns:\n  - user: remove the cup\n")
    played = []
    import agent.scripted.parallel as parallel

    monkeypatch.setattr(parallel, "run_sessions",
                        lambda jobs, root, **kw: played.extend(j.script for j in jobs) or runner.EXIT_OK)
    assert runner.run_main([str(session), "--out", str(tmp_path / "out"), *flag]) == runner.EXIT_OK
    assert [s.verify for s in played] == [expected]
