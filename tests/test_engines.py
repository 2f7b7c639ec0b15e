"""Repaint engines on tiny random-weight models: every action exact outside its region, whichever engine.

FLUX.2 [klein] and SD inpainting go through the same crop → repaint → exact composite path; these
tests hold both to it at odd sizes, in RGBA, at 12 MP and over 20 chained edits, and check that the
engine's name reaches provenance and the status line.
"""

from __future__ import annotations

import json
import threading
import numpy as np
import pytest
from PIL import Image

from tools.device import Placement
from tools.errors import Cancelled, InvalidInputError
from tools.profiles import FULL, TINY
from tools.toolkit import Toolkit

ENGINES = ("sd", "flux2-klein")
SIZE = (157, 101)                                  # odd on both sides, and not a multiple of any grid


@pytest.fixture(scope="module")
def kits():
    return {engine: Toolkit(TINY, engine=engine) for engine in ENGINES}


@pytest.fixture(scope="module")
def photo():
    from tools.samples import sample_image

    return sample_image("coffee").resize(SIZE)


def _mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros((size[1], size[0]), dtype=bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    return m


def _exact_outside(before: Image.Image, after: Image.Image, region: np.ndarray) -> None:
    a, b = np.asarray(before.convert("RGB")), np.asarray(after)
    assert after.size == before.size and after.mode == "RGB"
    assert np.array_equal(a[~region], b[~region]), "a pixel outside the region changed"
    assert not np.array_equal(a[region], b[region]), "nothing changed inside the region"


CUP = (40, 20, 95, 70)


def _actions(kit: Toolkit, image: Image.Image) -> dict[str, object]:
    m = _mask(image.size, CUP)
    return {
        "remove": lambda: kit.remove(image, m, name="cup", seed=1),
        "replace": lambda: kit.replace(image, m, "a teapot", old="cup", seed=2),
        "replace two-stage": lambda: kit.replace(image, m, "a tall vase", old="cup", two_stage=True,
                                                 new_box=(50.0, 5.0, 85.0, 70.0), seed=3),
        "recolor by diffusion": lambda: kit.recolor(image, m, "red and white striped", name="cup", seed=4),
        "background": lambda: kit.background(image, m, "a sunny beach", seed=5),
        "add": lambda: kit.add(image, (100.0, 30.0, 140.0, 80.0), "a spoon", seed=6),
    }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("action", ["remove", "replace", "replace two-stage", "recolor by diffusion", "background",
                                    "add"])
def test_every_local_action_changes_only_its_region_at_an_odd_size(kits, photo, engine, action):
    kit = kits[engine]
    result = _actions(kit, photo)[action]()
    _exact_outside(photo, result.image, result.region)
    assert result.details["engine"] == engine and result.details["family"] == kit.profile.inpainting.family
    w, h = result.details["working_size"]
    assert w % kit.engine.multiple == 0 and h % kit.engine.multiple == 0
    assert max(w, h) == kit.engine.resolution                  # the crop runs at the engine's native size


@pytest.mark.parametrize("engine", ENGINES)
def test_an_rgba_photo_is_edited_exactly_outside_the_region(kits, photo, engine):
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, SIZE[0], dtype=np.uint8), (SIZE[1], 1))))
    result = kits[engine].replace(rgba, _mask(SIZE, CUP), "a teapot", seed=7)
    _exact_outside(rgba, result.image, result.region)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_twenty_chained_edits_leave_every_untouched_pixel_as_it_was(kits, photo, engine):
    kit, image, touched = kits[engine], photo, np.zeros((SIZE[1], SIZE[0]), dtype=bool)
    rng = np.random.default_rng(0)
    for turn in range(20):
        x0, y0 = int(rng.integers(0, SIZE[0] - 30)), int(rng.integers(0, SIZE[1] - 30))
        box = (x0, y0, x0 + int(rng.integers(8, 30)), y0 + int(rng.integers(8, 30)))
        m = _mask(SIZE, box)
        result = (kit.remove(image, m, seed=turn) if turn % 3 == 0 else
                  kit.replace(image, m, "a red apple", seed=turn) if turn % 3 == 1 else
                  kit.add(image, tuple(map(float, box)), "a blue flower", seed=turn))
        touched |= result.region
        image = result.image
    original, final = np.asarray(photo), np.asarray(image)
    assert 0 < touched.mean() < 0.9
    assert np.array_equal(original[~touched], final[~touched])


