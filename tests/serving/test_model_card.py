"""ModelCard: the ONNX metadata written and read in one place."""

from __future__ import annotations

import pytest

from eurosat_kedro.serving.model_card import ModelCard
from tests.conftest import tiny_onnx


def test_a_card_survives_the_onnx_metadata():
    card = ModelCard(("A", "B"), "simple_cnn", 18, "2.14.1", tta=True, full_map_convs_as_matmul=3)
    model = tiny_onnx({"stale": "x", "precision": "int8"})
    card.write_to(model)
    assert ModelCard.of(model) == card
    assert {p.key for p in model.metadata_props} == set(card.to_props())  # stale keys gone
    assert card.to_props()["tta"] == "true" and card.to_props()["classes"] == "A,B"


def test_missing_keys_take_defaults_but_classes_are_required():
    card = ModelCard.from_props({"classes": "A,B,C", "unknown_key": "1"})
    assert card.classes == ("A", "B", "C") and card.precision == "fp32" and not card.tta
    with pytest.raises(ValueError, match="m.onnx has no class names"):
        ModelCard.from_props({"precision": "fp32"}, "m.onnx")


def test_with_precision_changes_only_the_precision():
    card = ModelCard(("A",), "resnet18", 18)
    assert card.with_precision("int8") == ModelCard(("A",), "resnet18", 18, precision="int8")
