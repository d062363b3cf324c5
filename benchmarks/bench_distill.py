"""What distillation costs per training step: plain training, distillation from a one-pass
teacher and from the TTA teacher (the 8 flips/rotations), side by side in one run.

    .venv/bin/python benchmarks/bench_distill.py            # the figures for docs/distillation.md
    .venv/bin/python benchmarks/bench_distill.py --quick    # a check that it runs (< 1 min idle)
    .venv/bin/python benchmarks/bench_distill.py --compile  # and the compiled TTA teacher
    .venv/bin/python benchmarks/bench_distill.py --loop     # whole epochs of train() instead
    .venv/bin/python benchmarks/bench_distill.py --loop --mixing 0.5  # half mixed, as conf/best
    .venv/bin/python benchmarks/bench_distill.py --fold-check data/06_models/teacher.pt
        # a trained teacher with TTA, folded and not, on the test split: what folding changes

The images are the committed sample's (data/sample/EuroSAT_RGB_sample.zip). Student and
teacher are simple_cnn (the teacher's weights random: the cost does not depend on them), in the
runtime of conf/base: bf16 autocast and NHWC on CPUs with native bf16, fp32 elsewhere.

By default it times training steps on one batch: the student's forward, labels' loss, backward
and AdamW step, plus for distillation the teacher's logits and the blended loss
(``Teacher.blend``, the loop's own code), and the TTA teacher once more without folding its
BatchNorm into its convolutions (what ``Teacher.on_placement`` does since 2026-12-02), the
TTA teacher looked up (``Teacher.remember``: an unmixed, flipped or turned batch), and
with ``--compile`` the TTA teacher through ``torch.compile`` (``runtime.compile_teacher``). The
kinds of step take turns, step by step,
``--steps`` times after ``--warmup`` turns, so a load that comes and goes on a shared machine
falls on all of them alike; each figure is the median, of the wall clock (images/s) and of the
CPU time the process spent (``time.process_time``, all its threads: what a step costs the
machine, which other processes change far less than the wall clock). With ``--loop`` each
mode instead runs ``train()`` for 1 warm-up and ``--epochs`` measured epochs (its own
``images_per_second``, with augmentation; ``--mixing P`` mixes that share of the batches as
conf/best does, mixup 0.2 or CutMix 1.0), the TTA teacher both remembered
(``runtime.remember_teacher``, the default) and run every batch, the modes taking turns
``--rounds`` times: closer to a run, but on a busy machine the load changes between one epoch
and the next.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from eurosat_kedro.models import ModelSpec, TrainedModel, build_model, load_trained_model
from eurosat_kedro.training.config import RuntimeConfig, TrainConfig
from eurosat_kedro.training.device import Placement, cpu_has_bf16
from eurosat_kedro.training.distill import (
    DistillSettings,
    Teacher,
    distillation_loss,
    weights_sha256,
)
from eurosat_kedro.training.host import host_tags
from eurosat_kedro.training.loop import train

SAMPLE = Path("data/sample/EuroSAT_RGB_sample.zip")
SPEC = ModelSpec("simple_cnn")
MODES = {"plain": None, "distill, one-pass teacher": False, "distill, TTA teacher": True}
UNFOLDED = "distill, TTA, BN not folded"
LOOKED_UP = "distill, TTA, looked up"
COMPILED = "distill, TTA, compiled"
REMEMBERED = "distill, TTA, remembered"  # --loop: runtime.remember_teacher; the others run it
QUICK = {"batch": 32, "warmup": 1, "steps": 3, "images": 128, "epochs": 1, "rounds": 1}


def sample_images(count: int) -> dict:
    """The sample's images, repeated to ``count``, with their class folder as label."""
    with zipfile.ZipFile(SAMPLE) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".jpg"))
        classes = sorted({n.split("/")[1] for n in names})
        images = [np.asarray(Image.open(io.BytesIO(archive.read(n))).convert("RGB")) for n in names]
    labels = [classes.index(n.split("/")[1]) for n in names]
    order = np.random.default_rng(0).permutation(count) % len(names)
    return {"images": np.stack(images)[order], "labels": np.asarray(labels, np.int64)[order]}


