"""Knowledge distillation: the student learns, beside the labels, the teacher's softened
logits on the very batch it sees (Hinton et al. 2015, "Distilling the knowledge in a neural
network"; the teacher sees the same augmented and mixed view, as Beyer et al. 2022, "A good
teacher is patient and consistent"). The recipe is the ``training.distill`` block;
docs/distillation.md has the commands."""

from __future__ import annotations

import hashlib
import logging
import time
import typing
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse
from torch.nn import functional as F

from eurosat_kedro.models.factory import DihedralTTA

if TYPE_CHECKING:
    from .config import TrainConfig
    from .device import Placement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillSettings:
    """The ``training.distill`` parameters. ``teacher`` null trains without a teacher."""

    teacher: str | None = None  # the teacher's trained_model file (the catalog's teacher_model)
    tta: bool = True  # the teacher is the mean logits over the 8 flips/rotations of a batch
    temperature: float = 4.0  # both logits are divided by it before the softmax
    alpha: float = 0.9  # weight of the distillation term; 1 - alpha weighs the labels' loss

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(
                f"training.distill.temperature must be above 0, got {self.temperature}"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"training.distill.alpha must be in [0, 1], got {self.alpha}")

    @property
    def on(self) -> bool:
        return self.teacher is not None

    def fingerprint(self) -> dict:
        """What the recipe holds of these settings: all but the path (a teacher is known by
        its weights, ``weights_sha256``, wherever its file lies)."""
        return {key: value for key, value in asdict(self).items() if key != "teacher"}


DISTILL_OPTIONS = typing.get_type_hints(DistillSettings)  # teacher, tta, temperature, alpha


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, the mean over the batch,
    in fp32 whatever the autocast. ``T^2`` keeps its gradients on the scale of the labels'
    loss whatever the temperature."""
    student = F.log_softmax(student_logits.float() / temperature, dim=1)
    teacher = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    divergence = F.kl_div(student, teacher, reduction="batchmean", log_target=True)
    return divergence * temperature**2


@dataclass
class Teacher:
    """The teacher network of a run (eval mode, no gradients, on the run's device and memory
    layout) and how its logits weigh in the loss.

    A TTA teacher (``DihedralTTA``: the mean over the 8 flips and turns of an image) answers
    the same for every flip or turn of an image. So when the student's images are only
    flipped and turned (no photometric change), the teacher's logits on an unmixed image are
    its logits on the stored image: ``remember`` computes those once per training image, and
    ``blend`` looks them up instead of running the 8 passes again. Mixed batches (mixup,
    CutMix) are new images each time and still run the teacher."""

    network: nn.Module
    temperature: float
    alpha: float
    flip_invariant: bool = False  # a DihedralTTA teacher: the same logits for every flip/turn
    remembered: torch.Tensor | None = None  # its logits on each training image (``remember``)

    @classmethod
    def on_placement(
        cls,
        network: nn.Module,
        settings: DistillSettings,
        placement: Placement,
        compiled: bool = False,
    ) -> Teacher:
        """``network`` frozen, its BatchNorm layers folded into the convolutions before them
        (``folded``), and moved where the student trains, in its memory layout, with the
        recipe's temperature and alpha. ``compiled`` (``runtime.compile_teacher``): through
        ``torch.compile`` as well, compiled at the first batch."""
        flip_invariant = isinstance(network, DihedralTTA)
        network = folded(network.eval())
        network = network.to(placement.device, memory_format=placement.memory_format)
        network.eval().requires_grad_(False)
        if compiled:
            network = torch.compile(network, dynamic=False)
        return cls(network, settings.temperature, settings.alpha, flip_invariant)

    def remember(self, images: torch.Tensor, placement: Placement, batch_size: int) -> None:
        """Compute the teacher's logits on each of ``images`` (the normalised training split)
        once, in ``placement``'s precision and layout and in batches of ``batch_size`` (the
        last one padded, so a compiled teacher sees one shape): what ``blend`` then looks up
        for unmixed batches. Only a flip-invariant teacher's logits can be remembered."""
        if not self.flip_invariant:
            raise ValueError(
                "only a TTA teacher (DihedralTTA) answers the same for every flip and turn of "
                "an image; this teacher's logits depend on the view and cannot be remembered"
            )
        started, parts = time.perf_counter(), []
        with torch.no_grad(), placement.autocast():
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size]
                size = len(batch)
                if size < batch_size:  # padded with the split's first images, repeated
                    padding = torch.arange(batch_size - size, device=images.device) % len(images)
                    batch = torch.cat([batch, images[padding]])
                batch = batch.contiguous(memory_format=placement.memory_format)
                parts.append(self.network(batch)[:size])
        self.remembered = torch.cat(parts)
        logger.info(
            "The TTA teacher's logits on the %d training images, computed once in %.0f s: "
            "unmixed batches look them up, mixed ones run the teacher",
            len(images),
            time.perf_counter() - started,
        )

    def logits(self, images: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's logits on ``images``: looked up when ``indices`` (of the training
        images they are flips or turns of, unmixed) is given and ``remember`` has run,
        computed otherwise."""
        if indices is not None and self.remembered is not None:
            return self.remembered[indices]
        with torch.no_grad():
            return self.network(images)

    def blend(
        self,
        student_logits: torch.Tensor,
        images: torch.Tensor,
        labels_loss: torch.Tensor,
        indices: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``alpha`` times the distillation loss against the teacher's logits on ``images``
        (the batch the student saw, in the caller's autocast; ``indices``: see ``logits``)
        plus ``1 - alpha`` times the labels' loss."""
        teacher_logits = self.logits(images, indices)
        soft = distillation_loss(student_logits, teacher_logits, self.temperature)
        return self.alpha * soft + (1 - self.alpha) * labels_loss


