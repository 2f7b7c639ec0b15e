"""Model profiles as data: which model fills each role (planner, grounding, ...) in full, lite and tiny."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.errors import InvalidInputError

ROLES = ("planner", "grounding", "segmentation", "inpainting", "instruct", "base")
"""Every role a profile fills. ``base`` is the text-to-image model DiffEdit runs on."""

TINY_PREFIX = "tiny/"
"""Model ids that start with this are built locally from configs (random weights)."""

RANDOM_NOTE = "random weights, pictures are noise"
"""How a profile banner says that its models have random weights (the README uses the same words)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of a profile.

    Attributes:
        model_id: a hub id (``"IDEA-Research/grounding-dino-base"``), a local folder, or
            ``"tiny/<family>"`` for a random-weight model built on this machine.
        family: the architecture, which decides the loader: ``llava``, ``llava-onevision``,
            ``grounding-dino``, ``sam2``, ``sd-inpaint``, ``sdxl-inpaint``, ``flux2-klein``,
            ``instruct-pix2pix``, ``sd``.
        download_gb: approximate download size (safetensors only; diffusers models in fp16 on
            CUDA, where the repo has an fp16 variant, in full precision on the CPU).
        vram_gb: approximate GPU memory while in use, at the profile's dtype.
        quantize_4bit: load in 4-bit through bitsandbytes (CUDA only).
    """

    model_id: str
    family: str
    download_gb: float = 0.0
    vram_gb: float = 0.0
    quantize_4bit: bool = False

    @property
    def is_tiny(self) -> bool:
        return self.model_id.startswith(TINY_PREFIX)

    @property
    def random_weights(self) -> bool:
        """Whether this model has random weights (a tiny build): its outputs mean nothing."""
        return self.is_tiny


@dataclass(frozen=True)
class Profile:
    """A named set of models, one per role, plus the settings that suit their size."""

    name: str
    planner: ModelSpec
    grounding: ModelSpec
    segmentation: ModelSpec
    inpainting: ModelSpec
    instruct: ModelSpec
    base: ModelSpec
    steps: int = 30
    """Diffusion steps per edit."""
    steps_asked: bool = False
    """Whether ``steps`` was asked for (``--steps``): it then wins over a tool's own (FLUX.2 klein's 4, a quality's)."""
    scheduler: str = "default"
    """Sampler of the inpainting and instruction-edit pipelines: ``default`` (the model's own) or one
    of :data:`tools.diffusion_utils.SCHEDULERS` (``dpm++``: DPM-Solver++ 2M, as good at 20 steps as
    the default at 30)."""
    compile: bool = False
    """``torch.compile`` the diffusion UNet (slow first call, faster steps after; CUDA)."""
    box_threshold: float = 0.3
    text_threshold: float = 0.25
    verify: bool = True
    """Let the planner judge each result (off where the planner is random, and on the CPU, where one
    judgement costs about as much as the edit; ``--verify`` turns it on)."""
    cpu_dtype: str = "auto"
    """Precision on the CPU (:data:`tools.device.CPU_DTYPES`): ``auto`` is bf16 where the CPU has
    AVX512-BF16 or AMX, fp32 elsewhere; ``$CHATEDIT_DTYPE`` or ``--dtype`` override it."""
    planner_image: str = "anyres"
    """How the planner sees the photo (:data:`tools.llava.IMAGE_MODES`): ``anyres``, the model's own
    grid of 384² views (2,709 tokens for a 600x400 photo), or ``frame``: one 384² view (197 tokens)."""
    grounding_edge: int = 800
    """The detector's input resolution: the image's shortest edge is brought down to this many pixels
    (never up: a small photo is detected at its own size)."""
    quality: str = "balanced"
    """Edit quality (:data:`tools.quality.QUALITIES`): ``fast`` (the LCM-LoRA below fused in, 4 steps, no
    classifier-free guidance; lite's default), ``balanced`` (``scheduler`` and ``steps`` with guidance),
    ``best`` (the model's own scheduler, 30+ steps, at native size); ``--quality`` overrides it."""
    lcm_lora: ModelSpec | None = None
    """The LCM-LoRA adapter (family ``lcm-lora``, safetensors in diffusers' LoRA format) that ``fast`` fuses
    into an SD 1.5 inpainting UNet; None: ``fast`` is ``balanced``."""
    engines: tuple[str, ...] = ()
    """Repaint engines to choose from, best first (:func:`tools.engines.select.choose_engine`: the first
    the memory plan fits beside the planner); empty: the ``inpainting`` model's own engine."""
    note: str = field(default="", compare=False)
    """Why this profile was chosen (set by :func:`tools.loading.resolve_profile`)."""

    def spec(self, role: str) -> ModelSpec:
        if role not in ROLES:
            raise InvalidInputError(f"unknown model role {role!r}; roles are {', '.join(ROLES)}")
        return getattr(self, role)

    def specs(self) -> dict[str, ModelSpec]:
        return {role: getattr(self, role) for role in ROLES}

    def model_ids(self) -> dict[str, str]:
        return {role: spec.model_id for role, spec in self.specs().items()}

    @property
    def random_weights(self) -> bool:
        """Whether any of its models has random weights (then its pictures are noise)."""
        return any(spec.random_weights for spec in self.specs().values())

    @property
    def banner(self) -> str:
        """One line: which profile and why ("profile tiny (random weights, pictures are noise): asked for")."""
        if self.note:
            return self.note
        return f"profile {self.name} ({RANDOM_NOTE})" if self.random_weights else f"profile {self.name}"