def a_teacher() -> TrainedModel:
    torch.manual_seed(1)
    return TrainedModel(build_model(SPEC).state_dict(), SPEC, tuple(map(str, range(10))))


def step_seconds(args, runtime: RuntimeConfig) -> tuple[dict, dict]:
    """Wall and CPU seconds of each kind of training step, the kinds taking turns."""
    placement = Placement.for_runtime(runtime)
    x, y = placement.tensors(sample_images(args.batch))
    x = x.contiguous(memory_format=placement.memory_format)
    torch.manual_seed(0)
    student = build_model(SPEC).to(placement.device, memory_format=placement.memory_format)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    teachers = {
        mode: None if tta is None else Teacher.on_placement(
            load_trained_model(a_teacher(), tta), DistillSettings("teacher.pt", tta), placement
        )
        for mode, tta in MODES.items()
    }  # fmt: skip
    # the TTA teacher as it ran before its BatchNorm was folded (Teacher.on_placement folds it)
    unfolded = load_trained_model(a_teacher(), True).to(memory_format=placement.memory_format)
    defaults = DistillSettings()
    teachers[UNFOLDED] = Teacher(
        unfolded.eval().requires_grad_(False), defaults.temperature, defaults.alpha
    )
    looked_up = Teacher.on_placement(
        load_trained_model(a_teacher(), True), DistillSettings("teacher.pt", True), placement
    )
    looked_up.remember(x, placement, args.batch)  # the batch's own images, unmixed
    teachers[LOOKED_UP] = looked_up
    indices = torch.arange(args.batch)
    if args.compile:  # runtime.compile_teacher: compiled here, before the measured turns
        settings = DistillSettings("teacher.pt", True)
        compiled = Teacher.on_placement(
            load_trained_model(a_teacher(), True), settings, placement, compiled=True
        )
        started = time.perf_counter()
        with torch.no_grad(), placement.autocast():
            compiled.network(x)
        print(f"  torch.compile of the TTA teacher: {time.perf_counter() - started:.0f} s")
        teachers[COMPILED] = compiled
    wall: dict[str, list[float]] = {mode: [] for mode in teachers}
    cpu: dict[str, list[float]] = {mode: [] for mode in teachers}
    for turn in range(args.warmup + args.steps):
        for mode, teacher in teachers.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            optimizer.zero_grad(set_to_none=True)
            with placement.autocast():
                logits = student(x)
                loss = criterion(logits, y)
                if teacher is not None:
                    loss = teacher.blend(logits, x, loss, indices)  # used if remembered
            loss.backward()
            optimizer.step()
            if turn >= args.warmup:
                wall[mode].append(time.perf_counter() - started)
                cpu[mode].append(time.process_time() - cpu_started)
    return wall, cpu


def loop_rates(args, runtime: RuntimeConfig) -> dict[str, list[float]]:
    """Each mode's measured epochs' images/s from ``train()``, the modes taking turns."""
    data, val = sample_images(args.images), sample_images(32)
    teacher = a_teacher()
    modes = {**MODES, REMEMBERED: True}
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    mixing = {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "probability": args.mixing}
    for _ in range(args.rounds):
        for mode, tta in modes.items():
            recipe: dict = {"epochs": 1 + args.epochs, "batch_size": args.batch}
            recipe["mixing"] = mixing if args.mixing else {}
            network = None
            if tta is not None:
                recipe["distill"] = {"teacher": "teacher.pt", "tta": tta}
                recipe["teacher_sha256"] = weights_sha256(teacher.state_dict)
                network = load_trained_model(teacher, tta)
            torch.manual_seed(0)
            cfg = TrainConfig(**recipe)
            machine = replace(runtime, remember_teacher=mode == REMEMBERED)
            result = train(build_model(SPEC), data, val, cfg, machine, teacher=network)
            rates[mode] += [row["images_per_second"] for row in result.history[1:]]
            print(f"  {mode}: {rates[mode][-args.epochs :]} img/s", flush=True)
    return rates


