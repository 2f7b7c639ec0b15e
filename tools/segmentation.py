"""Promptable segmentation with SAM 2 (transformers): embed an image once, then masks for boxes or points."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tools.boxes import clamp_box
from tools.device import Placement, resolve_placement
from tools.errors import InvalidInputError
from tools.profiles import ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segmentation:
    """Masks for the prompts of one :meth:`Segmenter.predict` call.

    Attributes:
        masks: ``(N, H, W)`` bool, one per box (or one for a points-only prompt), at the size of
            the image given to :meth:`Segmenter.set_image`; True = the object.
        scores: ``(N,)`` float32 in [0, 1], the model's predicted IoU of each mask.
    """

    masks: np.ndarray
    scores: np.ndarray


def _numbers(value: Any, count: int, what: str) -> tuple[float, ...]:
    """``value`` as ``count`` finite floats, or an InvalidInputError that quotes it."""
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be {count} numbers, got {value!r}") from None
    if len(items) != count or not all(math.isfinite(v) for v in items):
        raise InvalidInputError(f"{what} must be {count} finite numbers, got {value!r}")
    return items


class Segmenter:
    """SAM 2 wrapper in the SAM predictor's shape: :meth:`set_image` once, :meth:`predict` many times."""

    def __init__(self, model: Any, processor: Any, *, placement: Placement) -> None:
        """Wrap an already-loaded model and processor.

        Args:
            model: a ``Sam2Model`` on ``placement``, in eval mode.
            processor: its ``Sam2Processor``.
            placement: device and dtype the model lives on.
        """
        self.model = model
        self.processor = processor
        self.placement = placement
        self._embeddings: list[torch.Tensor] | None = None
        self._size: tuple[int, int] | None = None

    @classmethod
    def from_pretrained(cls, path: str | Path | ModelSpec, *, placement: Placement | None = None) -> Segmenter:
        """Load a SAM 2 folder (``config.json``, safetensors, processor config).

        Args:
            path: a local folder (see :func:`tools.loading.model_path`) or a :class:`ModelSpec`.
            placement: device and dtype (None: the best available, fp16 on CUDA).

        Raises:
            ModelUnavailableError: the folder is missing or not a SAM 2 checkpoint.
        """
        from transformers import Sam2Model, Sam2Processor

        from tools.loading import expect_model_type, load_errors, model_path

        if isinstance(path, ModelSpec):
            path = model_path(path)
        expect_model_type(path, "SAM 2", ("sam2", "sam2_video"))  # the released sam2.1 repos are sam2_video
        placement = placement or resolve_placement()
        with load_errors("SAM 2", path, hint="point at a folder written by save_pretrained"):
            processor = Sam2Processor.from_pretrained(str(path))  # not Auto: sam2.1 repos say sam2_video
            model = Sam2Model.from_pretrained(str(path), use_safetensors=True, dtype=placement.dtype)
        model.to(placement.device).eval()
        return cls(model, processor, placement=placement)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the image set by :meth:`set_image`, or None before."""
        return self._size

    @torch.inference_mode()
    def set_image(self, image: Image.Image) -> None:
        """Run the image encoder once; later :meth:`predict` calls reuse its embedding.

        Args:
            image: a PIL image of any size (converted to RGB).
        """
        if not isinstance(image, Image.Image):
            raise InvalidInputError(f"image must be a PIL image, got {type(image).__name__}")
        if image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image is empty ({image.width}x{image.height}); load a real picture")
        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.placement.device, self.placement.dtype)
        self._embeddings = self.model.get_image_embeddings(pixels)
        self._size = (image.height, image.width)

    def _boxes(self, boxes: Sequence[Sequence[float]] | np.ndarray) -> list[list[float]]:
        h, w = self._size
        checked = []
        for raw in boxes:
            x0, y0, x1, y1 = _numbers(raw, 4, "a box (x0, y0, x1, y1)")
            if x1 <= x0 or y1 <= y0:
                raise InvalidInputError(f"box {raw!r} is empty or inverted; boxes are (x0, y0, x1, y1) with x0 < x1, "
                                        f"y0 < y1")
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise InvalidInputError(f"box {raw!r} lies outside the {w}x{h} image; give a box that overlaps it")
            checked.append(list(clamp_box((x0, y0, x1, y1), (w, h))))
        return checked

    def _points(self, points: Sequence[Sequence[float]] | np.ndarray,
                point_labels: Sequence[int] | np.ndarray | None) -> tuple[list[list[float]], list[int]]:
        h, w = self._size
        checked = []
        for raw in points:
            x, y = _numbers(raw, 2, "a point (x, y)")
            if not (0 <= x <= w and 0 <= y <= h):
                raise InvalidInputError(f"point {raw!r} lies outside the {w}x{h} image")
            checked.append([x, y])
        labels = [1] * len(checked) if point_labels is None else list(point_labels)
        if len(labels) != len(checked):
            raise InvalidInputError(f"point_labels must have one label per point: {len(checked)} points, "
                                    f"{len(labels)} labels")
        if any(label not in (0, 1) for label in labels):
            raise InvalidInputError(f"point_labels must be 1 (object) or 0 (background), got {labels!r}")
        return checked, [int(label) for label in labels]

    @torch.inference_mode()
    def predict(self, *, boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
                points: Sequence[Sequence[float]] | np.ndarray | None = None,
                point_labels: Sequence[int] | np.ndarray | None = None,
                multimask_output: bool = False) -> Segmentation:
        """Masks for boxes and/or points on the image of the last :meth:`set_image`.

        Args:
            boxes: ``(x0, y0, x1, y1)`` pixel boxes of the original image; one mask each.
            points: ``(x, y)`` pixel points that together describe one object; with boxes, they
                refine every box's mask, without boxes they give a single mask.
            point_labels: one per point, 1 = on the object, 0 = background (None: all 1).
            multimask_output: let the model propose 3 masks per prompt and keep the best scored.

        Returns:
            A :class:`Segmentation` with one mask per box (or one for points only).

        Raises:
            InvalidInputError: no image set, no prompt, or a malformed or out-of-image box or point.
        """
        if self._embeddings is None or self._size is None:
            raise InvalidInputError("no image to segment: call set_image(image) before predict()")
        box_list = self._boxes(boxes) if boxes is not None else []
        point_list, label_list = self._points(points, point_labels) if points is not None else ([], [])
        if not box_list and not point_list:
            raise InvalidInputError("predict needs at least one box or point to segment")
        prompts = max(len(box_list), 1)
        encoded = self.processor(
            original_sizes=[list(self._size)],
            input_boxes=[box_list] if box_list else None,
            input_points=[[point_list] * prompts] if point_list else None,
            input_labels=[[label_list] * prompts] if point_list else None,
            return_tensors="pt",
        )
        kwargs: dict[str, torch.Tensor] = {}
        for name in ("input_boxes", "input_points"):
            if name in encoded:
                kwargs[name] = encoded[name].to(self.placement.device, self.placement.dtype)
        if "input_labels" in encoded:
            kwargs["input_labels"] = encoded["input_labels"].to(self.placement.device)
        out = self.model(image_embeddings=self._embeddings, multimask_output=multimask_output, **kwargs)

        iou = out.iou_scores[0].float()  # (prompts, candidates)
        best = iou.argmax(dim=-1)
        rows = torch.arange(iou.shape[0], device=iou.device)
        low_res = out.pred_masks[0][rows, best].float().unsqueeze(1)  # (prompts, 1, h, w)
        masks = self.processor.post_process_masks([low_res], [list(self._size)])[0][:, 0]
        scores = iou[rows, best].clamp(0, 1)
        return Segmentation(masks=masks.cpu().numpy().astype(bool), scores=scores.cpu().numpy().astype(np.float32))
