"""The training loop on tiny generated arrays: learning, resuming, DDP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import TrainConfig, train


def tiny_arrays(n_per_class: int, n_classes: int = 10, seed: int = 0) -> dict:
    """Images whose mean colour depends on the class, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    base = np.stack([np.full((64, 64, 3), (25 * c, 255 - 25 * c, (70 * c) % 256)) for c in labels])
    images = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return {"images": images, "labels": labels.astype(np.int64)}


def config(**overrides) -> TrainConfig:
    params = {
        "epochs": 3,
        "batch_size": 16,
        "lr": 3e-3,
        "num_threads": 1,
        "seed": 0,
        "warmup_fraction": 0.3,
    }
    return TrainConfig(**{**params, **overrides})


@pytest.mark.parametrize("name", ["simple_cnn", "tile_resnet", "resnet18"])
def test_loss_falls(name: str):
    data = tiny_arrays(8)
    torch.manual_seed(0)
    result = train(build_model(ModelSpec(name)), data, tiny_arrays(2, seed=1), config(epochs=4))
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0] * 0.9
    assert set(result.best_state) == set(build_model(ModelSpec(name)).state_dict())


class Interrupted(Exception):
    """Stands for a killed run: raised from the epoch callback, after the checkpoint."""


def interrupt_after(epochs: int):
    def on_epoch_end(record: dict) -> None:
        if record["epoch"] == epochs:
            raise Interrupted

    return on_epoch_end


def small_model():
    torch.manual_seed(0)
    return build_model(ModelSpec("simple_cnn", width=8))


RECIPES = {
    "plain": {},
    "ema+mixing": {
        "ema_decay": 0.9,
        "mixing": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "probability": 0.8},
    },
}


@pytest.mark.parametrize("recipe", RECIPES)
def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path: Path, recipe: str):
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    extra = RECIPES[recipe]
    whole = train(small_model(), data, val, config(checkpoint_path=str(tmp_path / "a.pt"), **extra))
    with pytest.raises(Interrupted):
        train(
            small_model(),
            data,
            val,
            config(checkpoint_path=str(tmp_path / "b.pt"), **extra),
            on_epoch_end=interrupt_after(1),
        )
    epochs_seen = []
    resumed = train(
        small_model(),
        data,
        val,
        config(resume=True, checkpoint_path=str(tmp_path / "b.pt"), **extra),
        on_epoch_end=lambda record: epochs_seen.append(record["epoch"]),
    )
    assert epochs_seen == [2, 3]  # the resumed run goes on numbering epochs (MLflow steps)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in whole.history]
    for key, tensor in whole.best_state.items():
        assert torch.equal(tensor, resumed.best_state[key]), key


def test_resume_with_other_parameters_is_refused(tmp_path: Path):
    data = tiny_arrays(2)
    checkpoint = str(tmp_path / "c.pt")
    with pytest.raises(Interrupted):
        train(
            small_model(),
            data,
            data,
            config(epochs=2, checkpoint_path=checkpoint),
            on_epoch_end=interrupt_after(1),
        )
    with pytest.raises(ValueError, match="different training parameters \\(lr\\)"):
        train(
            small_model(),
            data,
            data,
            config(epochs=2, lr=0.1, resume=True, checkpoint_path=checkpoint),
        )


def test_unknown_training_parameter_is_named():
    with pytest.raises(ValueError, match=r"unknown training parameter\(s\) \['epoch'\]"):
        TrainConfig.from_params({"epoch": 3})
    with pytest.raises(ValueError, match=r"unknown training.mixing key\(s\) \['alpha'\]"):
        TrainConfig.from_params({"mixing": {"alpha": 0.2}})
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\), got 1.5"):
        TrainConfig.from_params({"ema_decay": 1.5})


def test_ema_weights_are_validated_and_kept():
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    raw = small_model()
    averaged = train(raw, data, val, config(epochs=1, ema_decay=0.9))
    assert any(not torch.equal(raw.state_dict()[k], v) for k, v in averaged.best_state.items())
    # a decay of almost 0 makes the average follow the weights: the kept state is the model's
    follower = small_model()
    followed = train(follower, data, val, config(epochs=1, ema_decay=1e-12))
    for key, tensor in follower.state_dict().items():
        assert torch.allclose(followed.best_state[key].float(), tensor.float(), atol=1e-6), key


def test_same_parameters_give_identical_metrics_on_cpu():
    data, val = tiny_arrays(3), tiny_arrays(1, seed=1)
    runs = [train(small_model(), data, val, config(epochs=2)) for _ in range(2)]
    assert runs[0].history[-1]["val_loss"] == runs[1].history[-1]["val_loss"]


def test_ddp_with_two_gloo_processes(tmp_path: Path):
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    spec = ModelSpec("simple_cnn", width=8)
    result = train_distributed(
        spec,
        data,
        val,
        config(epochs=2, device="cpu", checkpoint_path=str(tmp_path / "d.pt")),
        world_size=2,
    )
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["train_loss"])
    assert (tmp_path / "d.pt").is_file()
    model = build_model(spec)
    model.load_state_dict(result.best_state)  # rank 0's weights are a whole, loadable model


def test_tta_averages_the_eight_views_and_is_rotation_invariant():
    from eurosat_kedro.models.factory import load_trained_model

    torch.manual_seed(0)
    model = build_model(ModelSpec("simple_cnn", width=8)).eval()
    bundle = {"spec": ModelSpec("simple_cnn", width=8).to_dict(), "state_dict": model.state_dict()}
    tta = load_trained_model(bundle, tta=True)
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
    cfg = config(epochs=1, cpu_bf16=cpu_bf16)
    result = train(model, tiny_arrays(4), tiny_arrays(1, seed=1), cfg)
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