def fold_check(model_path: str, split_path: str, runtime: RuntimeConfig) -> None:
    """Accuracy, agreement and the KL divergence at T = 4 between a trained TTA teacher as
    ``Teacher.on_placement`` runs it (BatchNorm folded) and as ``load_trained_model`` gives
    it, on ``split_path``, in the runtime's precision."""
    from eurosat_kedro.datasets import TorchModelDataset

    placement = Placement.for_runtime(runtime)
    trained = TorchModelDataset(filepath=model_path).load()
    images, labels = placement.tensors(np.load(split_path))
    unfolded = load_trained_model(trained, True).to(memory_format=placement.memory_format)
    settings = DistillSettings(model_path, tta=True)
    folded = Teacher.on_placement(load_trained_model(trained, True), settings, placement).network
    logits = {}
    with torch.no_grad(), placement.autocast():
        for name, network in (("not folded", unfolded.eval()), ("folded", folded)):
            batches = torch.split(images.contiguous(memory_format=placement.memory_format), 128)
            logits[name] = torch.cat([network(batch).float() for batch in batches])
    for name, values in logits.items():
        accuracy = (values.argmax(1) == labels).float().mean().item()
        print(f"  {name:<11} accuracy {accuracy:.4%} on {len(labels)} images of {split_path}")
    a, b = logits.values()
    same = (a.argmax(1) == b.argmax(1)).float().mean().item()
    kl = distillation_loss(b, a, temperature=4.0).item() / 4.0**2  # KL(not folded || folded)
    print(f"  the same class for {same:.2%} of the images; mean KL at T=4 {kl:.1e}; "
          f"max |logit difference| {(a - b).abs().max().item():.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=2, help="turns left out of the figures")
    parser.add_argument("--steps", type=int, default=10, help="measured turns")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--loop", action="store_true", help="whole epochs of train() instead")
    parser.add_argument("--images", type=int, default=1536, help="--loop: images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="--loop: measured epochs")
    parser.add_argument("--rounds", type=int, default=2, help="--loop: turns of each mode")
    parser.add_argument("--mixing", type=float, default=0.0, help="--loop: share mixed")
    parser.add_argument("--quick", action="store_true", help=f"a fast check: {QUICK}")
    parser.add_argument(
        "--compile", action="store_true", help="also the TTA teacher through torch.compile"
    )
    parser.add_argument("--fold-check", metavar="MODEL", help="a trained teacher's model.pt")
    parser.add_argument("--split", default="data/05_model_input/test.npz", help="--fold-check")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    runtime = RuntimeConfig(device="cpu", num_threads=args.threads, cpu_bf16=True)
    Placement.for_runtime(runtime)  # sets the threads
    threads, precision = torch.get_num_threads(), "bf16+NHWC" if cpu_has_bf16() else "fp32"
    host = host_tags("cpu", threads)
    print(f"CPU: {host['host.cpu']}, torch {host['host.torch']}, {threads} threads, {precision}")
    if args.fold_check:
        fold_check(args.fold_check, args.split, runtime)
        return
    if args.loop:
        print(f"train(), {args.images} images/epoch, batch {args.batch}, {args.rounds} rounds "
              f"of 1 warm-up + {args.epochs} measured epochs (median), "
              f"{args.mixing:.0%} of the batches mixed")  # fmt: skip
        rates = {mode: statistics.median(r) for mode, r in loop_rates(args, runtime).items()}
    else:
        print(f"training steps of batch {args.batch}, taking turns: {args.warmup} warm-up + "
              f"{args.steps} measured (median)")  # fmt: skip
        wall, cpu = step_seconds(args, runtime)
        rates = {mode: args.batch / statistics.median(s) for mode, s in wall.items()}
        cpu_ms = {mode: 1000 * statistics.median(s) / args.batch for mode, s in cpu.items()}
        for mode, cost in cpu_ms.items():
            print(f"  {mode:<28}{cost:>8.2f} CPU ms/img  {cost / cpu_ms['plain']:.2f}x plain's")
    for mode, rate in rates.items():
        print(f"  {mode:<28}{rate:>8.1f} img/s  {rates['plain'] / rate:.2f}x plain's time")


if __name__ == "__main__":
    main()
