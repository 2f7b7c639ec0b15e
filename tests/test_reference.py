"""Reference images ("put this hat on the cup"): the API, the graph's engine call, provenance, session files,
transcripts and replays, the TUI's /ref; on the tiny FLUX.2 klein engine a reference changes the picture."""

from __future__ import annotations

import asyncio
import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from agent.editor import Editor
from agent.scripted.session_file import SessionFileError, parse_text
from agent.session.store import content_id
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan

SIZE = (150, 100)
LEFT, RIGHT = (10, 20, 50, 60), (95, 15, 140, 65)
HAT = plan({"action": "replace", "referent": {"phrase": "cup"}, "content": "a straw hat"})


def flux_kit(profile, detections) -> FixedDetections:
    """The real tiny toolkit with the tiny FLUX.2 klein engine as its repaint engine."""
    return FixedDetections(profile, detections, engine="flux2-klein")


@pytest.fixture
def make(tmp_path, coffee, tiny_profile):
    opened = []

    def _make(*replies, cups=(LEFT,), kit=FixedDetections) -> Editor:
        toolkit = kit(tiny_profile, {"cup": [det(b, 0.8 - 0.01 * i) for i, b in enumerate(cups)]})
        editor = Editor.open(coffee.resize(SIZE), profile=tiny_profile, session_dir=tmp_path / f"s{len(opened)}",
                             planner=QueuePlanner().push(*replies), toolkit=toolkit)
        opened.append(editor)
        return editor

    yield _make
    for editor in opened:
        editor.close()


def step_reference(editor: Editor, number: int | None = None) -> dict | None:
    version = editor.history[editor.current_version if number is None else number]
    return version.steps[0].get("reference")


# -- the API on an engine without references (SD inpainting: the tiny profile's) --------------------------

def test_a_reference_is_kept_in_the_session_recorded_and_the_planner_is_told(make, hat):
    editor = make(HAT)
    reply = editor.send("put this hat on the cup", reference=hat)
    assert reply.version == 1 and reply.error is None
    ref = step_reference(editor)
    assert ref["name"] == "hat.png" and ref["size"] == [64, 48] and ref["used"] is False and ref["engine"] == "sd"
    kept = editor.session_dir / "references" / f"{ref['id']}.png"
    with Image.open(kept) as im:                                  # content-addressed: the id is its pixels' hash
        assert content_id(im.convert("RGB")) == ref["id"]
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(Image.open(hat).convert("RGB")))
    on_disk = json.loads((editor.session_dir / "history.json").read_text())
    assert on_disk["versions"][1]["steps"][0]["reference"]["id"] == ref["id"]
    said = editor._planner._calls[0][-1].content
    text = said if isinstance(said, str) else " ".join(c.get("text", "") for c in said if isinstance(c, dict))
    assert "(The user attached a reference image: hat.png (64x48)." in text
    logged = [json.loads(line) for line in (editor.session_dir / "conversation.jsonl").read_text().splitlines()]
    assert [m.get("reference") for m in logged if m["role"] == "user"] == [ref["id"]]   # the message names it
    assert editor.store.conversation.messages[0].reference == ref["id"]


def test_an_engine_that_cannot_use_a_reference_says_so_and_never_claims_it(make, hat):
    editor = make(HAT)
    reply = editor.send("put this hat on the cup", reference=hat)
    assert "The sd engine cannot use a reference image, so the edit used only your words" in reply.text
    assert "--engine flux2-klein" in reply.text and "follows your reference" not in reply.text


def test_the_exported_png_names_the_reference_and_its_hash(make, hat, tmp_path):
    editor = make(HAT)
    editor.send("put this hat on the cup", reference=hat)
    out = editor.export(tmp_path / "out.png")
    with Image.open(out) as im:
        text = im.text["chatedit:reference"]
    assert text == f"hat.png sha256={step_reference(editor)['id']} used=no"


