"""The ONNX model card: what the exported model records about itself in its metadata
properties, read and written in one place. No torch, no onnx import: a card reads the
properties of an ``onnx.ModelProto`` or of an ONNX Runtime session alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

PREPROCESSING = "eurosat_kedro.preprocessing.normalize"
DEFAULT_PRECISION = "fp32"  # what an export writes; int8 after quantisation


@dataclass(frozen=True)
class ModelCard:
    """Class names (label i is ``classes[i]``), the architecture, how it was exported, and
    the precision of its weights."""

    classes: tuple[str, ...]
    model_name: str = "unknown"
    opset: int = 0
    torch: str = "unknown"
    preprocessing: str = PREPROCESSING
    tta: bool = False
    precision: str = DEFAULT_PRECISION
    full_map_convs_as_matmul: int = 0  # convolutions exported as matrix products
    # the graph's logits are divided by this (fitted on the validation split; 1: uncalibrated)
    temperature: float = 1.0
    # a top-class probability below this answers "unknown" (chosen on the validation split
    # for a target coverage; 0: never)
    unknown_threshold: float = 0.0

    def to_props(self) -> dict[str, str]:
        """The metadata properties (all strings) as ``onnx.helper.set_model_props`` takes them."""
        return {
            "classes": ",".join(self.classes),
            "model_name": self.model_name,
            "opset": str(self.opset),
            "torch": self.torch,
            "preprocessing": self.preprocessing,
            "tta": str(self.tta).lower(),
            "precision": self.precision,
            "full_map_convs_as_matmul": str(self.full_map_convs_as_matmul),
            "temperature": repr(float(self.temperature)),
            "unknown_threshold": repr(float(self.unknown_threshold)),
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "the ONNX model") -> ModelCard:
        """The card of metadata properties; missing class names are an error naming
        ``source``, other missing keys take their defaults."""
        if not props.get("classes"):
            raise ValueError(
                f"{source} has no class names in its metadata: export it with the "
                "deployment pipeline"
            )
        known = {field.name for field in fields(cls)}
        values = {key: value for key, value in props.items() if key in known}
        return cls(
            classes=tuple(values.pop("classes").split(",")),
            **{key: _parse(key, value) for key, value in values.items()},
        )

    @classmethod
    def of(cls, onnx_model, source: str = "the ONNX model") -> ModelCard:
        """The card of an ``onnx.ModelProto``."""
        return cls.from_props({p.key: p.value for p in onnx_model.metadata_props}, source)

    def write_to(self, onnx_model) -> None:
        """Set the card as ``onnx_model``'s metadata properties (replacing any)."""
        import onnx

        del onnx_model.metadata_props[:]
        onnx.helper.set_model_props(onnx_model, self.to_props())

    def with_precision(self, precision: str) -> ModelCard:
        return replace(self, precision=precision)


def _parse(key: str, value: str):
    if key in ("opset", "full_map_convs_as_matmul"):
        return int(value) if value.lstrip("-").isdigit() else 0
    if key == "tta":
        return value.lower() == "true"
    if key == "temperature":
        return _float(value, 1.0)
    if key == "unknown_threshold":
        return _float(value, 0.0)
    return value


def _float(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        return default
