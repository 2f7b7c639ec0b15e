"""The version tree: parents, branches that keep every version, undo/redo/revert, and history.json's shapes."""

from __future__ import annotations

import hashlib
import json

import pytest

from agent.session.history import History, HistoryFormatError, Version
from agent.session.records import EditRecord
from tools.errors import InvalidInputError


def _id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _rec(**fields) -> EditRecord:
    return EditRecord(**{"action": "remove", **fields})


def _history(n: int) -> History:
    h = History.start(_id("v0"))
    for i in range(1, n + 1):
        h.commit(_id(f"v{i}"), instruction=f"edit {i}", steps=[_rec(box=[i, i, i + 5, i + 5])],
                 seed=i, models={"inpainting": "tiny/sd-inpaint"}, turn=i)
    return h


def test_commit_numbers_versions_and_moves_the_head():
    h = _history(2)
    assert [v.number for v in h.versions] == [0, 1, 2]
    assert [v.parent for v in h.versions] == [None, 0, 1]
    assert h.head == 2 and h.current.image == _id("v2") and h.current.instruction == "edit 2"


def test_undo_goes_to_the_parent_and_redo_comes_back_within_bounds():
    h = _history(3)
    move = h.undo(2)
    assert (move.old, move.new, move.moved) == (3, 1, 2) and h.current.image == _id("v1")
    assert h.can_redo() == 2 and h.can_undo() == 1
    assert h.undo(5).new == 0          # as far as the original, no further
    assert h.undo().moved == 0
    assert h.redo(10).new == 3         # as far as the redo chain goes
    assert h.redo().moved == 0


def test_an_edit_after_undo_starts_a_branch_and_keeps_every_version():
    h = _history(3)
    h.undo(2)
    v = h.commit(_id("new"), instruction="another")
    assert v.number == 4 and v.parent == 1 and h.latest == 4 and h.head == 4
    assert [x.image for x in h.versions] == [_id("v0"), _id("v1"), _id("v2"), _id("v3"), _id("new")]
    assert h.children(1) == (2, 4) and h.descendants(1) == [2, 3, 4]
    assert h.path() == [0, 1, 4] and h.can_redo() == 0


def test_revert_reaches_any_branch_and_redo_follows_the_most_recently_visited_child():
    h = _history(3)                        # 0 - 1 - 2 - 3
    h.revert(0)
    h.commit(_id("b"))                     # 0 - 4
    h.commit(_id("c"))                     # 0 - 4 - 5
    assert h.children(0) == (1, 4)
    h.revert(3)                            # the other branch, at its tip
    assert h.head == 3 and h.path() == [0, 1, 2, 3]
    h.undo(3)
    assert h.head == 0 and h.redo_child(0) == 1            # came back down the branch of v1
    h.redo(3)
    assert h.head == 3
    h.revert(5)
    h.undo(2)
    assert h.head == 0 and h.redo(2).new == 5               # now the v4 branch is the one visited last
    with pytest.raises(InvalidInputError, match="no version 7"):
        h.revert(7)


def test_numbers_are_never_reused_however_the_tree_is_walked():
    h = _history(2)
    made = {v.number for v in h.versions}
    for target in (0, 1, 0, 2, 1):
        h.revert(target)
        v = h.commit(_id(f"from {target} {len(h)}"))
        assert v.number not in made and v.parent == target
        made.add(v.number)
    assert sorted(made) == list(range(len(h)))


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


def test_json_round_trip_keeps_the_tree_head_redo_and_records():
    h = _history(3)
    h.revert(1)
    h.commit(_id("branch"))
    h.revert(1)
    h.redo()                               # goes to 4, the child visited last
    h.undo()
    assert json.loads(h.to_text()) == json.loads(json.dumps(h.to_json()))      # the file's text, line by line
    again = History.from_json(json.loads(h.to_text()))
    assert again.head == 1 and again.latest == 4 and again.versions == h.versions
    assert again.redo_child(1) == 4 and again.children(1) == (2, 4)
    assert again[3].steps[0].box == [3, 3, 8, 8] and again[3].turn == 3


