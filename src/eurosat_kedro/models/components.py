"""Building blocks shared by the project's architectures (as lightning-hydra-template's
``models/components``)."""

from __future__ import annotations

from torch import nn


def classifier_head(channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Global average pooling, dropout and a linear layer: the head of simple_cnn and
    tile_resnet. Its state-dict keys are ``<name>.3.weight`` and ``<name>.3.bias``."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(channels, num_classes),
    )
