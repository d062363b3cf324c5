"""Trained models side by side on the same test images: accuracy and macro F1 with their 95%
intervals, and McNemar's exact test between every pair (``eurosat_kedro.comparison``, as the
evaluation pipeline's ``compare_with_teacher`` computes them).

    .venv/bin/python scripts/compare_models.py NAME=PATH[:tta] ... [--split TEST.npz] [--json F]

Each model is a ``model.pt`` saved by the training pipeline; ``:tta`` evaluates it with the
8 flips/rotations averaged (``evaluation.tta``). Example (docs/distillation.md):

    .venv/bin/python scripts/compare_models.py teacher=data/06_models/teacher.pt:tta \\
        student=data/06_models/model.pt plain=data/06_models/teacher.pt

``--split`` defaults to data/05_model_input/test.npz. The split must be one the models were
not selected on (the test split of their run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eurosat_kedro.comparison import side_by_side
from eurosat_kedro.datasets.torch_model_dataset import TorchModelDataset
from eurosat_kedro.models.factory import load_trained_model
from eurosat_kedro.models.predict import predict_logits


def parse_model(text: str) -> tuple[str, Path, bool]:
    """``NAME=PATH[:tta]`` -> (name, path, tta)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise SystemExit(f"expected NAME=PATH[:tta], got {text!r}")
    tta = rest.endswith(":tta")
    path = Path(rest.removesuffix(":tta"))
    if not path.is_file():
        raise SystemExit(f"{name}: no model file at {path} (a model.pt of the training pipeline)")
    return name, path, tta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=PATH[:tta]")
    parser.add_argument("--split", default="data/05_model_input/test.npz")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    models = [parse_model(text) for text in args.models]  # every file checked before any work
    if not Path(args.split).is_file():
        raise SystemExit(
            f"no split at {args.split}: run `kedro run --pipelines data_processing` first, or "
            "pass --split with the test split (.npz) the models were trained beside"
        )
    split = np.load(args.split)
    images, labels = split["images"], split["labels"]
    predicted, files, classes = {}, {}, None
    for name, path, tta in models:
        trained = TorchModelDataset(filepath=str(path)).load()
        if classes is not None and trained.classes != classes:
            raise SystemExit(f"{name} ({path}) knows other classes than the models before it")
        classes = trained.classes
        predicted[name] = predict_logits(load_trained_model(trained, tta), images).argmax(1)
        files[name] = {"model": str(path), "tta": tta}
    figures = side_by_side(predicted, labels, len(classes))
    for name, row in figures["models"].items():
        row.update(model=files[name]["model"], tta=files[name]["tta"])
    print(f"{len(labels)} images of {args.split}\n")
    print(f"{'model':<12}{'tta':<6}{'accuracy (95% CI)':<28}{'macro F1 (95% CI)':<28}")
    for name, row in figures["models"].items():
        acc, low, high = row["accuracy"], row["accuracy_ci_low"], row["accuracy_ci_high"]
        f1, f1_low, f1_high = row["macro_f1"], row["macro_f1_ci_low"], row["macro_f1_ci_high"]
        print(
            f"{name:<12}{'yes' if row['tta'] else 'no':<6}"
            f"{f'{acc:.2%} ({low:.2%}-{high:.2%})':<28}"
            f"{f'{f1:.2%} ({f1_low:.2%}-{f1_high:.2%})':<28}"
        )
    print("\nMcNemar's exact test (n01: only the first right; n10: only the second)")
    for pair, test in figures["pairs"].items():
        print(f"  {pair}: n01 {test['n01']}, n10 {test['n10']}, p = {test['p_value']:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