def test_a_pil_image_is_a_reference_too_and_transparency_becomes_white(make):
    editor = make(HAT)
    cutout = Image.new("RGBA", (40, 30), (200, 10, 10, 0))
    cutout.paste((200, 10, 10, 255), (10, 10, 30, 20))
    editor.send("put this hat on the cup", reference=cutout)
    ref = step_reference(editor)
    assert ref["name"] == "" and ref["size"] == [40, 30]
    kept = np.asarray(Image.open(editor.session_dir / "references" / f"{ref['id']}.png").convert("RGB"))
    assert tuple(kept[0, 0]) == (255, 255, 255) and tuple(kept[15, 20]) == (200, 10, 10)


@pytest.mark.parametrize("bad", ["missing.png", "notes.png", "folder"])
def test_a_bad_reference_is_one_line_and_nothing_changes(make, tmp_path, bad):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "folder").mkdir()
    editor = make(HAT)
    before = editor.conversation
    reply = editor.send("put this hat on the cup", reference=tmp_path / bad)
    assert reply.version is None and reply.error and "\n" not in reply.text
    assert reply.text.startswith("That reference image cannot be used: cannot open image") and "Nothing changed." in reply.text
    assert editor.current_version == 0 and editor.conversation == before
    assert editor._planner.left == 1, "the planner was never asked"
    assert editor.send("put this hat on the cup", reference=42).error.startswith("a reference is an image path")


def test_a_reference_waits_through_a_question_and_an_answer_can_give_one(make, hat, tmp_path, astronaut):
    editor = make(HAT, HAT, cups=(LEFT, RIGHT))
    asked = editor.send("put this hat on the cup", reference=hat)
    assert asked.question is not None
    assert len(list((editor.session_dir / "references").iterdir())) == 1
    reply = editor.answer("the left one")
    assert reply.version == 1 and step_reference(editor)["name"] == "hat.png"
    other = tmp_path / "other.png"
    astronaut.resize((32, 32)).save(other)
    assert editor.send("put this hat on the cup").question is not None
    bad = editor.answer("the left one", reference=tmp_path / "nope.png")
    assert "cannot be used" in bad.text and "The question is still open." in bad.text
    reply = editor.answer("the left one", reference=other)      # the answer's reference replaces the turn's
    assert reply.version == 2 and step_reference(editor)["name"] == "other.png"


def test_recorded_references_are_kept_by_gc_and_unused_ones_are_strays(make, hat, tmp_path, astronaut):
    editor = make(HAT, HAT, HAT, cups=(LEFT, RIGHT))
    asked = editor.send("put this hat on the cup", reference=hat)
    assert asked.question is not None
    kept = editor.session_dir / "references" / next(p.name for p in (editor.session_dir / "references").iterdir())
    assert editor.store.find_strays(editor._turns.in_flight()) == [], "a pending question's reference is in flight"
    editor.answer("the left one")
    other = tmp_path / "other.png"
    astronaut.resize((32, 32)).save(other)
    editor.send("put this hat on the cup", reference=other)       # asked again, then dropped: other is unused
    editor.answer("cancel")
    strays = editor.store.find_strays(editor._turns.in_flight())
    assert [p.parent.name for p in strays] == ["references"] and kept not in strays
    editor.store.collect()
    assert kept.is_file() and len(list(kept.parent.iterdir())) == 1


def test_a_step_that_cannot_take_a_reference_says_it_was_not_used(make, hat):
    editor = make(plan({"action": "remove", "referent": {"phrase": "cup"}}))
    reply = editor.send("remove the cup like this", reference=hat)
    assert reply.version == 1 and "(The reference image was not used: a remove step cannot take one.)" in reply.text
    assert step_reference(editor) is None
    moved = editor.send("undo", reference=hat)
    assert editor.current_version == 0 and "The reference image was not used: a undo needs none." in moved.text


# -- the tiny FLUX.2 klein engine: the reference reaches the model ---------------------------------------

@pytest.mark.slow
def test_on_flux2_klein_a_reference_changes_the_result_inside_the_region_only(make, hat):
    editor = make(HAT, HAT, kit=flux_kit)
    original = np.asarray(editor.current_image)
    reply = editor.send("put this hat on the cup", reference=hat)
    assert reply.version == 1 and "It follows your reference image hat.png (64x48)." in reply.text
    assert "cannot use" not in reply.text
    ref = step_reference(editor)
    assert ref["used"] is True and ref["engine"] == "flux2-klein"
    with_ref, region = np.asarray(editor.current_image), editor.version_mask(1)
    editor.undo()
    editor.send("put this hat on the cup")                       # same words, same seed, no reference
    without = np.asarray(editor.current_image)
    assert step_reference(editor) is None
    assert (with_ref != without).any(axis=-1)[region].any(), "the reference changed nothing"
    assert np.array_equal(with_ref[~region], original[~region])  # outside the region: the input, bit for bit
    assert np.array_equal(without[~editor.version_mask(2)], original[~editor.version_mask(2)])


