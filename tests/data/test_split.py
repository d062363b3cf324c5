"""stratified_split: exact, disjoint, deterministic."""

from __future__ import annotations

import pandas as pd
import pytest

from eurosat_kedro.data.split import stratified_split

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def _index(counts: dict[int, int]) -> pd.DataFrame:
    rows = [(f"c{label}/img_{i}.jpg", label, True) for label, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["path", "label", "valid"])


def test_each_class_within_one_image_of_the_fractions():
    index = _index({0: 2900, 1: 1900, 2: 2400, 3: 31})
    split = stratified_split(index, FRACTIONS, seed=42)
    for _, group in index.groupby("label"):
        counts = split[group.index].value_counts()
        for name, fraction in FRACTIONS.items():
            assert abs(counts.get(name, 0) - fraction * len(group)) <= 1
    assert split.isin(["train", "val", "test"]).all()


def test_same_seed_same_split_even_if_rows_are_shuffled():
    index = _index({0: 200, 1: 100})
    first = stratified_split(index, FRACTIONS, seed=7)
    shuffled = index.sample(frac=1, random_state=3)
    second = stratified_split(shuffled, FRACTIONS, seed=7)
    assert first.sort_index().equals(second.sort_index())
    assert not first.equals(stratified_split(index, FRACTIONS, seed=8))


def test_invalid_rows_are_excluded():
    index = _index({0: 20})
    index.loc[3, "valid"] = False
    split = stratified_split(index, FRACTIONS, seed=1)
    assert split[3] == "excluded" and (split != "excluded").sum() == 19


@pytest.mark.parametrize(
    "fractions", [{"train": 0.8, "val": 0.15, "test": 0.15}, {"train": 0.7, "test": 0.3}]
)
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="split fractions"):
        stratified_split(_index({0: 10}), fractions, seed=1)
