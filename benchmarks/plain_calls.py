"""The plain library calls each stage of a turn wraps, timed on the same inputs: the ``--baseline`` of bench_session.

Each function repeats one stage's model work as a plain transformers / diffusers user would write it (processor,
model, post-processing; no prefix cache, no grammar, no crop or composite) and returns its seconds, so a stage's
time over it is the cost (or the gain) of our path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from harness import timed


@torch.inference_mode()
def plan(llava: Any, conversation: Any, images: Any, new_tokens: int) -> float:
    """``processor(...)`` then greedy ``model.generate`` of ``new_tokens`` tokens on the whole prompt (no cached
    system turn, unconstrained), the images as the planner shows them (one frame or the anyres grid)."""
    model = llava.loaded_model()

    def call() -> Any:
        inputs = {k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device))
                  if isinstance(v, torch.Tensor) else v for k, v in llava.encode(conversation, images).items()}
        return model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens)

    return timed(call)[1]


@torch.inference_mode()
def plan_after_prefix(llava: Any, conversation: Any, images: Any, new_tokens: int, prefix: Any) -> float:
    """:func:`plan` starting from a copy of the system turn's keys and values ``prefix`` (unconstrained): the
    same model work as our cached plan, so our time over it is the grammar's and our glue's cost."""
    import copy

    model = llava.loaded_model()

    def call() -> Any:
        inputs = {k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device))
                  if isinstance(v, torch.Tensor) else v for k, v in llava.encode(conversation, images).items()}
        return model.generate(**inputs, past_key_values=copy.deepcopy(prefix), do_sample=False,
                              max_new_tokens=new_tokens, min_new_tokens=new_tokens)

    return timed(call)[1]


@torch.inference_mode()
def locate(grounder: Any, image: Image.Image, phrase: str) -> float:
    """Grounding DINO's processor, model and ``post_process_grounded_object_detection`` at the size ours detects at."""
    def call() -> Any:
        size = grounder.input_size(image.size)
        inputs = grounder.processor(images=image.convert("RGB"), text=f"{phrase}.", return_tensors="pt",
                                    **({"size": size} if size else {}))
        inputs = {k: v.to(grounder.placement.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(grounder.placement.dtype)
        outputs = grounder.model(**inputs)
        return grounder.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=[image.size[::-1]])

    return timed(call)[1]


@torch.inference_mode()
def segment(segmenter: Any, image: Image.Image, box: Any) -> float:
    """SAM 2's processor with one box, ``model(multimask_output=False)`` and ``post_process_masks``."""
    def call() -> Any:
        inputs = segmenter.processor(images=image.convert("RGB"), input_boxes=[[[float(v) for v in box]]],
                                     return_tensors="pt")
        pixels = inputs["pixel_values"].to(segmenter.placement.device, segmenter.placement.dtype)
        boxes = inputs["input_boxes"].to(segmenter.placement.device, segmenter.placement.dtype)
        out = segmenter.model(pixel_values=pixels, input_boxes=boxes, multimask_output=False)
        return segmenter.processor.post_process_masks(out.pred_masks.float().cpu(), inputs["original_sizes"])

    return timed(call)[1]


def edit(engine: Any, image: Image.Image, size: tuple[int, int], prompt: str, steps: int,
         guidance: float | None) -> float:
    """One plain pipeline call at the working size our edit ran at, with its steps and guidance (the pipeline's
    scheduler and fused LoRA as loaded), a centred mask."""
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    generator = torch.Generator("cpu").manual_seed(0)
    call: dict[str, Any] = {"num_inference_steps": steps, "guidance_scale": 7.5 if guidance is None else guidance}
    if engine.name == "flux2-klein":            # its own guidance, strength 1 as ours; the prompt is encoded in the call
        call = {"num_inference_steps": steps, "guidance_scale": engine.guidance_scale, "strength": 1.0,
                "text_encoder_out_layers": engine.text_layers}
    return timed(lambda: engine.pipe(prompt=prompt, image=image.resize((w, h)), mask_image=Image.fromarray(mask),
                                     height=h, width=w, generator=generator, **call))[1]
