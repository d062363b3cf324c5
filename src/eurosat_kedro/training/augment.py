"""Batch augmentation for overhead imagery: the 8 flips and 90-degree rotations."""

from __future__ import annotations

import torch


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
