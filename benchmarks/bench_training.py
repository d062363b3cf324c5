"""Steady-state training speed, as a real run gets it: the full loop against the bare step of
the same precision, for each model, in one run.

    .venv/bin/python benchmarks/bench_training.py            # the figures for docs/benchmarks.md
    .venv/bin/python benchmarks/bench_training.py --quick    # a check that it runs (< 2 min)

For each model and precision (``fp32``: the CPU default; ``bf16+NHWC``: ``runtime.cpu_bf16``
with ``runtime.channels_last``, on CPUs with AVX-512 BF16 or AMX; ``--precisions`` adds
``bf16``, NCHW) it calls the project's ``train()`` for ``--warmup`` + ``--epochs`` epochs.
The loop figure is the epoch's own ``images_per_second`` (what the run's log line and MLflow
show: batch gather, augmentation, forward, backward, optimiser and scheduler step, loss
bookkeeping, progress bar; validation is timed apart). After each epoch a callback times the
bare step (forward, backward, AdamW step on one fixed random batch) of the same model in the
same precision and layout for as many steps, so loop and bare alternate under the same load,
threads and deterministic settings. Warm-up epochs (oneDNN primitive creation, first-touch
allocations) are left out of both; each figure is the median of the measured epochs.

Threads are torch's default unless ``--threads`` is given, as ``runtime.num_threads: 0`` in
conf/base. Uses a seeded random subset of data/05_model_input/train.npz when it exists, else
random images of the same shape (same speed).

``--engines`` times simple_cnn with one process, ``runtime.num_processes=2`` (two gloo DDP
processes, 1 thread each) and ``runtime.engine=spark`` with ``runtime.spark_local_mode``
(TorchDistributor, processes on the driver); bench_training_spark.py times the Spark engine on
a cluster's executors.
``--accuracy-epochs N`` (needs the real cached splits) trains simple_cnn from one seed for N
epochs in fp32 and in bf16+NHWC and prints both validation accuracies.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from eurosat_kedro.models import ModelSpec, build_model
from eurosat_kedro.training.checkpoint import Progress
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.device import Placement, cpu_has_bf16
from eurosat_kedro.training.host import host_tags
from eurosat_kedro.training.loop import train

MODELS = ("simple_cnn", "tile_resnet", "resnet18")
PRECISIONS = {"fp32": (False, False), "bf16": (True, False), "bf16+NHWC": (True, True)}
QUICK = {"images": 64, "batch": 32, "warmup": 1, "epochs": 1, "val_images": 32}


class BareSteps:
    """An epoch callback that times ``steps`` bare training steps of its own copy of the
    model, in the run's precision and layout; the global RNG is left as the loop had it."""

    def __init__(self, name: str, placement: Placement, batch: int, steps: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = build_model(ModelSpec(name)).train()
            self.model.to(placement.device, memory_format=placement.memory_format)
            self.x = torch.randn(batch, 3, 64, 64).contiguous(memory_format=placement.memory_format)
            self.y = torch.randint(0, 10, (batch,))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=5e-4)
        self.criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
        self.placement, self.steps, self.rates = placement, steps, []

    def on_epoch_end(self, progress: Progress) -> None:
        with torch.random.fork_rng(devices=[]):
            started = time.perf_counter()
            for _ in range(self.steps):
                self.optimizer.zero_grad(set_to_none=True)
                with self.placement.autocast():
                    loss = self.criterion(self.model(self.x), self.y)
                loss.backward()
                self.optimizer.step()
            self.rates.append(len(self.x) * self.steps / (time.perf_counter() - started))


@dataclass
class Row:
    """One model in one precision: per-epoch loop, bare and validation images/s; the figures
    are medians over the epochs after ``warmup``."""

    model: str
    precision: str
    warmup: int
    loop: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)

    def steady(self, rates: list[float]) -> float:
        return statistics.median(rates[self.warmup :])

    @property
    def ratio(self) -> float:
        return self.steady(self.loop) / self.steady(self.bare)

    def cells(self) -> list[str]:
        loop, bare, val = self.steady(self.loop), self.steady(self.bare), self.steady(self.val)
        return [
            f"{loop:.1f}",
            f"{bare:.1f}",
            f"{self.ratio:.2f}",
            f"{self.loop[0]:.1f}",
            f"{val:.0f}",
        ]


def measure(name: str, precision: str, data: dict, val: dict, args) -> Row:
    """``args.warmup + args.epochs`` epochs of ``train()``, the bare step after each."""
    cpu_bf16, channels_last = PRECISIONS[precision]
    runtime = RuntimeConfig(
        device="cpu", num_threads=args.threads, cpu_bf16=cpu_bf16, channels_last=channels_last
    )
    batch = min(args.batch, len(data["images"]))
    steps = len(data["images"]) // batch
    bare = BareSteps(name, Placement.for_runtime(runtime), batch, steps)
    cfg = TrainConfig(epochs=args.warmup + args.epochs, batch_size=batch)
    torch.manual_seed(cfg.seed)
    result = train(build_model(ModelSpec(name)), data, val, cfg, runtime, callbacks=[bare])
    row = Row(name, precision, args.warmup, bare=bare.rates)
    for record in result.history:
        train_seconds = steps * batch / record["images_per_second"]
        row.loop.append(record["images_per_second"])
        row.val.append(len(val["images"]) / (record["epoch_seconds"] - train_seconds))
    return row


