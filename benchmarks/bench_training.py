"""Images/s of the full training loop on CPU, fp32 against bf16 mixed precision, and the bare
forward+backward+step, for each model, side by side in one run.

    .venv/bin/python benchmarks/bench_training.py [--images 3072] [--threads 2]

The loop figures cover everything `train()` does per step (batch gather from the cached
arrays, augmentation, forward, backward, optimiser and scheduler step, loss bookkeeping,
progress bar): `fp32` is the CPU default, `bf16` is `runtime.cpu_bf16=true` (CPU autocast
to bfloat16) with `runtime.channels_last=false`, `bf16+NHWC` with `channels_last=true`. bf16
needs a CPU with AVX-512 BF16 or AMX; elsewhere the bf16 columns say n/a. The bare figure is
fp32 on random tensors.
Uses data/05_model_input/train.npz when it exists, else random images of the same shape.

With `--engines` it also times one simple_cnn epoch on the same images three ways: one process
(2 threads), `runtime.num_processes=2` (two gloo DDP processes, 1 thread each) and
`runtime.engine=spark` (the same two processes under Spark's TorchDistributor, local mode).

With `--accuracy-epochs N` (needs the real cached splits) it then trains simple_cnn from the
same seed for N epochs on the first `--images` training images, once in fp32 and once in
bf16+NHWC, and prints both validation accuracies on the whole validation split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.device import cpu_has_bf16
from eurosat_kedro.training.loop import train


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


def loop_rate(
    name: str, data: dict, batch: int, threads: int, cpu_bf16: bool, channels_last: bool
) -> float:
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, batch_size=batch)
    machine = RuntimeConfig(
        num_threads=threads, device="cpu", cpu_bf16=cpu_bf16, channels_last=channels_last
    )
    val = {"images": data["images"][:8], "labels": data["labels"][:8]}
    result = train(build_model(ModelSpec(name)), data, val, cfg, machine)
    return result.history[0]["images_per_second"]


def accuracy_check(data: dict, epochs: int, batch: int, threads: int) -> None:
    with np.load("data/05_model_input/val.npz") as bundle:
        val = {"images": bundle["images"], "labels": bundle["labels"]}
    print(f"simple_cnn, {epochs} epochs on {len(data['images'])} training images, "
          f"validation on {len(val['images'])}")  # fmt: skip
    for label, bf16 in (("fp32", False), ("bf16+NHWC", True)):
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=epochs, batch_size=batch)
        machine = RuntimeConfig(
            num_threads=threads, device="cpu", cpu_bf16=bf16, channels_last=bf16
        )
        started = time.perf_counter()
        result = train(build_model(ModelSpec("simple_cnn")), data, val, cfg, machine)
        curve = " ".join(f"{row['val_accuracy']:.4f}" for row in result.history)
        print(f"{label:<10} best val accuracy {result.best_val_accuracy:.4f} "
              f"in {time.perf_counter() - started:.0f} s; per epoch: {curve}")  # fmt: skip


def engine_rates(data: dict, batch: int) -> None:
    from eurosat_kedro.training.distributed import train_distributed

    val = {"images": data["images"][:64], "labels": data["labels"][:64]}
    spec = ModelSpec("simple_cnn")
    print(f"simple_cnn, 1 epoch on {len(data['images'])} images, batch {batch} (all ranks)")
    for label, processes, engine, threads in (
        ("1 process, 2 threads", 1, "local", 2),
        ("2 DDP processes (local launcher)", 2, "local", 1),
        ("2 processes under TorchDistributor", 2, "spark", 1),
    ):
        cfg = TrainConfig(epochs=1, batch_size=batch)
        machine = RuntimeConfig(
            num_threads=threads, device="cpu", engine=engine, num_processes=processes
        )
        if processes == 1:
            torch.manual_seed(0)
            result = train(build_model(spec), data, val, cfg, machine)
        else:
            result = train_distributed(spec, data, val, cfg, machine)
        print(f"  {label:<36}{result.history[0]['images_per_second']:>8.1f} img/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accuracy-epochs", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--engines", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path("data/05_model_input/train.npz")
    if cache.is_file():
        with np.load(cache) as bundle:  # a seeded random subset: the cache is sorted by class
            pick = np.random.default_rng(0).permutation(len(bundle["labels"]))[: args.images]
            pick = np.sort(pick)
            data = {"images": bundle["images"][pick], "labels": bundle["labels"][pick]}
        source = f"{len(data['images'])} real images from {cache}"
    else:
        rng = np.random.default_rng(0)
        data = {
            "images": rng.integers(0, 256, (args.images, 64, 64, 3), dtype=np.uint8),
            "labels": rng.integers(0, 10, args.images),
        }
        source = f"{args.images} random images"
    if args.engines:
        engine_rates(data, args.batch)
    if args.accuracy_epochs:
        accuracy_check(data, args.accuracy_epochs, args.batch, args.threads)
    if args.skip_speed:
        return
    steps = args.images // args.batch
    bf16 = cpu_has_bf16()
    print(f"CPU, {args.threads} threads, batch {args.batch}, {source}, native bf16: {bf16}")
    header = ("model", "fp32", "bf16", "bf16+NHWC", "best/fp32", "bare fp32")
    print(f"{header[0]:<12}" + "".join(f"{h:>11}" for h in header[1:]))
    for name in ("simple_cnn", "tile_resnet", "resnet18"):
        fp32 = loop_rate(name, data, args.batch, args.threads, False, channels_last=False)
        if bf16:
            mixed = loop_rate(name, data, args.batch, args.threads, True, channels_last=False)
            nhwc = loop_rate(name, data, args.batch, args.threads, True, channels_last=True)
            cells = [f"{mixed:.1f}", f"{nhwc:.1f}", f"{max(mixed, nhwc) / fp32:.2f}x"]
        else:
            cells = ["n/a", "n/a", "n/a"]
        bare = bare_rate(name, args.batch, steps)
        print(f"{name:<12}{fp32:>11.1f}" + "".join(f"{c:>11}" for c in cells) + f"{bare:>11.1f}")


if __name__ == "__main__":
    main()
