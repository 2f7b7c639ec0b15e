"""One object that holds a profile's models, loads each on first use, and offers every edit.

The agent reaches the vision tools only through :class:`Toolkit`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tools.device import Placement, resolve_placement
from tools.memory import (OFFLOADED_SHARE, MemoryPlan, Residency, allocated, free_accelerator_memory, measured_gb,
                          plan_memory)
from tools.profiles import Profile

if TYPE_CHECKING:
    from tools.diffedit import DiffEdit
    from tools.boxes import Box
    from tools.edits import EditResult
    from tools.engines import RepaintEngine
    from tools.grounding import Detection, Grounder
    from tools.inpainting import Inpainter
    from tools.instruct import InstructEditor
    from tools.segmentation import Segmenter

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
LoadListener = Callable[[str, str], None]
"""Called with (role, model id) just before a model loads, so interfaces can say so."""
LoadBytes = Callable[[str, int, int], None]
"""Called with (role, bytes done, bytes total) as a model's weights are taken in: (0, total) first, rising,
(total, total) when loaded (:mod:`tools.load_progress`)."""


def _image_key(image: Image.Image) -> str:
    # sha256 over the raw pixels: 44 ms at 12 MP on this project's CPU (blake2b took 75 ms)
    return hashlib.sha256(image.tobytes()).hexdigest() + f"{image.size}{image.mode}"


class Toolkit:
    """A profile's models, loaded lazily and kept for the process.

    Args:
        profile: which models fill each role.
        placement: device and dtype (None: the best available).
        on_load: optional callback told before each model loads (for progress displays).
        memory: the memory plan (None: planned from the free VRAM).
        engine: the repaint engine (``sd``, ``sdxl``, ``flux2-klein``; None: the profile's, or for
            ``full`` the first of its ``engines`` that the memory plan fits beside the planner).
    """

    on_load_progress: LoadBytes | None = None
    """Told how many bytes of a loading model's weights are in (for progress displays; None: nobody)."""

    def __init__(self, profile: Profile, placement: Placement | None = None,
                 *, on_load: LoadListener | None = None, memory: MemoryPlan | None = None,
                 engine: str | None = None) -> None:
        from tools.engines.select import resolve_engine

        self.placement = placement or resolve_placement(cpu_dtype=profile.cpu_dtype)
        chosen = engine is not None or bool(profile.engines)
        profile = resolve_engine(profile, self.placement, engine, memory=memory)
        self.profile = profile
        self.chosen_engine = self.engine_name if chosen else ""
        """The engine when it was chosen (``engine=``, or among the profile's ``engines``); "" for the profile's own."""
        self.on_load = on_load
        self.memory = Residency(memory or plan_memory(profile, self.placement))
        """Which models are loaded, within the memory plan's VRAM budget (the planner registers here too)."""
        self._models: dict[str, Any] = {}
        self.load_seconds: dict[str, float] = {}
        """Role → seconds its model took to load (from disk or a tiny build), for status and benchmarks."""
        self._lock = threading.RLock()
        self._segmented: str | None = None

    @property
    def models(self) -> dict[str, str]:
        """Role → model id, plus ``engine`` → the repaint engine's name, for provenance."""
        return {**self.profile.model_ids(), "engine": self.engine_name}

    @property
    def engine_name(self) -> str:
        """The repaint engine (``sd``, ``sdxl``, ``flux2-klein``), known before it loads."""
        from tools.engines.select import engine_name

        return engine_name(self.profile)

    def load(self, role: str) -> Any:
        """The role's model, loaded now if it is not (making room first under an offload plan)."""
        return self._get(role)

    def _get(self, role: str) -> Any:
        with self._lock:
            if role in self._models:
                self.memory.touch(role)
                return self._models[role]
            from tools.load_progress import metered
            from tools.loading import model_path

            spec = self.profile.spec(role)
            estimate = spec.vram_gb * (OFFLOADED_SHARE if self._offloads(role) else 1.0)
            self.memory.admit(role, estimate)
            if self.on_load is not None:
                self.on_load(role, spec.model_id)
            logger.info("loading %s model %s", role, spec.model_id)
            fp16 = str(self.placement.dtype) == "torch.float16"   # fetch half the bytes when running fp16
            start, before = time.perf_counter(), allocated()
            path = model_path(spec, fp16=fp16)
            with metered(path, self._bytes_told(role)):
                model = self._load(role, path)
            self._models[role] = model
            self.load_seconds[role] = time.perf_counter() - start
            cost = measured_gb(before)
            self.memory.add(role, estimate if cost is None else cost, lambda: self._unload(role))
            return model

    def _bytes_told(self, role: str) -> Callable[[int, int], None] | None:
        """What :func:`tools.load_progress.metered` tells for ``role``: :attr:`on_load_progress`, if set."""
        listener = self.on_load_progress
        return None if listener is None else lambda done, total: listener(role, done, total)

    def _offloads(self, role: str) -> bool:
        """Whether ``role``'s pipeline runs with model CPU offload (offload plan, CUDA, a diffusers pipeline)."""
        return self.memory.plan.offload and self.placement.is_cuda and role in ("inpainting", "instruct")

    def _unload(self, role: str) -> None:
        """Drop ``role``'s model (the memory plan needs its room); the next use loads it again."""
        with self._lock:
            self._models.pop(role, None)
            if role == "segmentation":
                self._segmented = None
        free_accelerator_memory()

    def _load(self, role: str, path: Any) -> Any:
        spec = self.profile.spec(role)
        if role == "grounding":
            from tools.grounding import Grounder

            return Grounder.from_pretrained(path, placement=self.placement,
                                            box_threshold=self.profile.box_threshold,
                                            text_threshold=self.profile.text_threshold,
                                            shortest_edge=self.profile.grounding_edge)
        if role == "segmentation":
            from tools.segmentation import Segmenter

            return Segmenter.from_pretrained(path, placement=self.placement)
        if role == "inpainting" and spec.family == "flux2-klein":
            from tools.engines.flux2 import Flux2KleinEngine   # flow matching: no SD scheduler swap

            return Flux2KleinEngine.from_pretrained(path, placement=self.placement, offload=self._offloads(role))
        if role == "inpainting":
            from tools.inpainting import Inpainter

            return self._speed_up(Inpainter.from_pretrained(path, placement=self.placement, family=spec.family,
                                                            offload=self._offloads(role)))
        if role == "instruct":
            from tools.instruct import InstructEditor

            return self._speed_up(InstructEditor.from_pretrained(path, placement=self.placement,
                                                                 offload=self._offloads(role)))
        if role == "base":
            from tools.diffedit import DiffEdit

            return DiffEdit.from_pretrained(path, placement=self.placement)
        raise ValueError(f"the toolkit does not load role {role!r}")

    def _speed_up(self, tool: Any) -> Any:
        """Apply the profile's quality (scheduler, LCM-LoRA, default steps and guidance, working size;
        :func:`tools.quality.apply_quality`) and, if asked, ``torch.compile`` to a diffusers tool's pipeline."""
        from tools.diffusion_utils import compile_unet
        from tools.quality import apply_quality

        apply_quality(tool, self.profile)
        if self.profile.compile:
            compile_unet(tool.pipe)
        return tool

    @property
    def grounder(self) -> Grounder:
        return self._get("grounding")

    @property
    def segmenter(self) -> Segmenter:
        return self._get("segmentation")

    @property
    def inpainter(self) -> Inpainter:
        return self._get("inpainting")

    @property
    def engine(self) -> RepaintEngine:
        """The repaint engine (the inpainting role's model behind :class:`tools.engines.RepaintEngine`)."""
        from tools.engines import as_engine

        return as_engine(self.inpainter)

    @property
    def instruct_editor(self) -> InstructEditor:
        return self._get("instruct")

    @property
    def diffedit_model(self) -> DiffEdit:
        return self._get("base")

    # -- locating -----------------------------------------------------------------------------

    def detect(self, image: Image.Image, phrase: str | Sequence[str], **kwargs: Any) -> list[Detection]:
        """Boxes for a phrase (or phrases), best first. See :meth:`tools.grounding.Grounder.detect`."""
        return self.grounder.detect(image, phrase, **kwargs)

    def segment(self, image: Image.Image, boxes: Sequence[Box], *, box_margin: float = 0.1) -> list[np.ndarray]:
        """One bool H×W mask per box; the image embedding is computed once per distinct image.

        A box prompt says the object lies inside the box, so each mask is clipped to its box grown
        by ``box_margin`` of its size: a stray SAM blob elsewhere in the photo is never edited.
        A mask that comes back empty falls back to the box itself.
        """
        from tools.masks import near_box

        if not boxes:
            return []
        with self._lock:
            result = self._embedded(image).predict(boxes=[tuple(map(float, b)) for b in boxes])
        return [near_box(mask, tuple(map(float, box)), box_margin) for box, mask in zip(boxes, result.masks)]

    def _embedded(self, image: Image.Image) -> Any:
        """The segmenter with ``image`` embedded (once per image: SAM 2's encoder is the costly part).

        The caller holds ``self._lock``.
        """
        segmenter = self.segmenter
        key = _image_key(image)
        if key != self._segmented:
            segmenter.set_image(image)
            self._segmented = key
        return segmenter

    def segment_pointed(self, image: Image.Image, *, box: Box | None = None,
                        points: Sequence[Sequence[float]] | None = None, labels: Sequence[bool] | None = None,
                        box_margin: float = 0.1) -> np.ndarray:
        """One bool H×W mask from one SAM 2 prompt: a box and/or clicks (``labels``: True on the object,
        False "not this"; None: all True). With a box, the mask is kept near it as in :meth:`segment`.

        Raises:
            InvalidInputError: no prompt, or a malformed or out-of-image box or click.
        """
        from tools.masks import near_box

        with self._lock:
            result = self._embedded(image).predict(
                boxes=[tuple(map(float, box))] if box is not None else None,
                points=[tuple(map(float, p)) for p in points] if points else None,
                point_labels=[int(bool(v)) for v in labels] if labels is not None else None)
        mask = result.masks[0]
        return near_box(mask, tuple(map(float, box)), box_margin) if box is not None else np.asarray(mask, dtype=bool)

    # -- edits --------------------------------------------------------------------------------

    def _steps(self, kwargs: dict[str, Any], engine: Any = None) -> dict[str, Any]:
        """``kwargs`` with the steps set (:func:`tools.engines.select.edit_steps`: asked-for steps win over the
        engine's own, FLUX.2 klein's 4)."""
        from tools.engines.select import edit_steps

        kwargs.setdefault("steps", edit_steps(self.profile, engine))
        return kwargs

    def remove(self, image: Image.Image, mask: np.ndarray, **kwargs: Any) -> EditResult:
        from tools import edits

        engine = self.engine
        return edits.remove(engine, image, mask, **self._steps(kwargs, engine))

    def replace(self, image: Image.Image, mask: np.ndarray, new: str, **kwargs: Any) -> EditResult:
        """Replace (see :func:`tools.edits.replace`); ``reference=`` a PIL image of the new object."""
        from tools import edits

        engine = self.engine
        return edits.replace(engine, image, mask, new, **self._steps(kwargs, engine))

    def recolor(self, image: Image.Image, mask: np.ndarray, color: str, *, method: str = "auto",
                **kwargs: Any) -> EditResult:
        """Recolour (see :func:`tools.edits.recolor`); ``auto`` loads the engine only when the request
        needs diffusion (patterns, materials, several colours, a ``reference=`` image), the exact Lab
        shift otherwise."""
        from tools import edits
        from tools.color import classify_recolor

        needs = method
        if method == "auto" and isinstance(color, str) and color.strip():
            needs = "diffusion" if kwargs.get("reference") is not None else classify_recolor(color).method
        if needs == "diffusion":
            kwargs["inpainter"] = self.engine
            kwargs = self._steps(kwargs, kwargs["inpainter"])
        return edits.recolor(image, mask, color, method=method, **kwargs)

    def add(self, image: Image.Image, box: Box, obj: str, **kwargs: Any) -> EditResult:
        from tools import edits

        engine = self.engine
        return edits.add(engine, image, box, obj, **self._steps(kwargs, engine))

    def background(self, image: Image.Image, subject_mask: np.ndarray, prompt: str, **kwargs: Any) -> EditResult:
        from tools import edits

        engine = self.engine
        return edits.background(engine, image, subject_mask, prompt, **self._steps(kwargs, engine))

    def global_edit(self, image: Image.Image, instruction: str, **kwargs: Any) -> EditResult:
        """A whole-image edit by instruction: FLUX.2 klein when it is the engine (``reference=``
        and ``region=`` accepted), InstructPix2Pix otherwise (neither accepted)."""
        if self.engine_name == "flux2-klein":
            engine = self.engine
            return engine.edit(image, instruction, **self._steps(kwargs, engine))  # type: ignore[attr-defined]
        from tools.errors import InvalidInputError

        self._refuse_reference(kwargs, "InstructPix2Pix")
        if kwargs.pop("region", None) is not None:
            raise InvalidInputError("InstructPix2Pix edits the whole image; a region needs the flux2-klein engine "
                                    "(--engine flux2-klein) or a local edit")
        editor = self.instruct_editor
        return editor.edit(image, instruction, **self._steps(kwargs, editor))   # its quality's steps

    def _refuse_reference(self, kwargs: dict[str, Any], what: str) -> None:
        from tools.errors import InvalidInputError

        if kwargs.pop("reference", None) is not None:
            raise InvalidInputError(f"{what} cannot use a reference image; choose the flux2-klein engine "
                                    f"(--engine flux2-klein) for edits from a reference")

    def auto_mask(self, image: Image.Image, source: str, target: str, **kwargs: Any) -> np.ndarray:
        return self.diffedit_model.auto_mask(image, source, target, **kwargs)

    def diffedit(self, image: Image.Image, source: str, target: str, **kwargs: Any) -> EditResult:
        """Edit where ``source`` becomes ``target`` (the DiffEdit mask): with FLUX.2 klein as the engine
        the mask bounds its instruction edit of ``target``; otherwise DiffEdit's own inversion edits it."""
        if self.engine_name == "flux2-klein":
            seed = kwargs.get("seed", 0)
            region = self.auto_mask(image, source, target, seed=seed)
            if not region.any():
                from tools.errors import InvalidInputError

                raise InvalidInputError(f"found nothing in the picture that changes from {source!r} to {target!r}; "
                                        f"name the part to change")
            return self.global_edit(image, target, region=region, **kwargs)
        self._refuse_reference(kwargs, "DiffEdit")
        return self.diffedit_model.edit(image, source, target, **self._steps(kwargs))
