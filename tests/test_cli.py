"""`chatedit edit`: one edit straight through the real tools on the tiny profile, errors as one line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tools.cli import main
from tools.samples import sample_image

COFFEE_CUP = "120,40,480,330"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    assert argv[0] == "edit"
    code = main(list(argv[1:]))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("action", [
    ["--remove"],
    ["--replace-with", "a teapot"],
    ["--replace-with", "a tall vase", "--two-stage"],
    ["--recolor", "blue"],
    ["--recolor", "red", "--method", "diffusion"],
    ["--background", "a sunny beach"],
])
def test_edit_changes_nothing_outside_the_mask_it_writes(tmp_path, capsys, action):
    out, mask_out = tmp_path / "out.png", tmp_path / "mask.png"
    code, stdout, err = _run(capsys, "edit", "coffee", "--box", COFFEE_CUP, *action, "--profile", "tiny",
                             "-o", str(out), "--mask-out", str(mask_out))
    assert code == 0, err
    assert stdout.strip() == str(out)
    before = np.asarray(sample_image("coffee"))
    after = np.asarray(Image.open(out).convert("RGB"))
    region = np.asarray(Image.open(mask_out).convert("L")) > 127
    assert after.shape == before.shape
    assert region.any() and not region.all()
    assert np.array_equal(after[~region], before[~region])
    assert "profile tiny" in err


def test_find_runs_grounding_and_records_provenance(tmp_path, capsys):
    out = tmp_path / "teapot.png"
    code, _, err = _run(capsys, "edit", "coffee", "--find", "the cup", "--replace-with", "a teapot",
                        "--profile", "tiny", "--seed", "7", "-o", str(out))
    assert code == 0, err
    assert "match(es) for 'the cup'" in err
    text = Image.open(out).text
    assert text["chatedit:operation"] == "replace"
    assert text["chatedit:seed"] == "7"
    assert "tiny/sd-inpaint" in text["chatedit:models"]


@pytest.mark.parametrize(("colour", "method", "prompt"), [
    ("blue", "diffusion", "a blue cup"), ("red and white striped", "auto", "a red and white striped cup"),
    ("orange", "diffusion", "an orange cup")])
def test_diffusion_recolour_prompts_name_the_object_without_its_article(tmp_path, capsys, colour, method, prompt):
    out = tmp_path / "r.png"
    code, _, err = _run(capsys, "edit", "coffee", "--find", "the cup", "--recolor", colour, "--method", method,
                        "--profile", "tiny", "-o", str(out))
    assert code == 0, err
    text = Image.open(out).text
    assert text["chatedit:operation"] == "recolor" and text["chatedit:prompt"] == prompt
    assert ("cannot do patterns" in err) == (method == "auto")            # auto says why it used diffusion


def test_auto_recolour_of_one_colour_is_the_exact_shift(tmp_path, capsys):
    out = tmp_path / "r.png"
    code, _, err = _run(capsys, "edit", "coffee", "--box", COFFEE_CUP, "--recolor", "blue-green", "--profile", "tiny",
                        "-o", str(out))
    assert code == 0, err
    assert Image.open(out).text["chatedit:prompt"] == "blue-green"          # the colour itself: no diffusion prompt


def test_global_edit_needs_no_region(tmp_path, capsys):
    out = tmp_path / "g.png"
    code, _, err = _run(capsys, "edit", "chelsea", "--global", "make it autumn", "--profile", "tiny", "-o", str(out))
    assert code == 0, err
    assert Image.open(out).size == sample_image("chelsea").size


def test_rgba_input_keeps_its_alpha_exactly(tmp_path, capsys):
    rgba = sample_image("chelsea").convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(alpha))
    src, out = tmp_path / "cat.png", tmp_path / "out.png"
    rgba.save(src)
    code, _, err = _run(capsys, "edit", str(src), "--box", "100,50,300,250", "--remove", "--profile", "tiny",
                        "-o", str(out))
    assert code == 0, err
    result = Image.open(out)
    assert result.mode == "RGBA"
    assert np.array_equal(np.asarray(result)[..., 3], alpha)


@pytest.mark.parametrize("argv, needle", [
    (["edit", "no/such/photo.jpg", "--box", "0,0,10,10", "--remove"], "no/such/photo.jpg"),
    (["edit", "coffee", "--box", "10,10,5,5", "--remove"], "x1 > x0"),
    (["edit", "coffee", "--box", "a,b,c", "--remove"], "four numbers"),
    (["edit", "coffee", "--remove"], "--find PHRASE or --box"),
    (["edit", "coffee", "--diffedit", "a bowl"], "--source"),
    (["edit", "coffee", "--box", "0,0,50,50", "--recolor", "not-a-colour"], "not-a-colour"),
    (["edit", "coffee", "--box", "0,0,50,50", "--recolor", "wooden", "--method", "lab"], "not one colour"),
    (["edit", "coffee", "--box", "0,0,50,50", "--remove", "--profile", "huge"], "unknown profile"),
    (["edit", "coffee", "--box", "0,0,50,50", "--remove", "--device", "foo"], "'foo'"),
])
def test_bad_input_is_one_line_on_stderr_and_a_nonzero_exit(tmp_path, capsys, argv, needle):
    out = tmp_path / "never.png"
    code, stdout, err = _run(capsys, *argv, "-o", str(out)) if "--profile" in argv else \
        _run(capsys, *argv, "--profile", "tiny", "-o", str(out))
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and needle in error_lines[0]
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_model_offline_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _run(capsys, "edit", "coffee", "--box", "0,0,50,50", "--remove", "--profile", "lite",
                        "-o", str(tmp_path / "x.png"))
    assert code == 1
    assert "stable-diffusion-v1-5/stable-diffusion-inpainting" in err or "IDEA-Research" in err or "sam2" in err
    assert "--profile tiny" in err and "Traceback" not in err


def test_a_box_may_start_left_of_or_above_the_image(tmp_path, capsys):
    out = tmp_path / "out.png"
    code, _, err = _run(capsys, "edit", "coffee", "--box", "-5,-10,100,100", "--recolor", "red", "--profile", "tiny",
                        "-o", str(out))
    assert code == 0, err
    assert out.exists()


@pytest.mark.parametrize(("outputs", "needle"), [
    (["-o", "{tmp}/out.xyz"], "'.xyz'"),
    (["-o", "{tmp}/out.png", "--mask-out", "{tmp}/mask.xyz"], "'.xyz'"),
    (["-o", "{tmp}"], "is a folder"),
    (["-o", "{tmp}/a-file.png/out.png"], "not a folder"),
    (["-o", "{tmp}/same.png", "--mask-out", "{tmp}/same.png"], "own file"),
])
def test_bad_output_paths_fail_before_any_model_loads_and_nothing_is_written(tmp_path, capsys, outputs, needle):
    (tmp_path / "a-file.png").write_bytes(b"x")
    before = set(tmp_path.parent.iterdir()), set(tmp_path.iterdir())
    argv = [a.replace("{tmp}", str(tmp_path)) for a in outputs]
    code, _, err = _run(capsys, "edit", "coffee", "--box", COFFEE_CUP, "--remove", "--profile", "tiny", *argv)
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], err
    assert "loading" not in err and "Traceback" not in err
    assert (set(tmp_path.parent.iterdir()), set(tmp_path.iterdir())) == before


def test_an_error_during_an_edit_starts_on_a_line_of_its_own(tmp_path, capsys, monkeypatch):
    from tools.errors import InvalidInputError
    from tools.toolkit import Toolkit

    def fails_midway(self, image, mask, *, progress, **kwargs):
        progress(1, 3)
        raise InvalidInputError("the edit went wrong")

    monkeypatch.setattr(Toolkit, "remove", fails_midway)
    code, _, err = _run(capsys, "edit", "coffee", "--box", COFFEE_CUP, "--remove", "--profile", "tiny",
                        "-o", str(tmp_path / "out.png"))
    assert code == 1
    assert "\nerror: the edit went wrong" in err
    assert [line for line in err.splitlines() if "error:" in line] == ["error: the edit went wrong"]
