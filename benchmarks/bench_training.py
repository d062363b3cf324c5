"""Images/s of the full training loop vs bare forward+backward+step, for both models on CPU.

    .venv/bin/python benchmarks/bench_training.py [--images 3072] [--threads 2]

The loop figure covers everything `train()` does per step (batch gather from the cached
arrays, augmentation, forward, backward, optimiser and scheduler step, loss bookkeeping, progress
bar); the bare figure is the same model and batch size on random tensors with nothing else.
Uses data/05_model_input/train.npz when it exists, else random images of the same shape.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.loop import TrainConfig, train


def bare_rate(name: str, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(ModelSpec(name)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x, y = torch.randn(batch, 3, 64, 64), torch.randint(0, 10, (batch,))
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        criterion(model(x), y).backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - start)


def loop_rate(name: str, data: dict, batch: int, threads: int) -> float:
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, batch_size=batch, num_threads=threads, device="cpu")
    val = {"images": data["images"][:8], "labels": data["labels"][:8]}
    result = train(build_model(ModelSpec(name)), data, val, cfg)
    return result.history[0]["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path("data/05_model_input/train.npz")
    if cache.is_file():
        with np.load(cache) as bundle:
            data = {
                "images": bundle["images"][: args.images],
                "labels": bundle["labels"][: args.images],
            }
        source = f"{len(data['images'])} real images from {cache}"
    else:
        rng = np.random.default_rng(0)
        data = {
            "images": rng.integers(0, 256, (args.images, 64, 64, 3), dtype=np.uint8),
            "labels": rng.integers(0, 10, args.images),
        }
        source = f"{args.images} random images"
    steps = args.images // args.batch
    print(f"CPU, {args.threads} threads, batch {args.batch}, {source}")
    print(f"{'model':<12}{'loop img/s':>12}{'bare img/s':>12}{'loop/bare':>11}")
    for name in ("simple_cnn", "resnet18"):
        loop = loop_rate(name, data, args.batch, args.threads)
        bare = bare_rate(name, args.batch, steps)
        print(f"{name:<12}{loop:>12.1f}{bare:>12.1f}{loop / bare:>11.2f}")


if __name__ == "__main__":
    main()
