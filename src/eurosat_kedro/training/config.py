"""The two halves of a training run's settings: the recipe (``training`` parameters: what makes
one model differ from another) and the runtime (``runtime`` parameters: where and how fast it
trains). A checkpoint resumes under another runtime, never under another recipe."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .augment import (
    AUGMENT_OPTIONS,
    MIXING_OPTIONS,
    PHOTOMETRIC_OPTIONS,
    flips_and_turns_only,
)
from .distill import DISTILL_OPTIONS, DistillSettings

_KINDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a mapping",
    type(None): "null",
}


def _fits(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_values(section: str, values: dict[str, Any], kinds: dict[str, Any]) -> None:
    """Each value has its kind (``None`` only where the kind allows it); an error names the
    parameter, so ``ema_decay: null`` fails at config time and not at the first step."""
    for key, value in values.items():
        allowed = typing.get_args(kinds[key]) or (kinds[key],)
        if not any(value is None if kind is type(None) else _fits(value, kind) for kind in allowed):
            wanted = " or ".join(_KINDS[kind] for kind in allowed)
            shown = "null" if value is None else repr(value)
            raise ValueError(f"{section}.{key} must be {wanted}, got {shown}")


def _check_keys(section: str, given: dict[str, Any], known: set[str], noun: str) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown {section} {noun}(s) {unknown}; known: {sorted(known)}")


# The range of each training.augment.photometric setting, in words.
_PHOTOMETRIC_RANGES = {
    "probability": (0.0, 1.0, "between 0 (off) and 1"),
    "gain": (0.0, 1.0, "between 0 and 1 (factors from 1 - gain to 1 + gain)"),
    "contrast": (0.0, 1.0, "between 0 and 1 (factors from 1 - contrast to 1 + contrast)"),
    "gamma": (0.0, 4.0, "between 0 and 4 (exponents from 1 / (1 + gamma) to 1 + gamma)"),
    "haze": (0.0, 1.0, "between 0 and 1 (blend strengths from 0 to haze)"),
}


def _check_photometric(settings: dict[str, Any]) -> None:
    """``training.augment.photometric``: known keys, numbers, each within its range."""
    section = "training.augment.photometric"
    _check_keys(section, settings, set(PHOTOMETRIC_OPTIONS), "key")
    _check_values(section, settings, PHOTOMETRIC_OPTIONS)
    for key, value in settings.items():
        low, high, wanted = _PHOTOMETRIC_RANGES[key]
        if not low <= value <= high:
            raise ValueError(f"{section}.{key} must be {wanted}, got {value}")


@dataclass(frozen=True)
class TrainConfig:
    """The recipe, from the ``training`` parameters: every setting that changes what is
    learned. Two runs with the same recipe (and model) train the same model; a checkpoint
    resumes only under the recipe that wrote it (``fingerprint``)."""

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 3e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "onecycle"  # onecycle | cosine | constant
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.1
    augment: dict = field(default_factory=lambda: {"flips": True, "rot90": True})  # + photometric
    mixing: dict = field(default_factory=dict)  # mixup_alpha, cutmix_alpha, probability
    ema_decay: float = 0.0  # >0: validate, keep and save an exponential moving average
    distill: dict = field(default_factory=dict)  # teacher (null: off), tta, temperature, alpha
    patience: int = 0  # epochs without val-accuracy gain before stopping; 0 never stops
    seed: int = 42
    eval_batch_size: int = 512
    model_spec: dict = field(default_factory=dict)  # the model parameters, for resume checks
    teacher_sha256: str | None = None  # distill.weights_sha256 of the teacher; set by its loader

    @classmethod
    def from_params(cls, params: dict[str, Any], model_spec: dict | None = None) -> TrainConfig:
        """The recipe from the ``training`` parameters; an unknown key is an error naming it."""
        moved = sorted(set(params) & {f.name for f in fields(RuntimeConfig)})
        if moved:
            raise ValueError(
                f"training.{moved[0]} is now runtime.{moved[0]}: the runtime parameters "
                f"({', '.join(moved)}) moved to their own block beside training"
            )
        known = {f.name for f in fields(cls)} - {"model_spec", "teacher_sha256"}
        _check_keys("training", params, known, "parameter")
        return cls(**params, model_spec=dict(model_spec or {}))

    def __post_init__(self) -> None:
        _check_values("training", asdict(self), typing.get_type_hints(type(self)))
        for name, options in (("augment", AUGMENT_OPTIONS), ("mixing", MIXING_OPTIONS)):
            _check_keys(f"training.{name}", getattr(self, name), set(options), "key")
            _check_values(f"training.{name}", getattr(self, name), options)
        _check_photometric(self.augment.get("photometric", {}))
        _check_keys("training.distill", self.distill, set(DISTILL_OPTIONS), "key")
        _check_values("training.distill", self.distill, DISTILL_OPTIONS)
        DistillSettings(**self.distill)  # its ranges
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"training.ema_decay must be in [0, 1), got {self.ema_decay}")

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed: the whole recipe. A photometric
        block that is off (probability 0) trains as no block does, so it is left out: older
        checkpoints resume under it; so is the ``distill`` block while it names no teacher.
        With one, the teacher counts by its weights (``teacher_sha256``), not its path."""
        recipe = asdict(self)
        if flips_and_turns_only(self.augment):
            recipe["augment"].pop("photometric", None)
        del recipe["distill"], recipe["teacher_sha256"]
        if self.distillation.on:
            recipe["distill"] = self.distillation.fingerprint()
            recipe["teacher_sha256"] = self.teacher_sha256
        return recipe

    def without_teacher(self) -> TrainConfig:
        """This recipe learning from the labels alone: what the teacher of its distillation
        trains on (the ``teacher`` pipeline), so teacher and student share one recipe."""
        return replace(self, distill={**self.distill, "teacher": None}, teacher_sha256=None)

    @property
    def distillation(self) -> DistillSettings:
        """The ``distill`` block with its defaults; ``.on`` when it names a teacher."""
        return DistillSettings(**self.distill)


