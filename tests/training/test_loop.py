"""The training loop on tiny generated arrays: learning, resuming, DDP; the recipe and runtime
parameters."""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest
import torch

from eurosat_kedro.models import ModelSpec, TrainedModel, build_model
from eurosat_kedro.training.checkpoint import Progress
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import train
from tests.conftest import tiny_arrays
from tests.training.conftest import config, runtime


@pytest.mark.parametrize("name", ["simple_cnn", "tile_resnet", "resnet18"])
def test_loss_falls(name: str):
    data = tiny_arrays(8)
    torch.manual_seed(0)
    model = build_model(ModelSpec(name))
    result = train(model, data, tiny_arrays(2, seed=1), config(epochs=4), runtime())
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0] * 0.9
    assert set(result.best_state) == set(build_model(ModelSpec(name)).state_dict())


class Interrupted(Exception):
    """Stands for a killed run: raised from the epoch callback, after the checkpoint."""


class InterruptAfter:
    """A callback that kills the run after ``epochs`` epochs."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, progress: Progress) -> None:
        if progress.last["epoch"] == self.epochs:
            raise Interrupted


class EpochsSeen(list):
    """A callback that notes each epoch it sees."""

    def on_epoch_end(self, progress: Progress) -> None:
        self.append(progress.last["epoch"])


def checkpoint_after_one_epoch(data: dict, checkpoint: str) -> None:
    """A 2-epoch run killed after epoch 1: its checkpoint is left at ``checkpoint``."""
    with pytest.raises(Interrupted):
        train(
            small_model(),
            data,
            data,
            config(epochs=2),
            runtime(checkpoint_path=checkpoint),
            callbacks=[InterruptAfter(1)],
        )


def small_model():
    torch.manual_seed(0)
    return build_model(ModelSpec("simple_cnn", width=8))


RECIPES = {
    "plain": {},
    "ema+mixing": {
        "ema_decay": 0.9,
        "mixing": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "probability": 0.8},
    },
    "photometric": {
        "augment": {
            "flips": True,
            "rot90": True,
            "photometric": {"probability": 0.5, "gain": 0.2, "gamma": 0.25, "haze": 0.3},
        }
    },
}


@pytest.mark.parametrize("recipe", RECIPES)
def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path: Path, recipe: str):
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    extra = RECIPES[recipe]
    whole = train(
        small_model(), data, val, config(**extra), runtime(checkpoint_path=str(tmp_path / "a.pt"))
    )
    with pytest.raises(Interrupted):
        train(
            small_model(),
            data,
            val,
            config(**extra),
            runtime(checkpoint_path=str(tmp_path / "b.pt")),
            callbacks=[InterruptAfter(1)],
        )
    epochs_seen = EpochsSeen()
    resumed = train(
        small_model(),
        data,
        val,
        config(**extra),
        runtime(resume=True, checkpoint_path=str(tmp_path / "b.pt")),
        callbacks=[epochs_seen],
    )
    assert epochs_seen == [2, 3]  # the resumed run goes on numbering epochs (MLflow steps)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in whole.history]
    for key, tensor in whole.best_state.items():
        assert torch.equal(tensor, resumed.best_state[key]), key


def test_resume_with_other_parameters_is_refused(tmp_path: Path):
    data = tiny_arrays(2)
    checkpoint = str(tmp_path / "c.pt")
    checkpoint_after_one_epoch(data, checkpoint)
    with pytest.raises(ValueError, match="different training parameters \\(lr\\)"):
        train(
            small_model(),
            data,
            data,
            config(epochs=2, lr=0.1),
            runtime(resume=True, checkpoint_path=checkpoint),
        )


def test_unknown_training_parameter_is_named():
    with pytest.raises(ValueError, match=r"unknown training parameter\(s\) \['epoch'\]"):
        TrainConfig.from_params({"epoch": 3})
    with pytest.raises(ValueError, match=r"unknown training.mixing key\(s\) \['alpha'\]"):
        TrainConfig.from_params({"mixing": {"alpha": 0.2}})
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\), got 1.5"):
        TrainConfig.from_params({"ema_decay": 1.5})


def test_an_augment_typo_is_named_with_the_known_keys_at_config_time():
    with pytest.raises(
        ValueError,
        match=r"unknown training.augment key\(s\) \['flip'\]; known: \['flips', 'photometric', "
        r"'rot90'\]",
    ):
        TrainConfig.from_params({"augment": {"flip": True}})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ema_decay": None}, "training.ema_decay must be a number, got null"),
        ({"epochs": 2.5}, "training.epochs must be an integer, got 2.5"),
        (
            {"mixing": {"mixup_alpha": None}},
            "training.mixing.mixup_alpha must be a number, got null",
        ),
        ({"augment": {"flips": "yes"}}, "training.augment.flips must be true or false, got 'yes'"),
        (
            {"augment": {"photometric": {"haze": 1.5}}},
            "training.augment.photometric.haze must be between 0 and 1 (blend strengths from 0 "
            "to haze), got 1.5",
        ),
        (
            {"augment": {"photometric": {"probability": "half"}}},
            "training.augment.photometric.probability must be a number, got 'half'",
        ),
        (
            {"augment": {"photometric": {"brightness": 0.2}}},
            "unknown training.augment.photometric key(s) ['brightness']; known: ['contrast', "
            "'gain', 'gamma', 'haze', 'probability']",
        ),
        ({"augment": {"photometric": 0.5}}, "training.augment.photometric must be a mapping"),
    ],
)
def test_a_value_of_the_wrong_kind_is_named(params: dict, message: str):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainConfig.from_params(params)


def test_runtime_parameters_are_checked_by_name_and_kind():
    with pytest.raises(ValueError, match=r"unknown runtime parameter\(s\) \['threads'\]"):
        RuntimeConfig.from_params({"threads": 2})
    with pytest.raises(ValueError, match="runtime.num_threads must be an integer, got null"):
        RuntimeConfig.from_params({"num_threads": None})
    with pytest.raises(ValueError, match="runtime.resume must be true or false, got 'yes'"):
        RuntimeConfig.from_params({"resume": "yes"})
    assert RuntimeConfig.from_params({"checkpoint_path": None}).checkpoint_path is None


def test_a_runtime_key_under_training_says_where_it_moved():
    with pytest.raises(ValueError, match="training.num_threads is now runtime.num_threads"):
        TrainConfig.from_params({"epochs": 2, "num_threads": 2})


def test_the_fingerprint_is_the_recipe_and_the_runtime_is_not_in_it():
    recipe = TrainConfig.from_params({"epochs": 2}, {"name": "simple_cnn"})
    without_teacher = {"distill", "teacher_sha256"}  # left out: tests/training/test_distill.py
    assert recipe.fingerprint() == {
        **{k: v for k, v in asdict(TrainConfig(epochs=2)).items() if k not in without_teacher},
        "model_spec": {"name": "simple_cnn"},
    }
    assert not set(recipe.fingerprint()) & {f.name for f in fields(RuntimeConfig)}


def test_photometric_augmentation_reaches_the_training_steps():
    data = tiny_arrays(2)
    augment = RECIPES["photometric"]["augment"]
    plain, changed = (
        train(small_model(), data, data, config(epochs=1, **extra), runtime())
        for extra in ({}, {"augment": augment})
    )
    assert plain.history[0]["train_loss"] != changed.history[0]["train_loss"]
    assert plain.history[0]["val_loss"] != changed.history[0]["val_loss"]


def test_a_photometric_block_that_is_off_resumes_a_checkpoint_written_without_one(
    tmp_path: Path,
):
    data, checkpoint = tiny_arrays(2), str(tmp_path / "p.pt")
    checkpoint_after_one_epoch(data, checkpoint)  # augment: flips and rot90 only
    off = {"flips": True, "rot90": True, "photometric": {"probability": 0.0, "gain": 0.2}}
    resumed = train(
        small_model(),
        data,
        data,
        config(epochs=2, augment=off),
        runtime(resume=True, checkpoint_path=checkpoint),
    )
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    on = {**off, "photometric": {"probability": 0.5}}
    with pytest.raises(ValueError, match="different training parameters \\(augment\\)"):
        train(
            small_model(),
            data,
            data,
            config(epochs=2, augment=on),
            runtime(resume=True, checkpoint_path=checkpoint),
        )


def test_resume_under_another_runtime_is_allowed(tmp_path: Path):
    data, checkpoint = tiny_arrays(2), str(tmp_path / "r.pt")
    checkpoint_after_one_epoch(data, checkpoint)
    other_machine = runtime(resume=True, checkpoint_path=checkpoint, num_threads=2, amp=False)
    resumed = train(small_model(), data, data, config(epochs=2), other_machine)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_a_checkpoint_from_before_the_runtime_split_is_refused_with_a_clear_message(
    tmp_path: Path,
):
    data, checkpoint = tiny_arrays(2), tmp_path / "old.pt"
    checkpoint_after_one_epoch(data, str(checkpoint))
    saved = torch.load(checkpoint, weights_only=True)
    old = {k: v for k, v in saved["config"].items() if k != "eval_batch_size"}
    saved["config"] = {**old, "amp": True, "cpu_bf16": False, "channels_last": True}
    torch.save(saved, checkpoint)
    with pytest.raises(
        ValueError,
        match=r"Cannot resume from .*old.pt.*\(amp, channels_last, "
        r"cpu_bf16, eval_batch_size\), or by an earlier version",
    ):
        train(
            small_model(),
            data,
            data,
            config(epochs=2),
            runtime(resume=True, checkpoint_path=str(checkpoint)),
        )


def test_ema_weights_are_validated_and_kept():
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    raw = small_model()
    averaged = train(raw, data, val, config(epochs=1, ema_decay=0.9), runtime())
    assert any(not torch.equal(raw.state_dict()[k], v) for k, v in averaged.best_state.items())
    # a decay of almost 0 makes the average follow the weights: the kept state is the model's
    follower = small_model()
    followed = train(follower, data, val, config(epochs=1, ema_decay=1e-12), runtime())
    for key, tensor in follower.state_dict().items():
        assert torch.allclose(followed.best_state[key].float(), tensor.float(), atol=1e-6), key


def test_same_parameters_give_identical_metrics_on_cpu():
    data, val = tiny_arrays(3), tiny_arrays(1, seed=1)
    recipe = config(epochs=2, mixing={"mixup_alpha": 0.2, "cutmix_alpha": 1.0})
    runs = [train(small_model(), data, val, recipe, runtime()) for _ in range(2)]
    assert runs[0].history[-1]["val_loss"] == runs[1].history[-1]["val_loss"]
    timing = {"epoch_seconds", "images_per_second"}
    first, second = (
        [{k: v for k, v in row.items() if k not in timing} for row in run.history] for run in runs
    )
    assert first == second and len(first) == 2
    for key, tensor in runs[0].best_state.items():
        assert torch.equal(tensor, runs[1].best_state[key]), key


def test_a_callback_that_asks_to_stop_ends_the_run_after_its_epoch():
    class StopAtTwo:
        def on_epoch_end(self, progress: Progress) -> None:
            progress.should_stop = progress.epoch == 2

    epochs_seen = EpochsSeen()
    data, val = tiny_arrays(2), tiny_arrays(1, seed=1)
    callbacks = [StopAtTwo(), epochs_seen]
    result = train(small_model(), data, val, config(epochs=4), runtime(), callbacks=callbacks)
    assert epochs_seen == [1, 2] and len(result.history) == 2


def test_ddp_with_two_gloo_processes(tmp_path: Path):
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    spec = ModelSpec("simple_cnn", width=8)
    result = train_distributed(
        spec,
        data,
        val,
        config(epochs=2),
        runtime(device="cpu", num_processes=2, checkpoint_path=str(tmp_path / "d.pt")),
    )
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["train_loss"])
    assert (tmp_path / "d.pt").is_file()
    model = build_model(spec)
    model.load_state_dict(result.best_state)  # rank 0's weights are a whole, loadable model


def test_tta_averages_the_eight_views_and_is_rotation_invariant():
    from eurosat_kedro.models.factory import load_trained_model

    torch.manual_seed(0)
    model = build_model(ModelSpec("simple_cnn", width=8)).eval()
    trained = TrainedModel(model.state_dict(), ModelSpec("simple_cnn", width=8), ())
    tta = load_trained_model(trained, tta=True)
    x = torch.randn(3, 3, 64, 64)
    views = [x, x.flip(-1)] + [
        torch.rot90(v, k, (-2, -1)) for k in (1, 2, 3) for v in (x, x.flip(-1))
    ]
    with torch.no_grad():
        expected = torch.stack([model(v) for v in views]).mean(0)
        assert torch.allclose(tta(x), expected, atol=1e-5)
        assert torch.allclose(tta(torch.rot90(x, 1, (-2, -1))), tta(x), atol=1e-4)


@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_cpu_bf16_trains_in_bf16_on_a_cpu_that_has_it_and_keeps_fp32_weights(cpu_bf16: bool):
    from eurosat_kedro.training.device import cpu_has_bf16

    model = small_model()
    seen: set[torch.dtype] = set()
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    machine = runtime(cpu_bf16=cpu_bf16)
    result = train(model, tiny_arrays(4), tiny_arrays(1, seed=1), config(epochs=1), machine)
    expected = torch.bfloat16 if cpu_bf16 and cpu_has_bf16() else torch.float32
    assert seen == {expected}
    assert all(t.dtype in (torch.float32, torch.int64) for t in result.best_state.values())
    assert np.isfinite(result.history[0]["train_loss"])


def test_autocast_dtype_per_device(monkeypatch: pytest.MonkeyPatch):
    from eurosat_kedro.training import device

    assert device.autocast_dtype(torch.device("cuda"), True, False) == torch.float16
    assert device.autocast_dtype(torch.device("cuda"), False, True) is None
    assert device.autocast_dtype(torch.device("mps"), True, True) is None
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.autocast_dtype(torch.device("cpu"), True, True) == torch.bfloat16
    assert device.autocast_dtype(torch.device("cpu"), True, False) is None  # amp is CUDA's
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert device.autocast_dtype(torch.device("cpu"), True, True) is None
