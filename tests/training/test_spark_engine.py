"""The Spark engine's checks, each failing with what to change: the staged splits a rank
cannot see, too few task slots, an MLflow store an executor does not see."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eurosat_kedro.training.mlflow_epochs import MlflowEpochLogger
from eurosat_kedro.training.spark_engine import (
    _store_visible,
    load_staged_splits,
    wait_for_task_slots,
)


def test_a_rank_that_cannot_see_the_staged_splits_says_the_folder_is_not_shared(
    tmp_path: Path,
):
    with pytest.raises(
        FileNotFoundError,
        match=r"not visible on executor host .*: runtime.checkpoint_path \(runtime.teacher_"
        r"checkpoint_path for the teacher pipeline\) must be on a filesystem that the driver "
        r"and every executor mount at the same path",
    ):
        load_staged_splits(tmp_path / "elsewhere")


def test_more_processes_than_task_slots_fail_at_once_saying_what_to_change(spark):
    with pytest.raises(
        RuntimeError, match=r"num_processes=3 needs 3 Spark task slots .* local\[2\] offers 2"
    ):
        wait_for_task_slots(spark, 3)
    wait_for_task_slots(spark, 2)


def test_an_mlflow_store_the_executor_does_not_see_is_left_out_with_a_warning(
    tmp_path: Path, caplog
):
    seen = tmp_path / "mlflow.db"
    seen.touch()
    with caplog.at_level(logging.WARNING):
        assert _store_visible(MlflowEpochLogger(f"sqlite:///{seen}", "r1"))
        assert not _store_visible(MlflowEpochLogger(f"sqlite:///{tmp_path}/no.db", "r2"))
        assert _store_visible(MlflowEpochLogger("http://mlflow:5000", "r3"))
    assert "no.db is not visible on executor host" in caplog.text
    assert "not logged to run r2" in caplog.text
