"""Batch augmentation for overhead imagery: the 8 flips and 90-degree rotations, random
radiometric changes (gain, contrast, gamma, haze), and mixing two images of a batch (mixup,
CutMix)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.distributions import Gamma

from eurosat_kedro import perturbations
from eurosat_kedro.preprocessing import MEAN, STD


def dihedral(
    batch: torch.Tensor, generator: torch.Generator, flips: bool = True, rot90: bool = True
) -> torch.Tensor:
    """Apply to each image of an ``(N, C, H, W)`` batch a random flip and/or 90-degree turn.

    Draws come from ``generator`` (CPU), so a run is reproducible and resumable.
    """
    n = batch.shape[0]
    turns = torch.randint(0, 4 if rot90 else 1, (n,), generator=generator)
    mirror = torch.randint(0, 2 if flips else 1, (n,), generator=generator)
    if not (rot90 or flips):
        return batch
    out = batch.clone()
    for k in range(4):
        for m in range(2):
            mask = ((turns == k) & (mirror == m)).to(batch.device)
            if (k, m) == (0, 0) or not bool(mask.any()):
                continue
            part = batch[mask]
            if m:
                part = part.flip(-1)
            if k:
                part = torch.rot90(part, k, (-2, -1))
            out[mask] = part
    return out


def photometric(
    batch: torch.Tensor,
    generator: torch.Generator,
    probability: float = 0.0,
    gain: float = 0.0,
    contrast: float = 0.0,
    gamma: float = 0.0,
    haze: float = 0.0,
) -> torch.Tensor:
    """Change each image of a normalised ``(N, 3, H, W)`` batch, with ``probability``, as
    another sensor, season or atmosphere would: a brightness gain from ``[1 - gain,
    1 + gain]``, a contrast factor around the image's mean from ``[1 - contrast,
    1 + contrast]``, a gamma log-uniform in ``[1 / (1 + gamma), 1 + gamma]``, then a haze of
    strength from ``[0, haze]`` (the formulas of ``eurosat_kedro.perturbations``, on the 0-255
    scale, clipped to it, normalised again).

    Draws come from ``generator`` (CPU); with ``probability`` 0 it draws nothing and returns
    ``batch`` itself, so a run without it is the run it was before.
    """
    if probability <= 0:
        return batch
    n, shape = batch.shape[0], (batch.shape[0], 1, 1, 1)
    # one row an image: chosen?, gain, contrast, gamma, haze; each uniform in [0, 1)
    draws = torch.rand(n, 5, generator=generator).to(batch.device, batch.dtype)
    chosen, u_gain, u_contrast, u_gamma, u_haze = (draws[:, i].view(shape) for i in range(5))
    mean, std = (
        torch.as_tensor(stat, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
        for stat in (MEAN, STD)
    )
    pixels = batch * std + mean  # back on the 0-255 scale
    pixels = perturbations.gain(pixels, 1 + gain * (2 * u_gain - 1))
    image_mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = perturbations.contrast(pixels, 1 + contrast * (2 * u_contrast - 1), image_mean)
    pixels = perturbations.gamma(pixels, torch.exp((2 * u_gamma - 1) * math.log1p(gamma)))
    pixels = perturbations.haze(pixels, haze * u_haze).clip(0.0, 255.0)
    return torch.where(chosen < probability, (pixels - mean) / std, batch)


@dataclass(frozen=True)
class Mixed:
    """A mixed batch: ``images`` hold ``share`` of image i and ``1 - share`` of image
    ``partner[i]``, so the loss is
    ``share * loss(labels) + (1 - share) * loss(labels[partner])``."""

    images: torch.Tensor
    partner: torch.Tensor
    share: float


def mix_batch(
    batch: torch.Tensor,
    generator: torch.Generator,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    probability: float = 1.0,
) -> Mixed | None:
    """With ``probability``, mix each image with another of the batch: mixup blends the pixels,
    CutMix pastes a box of the other image (one of the two, at random, when both alphas are
    set). The share comes from Beta(alpha, alpha); CutMix's share is the box's exact area.
    None when the batch stays as it is. Draws come from ``generator``."""
    kinds = [kind for kind, alpha in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if alpha]
    if not kinds or float(torch.rand(1, generator=generator)) >= probability:
        return None
    kind = kinds[int(torch.randint(len(kinds), (1,), generator=generator))]
    alpha = mixup_alpha if kind == "mixup" else cutmix_alpha
    share = beta_draw(alpha, generator)
    partner = torch.randperm(batch.shape[0], generator=generator).to(batch.device)
    if kind == "mixup":
        return Mixed(share * batch + (1 - share) * batch[partner], partner, share)
    height, width = batch.shape[-2:]
    cut = (1 - share) ** 0.5
    box_h, box_w = round(height * cut), round(width * cut)
    top = int(torch.randint(height - box_h + 1, (1,), generator=generator))
    left = int(torch.randint(width - box_w + 1, (1,), generator=generator))
    images = batch.clone()
    images[..., top : top + box_h, left : left + box_w] = batch[partner][
        ..., top : top + box_h, left : left + box_w
    ]
    return Mixed(images, partner, 1 - box_h * box_w / (height * width))


def augment_batch(batch: torch.Tensor, generator: torch.Generator, settings: dict) -> torch.Tensor:
    """The ``training.augment`` settings applied to a batch: the flips and turns
    (``dihedral``), then the radiometric changes of its ``photometric`` block."""
    geometric = {key: value for key, value in settings.items() if key != "photometric"}
    batch = dihedral(batch, generator, **geometric)
    return photometric(batch, generator, **settings.get("photometric", {}))


def flips_and_turns_only(settings: dict) -> bool:
    """Whether the ``training.augment`` ``settings`` change an image by a flip or a turn
    alone (no photometric change): a TTA teacher then answers the same for the augmented
    image as for the stored one."""
    return not settings.get("photometric", {}).get("probability", 0.0)


def beta_draw(alpha: float, generator: torch.Generator) -> float:
    """One draw from Beta(alpha, alpha), from ``generator``: the first of two Gamma(alpha)
    draws over their sum. ``torch.distributions.Beta`` has no ``generator`` argument in
    torch 2.14 (it draws from the global RNG; pytorch/pytorch#182687 would add one);
    ``Gamma.sample`` has one."""
    gammas = Gamma(torch.full((2,), float(alpha)), 1.0).sample(generator=generator)
    return float(gammas[0] / gammas.sum())


def _options(function: Callable) -> dict[str, type]:
    """The settings ``function`` takes after the batch and the generator, each with the type
    of its default: what the ``training.augment`` or ``training.mixing`` keys may be."""
    settings = list(inspect.signature(function).parameters.values())[2:]
    return {setting.name: type(setting.default) for setting in settings}


AUGMENT_OPTIONS = {**_options(dihedral), "photometric": dict}  # flips, rot90, photometric
PHOTOMETRIC_OPTIONS = _options(photometric)  # probability, gain, contrast, gamma, haze
MIXING_OPTIONS = _options(mix_batch)  # mixup_alpha, cutmix_alpha, probability