FLUX2_KLEIN = ModelSpec("black-forest-labs/FLUX.2-klein-4B", "flux2-klein", 16.0, 18.0)
"""FLUX.2 [klein] 4B (Apache-2.0): 3.9 B transformer + Qwen3-4B text encoder + VAE, in bf16."""

FULL = Profile(
    name="full",
    planner=ModelSpec("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-onevision", 16.1, 6.0, quantize_4bit=True),
    grounding=ModelSpec("IDEA-Research/grounding-dino-base", "grounding-dino", 0.93, 1.5),
    segmentation=ModelSpec("facebook/sam2.1-hiera-large", "sam2", 0.90, 1.5),
    inpainting=ModelSpec("diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "sdxl-inpaint", 6.9, 8.5),
    instruct=ModelSpec("timbrooks/instruct-pix2pix", "instruct-pix2pix", 2.2, 3.5),
    base=ModelSpec("stable-diffusion-v1-5/stable-diffusion-v1-5", "sd", 2.1, 3.5),
    steps=20,
    scheduler="dpm++",
    engines=("flux2-klein", "sdxl"),
)

LITE = Profile(
    name="lite",
    planner=ModelSpec("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava-onevision", 1.8, 2.0),
    grounding=ModelSpec("IDEA-Research/grounding-dino-tiny", "grounding-dino", 0.69, 1.0),
    segmentation=ModelSpec("facebook/sam2.1-hiera-tiny", "sam2", 0.16, 0.5),
    inpainting=ModelSpec("stable-diffusion-v1-5/stable-diffusion-inpainting", "sd-inpaint", 4.3, 3.0),
    instruct=ModelSpec("timbrooks/instruct-pix2pix", "instruct-pix2pix", 4.3, 3.0),
    base=ModelSpec("stable-diffusion-v1-5/stable-diffusion-v1-5", "sd", 4.3, 3.0),
    steps=20,
    scheduler="dpm++",
    verify=False,
    grounding_edge=480,
    planner_image="frame",
    quality="fast",
    lcm_lora=ModelSpec("latent-consistency/lcm-lora-sdv1-5", "lcm-lora", 0.13, 0.1),
)

TINY = Profile(
    name="tiny",
    planner=ModelSpec("tiny/llava", "llava"),
    grounding=ModelSpec("tiny/grounding-dino", "grounding-dino"),
    segmentation=ModelSpec("tiny/sam2", "sam2"),
    inpainting=ModelSpec("tiny/sd-inpaint", "sd-inpaint"),
    instruct=ModelSpec("tiny/instruct-pix2pix", "instruct-pix2pix"),
    base=ModelSpec("tiny/sd", "sd"),
    steps=2,
    # Random weights give random scores: keep every box, let selection and clarification work.
    box_threshold=0.0,
    text_threshold=0.0,
    verify=False,
    cpu_dtype="float32",    # tests compare pixels; bf16 is checked on its own (tests/test_bf16.py)
    lcm_lora=ModelSpec("tiny/lcm-lora", "lcm-lora"),   # for --quality fast; tiny's default is balanced
)

ENGINE_SPECS: dict[str, ModelSpec] = {"sd": LITE.inpainting, "sdxl": FULL.inpainting, "flux2-klein": FLUX2_KLEIN}
"""Engine name (:data:`tools.engines.ENGINES`) → its released model."""

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, LITE, TINY)}
PROFILE_NAMES = ("auto", *PROFILES)


def get_profile(name: str) -> Profile:
    """Return a named profile (``full``, ``lite``, ``tiny``); for ``auto`` see :func:`tools.loading.resolve_profile`."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInputError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}") from None

