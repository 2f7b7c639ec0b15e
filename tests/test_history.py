"""Edit history: versions, head, undo/redo/revert, and the redo branch a new edit drops."""

from __future__ import annotations

import hashlib

import pytest

from agent.session.history import History, Version
from tools.errors import InvalidInputError


def _id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _history(n: int) -> History:
    h = History.start(_id("v0"))
    for i in range(1, n + 1):
        h.commit(_id(f"v{i}"), instruction=f"edit {i}", steps=[{"action": "remove", "box": [i, i, i + 5, i + 5]}],
                 seed=i, models={"inpainting": "tiny/sd-inpaint"})
    return h


def test_commit_numbers_versions_and_moves_the_head():
    h = _history(2)
    assert [v.number for v in h.versions] == [0, 1, 2]
    assert h.head == 2 and h.current.image == _id("v2") and h.current.instruction == "edit 2"


def test_undo_redo_move_the_head_within_bounds():
    h = _history(3)
    move = h.undo(2)
    assert (move.old, move.new, move.moved) == (3, 1, 2) and h.current.image == _id("v1")
    assert h.can_redo() == 2
    assert h.undo(5).new == 0          # as far as the original, no further
    assert h.undo().moved == 0
    assert h.redo(10).new == 3         # as far as the redo branch goes
    assert h.redo().moved == 0


def test_edit_after_undo_drops_the_redo_branch():
    h = _history(3)
    h.undo(2)
    v = h.commit(_id("new"), instruction="another")
    assert v.number == 2 and h.latest == 2 and h.can_redo() == 0
    assert [x.image for x in h.versions] == [_id("v0"), _id("v1"), _id("new")]


def test_revert_keeps_later_versions_until_the_next_edit():
    h = _history(3)
    h.revert(0)
    assert h.head == 0 and h.latest == 3
    h.redo()
    assert h.head == 1
    with pytest.raises(InvalidInputError, match="no version 7"):
        h.revert(7)


def test_bad_counts_and_ids_are_refused():
    h = _history(1)
    with pytest.raises(InvalidInputError):
        h.undo(0)
    with pytest.raises(InvalidInputError):
        h.redo(-1)
    with pytest.raises(InvalidInputError, match="sha256"):
        h.commit("../../etc/passwd")
    with pytest.raises(InvalidInputError):
        History.start("evil.png")


def test_json_round_trip_keeps_head_and_records():
    h = _history(3)
    h.undo()
    again = History.from_json(h.to_json())
    assert again.head == 2 and again.latest == 3
    assert again.versions == h.versions
    assert again[3].steps[0]["box"] == [3, 3, 8, 8]


def test_damaged_json_with_a_path_for_an_id_is_refused():
    data = _history(1).to_json()
    data["versions"][1]["image"] = "../../tmp/evil"
    with pytest.raises(InvalidInputError, match="damaged"):
        History.from_json(data)


def test_last_region_walks_back_from_the_head():
    h = History.start(_id("v0"))
    assert h.last_region() is None
    h.commit(_id("a"), steps=[{"action": "recolor", "box": [1, 2, 3, 4]}])
    h.commit(_id("b"), steps=[{"action": "global", "box": None}])
    assert h.last_region()["box"] == [1, 2, 3, 4]
    h.commit(_id("c"), steps=[{"action": "remove", "box": [5, 5, 9, 9]}])
    assert h.last_region()["box"] == [5, 5, 9, 9]
    h.undo()
    assert h.last_region()["box"] == [1, 2, 3, 4]


def test_version_numbering_must_be_consecutive():
    with pytest.raises(InvalidInputError, match="numbered"):
        History([Version(number=1, image=_id("x"))])
