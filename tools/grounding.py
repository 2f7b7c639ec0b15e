"""Open-vocabulary detection: boxes for text phrases with Grounding DINO (transformers)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from tools.boxes import Box
from tools.device import Placement, resolve_placement
from tools.errors import InvalidInputError
from tools.profiles import ModelSpec

logger = logging.getLogger(__name__)

NMS_IOU = 0.5
"""Boxes overlapping a better one by more than this IoU are dropped, whatever their label."""
MIN_INPUT_SIDE = 128
"""The model's feature pyramid needs at least this many pixels on the short side after resizing."""


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        box: ``(x0, y0, x1, y1)`` float pixels of the original image, clipped to it, x0 < x1, y0 < y1.
        score: the model's confidence in [0, 1].
        label: the phrase (as given, stripped) this box matches best.
    """

    box: Box
    score: float
    label: str


def _check_threshold(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def clean_phrases(phrases: str | Sequence[str]) -> list[str]:
    """Strip, drop trailing dots and duplicates (case-insensitive); empty phrases are an error."""
    items = [phrases] if isinstance(phrases, str) else list(phrases)
    if not items:
        raise InvalidInputError("detect needs at least one phrase, got none; say what to look for, e.g. 'a cat'")
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"phrases must be strings, got {item!r}")
        phrase = " ".join(item.split()).strip(" .")
        if not phrase:
            raise InvalidInputError(f"empty phrase {item!r}; say what to look for, e.g. 'a cat'")
        if phrase.lower() not in (c.lower() for c in cleaned):
            cleaned.append(phrase)
    return cleaned


def _prompt(phrases: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Grounding DINO's prompt (``"a cat. a remote control."``) and each phrase's character span in it."""
    text, spans = "", []
    for phrase in phrases:
        start = len(text)
        text += phrase.lower()
        spans.append((start, len(text)))
        text += ". "
    return text.rstrip(), spans


def fp32_on_cpu(placement: Placement) -> Placement:
    """``placement``, but fp32 where it asks for bf16 on the CPU. Grounding DINO's multi-scale deformable
    attention samples its feature maps with ``grid_sample``; in bf16 on the CPU that kernel returned NaN for
    sampling points just outside the map, where fp32 on the same inputs is finite, and the decoder then
    returned NaN boxes (torch 2.14, transformers 5.23, on an AVX512-BF16 CPU; another CPU in CI gave finite
    boxes, so it depends on the kernel a CPU takes). bf16 would gain only about 1.2x here."""
    if placement.device != "cpu" or placement.dtype != torch.bfloat16:
        return placement
    return replace(placement, dtype=torch.float32, dtype_reason="bf16 gives NaN boxes in Grounding DINO")


