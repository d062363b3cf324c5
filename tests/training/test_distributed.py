"""runtime.engine=spark: the same DDP loop under Spark's TorchDistributor (2 gloo processes,
local mode) gives what the project's own launcher gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.distributed import train_distributed
from tests.conftest import tiny_arrays
from tests.training.conftest import config, runtime


@pytest.mark.slow
def test_torch_distributor_trains_like_the_local_launcher(spark, tmp_path: Path):
    data, val = tiny_arrays(4), tiny_arrays(1, seed=1)
    spec = ModelSpec("simple_cnn", width=8)
    runs = {
        engine: train_distributed(
            spec,
            data,
            val,
            config(epochs=2),
            runtime(
                device="cpu", engine=engine, num_processes=2, checkpoint_path=str(tmp_path / engine)
            ),
        )
        for engine in ("spark", "local")
    }
    timing = {"epoch_seconds", "images_per_second"}
    spark_run, local_run = (
        [{k: v for k, v in epoch.items() if k not in timing} for epoch in runs[e].history]
        for e in ("spark", "local")
    )
    assert spark_run == local_run  # deterministic: same seeds, same sharding, same loop
    assert (tmp_path / "spark").is_file()
    model = build_model(spec)
    model.load_state_dict(runs["spark"].best_state)
    assert np.isfinite(runs["spark"].history[-1]["train_loss"])


def test_an_unknown_engine_is_named():
    with pytest.raises(ValueError, match="runtime.engine must be local or spark, got 'ray'"):
        train_distributed(
            ModelSpec("simple_cnn"), {}, {}, config(), runtime(engine="ray", num_processes=2)
        )
