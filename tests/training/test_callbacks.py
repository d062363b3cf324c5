"""The end-of-epoch callbacks on hand-made progress: early stopping, the checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.callbacks import Checkpoint, EarlyStopping, EpochLog
from eurosat_kedro.training.checkpoint import Progress, ResumableState
from eurosat_kedro.training.config import TrainConfig


def _progress(*accuracies: float) -> Progress:
    progress = Progress()
    model = torch.nn.Linear(2, 2)
    for epoch, accuracy in enumerate(accuracies, start=1):
        record = {"epoch": epoch, "val_accuracy": accuracy, "train_loss": 1.0, "val_loss": 1.0}
        progress.add({**record, "lr": 0.1, "images_per_second": 5.0, "epoch_seconds": 2.0}, model)
    return progress


@pytest.mark.parametrize(
    ("patience", "accuracies", "stops"),
    [
        (2, (0.5, 0.6, 0.6), False),  # one stale epoch
        (2, (0.5, 0.6, 0.6, 0.55), True),  # two
        (0, (0.5, 0.4, 0.3, 0.2), False),  # 0 never stops
        (1, (0.5, 0.5), True),  # a tie is no gain
    ],
)
def test_early_stopping_counts_epochs_without_gain(patience, accuracies, stops):
    progress = _progress(*accuracies)
    EarlyStopping(patience).on_epoch_end(progress)
    assert progress.should_stop is stops


def test_epoch_log_names_the_epoch_of_all(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO):
        EpochLog(epochs=9).on_epoch_end(_progress(0.5, 0.75))
    assert "epoch 2/9: train loss 1.0000, val loss 1.0000, val acc 0.7500" in caplog.text


def test_the_checkpoint_callback_writes_one_file_atomically(tmp_path: Path):
    model = build_model(ModelSpec("simple_cnn", width=4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = ResumableState(
        optimizer,
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
        torch.amp.GradScaler("cuda", enabled=False),
        torch.Generator().manual_seed(0),
    )
    path = tmp_path / "checkpoints" / "last.pt"
    run = {"tracking_uri": "sqlite:///mlflow.db", "run_id": "abc"}
    Checkpoint(path, model, state, TrainConfig(epochs=2), run).on_epoch_end(_progress(0.5))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 1 and saved["config"] == TrainConfig(epochs=2).fingerprint()
    assert saved["mlflow_run"] == run  # the run a resume continues
    assert set(saved["model"]) == set(model.state_dict())
