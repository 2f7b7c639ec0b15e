"""The memory plan: which plan a GPU's free memory gets, and unloading models to stay within a budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from agent.planner import load_planner
from tools.device import Placement
from tools.errors import InvalidInputError
from tools.memory import MemoryPlan, Residency, plan_memory, resident_need
from tools.profiles import FULL, LITE, TINY
from tools.samples import sample_image
from tools.toolkit import Toolkit

CUDA = Placement("cuda", torch.float16)
CPU = Placement("cpu", torch.float32)


def test_full_profile_is_resident_on_a_big_gpu_and_offloads_on_8_gb():
    assert resident_need(FULL) == pytest.approx(6.0 + 1.5 + 1.5 + 8.5)
    big = plan_memory(FULL, CUDA, vram_gb=80)
    assert big.mode == "resident" and not big.offload
    assert big.short() == "all resident 17.5/78.5 GB"
    small = plan_memory(FULL, CUDA, vram_gb=8)
    assert small.mode == "offload" and small.offload and small.budget_gb == pytest.approx(6.5)
    assert "offload" in small.describe() and "on demand" in small.describe()
    assert plan_memory(LITE, CUDA, vram_gb=12).mode == "resident"


def test_the_cpu_plan_never_unloads():
    plan = plan_memory(FULL, CPU)
    assert plan.mode == "cpu" and plan.budget_gb is None
    residency = Residency(plan)
    dropped = []
    for role in ("a", "b", "c"):
        residency.admit(role, 100.0)
        residency.add(role, 100.0, lambda r=role: dropped.append(r))
    assert dropped == [] and residency.loaded == ["a", "b", "c"]


def test_a_bad_budget_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="vram_gb must be positive, got -1"):
        plan_memory(FULL, CUDA, vram_gb=-1)


def test_residency_unloads_the_least_recently_used_first():
    residency = Residency(MemoryPlan("offload", budget_gb=5.0, need_gb=9.0))
    dropped: list[str] = []
    for role, cost in (("planner", 2.0), ("grounding", 1.5), ("segmentation", 1.0)):
        residency.admit(role, cost)
        residency.add(role, cost, lambda r=role: dropped.append(r))
    residency.touch("planner")                       # planner used again: grounding is now the oldest
    residency.admit("inpainting", 2.0)
    assert dropped == ["grounding"]
    residency.add("inpainting", 2.0, lambda: dropped.append("inpainting"))
    assert residency.loaded == ["segmentation", "planner", "inpainting"]
    assert residency.used_gb == pytest.approx(5.0) and residency.unloads == 1


def _budgeted_tiny(budget_gb: float):
    """The tiny profile with pretend VRAM sizes, under an offload plan of ``budget_gb``."""
    sized = replace(TINY, planner=replace(TINY.planner, vram_gb=1.0), grounding=replace(TINY.grounding, vram_gb=1.0),
                    segmentation=replace(TINY.segmentation, vram_gb=1.0),
                    inpainting=replace(TINY.inpainting, vram_gb=2.0))
    return sized, MemoryPlan("offload", budget_gb=budget_gb, need_gb=resident_need(sized))


def test_an_offload_plan_unloads_models_for_the_next_one_and_the_edit_is_still_exact():
    profile, plan = _budgeted_tiny(3.0)
    kit = Toolkit(profile, CPU, memory=plan)
    image = sample_image("coffee")
    box = (180.0, 20.0, 450.0, 300.0)
    assert kit.detect(image, "cup") is not None
    mask = kit.segment(image, [box])[0]
    assert set(kit.memory.loaded) == {"grounding", "segmentation"}
    result = kit.remove(image, mask, steps=2, seed=0)          # inpainting (2 GB) needs room: grounding goes
    assert kit.memory.loaded == ["segmentation", "inpainting"] and kit.memory.unloads == 1
    assert kit.memory.used_gb <= 3.0
    before, after = np.asarray(image), np.asarray(result.image)
    assert np.array_equal(before[~result.region], after[~result.region])
    kit.detect(image, "cup")                                   # grounding loads again, on demand
    assert "grounding" in kit.memory.loaded and kit.memory.unloads == 2
    again = kit.segment(image, [box])[0]                       # SAM 2 was unloaded: a fresh embedding, same mask
    assert np.array_equal(again, mask)


def test_the_planner_is_unloaded_for_an_edit_and_reloads_with_the_same_replies():
    profile, plan = _budgeted_tiny(3.0)
    kit = Toolkit(profile, CPU, memory=plan)
    chat = load_planner(profile, CPU, memory=kit.memory)
    first = chat.invoke("remove the cup", max_new_tokens=8).content
    kit.load("segmentation")
    kit.load("inpainting")                                     # 1 + 1 + 2 > 3: the planner (oldest) goes
    assert chat.llava.model is None and "planner" not in kit.memory.loaded
    again = chat.invoke("remove the cup", max_new_tokens=8).content
    assert again == first and chat.llava.model is not None and "planner" in kit.memory.loaded
    assert "segmentation" not in kit.memory.loaded             # the planner's return made room in turn


def test_profiles_name_a_known_scheduler_and_the_pipeline_uses_it():
    from tools.diffusion_utils import SCHEDULERS

    assert FULL.scheduler == "dpm++" and LITE.scheduler in SCHEDULERS and TINY.scheduler == "default"
    kit = Toolkit(replace(TINY, scheduler="dpm++"), CPU)
    assert type(kit.inpainter.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert kit.inpainter.pipe.scheduler.config.algorithm_type == "dpmsolver++"
    with pytest.raises(InvalidInputError, match="scheduler must be one of"):
        Toolkit(replace(TINY, scheduler="warp-speed"), CPU).inpainter

