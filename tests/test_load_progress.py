"""Model loads counted in bytes of their weights (tools.load_progress), through the Toolkit and the Editor."""

from __future__ import annotations

import json
import threading

import pytest
import safetensors.torch
import torch
from safetensors.torch import save_file

from agent.editor import Editor
from tools.load_progress import Meter, checkpoint_bytes, metered, tensor_bytes, weight_files
from tools.loading import model_path
from tools.toolkit import Toolkit


def save(path, **shapes) -> int:
    """Write a safetensors file of zero tensors; return its tensor bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: torch.zeros(shape) for name, shape in shapes.items()}
    save_file(tensors, str(path))
    return sum(t.nbytes for t in tensors.values())


def check_reports(told: list[tuple[int, int]], total: int) -> None:
    """First (0, total), never going back, last (total, total), with counts in between."""
    assert told[0] == (0, total) and told[-1] == (total, total), (told[:2], told[-2:])
    assert all(t == total for _, t in told)
    done = [d for d, _ in told]
    assert done == sorted(done), "the count never goes back"
    assert len(set(done)) > 3, f"counted as tensors come in, not only at the end: {done}"


# ---------------------------------------------------------------- what a folder holds

def test_the_total_is_the_tensor_bytes_of_the_files_the_loader_reads(tmp_path):
    single = tmp_path / "single"
    expected = save(single / "model.safetensors", a=(10, 4), b=(3,))
    assert tensor_bytes(single / "model.safetensors") == expected == 43 * 4
    assert checkpoint_bytes(single) == expected

    pipe = tmp_path / "pipe"
    (pipe / "model_index.json").parent.mkdir()
    (pipe / "model_index.json").write_text("{}")
    for part in ("unet", "vae", "tokenizer", "safety_checker"):
        (pipe / part).mkdir()
        (pipe / part / "config.json").write_text("{}")
    unet = save(pipe / "unet" / "diffusion_pytorch_model.safetensors", w=(8, 8))
    save(pipe / "unet" / "diffusion_pytorch_model.fp16.safetensors", w=(8, 8))        # not read: full is there
    vae = save(pipe / "vae" / "diffusion_pytorch_model.fp16.safetensors", w=(5,))      # only the variant: read
    save(pipe / "safety_checker" / "model.safetensors", w=(100,))                       # never loaded
    assert [f.relative_to(pipe).as_posix() for f in weight_files(pipe)] == [
        "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors"]
    assert checkpoint_bytes(pipe) == unet + vae
    (pipe / "unet" / "diffusion_pytorch_model.safetensors").unlink()                   # fp16 UNet only: the
    half = save(pipe / "vae" / "diffusion_pytorch_model.safetensors", w=(50,))         # fp16 variant is loaded
    assert checkpoint_bytes(pipe) == tensor_bytes(pipe / "unet" / "diffusion_pytorch_model.fp16.safetensors") + vae
    assert half != vae

    sharded = tmp_path / "sharded"
    one, two = save(sharded / "model-1.safetensors", a=(4,)), save(sharded / "model-2.safetensors", b=(6,))
    save(sharded / "stray.safetensors", c=(50,))
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}))
    assert checkpoint_bytes(sharded) == one + two


def test_a_file_that_is_not_safetensors_counts_nothing_and_nothing_is_told(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 20)
    assert tensor_bytes(tmp_path / "model.safetensors") == 0 and tensor_bytes(tmp_path / "missing") == 0
    told = []
    with metered(tmp_path, told.append) as meter:
        assert meter is None
    assert told == []


def test_the_meter_tells_in_order_never_past_the_total_and_each_tensor_once():
    told = []
    meter = Meter(100, lambda d, t: told.append(d), step=10)
    for i in range(12):
        meter.add(("f", f"t{i % 6}"), 9)                  # six tensors, each seen twice: counted once
    assert meter.done == 54 and told == [18, 36, 54]
    meter.add(("f", "big"), 500)
    meter.finish()
    assert told == [18, 36, 54, 100] and meter.done == 100


# ---------------------------------------------------------------- real loads on tiny models

ROLES = ["segmentation", "grounding", pytest.param("inpainting", marks=pytest.mark.slow),
         pytest.param("instruct", marks=pytest.mark.slow), pytest.param("base", marks=pytest.mark.slow)]


@pytest.mark.parametrize("role", ROLES)
def test_every_tensor_is_counted_as_the_loader_takes_it_in(tiny_profile, role):
    kit = Toolkit(tiny_profile)
    path = model_path(tiny_profile.spec(role))
    told: list[tuple[int, int]] = []
    with metered(path, lambda d, t: told.append((d, t))) as meter:
        kit._load(role, path)
        assert meter.done == meter.total == checkpoint_bytes(path) > 0, "counted before the load returned"
    check_reports(told, meter.total)
    assert safetensors.torch.load_file.__module__ == "safetensors.torch", "the hooks are gone after the load"


def test_the_toolkit_tells_the_bytes_of_each_model_it_loads(tiny_profile):
    told: list[tuple[str, int, int]] = []
    kit = Toolkit(tiny_profile, on_load=lambda role, model_id: told.append((role, -1, -1)))
    kit.on_load_progress = lambda role, done, total: told.append((role, done, total))
    kit.load("segmentation")
    assert told[0] == ("segmentation", -1, -1)                         # announced before anything is read
    check_reports([(d, t) for _, d, t in told[1:]], checkpoint_bytes(model_path(tiny_profile.spec("segmentation"))))
    heard = len(told)
    kit.load("segmentation")
    assert len(told) == heard, "a loaded model is not loaded again"


def test_a_failed_load_never_says_it_finished_and_leaves_no_hook(tmp_path):
    save(tmp_path / "model.safetensors", a=(16,))
    told = []
    with pytest.raises(RuntimeError), metered(tmp_path, lambda d, t: told.append(d)):
        safetensors.torch.load_file(tmp_path / "model.safetensors")
        raise RuntimeError("the model's config is broken")
    assert told == [0] and safetensors.torch.load_file.__module__ == "safetensors.torch"


def test_loads_on_other_threads_and_other_files_are_not_counted(tmp_path):
    save(tmp_path / "model.safetensors", a=(16,), b=(16,))
    other: list[object] = []
    with metered(tmp_path, lambda d, t: None) as meter:
        file = tmp_path / "model.safetensors"
        thread = threading.Thread(target=lambda: other.append(safetensors.torch.load_file(file)))
        thread.start()
        thread.join()
        assert type(other[0]) is dict and meter.done == 0
        mine = safetensors.torch.load_file(tmp_path / "model.safetensors")
        for _ in mine.items():                          # a loader walking the state dict
            pass
        assert meter.done == meter.total == 128
        save(tmp_path / "adapter" / "lora.safetensors", x=(1000,))               # not the model's: not counted
        assert type(safetensors.torch.load_file(tmp_path / "adapter" / "lora.safetensors")) is dict


def test_the_editor_says_load_progress_in_bytes(tmp_path, coffee, tiny_profile):
    editor = Editor.open(coffee, profile=tiny_profile, session_dir=tmp_path / "s")
    stages: list[tuple[str, int, int]] = []
    editor.on_progress = lambda stage, step, total: stages.append((stage, step, total))
    try:
        editor.pointed_mask(point=(300, 150))                           # loads the segmenter
    finally:
        editor.close()
    loads = [(d, t) for s, d, t in stages if s == "load segmentation"]
    assert loads[0] == (0, 1), "announced before its files are found"
    check_reports(loads[1:], checkpoint_bytes(model_path(tiny_profile.spec("segmentation"))))


def test_the_planner_load_is_counted_too(tmp_path, coffee, tiny_profile):
    editor = Editor.open(coffee, profile=tiny_profile, session_dir=tmp_path / "s")
    stages: list[tuple[str, int, int]] = []
    editor.on_progress = lambda stage, step, total: stages.append((stage, step, total))
    try:
        assert editor.planner is not None
    finally:
        editor.close()
    loads = [(d, t) for s, d, t in stages if s == "load planner"]
    assert loads[0] == (0, 1)
    check_reports(loads[1:], checkpoint_bytes(model_path(tiny_profile.planner)))


def test_a_model_not_here_yet_has_no_folder_to_count(tiny_profile, tmp_path, monkeypatch):
    from dataclasses import replace

    from tools.load_progress import local_folder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert local_folder(tiny_profile.segmentation) == model_path(tiny_profile.segmentation)
    assert local_folder(replace(tiny_profile.segmentation, model_id="someone/not-downloaded")) is None
    assert local_folder(replace(tiny_profile.segmentation, model_id=str(tmp_path))) == tmp_path
