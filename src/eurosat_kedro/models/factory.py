"""Build a model from its parameters: ``simple_cnn``, ``tile_resnet`` or torchvision's
``resnet18``."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from .simple_cnn import SimpleCNN
from .tile_resnet import TileResNet

logger = logging.getLogger(__name__)

MODEL_NAMES = ("simple_cnn", "tile_resnet", "resnet18")


class ResizeTo(nn.Module):
    """Resize a batch on the fly (bilinear), e.g. 64x64 tiles to the 224x224 of ImageNet."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):
        return nn.functional.interpolate(
            x, size=(self.size, self.size), mode="bilinear", align_corners=False
        )


def _resnet18(num_classes: int, pretrained: bool, weights_path: str | None, stem: str) -> nn.Module:
    if pretrained and not weights_path:
        try:
            model = torchvision.models.resnet18(
                weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1
            )
        except Exception as error:  # noqa: BLE001 - any fetch failure gets the same advice
            raise RuntimeError(
                f"Could not fetch ImageNet weights for resnet18 ({error}). Without internet, "
                "set model.pretrained=false to train from scratch, or set model.weights_path "
                "to a local resnet18 weights file (.pth)."
            ) from error
    else:
        model = torchvision.models.resnet18(weights=None)
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"model.weights_path {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"fc.weight", "fc.bias"}:
            raise ValueError(
                f"{path} is not a resnet18 state dict (missing {missing}, unexpected {unexpected})"
            )
        logger.info("Loaded resnet18 weights from %s", path)
    if stem == "small":  # 3x3 stride-1 stem without max-pool: keeps detail of 64x64 tiles
        model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif stem != "imagenet":
        raise ValueError(f"model.stem must be 'imagenet' or 'small', got {stem!r}")
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model: the ``model`` parameters plus the class count.

    Saved inside the trained model (``TorchModelDataset``) so evaluation, export and resume
    rebuild exactly the trained architecture.
    """

    name: str
    num_classes: int = 10
    image_size: int = 64  # 64, or e.g. 224 to resize batches on the fly
    pretrained: bool = False  # ImageNet weights via torchvision (resnet18; needs internet)
    weights_path: str | None = None  # a local resnet18 .pth instead of fetching weights
    stem: str = "imagenet"  # resnet18: imagenet (7x7/2 + max-pool) | small (3x3/1)
    width: int = 32  # simple_cnn, tile_resnet: channels of the first stage
    dropout: float = 0.2  # simple_cnn, tile_resnet: dropout before the classifier

    @classmethod
    def from_params(cls, model_params: dict[str, Any], num_classes: int) -> ModelSpec:
        """The spec from the ``model`` parameters; an unknown key is an error naming it."""
        known = {f.name for f in fields(cls)} - {"num_classes"}
        unknown = sorted(set(model_params) - known)
        if unknown:
            raise ValueError(f"unknown model parameter(s) {unknown}; known: {sorted(known)}")
        return cls(num_classes=num_classes, **model_params)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_rebuild(self) -> ModelSpec:
        """The same architecture without fetching or reading initial weights again."""
        return ModelSpec(**{**asdict(self), "pretrained": False, "weights_path": None})


def build_model(spec: ModelSpec) -> nn.Module:
    """The architecture ``spec`` names with a ``num_classes`` head; resizes inputs when
    ``image_size`` is not 64."""
    if spec.name in ("simple_cnn", "tile_resnet"):
        if spec.pretrained or spec.weights_path:
            raise ValueError(f"{spec.name} has no pretrained weights: set model.pretrained=false")
        network = SimpleCNN if spec.name == "simple_cnn" else TileResNet
        model = network(spec.num_classes, width=spec.width, dropout=spec.dropout)
    elif spec.name == "resnet18":
        model = _resnet18(spec.num_classes, spec.pretrained, spec.weights_path, spec.stem)
    else:
        raise ValueError(f"model.name must be one of {MODEL_NAMES}, got {spec.name!r}")
    if spec.image_size != 64:
        model = nn.Sequential(ResizeTo(spec.image_size), model)
    return model


class DihedralTTA(nn.Module):
    """Test-time augmentation: the mean logits over the 8 flips and 90-degree rotations.

    Overhead tiles have no "up", so the 8 views are equally valid; averaging them is a
    cheap accuracy gain for 8x the inference compute. Exported to ONNX as part of the model.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        mirrored = x.flip(-1)
        views = [x, mirrored] + [
            torch.rot90(v, k, (-2, -1)) for k in (1, 2, 3) for v in (x, mirrored)
        ]
        logits = self.model(torch.cat(views))
        return logits.reshape(len(views), x.shape[0], -1).mean(0)


@dataclass(frozen=True)
class TrainedModel:
    """What the training pipeline produces and evaluation, export and resume consume: the
    best weights, the spec that rebuilds their architecture, and the class names (label i is
    ``classes[i]``). Stored by ``TorchModelDataset`` as plain tensors and values
    (``to_dict``), so loading it never runs code from the file."""

    state_dict: dict[str, torch.Tensor]
    spec: ModelSpec
    classes: tuple[str, ...]
    best_epoch: int = 0
    best_val_accuracy: float = float("nan")
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_dict": self.state_dict,
            "spec": self.spec.to_dict(),
            "classes": list(self.classes),
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy,
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the trained model") -> TrainedModel:
        """The model from ``to_dict``'s output; a missing key is an error naming it."""
        missing = [key for key in ("state_dict", "spec", "classes") if key not in data]
        if missing:
            raise ValueError(
                f"{source} lacks {missing}: it was not saved by the training pipeline; "
                "run `kedro run --pipelines training` again"
            )
        return cls(
            state_dict=data["state_dict"],
            spec=ModelSpec(**data["spec"]),
            classes=tuple(data["classes"]),
            best_epoch=int(data.get("best_epoch", 0)),
            best_val_accuracy=float(data.get("best_val_accuracy", float("nan"))),
            versions=dict(data.get("versions", {})),
        )


class TemperatureScaled(nn.Module):
    """Logits divided by a fitted temperature (``eurosat_kedro.calibration``): the same
    predicted class, calibrated probabilities after the softmax. Exported inside the ONNX
    graph."""

    def __init__(self, model: nn.Module, temperature: float):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"a temperature must be positive, got {temperature}")
        self.model = model
        self.register_buffer("inverse_temperature", torch.tensor(1.0 / temperature))

    def forward(self, x):
        return self.model(x) * self.inverse_temperature


def load_trained_model(
    trained: TrainedModel, tta: bool = False, temperature: float = 1.0
) -> nn.Module:
    """Rebuild a trained model in eval mode, wrapped in DihedralTTA when ``tta``, its logits
    divided by ``temperature`` when it is not 1."""
    model = build_model(trained.spec)
    model.load_state_dict(trained.state_dict)
    if tta:
        model = DihedralTTA(model)
    if temperature != 1.0:
        model = TemperatureScaled(model, temperature)
    return model.eval()