def folded(network: nn.Module) -> nn.Module:
    """A copy of ``network`` (in eval mode) with each BatchNorm that follows a convolution
    folded into that convolution's weights and bias (``torch.fx``'s ``fuse``): the same
    function in fp32 (up to rounding), one pass over the activations less per layer. The
    teacher's forward passes, eight per image with TTA, are most of a distilling step: this
    takes about a sixth off them on this project's CPU (docs/distillation.md). A network
    torch.fx cannot trace is returned as it is."""
    try:
        return fuse(network)
    except Exception as error:  # fx tracing fails in many ways, and folding is optional
        logger.info("The teacher's BatchNorm layers stay apart (torch.fx: %s)", error)
        return network


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and bytes: the teacher's identity in
    the recipe, so a run resumes only under the teacher that started it."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def teacher_for(
    network: nn.Module | None, cfg: TrainConfig, placement: Placement, compiled: bool = False
) -> Teacher | None:
    """The run's ``Teacher``: ``network`` when the recipe ``cfg`` distills (through
    ``torch.compile`` when ``compiled``), None when it does not; a teacher without the
    recipe's ``distill.teacher``, or the reverse, is an error."""
    settings = cfg.distillation
    if network is None and not settings.on:
        return None
    if network is None:
        raise ValueError(
            f"training.distill.teacher is {settings.teacher!r} but no teacher network was "
            "given: load it (the catalog's teacher_model) and pass it as teacher"
        )
    if not settings.on:
        raise ValueError(
            "a teacher network was given but training.distill.teacher is null: set it to the "
            "teacher's file, so the recipe records which teacher the student learned from"
        )
    if not cfg.teacher_sha256:
        raise ValueError(
            "training.distill names a teacher but the recipe lacks its weights' sha256, which "
            "a resumed run is checked against: dataclasses.replace(cfg, teacher_sha256="
            "weights_sha256(teacher's state dict))"
        )
    return Teacher.on_placement(network, settings, placement, compiled)
