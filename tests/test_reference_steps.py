"""A turn's reference image belongs to one step: the first that paints new content, never every painting step.

"make the cup look like this and the background a beach" gives the picture to the cup; the beach comes
from words alone. The planner is told so ("The step that paints the new object or look takes it").
"""

from __future__ import annotations

from agent.editor import Editor
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SIZE = (150, 100)
CUP = (10, 20, 50, 60)


def test_only_the_first_painting_step_of_a_turn_takes_the_reference(tmp_path, coffee, chelsea, tiny_profile):
    hat = tmp_path / "hat.png"
    chelsea.resize((64, 48)).save(hat)
    two = plan({"action": "remove", "referent": {"phrase": "cup"}},
               {"action": "replace", "referent": {"phrase": "cup"}, "content": "a straw hat"},
               {"action": "background", "referent": {"phrase": "cup"}, "content": "a sunny beach"})
    kit = FixedDetections(tiny_profile, {"cup": [det(CUP)]})
    with Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / "s",
                     planner=QueuePlanner().push(two), toolkit=kit) as editor:
        reply = editor.send("remove the cup, put this hat there and make the background a beach", reference=hat)
        assert reply.version == 1, reply.text
        steps = editor.history[1].steps
        assert [s["action"] for s in steps] == ["remove", "replace", "background"]
        taken = [s.get("reference") for s in steps]
        assert taken[0] is None and taken[2] is None                 # erasing paints nothing; the beach is words
        assert taken[1]["name"] == "hat.png" and taken[1]["used"] is False   # the sd engine says it cannot
        assert reply.text.count("cannot use a reference image") == 1