HEADER = ("model", "precision", "loop img/s", "bare img/s", "loop/bare", "1st epoch", "val img/s")


def speed_table(data: dict, val: dict, args) -> None:
    precisions = [p for p in args.precisions if p == "fp32" or cpu_has_bf16()]
    host, threads = host_tags("cpu", torch.get_num_threads()), torch.get_num_threads()
    batch = min(args.batch, len(data["images"]))
    print(f"CPU: {host['host.cpu']} ({host['host.cpu_flags']}), torch {host['host.torch']}, "
          f"{threads} threads; native bf16: {cpu_has_bf16()}")  # fmt: skip
    steps, epochs = len(data["images"]) // batch, f"{args.warmup} warm-up + {args.epochs}"
    print(f"batch {batch}, {steps} steps/epoch, {epochs} measured epochs (median), "
          f"{len(val['images'])} validation images")  # fmt: skip
    if precisions != list(args.precisions):
        print("bf16 skipped: this CPU has neither AVX-512 BF16 nor AMX")
    if not precisions:
        return
    print(f"{HEADER[0]:<12}{HEADER[1]:<11}" + "".join(f"{h:>11}" for h in HEADER[2:]))
    rows = []
    for name in args.models:
        for precision in precisions:
            rows.append(measure(name, precision, data, val, args))
            cells = "".join(f"{cell:>11}" for cell in rows[-1].cells())
            print(f"{name:<12}{precision:<11}{cells}", flush=True)
    print("per epoch, loop / bare img/s (warm-up first):")
    for row in rows:
        pairs = " ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(row.loop, row.bare, strict=True))
        print(f"  {row.model:<12}{row.precision:<11}{pairs}")
    worst = min(rows, key=lambda row: row.ratio)
    print(f"lowest loop/bare: {worst.ratio:.2f} ({worst.model}, {worst.precision}); target >= 0.90")


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


def engine_rates(data: dict, val: dict, args) -> None:
    from eurosat_kedro.training.distributed import train_distributed

    spec = ModelSpec("simple_cnn")
    print(f"simple_cnn, batch {args.batch} (all ranks), {args.warmup} warm-up + "
          f"{args.epochs} measured epochs (median) on {len(data['images'])} images")  # fmt: skip
    for label, processes, engine, threads in (
        ("1 process, all threads", 1, "local", args.threads),
        ("2 DDP processes (local launcher)", 2, "local", 1),
        ("2 processes under TorchDistributor", 2, "spark", 1),
    ):
        cfg = TrainConfig(epochs=args.warmup + args.epochs, batch_size=args.batch)
        machine = RuntimeConfig(
            num_threads=threads,
            device="cpu",
            engine=engine,
            num_processes=processes,
            spark_local_mode=True,  # engine spark: the processes on this machine, as the others
        )
        if processes == 1:
            torch.manual_seed(cfg.seed)
            result = train(build_model(spec), data, val, cfg, machine)
        else:
            result = train_distributed(spec, data, val, cfg, machine)
        rates = [row["images_per_second"] for row in result.history[args.warmup :]]
        print(f"  {label:<36}{statistics.median(rates):>8.1f} img/s")


def load_images(count: int, val_count: int) -> tuple[dict, dict, str]:
    """``count`` training and ``val_count`` validation images: a seeded random subset of the
    cached training split (sorted by class, hence the shuffle), or random pixels."""
    cache = Path("data/05_model_input/train.npz")
    rng = np.random.default_rng(0)
    if cache.is_file():
        with np.load(cache) as bundle:
            pick = np.sort(rng.permutation(len(bundle["labels"]))[: count + val_count])
            images, labels = bundle["images"][pick], bundle["labels"][pick]
        source = f"real images from {cache}"
    else:
        images = rng.integers(0, 256, (count + val_count, 64, 64, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, count + val_count)
        source = "random images"
    order = rng.permutation(len(labels))
    train_pick, val_pick = order[:count], order[count:]
    data = {"images": images[train_pick], "labels": labels[train_pick]}
    val = {"images": images[val_pick], "labels": labels[val_pick]}
    return data, val, source


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3072, help="training images per epoch")
    parser.add_argument("--val-images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--warmup", type=int, default=1, help="epochs left out of the figures")
    parser.add_argument("--epochs", type=int, default=3, help="measured epochs")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--precisions", nargs="+", choices=list(PRECISIONS), default=["fp32", "bf16+NHWC"]
    )
    parser.add_argument("--quick", action="store_true", help=f"a fast check: {QUICK}")
    parser.add_argument("--accuracy-epochs", type=int, default=0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--engines", action="store_true")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    if args.warmup < 0 or args.epochs < 1:
        parser.error(f"--warmup must be >= 0 and --epochs >= 1, got {args.warmup}, {args.epochs}")
    if args.images < 2 or args.val_images < 1:
        parser.error("--images must be >= 2 (BatchNorm needs 2 per batch), --val-images >= 1")
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data, val, source = load_images(args.images, args.val_images)
    print(f"{len(data['images'])} training and {len(val['images'])} validation {source}")
    if args.engines:
        engine_rates(data, val, args)
    if args.accuracy_epochs:
        accuracy_check(data, args.accuracy_epochs, args.batch, args.threads)
    if not args.skip_speed:
        speed_table(data, val, args)


if __name__ == "__main__":
    main()