class Grounder:
    """Grounding DINO wrapper: load once, then :meth:`detect` phrases in any number of images."""

    def __init__(self, model: Any, processor: Any, *, placement: Placement, box_threshold: float = 0.3,
                 text_threshold: float = 0.25, shortest_edge: int | None = None) -> None:
        """Wrap an already-loaded model and processor.

        Args:
            model: a ``GroundingDinoForObjectDetection`` on ``placement``, in eval mode.
            processor: its ``GroundingDinoProcessor``.
            placement: device and dtype the model lives on.
            box_threshold: default minimum box score in [0, 1].
            text_threshold: default minimum phrase-token score in [0, 1] for a label to count.
            shortest_edge: the detector's resolution: an image's shortest edge is brought down to this
                (None: the processor's own, 800 for the released models), never above the processor's
                own and never up (see :meth:`input_size`).
        """
        if shortest_edge is not None and (isinstance(shortest_edge, bool) or not isinstance(shortest_edge, int)
                                          or shortest_edge < MIN_INPUT_SIDE):
            raise InvalidInputError(f"shortest_edge must be an integer of at least {MIN_INPUT_SIDE} pixels, "
                                    f"got {shortest_edge!r}")
        self.model = model
        self.processor = processor
        self.placement = placement
        self.box_threshold = _check_threshold("box_threshold", box_threshold)
        self.text_threshold = _check_threshold("text_threshold", text_threshold)
        size = getattr(processor.image_processor, "size", None) or {}
        size = dict(size.items()) if hasattr(size, "items") else dict(vars(size))
        self._own_edges = (size.get("shortest_edge"), size.get("longest_edge"))
        """The processor's own (shortest, longest) edge (800, 1333 for the released models)."""
        own = self._own_edges[0]
        self.shortest_edge = min(shortest_edge or own or 800, own or 800)

    @classmethod
    def from_pretrained(cls, path: str | Path | ModelSpec, *, placement: Placement | None = None,
                        box_threshold: float = 0.3, text_threshold: float = 0.25,
                        shortest_edge: int | None = None) -> Grounder:
        """Load a Grounding DINO folder (``config.json``, safetensors, processor files).

        Args:
            path: a local folder (see :func:`tools.loading.model_path`) or a :class:`ModelSpec`.
            placement: device and dtype (None: the best available, fp16 on CUDA).
            shortest_edge: the detector's resolution (see :meth:`__init__`).

        Raises:
            ModelUnavailableError: the folder is missing or not a Grounding DINO checkpoint.
        """
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        from tools.loading import expect_model_type, load_errors, model_path

        if isinstance(path, ModelSpec):
            path = model_path(path)
        expect_model_type(path, "Grounding DINO", ("grounding-dino",))
        placement = fp32_on_cpu(placement or resolve_placement())
        with load_errors("Grounding DINO", path, hint="point at a folder written by save_pretrained"):
            processor = AutoProcessor.from_pretrained(str(path))
            model = GroundingDinoForObjectDetection.from_pretrained(str(path), use_safetensors=True,
                                                                    dtype=placement.dtype)
        model.to(placement.device).eval()
        return cls(model, processor, placement=placement, box_threshold=box_threshold,
                   text_threshold=text_threshold, shortest_edge=shortest_edge)

    def input_size(self, size: tuple[int, int]) -> dict[str, int] | None:
        """The processor's resize for an image of ``size`` (w, h): its shortest edge brought down to
        :attr:`shortest_edge` but never up (a 600x400 photo is detected at 600x400, not 1200x800;
        only a side under 128 px is raised to 128), the longest edge cap scaled alike.
        None: the processor has no shortest/longest edge setting (then its own resize applies).
        """
        own_short, own_long = self._own_edges
        if not own_short or not own_long:
            return None
        short = max(min(self.shortest_edge, min(size)), MIN_INPUT_SIDE)
        return {"shortest_edge": short, "longest_edge": max(short, math.ceil(own_long * short / own_short))}

    def _fit_for_processor(self, image: Image.Image, longest: int | None) -> Image.Image:
        """Pad a very elongated image (bottom/right, black) so its short side survives resizing.

        The processor scales the short side to ``shortest_edge`` unless the long side would pass
        ``longest_edge``; a panorama could end up a few pixels tall, too small for the model.
        Padding keeps the origin, so boxes stay in the original image's coordinates.
        """
        if not longest:
            return image
        w, h = image.size
        need = math.ceil(max(w, h) * MIN_INPUT_SIDE / longest)
        if min(w, h) >= need:
            return image
        padded = Image.new("RGB", (max(w, need), max(h, need)))
        padded.paste(image, (0, 0))
        return padded

    def _phrase_scores(self, prompt: str, spans: list[tuple[int, int]], probs: torch.Tensor) -> torch.Tensor:
        """Per box, the best token probability inside each phrase: ``(num_boxes, num_phrases)``.

        The processor's ``text_labels`` decode every token above ``text_threshold``, which at low
        thresholds runs phrases together ("a cup a remote control"); scoring each phrase's own
        tokens gives every box exactly one of the caller's phrases.
        """
        offsets = self.processor.tokenizer(prompt, return_offsets_mapping=True)["offset_mapping"]
        columns = []
        for start, end in spans:
            tokens = [i for i, (s, e) in enumerate(offsets) if e > s and start <= s and e <= end]
            tokens = [i for i in tokens if i < probs.shape[-1]]
            columns.append(probs[:, tokens].max(dim=-1).values if tokens else probs.new_zeros(probs.shape[0]))
        return torch.stack(columns, dim=-1)

    @torch.inference_mode()
    def detect(self, image: Image.Image, phrases: str | Sequence[str], *, box_threshold: float | None = None,
               text_threshold: float | None = None, max_detections: int = 20) -> list[Detection]:
        """Find boxes for one or more phrases.

        Args:
            image: a PIL image of any size (converted to RGB).
            phrases: ``"a cat"`` or ``["a cat", "a remote control"]``.
            box_threshold: minimum box score in [0, 1] (None: this grounder's default).
            text_threshold: minimum score of the label's phrase tokens in [0, 1] (None: default).
            max_detections: at most this many detections are returned.

        Returns:
            Detections sorted by descending score, class-agnostic NMS'd at IoU 0.5, boxes clipped
            to the image; an empty list when nothing passes the thresholds.

        Raises:
            InvalidInputError: an empty phrase, a threshold outside [0, 1], a bad image, or a
                prompt longer than the model's text length.
        """
        from torchvision.ops import nms

        if not isinstance(image, Image.Image):
            raise InvalidInputError(f"image must be a PIL image, got {type(image).__name__}")
        if image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image is empty ({image.width}x{image.height}); load a real picture")
        if isinstance(max_detections, bool) or not isinstance(max_detections, int) or max_detections < 1:
            raise InvalidInputError(f"max_detections must be a positive integer, got {max_detections!r}")
        box_threshold = self.box_threshold if box_threshold is None else _check_threshold("box_threshold",
                                                                                          box_threshold)
        text_threshold = self.text_threshold if text_threshold is None else _check_threshold("text_threshold",
                                                                                             text_threshold)
        cleaned = clean_phrases(phrases)
        prompt, spans = _prompt(cleaned)
        max_len = int(getattr(self.model.config, "max_text_len", 256))

        rgb = image.convert("RGB")
        size = self.input_size(rgb.size)
        fitted = self._fit_for_processor(rgb, size["longest_edge"] if size else None)
        resize = {"size": self.input_size(fitted.size)} if size else {}
        inputs = self.processor(images=fitted, text=prompt, return_tensors="pt", **resize)
        if inputs["input_ids"].shape[-1] > max_len:
            raise InvalidInputError(f"the phrases make {inputs['input_ids'].shape[-1]} tokens, more than the "
                                    f"model's {max_len}; ask for fewer or shorter phrases")
        model_inputs = {k: v.to(self.placement.device) for k, v in inputs.items()}
        model_inputs["pixel_values"] = model_inputs["pixel_values"].to(self.placement.dtype)
        outputs = self.model(**model_inputs)
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        target = [(fitted.height, fitted.width)]
        result = self.processor.post_process_grounded_object_detection(
            outputs, model_inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
            target_sizes=target)[0]

        # post-processing keeps the queries whose best token beats the box threshold, in order;
        # the same mask gives each kept box its token probabilities, to pick its phrase.
        probs = outputs.logits.sigmoid()[0]
        kept = probs.max(dim=-1).values > box_threshold
        phrase_scores = self._phrase_scores(prompt, spans, probs[kept].cpu())
        boxes, scores = result["boxes"].float().cpu(), result["scores"].float().cpu()
        if len(phrase_scores) != len(scores):
            raise RuntimeError(f"post-processing kept {len(scores)} boxes, expected {len(phrase_scores)}; "
                               f"transformers changed post_process_grounded_object_detection")
        best_score, best_phrase = phrase_scores.max(dim=-1)
        logger.debug("grounding %r: %d raw boxes, text labels %s", prompt, len(scores), result["text_labels"][:5])

        w, h = rgb.size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        valid = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
        valid &= torch.isfinite(scores) & torch.isfinite(boxes).all(dim=-1)
        valid &= best_score > text_threshold  # the box must match one of the phrases, not only "." or [SEP]
        boxes, scores, best_phrase = boxes[valid], scores[valid].clamp(0, 1), best_phrase[valid]
        order = nms(boxes, scores, NMS_IOU)[:max_detections]  # indices by descending score
        return [Detection(box=tuple(float(v) for v in boxes[i].tolist()), score=float(scores[i]),
                          label=cleaned[int(best_phrase[i])]) for i in order.tolist()]