@pytest.mark.slow
def test_a_12_megapixel_photo_costs_a_native_crop_and_stays_exact(kits, photo):
    big = photo.resize((4000, 3000), Image.Resampling.BILINEAR)
    m = _mask(big.size, (1700, 1200, 2300, 1800))
    result = kits["flux2-klein"].replace(big, m, "a teapot", seed=8)
    _exact_outside(big, result.image, result.region)
    assert result.details["working_size"] == (64, 64)          # the crop, at the tiny model's native size
    x0, y0, x1, y1 = result.details["crop_box"]
    assert (x1 - x0) * (y1 - y0) < 0.1 * 4000 * 3000               # a window around the mask, not the photo


def test_a_reference_image_changes_the_flux_result_and_is_recorded(kits, photo):
    from tools.samples import sample_image

    kit, m = kits["flux2-klein"], _mask(SIZE, CUP)
    plain = kit.replace(photo, m, "a teapot", seed=9)
    cat = sample_image("chelsea")
    with_ref = kit.replace(photo, m, "a teapot", seed=9, reference=cat)
    assert np.array_equal(plain.region, with_ref.region)
    _exact_outside(photo, with_ref.image, with_ref.region)
    assert not np.array_equal(np.asarray(plain.image), np.asarray(with_ref.image))
    assert with_ref.details["reference_size"] == cat.size and "reference_size" not in plain.details
    again = kit.replace(photo, m, "a teapot", seed=9, reference=cat)
    assert np.array_equal(np.asarray(again.image), np.asarray(with_ref.image))   # seeded: reproducible


@pytest.mark.parametrize("size", [(1, 1), (3, 500), (500, 3), (7, 7)])
def test_a_tiny_or_strip_shaped_reference_is_used_and_the_edit_stays_exact(kits, photo, size):
    kit, m = kits["flux2-klein"], _mask(SIZE, CUP)
    reference = Image.fromarray(np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    result = kit.replace(photo, m, "a teapot", seed=9, reference=reference)
    _exact_outside(photo, result.image, result.region)
    assert result.details["reference_size"] == size


def test_an_engine_without_references_says_so_in_one_line(kits, photo):
    with pytest.raises(InvalidInputError, match="sd engine cannot use a reference image.*flux2-klein") as e:
        kits["sd"].replace(photo, _mask(SIZE, CUP), "a teapot", reference=photo)
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidInputError, match="InstructPix2Pix cannot use a reference"):
        kits["sd"].global_edit(photo, "make it autumn", reference=photo)


@pytest.mark.slow
def test_flux_global_edit_is_marked_global_or_composited_into_its_region(kits, photo):
    kit = kits["flux2-klein"]
    whole = kit.global_edit(photo, "make it look like winter", seed=1)
    assert whole.operation == "global" and whole.region.all() and whole.image.size == SIZE
    assert whole.details["engine"] == "flux2-klein" and whole.details["bounded"] is False
    region = _mask(SIZE, (0, 0, 80, 50))
    bounded = kit.global_edit(photo, "make it look like winter", seed=1, region=region)
    _exact_outside(photo, bounded.image, region)
    assert bounded.operation == "global" and bounded.details["bounded"] is True
    diffedit = kit.diffedit(photo, "a cup of coffee", "a cup of tea", seed=2)   # DiffEdit's mask bounds it
    assert diffedit.details["bounded"] and not diffedit.region.all()
    _exact_outside(photo, diffedit.image, diffedit.region)


