"""The Spark training engine against the local launcher: the same DDP training of simple_cnn,
the same images, 2 processes of 1 thread each, started by the project's launcher
(``runtime.engine=local``) and by Spark's TorchDistributor in barrier tasks on the executors of
a Spark master (``runtime.engine=spark``).

    .venv/bin/python benchmarks/bench_training_spark.py                    # local-cluster[2,1,1024]
    .venv/bin/python benchmarks/bench_training_spark.py --master spark://host:7077 \\
        --checkpoint /mnt/shared/bench/last.pt                            # a real cluster

``local-cluster[N,cores,MiB]`` starts a standalone master and N worker JVMs from the driver, each
with one executor: separate executor processes, as on a cluster, on this machine. The figures are
the epochs' own ``images_per_second`` (the median of the epochs after ``--warmup``) and the wall
time of the whole call, which holds what each engine adds around the epochs (processes, imports,
the Spark job, staging the splits). Uses a seeded random subset of
data/05_model_input/train.npz when it exists, else random images (same speed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_training import load_images

from eurosat_kedro.models import ModelSpec
from eurosat_kedro.spark import get_spark
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.host import host_tags


def timed_run(data: dict, val: dict, args, machine: RuntimeConfig) -> tuple[float, float]:
    """The median images/s of the measured epochs and the wall seconds of the whole run."""
    cfg = TrainConfig(epochs=args.warmup + args.epochs, batch_size=args.batch)
    started = time.perf_counter()
    result = train_distributed(ModelSpec("simple_cnn"), data, val, cfg, machine)
    wall = time.perf_counter() - started
    rates = [row["images_per_second"] for row in result.history[args.warmup :]]
    return statistics.median(rates), wall


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default="local-cluster[2,1,1024]")
    parser.add_argument("--checkpoint", help="on a filesystem the executors share; default: tmp")
    parser.add_argument("--images", type=int, default=384, help="training images per epoch")
    parser.add_argument("--val-images", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64, help="all ranks together")
    parser.add_argument("--warmup", type=int, default=1, help="epochs left out of the rates")
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data, val, source = load_images(args.images, args.val_images)
    host = host_tags("cpu", 1)
    print(f"CPU: {host['host.cpu']}, torch {host['host.torch']}")
    print(f"{len(data['images'])} training and {len(val['images'])} validation {source}; "
          f"simple_cnn, batch {args.batch}, {args.warmup} warm-up + {args.epochs} measured "
          "epochs (median), 2 processes of 1 thread")  # fmt: skip
    started = time.perf_counter()
    spark = get_spark({"spark.master": args.master, "spark.ui.enabled": False})
    print(f"Spark session on {spark.sparkContext.master}: {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(Path(tmp) / "last.pt")
        figures = {
            engine: timed_run(
                data,
                val,
                args,
                RuntimeConfig(
                    device="cpu",
                    num_threads=1,
                    num_processes=2,
                    engine=engine,
                    checkpoint_path=checkpoint,
                ),
            )
            for engine in ("local", "spark")
        }
    spark.stop()
    labels = {"local": "local launcher", "spark": f"spark, executors of {args.master}"}
    print(f"{'engine':<44}{'img/s':>8}{'wall s':>9}")
    for engine, (rate, wall) in figures.items():
        print(f"{labels[engine]:<44}{rate:>8.1f}{wall:>9.1f}")
    (local_rate, local_wall), (spark_rate, spark_wall) = figures["local"], figures["spark"]
    print(f"spark / local: img/s {spark_rate / local_rate:.2f}, wall {spark_wall / local_wall:.2f}")


if __name__ == "__main__":
    main()