@pytest.mark.slow
def test_on_flux2_klein_a_global_edit_takes_the_reference_and_on_sd_it_is_said_unused(make, hat):
    autumn = plan({"action": "global", "content": "make it autumn like this"})
    editor = make(autumn, autumn, kit=flux_kit)
    reply = editor.send("make it autumn like this", reference=hat)
    assert reply.version == 1 and "It follows your reference image hat.png" in reply.text
    assert step_reference(editor)["used"] is True
    with_ref = np.asarray(editor.current_image)
    editor.undo()
    editor.send("make it autumn like this")
    assert not np.array_equal(with_ref, np.asarray(editor.current_image)), "the reference changed nothing"
    on_sd = make(autumn)
    reply = on_sd.send("make it autumn like this", reference=hat)
    assert reply.version == 1 and "cannot use a reference image, so the edit used only your words" in reply.text
    assert step_reference(on_sd)["used"] is False


# -- session files, transcripts and replays ---------------------------------------------------------------

def session_text(reference: str = "hat.png", kind: str = "user: replace this with a straw hat") -> str:
    """A one-turn session: a dragged box, a reference, planned by the offline grammar (the tiny planner is random)."""
    return (f"image: coffee\nprofile: tiny\nturns:\n  - {kind}\n    reference: {reference}\n"
            "    box: [200, 150, 320, 260]\n")


def test_a_session_file_reference_is_a_path_next_to_the_file(tmp_path, hat):
    sf = parse_text(session_text(), where="s.yaml", base=tmp_path)
    assert sf.references == (hat.resolve(),)
    (tmp_path / "sub").mkdir()
    hat.rename(tmp_path / "sub" / "hat.png")
    assert parse_text(session_text("sub/hat.png"), where="s.yaml", base=tmp_path).references[0].name == "hat.png"