def test_flux_progress_counts_its_steps_and_cancel_stops_it(kits, photo):
    kit, m = kits["flux2-klein"], _mask(SIZE, CUP)
    seen: list[tuple[int, int]] = []
    kit.remove(photo, m, progress=lambda i, n: seen.append((i, n)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)             # the distilled model's 4 steps
    stop = threading.Event()

    def cancel_after_first(i: int, n: int) -> None:
        if i == 1:
            stop.set()

    with pytest.raises(Cancelled):
        kit.remove(photo, m, progress=cancel_after_first, cancel=stop)


def test_asked_for_steps_win_over_flux2_klein_own_four(kits, photo, monkeypatch):
    from dataclasses import replace

    kit, m = kits["flux2-klein"], _mask(SIZE, CUP)
    seen: list[tuple[int, int]] = []
    assert kit.remove(photo, m, steps=2, progress=lambda i, n: seen.append((i, n))).details["steps"] == 2
    assert seen[-1] == (2, 2)                                    # a caller's steps (chatedit edit --steps)
    monkeypatch.setattr(kit, "profile", replace(kit.profile, steps=3, steps_asked=True))     # --steps 3
    seen.clear()
    assert kit.replace(photo, m, "a teapot", progress=lambda i, n: seen.append((i, n))).details["steps"] == 3
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert kit.global_edit(photo, "make it autumn", region=m).details["steps"] == 3
    monkeypatch.setattr(kit, "profile", replace(kit.profile, steps=3, steps_asked=False))    # the profile's own
    assert kit.remove(photo, m).details["steps"] == 4            # SD-sized profile steps: the engine's 4


def test_bench_session_steps_are_asked_for_and_win_over_the_engine(kits):
    import importlib.util
    from pathlib import Path

    from tools.engines.select import edit_steps

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_session.py"
    spec = importlib.util.spec_from_file_location("bench_session_steps", path)
    session = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(session)
    asked = session.load_profile(session.parse_args(["--steps", "6"]), is_cuda=False)
    assert (asked.steps, asked.steps_asked) == (6, True)
    assert session.load_profile(session.parse_args([]), is_cuda=False).steps_asked is False
    flux = kits["flux2-klein"].engine
    assert edit_steps(asked, flux) == 6 and edit_steps(TINY, flux) == 4 and edit_steps(TINY, None) == TINY.steps


def test_flux2_klein_runs_the_strength_it_is_given(kits, photo):
    kit, m = kits["flux2-klein"], _mask(SIZE, CUP)
    seen: list[tuple[int, int]] = []
    kit.engine.inpaint(photo, m, "a red cup", steps=4, strength=0.5, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(0, 2), (1, 2), (2, 2)]                      # int(4 * 0.5) steps, not the pipeline's 0.8


def test_tiny_flux2_is_a_real_klein_pipeline_folder_sharing_one_set_of_modules(kits):
    from diffusers import Flux2KleinInpaintPipeline, Flux2KleinPipeline

    from tools.loading import model_path

    folder = model_path(kits["flux2-klein"].profile.inpainting)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is True
    assert index["transformer"] == ["diffusers", "Flux2Transformer2DModel"]
    assert index["text_encoder"] == ["transformers", "Qwen3ForCausalLM"]
    engine = kits["flux2-klein"].engine
    assert isinstance(engine.pipe, Flux2KleinInpaintPipeline) and isinstance(engine.edit_pipe, Flux2KleinPipeline)
    assert engine.edit_pipe.transformer is engine.pipe.transformer                  # no second copy
    assert (engine.name, engine.resolution, engine.multiple, engine.default_steps) == ("flux2-klein", 64, 4, 4)


def test_a_folder_of_another_pipeline_is_refused_before_any_weight_loads(tmp_path):
    from tools.engines.flux2 import Flux2KleinEngine
    from tools.errors import ModelUnavailableError

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionInpaintPipeline"}))
    with pytest.raises(ModelUnavailableError, match="StableDiffusionInpaintPipeline.*expected Flux2KleinPipeline"):
        Flux2KleinEngine.from_pretrained(tmp_path)


# -- which engine, and where it is said -----------------------------------------------------------------


def _cuda() -> Placement:
    import torch

    return Placement(device="cuda", dtype=torch.float16)


@pytest.mark.parametrize(("vram", "engine", "how"), [
    (80.0, "flux2-klein", "fits resident"),
    (24.0, "flux2-klein", "fits with offload"),
    (16.0, "sdxl", "does not fit"),
])
def test_full_takes_flux2_klein_where_it_fits_beside_the_planner(vram, engine, how):
    from tools.engines.select import choose_engine

    chosen, why = choose_engine(FULL, _cuda(), vram_gb=vram)
    assert chosen == engine and how in why


def test_full_without_cuda_keeps_sdxl_and_engine_overrides_the_choice():
    from tools.engines.select import choose_engine, resolve_engine

    import torch

    assert choose_engine(FULL, Placement(device="cpu", dtype=torch.float32)) == ("sdxl", "no CUDA")
    forced = resolve_engine(FULL, _cuda(), "flux2-klein")
    assert forced.inpainting.model_id == "black-forest-labs/FLUX.2-klein-4B" and forced.engines == ()
    assert forced.inpainting.family == "flux2-klein" and "engine flux2-klein (asked for)" in forced.note
    assert resolve_engine(TINY, _cuda(), "sdxl").inpainting.model_id == "tiny/sdxl-inpaint"


def test_an_unknown_engine_is_one_line_naming_the_choices(tmp_path, photo):
    from agent.editor import Editor

    with pytest.raises(InvalidInputError, match="unknown engine 'dalle'; choose one of sd, sdxl, flux2-klein"):
        Toolkit(TINY, engine="dalle")
    with pytest.raises(InvalidInputError, match="unknown engine"):
        Editor.open(photo, profile=TINY, session_dir=tmp_path / "s", engine="dalle")
    assert not (tmp_path / "s").exists()                        # refused before the session started


def test_the_engine_reaches_history_the_png_and_the_status_line(tmp_path, photo):
    from agent.editor import Editor
    from agent_fakes import FixedDetections, QueuePlanner, det, plan
    from tui_snapshot import take_snapshot
    from tui_widgets import StatusLine

    kit = FixedDetections(TINY, {"cup": [det(CUP)]}, engine="flux2-klein")
    planner = QueuePlanner().push(plan({"action": "remove", "referent": {"phrase": "cup"}}))
    with Editor.open(photo, profile=TINY, session_dir=tmp_path / "s", planner=planner, toolkit=kit) as editor:
        assert editor.send("remove the cup").version == 1
        version = editor.store.history.current
        assert version.models["engine"] == "flux2-klein" and version.models["inpainting"] == "tiny/flux2-klein"
        saved = json.loads((editor.store.root / "history.json").read_text())["versions"][1]
        assert saved["models"]["engine"] == "flux2-klein"
        with Image.open(editor.export(tmp_path / "out.png")) as png:
            assert "engine=flux2-klein" in png.text["chatedit:models"]
        snapshot = take_snapshot(editor)
    assert snapshot.engine == "flux2-klein"
    status = StatusLine()
    status.show(snapshot)
    assert status.profile == "tiny · engine flux2-klein"


def test_chatedit_edit_takes_engine(tmp_path, capsys):
    from tools.cli import main

    out = tmp_path / "out.png"
    code = main(["coffee", "--box", "120,40,480,330", "--remove", "--profile", "tiny", "--engine", "flux2-klein",
                 "--steps", "3", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "engine flux2-klein (asked for)" in err
    assert "inpainting: step 3/3" in err and "/4" not in err             # --steps wins over the engine's 4
    with Image.open(out) as png:
        assert "engine=flux2-klein" in png.text["chatedit:models"]


def test_flux2_klein_downloads_its_component_folders_in_bf16():
    from fnmatch import fnmatch

    from tools.loading import download_patterns

    patterns = download_patterns("flux2-klein", fp16=True)
    allowed = lambda name: any(fnmatch(name, p) for p in patterns["allow_patterns"]) and \
        not any(fnmatch(name, p) for p in patterns["ignore_patterns"])                          # noqa: E731
    assert allowed("transformer/diffusion_pytorch_model.safetensors")
    assert allowed("text_encoder/model-00001-of-00002.safetensors") and allowed("tokenizer/chat_template.jinja")
    assert not allowed("flux-2-klein-4b.safetensors")           # the single-file copy at the top: 7.8 GB never used


# -- full-size configs for --random-weights ---------------------------------------------------------------

# Parameters of black-forest-labs/FLUX.2-klein-4B, in millions, from its published safetensors: the
# transformer is 7.75 GB in bf16 (3.88 GB in the fp8 release), the Qwen3-4B text encoder 8.05 GB in
# bf16, the VAE 168 MB.
FLUX2_KLEIN_M = {"transformer": 3876.0, "text_encoder": 4022.0, "vae": 84.0}


@pytest.mark.parametrize("name", sorted(FLUX2_KLEIN_M))
def test_flux2_klein_configs_build_the_released_sizes(name):
    import sys
    from pathlib import Path

    import diffusers
    import torch
    import transformers

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import random_weights as rw

    source = rw.CONFIGS / rw.engines()["flux2-klein"]["folder"]
    library, class_name = json.loads((source / "model_index.json").read_text())[name]
    with torch.device("meta"):
        if library == "diffusers":
            cls = getattr(diffusers, class_name)
            model = cls.from_config(cls.load_config(source / name))
        else:
            model = getattr(transformers, class_name)(transformers.AutoConfig.from_pretrained(source / name))
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert millions == pytest.approx(FLUX2_KLEIN_M[name], rel=0.01)


def test_every_engine_has_configs_for_its_released_model():
    import sys
    from pathlib import Path

    from tools.profiles import ENGINE_SPECS

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import random_weights as rw

    for engine, entry in rw.engines().items():
        assert entry["model_id"] == ENGINE_SPECS[engine].model_id
        assert (rw.CONFIGS / entry["folder"] / "model_index.json").is_file()
