"""A small VGG-style baseline CNN for 64x64 inputs."""

from __future__ import annotations

from torch import nn

from .components import classifier_head


def _block(c_in: int, c_out: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
    return layers + [nn.MaxPool2d(2)]


class SimpleCNN(nn.Module):
    """Four conv stages (1, 2, 2 and 2 convs of 32-64-128-256 channels, BatchNorm, max-pool),
    global average pooling, dropout, linear classifier. One conv at full resolution keeps it
    fast on CPUs."""

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.2):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_block(3, w, 1),
            *_block(w, 2 * w, 2),
            *_block(2 * w, 4 * w, 2),
            *_block(4 * w, 8 * w, 2),
        )
        self.head = classifier_head(8 * w, num_classes, dropout)

    def forward(self, x):
        return self.head(self.features(x))