@pytest.mark.parametrize(("reference", "kind", "message"), [
    ("missing.png", "user: hi", "s.yaml line 5: reference 'missing.png' is not a file next to the session file"),
    ("notes.png", "user: hi", "s.yaml line 5: reference 'notes.png' cannot be used: cannot open image"),
    ("hat.png", "undo: 1", "reference goes with user or answer turns, not undo"),
])
def test_a_bad_session_file_reference_is_one_line_naming_the_line(tmp_path, hat, reference, kind, message):
    (tmp_path / "notes.png").write_text("not an image")
    text = session_text(reference, kind).replace("    box:", "    # box:")
    with pytest.raises(SessionFileError) as e:
        parse_text(text, where="s.yaml", base=tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_a_played_session_records_the_reference_and_its_replay_reuses_it(tmp_path, hat):
    from agent.scripted.runner import play
    from agent.scripted.script import script_from_file, script_from_transcript
    from agent.scripted.session_file import load_session_file

    (tmp_path / "hat.yaml").write_text(session_text() + "    expect: {edited: true}\n")
    record = play(script_from_file(load_session_file(tmp_path / "hat.yaml")), tmp_path / "out")
    assert record.passed, [t.failures for t in record.turns]
    turn = record.turns[0]
    assert turn.reference == f"references/{hashlib.sha256(hat.read_bytes()).hexdigest()}.png"
    assert (tmp_path / "out" / turn.reference).read_bytes() == hat.read_bytes()
    assert record.versions[1].steps[0]["reference"]["name"] == "hat.png"
    assert f"![reference]({turn.reference})" in (tmp_path / "out" / "transcript.md").read_text()
    hat.unlink()                                                  # the transcript folder is self-contained
    replay = script_from_transcript(tmp_path / "out" / "transcript.json")
    assert replay.turns[0].reference == tmp_path / "out" / turn.reference
    again = play(replay, tmp_path / "again")
    assert again.passed and again.turns[0].reference == turn.reference
    assert again.versions[1].sha256 == record.versions[1].sha256


# -- the TUI's /ref ---------------------------------------------------------------------------------------

async def _settle(app, pilot) -> None:
    await pilot.pause()
    for _ in range(3000):
        if app.editor is not None and not app.busy:
            break
        await asyncio.sleep(0.02)
    await pilot.pause()


async def _type(pilot, text: str) -> None:
    for key in text:
        await pilot.press("space" if key == " " else key)
    await pilot.press("enter")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")
def test_tui_ref_attaches_to_the_next_message_shows_pending_and_clears(tmp_path, hat):
    import tui
    from tools.samples import sample_path

    async def go() -> None:
        app = tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=tmp_path / "s", image_mode="halfcell")
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            sent: list[tuple[str, dict]] = []
            app.editor.send = lambda text, **kw: (sent.append((text, kw)), app.editor.undo(0))[1]
            await _type(pilot, f"/ref {tmp_path}/nope.png")
            await _settle(app, pilot)
            assert app.reference is None and not app.prompt.border_subtitle
            await _type(pilot, f"/ref {hat}")
            await _settle(app, pilot)
            assert app.reference == hat and "reference: hat.png" in str(app.prompt.border_subtitle)
            await pilot.press("escape")                           # nothing pointed: Esc clears the reference
            assert app.reference is None and not app.prompt.border_subtitle
            await _type(pilot, f"/ref {hat}")
            await _type(pilot, "/ref")
            await _settle(app, pilot)
            assert app.reference is None
            await _type(pilot, f"/ref {hat}")
            await _type(pilot, "put this hat on the cup")
            await _settle(app, pilot)
            assert sent == [("put this hat on the cup", {"reference": hat})]
            assert app.reference is None and not app.prompt.border_subtitle, "it went with the message"
            await _type(pilot, "make it red")
            await _settle(app, pilot)
            assert sent[-1] == ("make it red", {})
            await pilot.press("ctrl+p")                            # the palette puts /ref in the input
            await pilot.pause(0.3)
            await pilot.press(*"reference image")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await pilot.pause()
            assert app.prompt.text == "/ref "

    asyncio.run(go())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning")
def test_tui_ref_through_the_real_editor_records_it(tmp_path, hat, tiny_profile):
    import tui
    from tools.samples import sample_path

    async def go() -> None:
        app = tui.ChatEditApp(sample_path("coffee"), profile="tiny", session_dir=tmp_path / "s", image_mode="halfcell",
                              planner=QueuePlanner().push(HAT),
                              toolkit=FixedDetections(tiny_profile, {"cup": [det((200, 150, 320, 260))]}))
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            await _type(pilot, f"/ref {hat}")
            await _type(pilot, "put this hat on the cup")
            await _settle(app, pilot)
            assert app.editor.current_version == 1, app.editor.conversation
            assert step_reference(app.editor)["name"] == "hat.png"
            assert any("cannot use a reference image" in text for _, text in app.editor.conversation)

    asyncio.run(go())


@pytest.mark.parametrize("damage", ["garbled", "missing"])
def test_reopening_says_when_a_reference_file_is_missing_or_damaged(make, hat, tiny_profile, damage):
    editor = make(HAT)
    assert editor.send("put this hat on the cup", reference=hat).version == 1
    kept = editor.session_dir / "references" / f"{step_reference(editor)['id']}.png"
    folder = editor.session_dir
    editor.close()
    intact = Editor.open(folder, profile=tiny_profile, toolkit=FixedDetections(tiny_profile, {}))
    try:
        assert intact.opening_note is None
    finally:
        intact.close()
    if damage == "missing":
        kept.unlink()
    else:
        kept.write_bytes(kept.read_bytes()[:40] + bytes(200))
    again = Editor.open(folder, profile=tiny_profile, toolkit=FixedDetections(tiny_profile, {}))
    try:
        note = again.opening_note or ""
        assert "1 reference image(s) of this session are missing or damaged" in note and kept.name[:12] in note
        assert "\n" not in note and again.current_version == 1 and again.history[1].steps[0]["reference"]
    finally:
        again.close()
