"""A ResNet built for 64x64 tiles: torchvision's BasicBlocks behind a 3x3 stride-2 stem."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock

from .components import classifier_head


def _stage(c_in: int, c_out: int, blocks: int, stride: int) -> list[nn.Module]:
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )
    layers: list[nn.Module] = [BasicBlock(c_in, c_out, stride, shortcut)]
    return layers + [BasicBlock(c_out, c_out) for _ in range(blocks - 1)]


class TileResNet(nn.Module):
    """ResNet-18's four stages of two BasicBlocks (``width``, 2x, 4x, 8x channels) behind a
    3x3 stride-2 stem without max-pool.

    torchvision's ImageNet stem (7x7 stride 2, then max-pool) shrinks a 64x64 tile to 16x16
    before the first block and ends on 2x2 maps; this stem keeps 32x32 and ends on 4x4. At
    width 32 it costs about what simple_cnn does (2.8 M parameters).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.0):
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv2d(3, w, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        self.features = nn.Sequential(
            *_stage(w, w, 2, 1),
            *_stage(w, 2 * w, 2, 2),
            *_stage(2 * w, 4 * w, 2, 2),
            *_stage(4 * w, 8 * w, 2, 2),
        )
        self.head = classifier_head(8 * w, num_classes, dropout)
        for module in self.modules():  # torchvision's initialisation for ResNets
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():  # each residual branch starts as the identity
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x):
        return self.head(self.features(self.stem(x)))