@dataclass(frozen=True)
class RuntimeConfig:
    """The machine side, from the ``runtime`` parameters: where and how fast a recipe trains.
    Changing it never makes another model, though figures may differ in the last digits
    (another CPU, thread count or precision)."""

    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | mps
    num_threads: int = 0  # 0 keeps torch's default
    amp: bool = True  # fp16 mixed precision on CUDA
    cpu_bf16: bool = False  # bf16 mixed precision on CPUs with native bf16 (AVX-512 BF16, AMX)
    channels_last: bool = True  # NHWC memory layout on CUDA, and on CPU with cpu_bf16
    num_processes: int = 1  # >1: DistributedDataParallel
    engine: str = "local"  # local: processes spawned here | spark: Spark's TorchDistributor
    spark_local_mode: bool = False  # engine spark: ranks on the driver, not on the executors
    resume: bool = False  # continue from checkpoint_path
    checkpoint_path: str | None = None  # written every epoch (rank 0); None: no checkpoints
    teacher_checkpoint_path: str | None = None  # the teacher pipeline's own checkpoint_path
    system_metrics_interval: float = 10.0  # seconds between MLflow system/* samples; 0: off
    compile_teacher: bool = False  # distillation: torch.compile the teacher (one-off compile)
    remember_teacher: bool = True  # distillation: a TTA teacher's logits on unmixed images
    #   computed once per image and looked up (the same up to rounding; Teacher.remember)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RuntimeConfig:
        """The runtime from the ``runtime`` parameters; an unknown key is an error naming it."""
        _check_keys("runtime", params, {f.name for f in fields(cls)}, "parameter")
        return cls(**params)

    def for_teacher(self) -> RuntimeConfig:
        """This machine training the teacher of a distillation (the ``teacher`` pipeline):
        checkpoints at ``teacher_checkpoint_path``, so the student's never overwrite them."""
        return replace(self, checkpoint_path=self.teacher_checkpoint_path)

    def __post_init__(self) -> None:
        _check_values("runtime", asdict(self), typing.get_type_hints(type(self)))
        if self.engine not in ("local", "spark"):
            raise ValueError(f"runtime.engine must be local or spark, got {self.engine!r}")
        if self.num_processes < 1:
            raise ValueError(f"runtime.num_processes must be 1 or more, got {self.num_processes}")
        if self.system_metrics_interval < 0:
            raise ValueError(
                "runtime.system_metrics_interval must be 0 (off) or a number of seconds, got "
                f"{self.system_metrics_interval}"
            )
