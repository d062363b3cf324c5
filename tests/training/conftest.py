"""Helpers of the training tests: small recipes and runtimes."""

from __future__ import annotations

from eurosat_kedro.training.config import RuntimeConfig, TrainConfig


def config(**overrides) -> TrainConfig:
    """A short recipe: 3 epochs of batch 16, seed 0."""
    params = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "seed": 0, "warmup_fraction": 0.3}
    return TrainConfig(**{**params, **overrides})


def runtime(**overrides) -> RuntimeConfig:
    """One thread, whatever the machine."""
    return RuntimeConfig(**{"num_threads": 1, **overrides})
