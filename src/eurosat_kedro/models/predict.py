"""Logits of a PyTorch model for uint8 images, through the shared preprocessing."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from eurosat_kedro.preprocessing import normalize


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 512, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Logits for uint8 ``(N, 64, 64, 3)`` images, in batches of ``batch_size``."""
    model.eval()
    device = torch.device(device)
    out = [
        model(torch.from_numpy(normalize(images[i : i + batch_size])).to(device))
        .float()
        .cpu()
        .numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
