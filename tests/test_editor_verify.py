"""Editor.verify: the planner's check of each edit, turned on or off for the rest of a session."""

from __future__ import annotations

import pytest

from agent.editor import Editor
from tests.agent_fakes import QueuePlanner
from tools.errors import InvalidInputError


def test_verify_can_be_turned_on_and_off_and_takes_only_a_bool(tmp_path, coffee, tiny_profile):
    with Editor.open(coffee, profile=tiny_profile, session_dir=tmp_path / "s", planner=QueuePlanner()) as editor:
        assert editor.verify is False                         # the tiny profile's own setting
        editor.verify = True
        assert editor.verify and editor.profile.verify and editor._bench.context(editor.store, editor.planner).verify
        assert not editor._bench.context(editor.store, None).verify, "no planner: nothing to judge with"
        editor.verify = False
        assert not editor._bench.context(editor.store, editor.planner).verify
        for bad in ("yes", 1, None):
            with pytest.raises(InvalidInputError, match="verify is True or False"):
                editor.verify = bad
        assert editor.verify is False and editor.profile.name == "tiny"