def test_a_format_1_history_reads_as_one_branch():
    data = {"format": 1, "head": 1, "versions": [
        {"number": 0, "image": _id("a"), "mask": None, "instruction": "", "steps": [], "seed": None,
         "models": {}, "created": ""},
        {"number": 1, "image": _id("b"), "mask": None, "instruction": "x", "steps": [{"action": "remove"}],
         "seed": 3, "models": {}, "created": ""},
        {"number": 2, "image": _id("c"), "mask": None, "instruction": "y", "steps": [], "seed": 4,
         "models": {}, "created": ""}]}
    h = History.from_json(data)
    assert [v.parent for v in h.versions] == [None, 0, 1] and h.head == 1 and h.redo_child(1) == 2


@pytest.mark.parametrize("damage", [
    lambda d: [], lambda d: None, lambda d: 3, lambda d: {**d, "versions": {}}, lambda d: {**d, "versions": [1, 2, 3]},
    lambda d: {**d, "versions": []}, lambda d: {**d, "head": 1e400}, lambda d: {**d, "head": 9},
    lambda d: {**d, "head": True}, lambda d: {**d, "format": 7},
    lambda d: {**d, "versions": [{**d["versions"][0], "number": 5}, *d["versions"][1:]]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "parent": 1}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "parent": 7}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "image": "../../tmp/evil"}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "seed": 1e400}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "seed": 10 ** 30}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "steps": [[1]]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "steps": {"a": 1}}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "steps": [{"action": "x", "box": "no"}]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "models": [1]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "instruction": 5}]},
    lambda d: {**d, "redo": [1]}, lambda d: {**d, "redo": {"x": 1}}, lambda d: {**d, "redo": {"0": "1"}},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "seeds": 3}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "seeds": ["a"]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "seeds": [1e400]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "planned_by": ["planner"]}]},
    lambda d: {**d, "versions": [d["versions"][0], {**d["versions"][1], "planned_by": {"kind": 1}}]},
])
def test_every_shape_of_damage_is_a_format_error(damage):
    data = damage(_history(1).to_json())
    with pytest.raises(HistoryFormatError) as caught:
        History.from_json(data)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_last_region_walks_back_from_the_head_along_its_branch():
    h = History.start(_id("v0"))
    assert h.last_region() is None
    h.commit(_id("a"), steps=[_rec(action="recolor", box=[1, 2, 3, 4])])
    h.commit(_id("b"), steps=[_rec(action="global", box=None)])
    assert h.last_region().box == [1, 2, 3, 4]
    h.commit(_id("c"), steps=[_rec(box=[5, 5, 9, 9])])
    assert h.last_region().box == [5, 5, 9, 9]
    h.undo()
    assert h.last_region().box == [1, 2, 3, 4]
    h.revert(0)
    h.commit(_id("d"), steps=[_rec(action="global")])
    assert h.last_region() is None                          # v1-v3 are on another branch


def test_version_numbering_and_parents_must_make_a_tree():
    with pytest.raises(InvalidInputError, match="numbered"):
        History([Version(number=1, image=_id("x"))])
    with pytest.raises(InvalidInputError, match="parent"):
        History([Version(number=0, image=_id("x")), Version(number=1, image=_id("y"), parent=1)])


def test_a_version_keeps_every_steps_seed_and_who_planned_it_through_history_json():
    h = History.start(_id("v0"))
    by = {"kind": "planner", "class": "ChatOpenAI", "model": "gpt-4o-mini", "endpoint": "http://localhost:8000/v1"}
    h.commit(_id("v1"), steps=[_rec(seed=11), _rec(action="recolor", seed=12)], seed=11, planned_by=by)
    h.commit(_id("v2"), steps=[_rec(seed=5)], seed=5, seeds=[5], planned_by={"kind": "grammar"})
    again = History.from_json(json.loads(h.to_text()))
    assert again[1].seeds == (11, 12) and again[1].planned_by == by                # every step's seed, by default
    assert again[2].seeds == (5,) and again[2].planned_by == {"kind": "grammar"}
    assert again.versions == h.versions


def test_an_older_history_without_seeds_or_planner_reads_them_from_its_steps():
    data = _history(2).to_json()
    for v in data["versions"]:
        v.pop("seeds"), v.pop("planned_by")
    data["versions"][1]["steps"] = [{"action": "remove", "seed": 3}, {"action": "recolor", "seed": 4}]
    h = History.from_json(data)
    assert h[1].seeds == (3, 4) and h[1].planned_by == {} and h[0].seeds == ()
    assert h[2].seeds == ()                              # its step recorded no seed: none invented
    assert h[1].seed == 1                                # the stored first seed is kept as it was
