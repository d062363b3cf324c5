"""Knowledge distillation (training.distill): the loss by hand, the teacher on the student's
own augmented and mixed batch, resume under the same teacher only, DDP, and a distillation
run of the sample environment through the catalog, MLflow and the ONNX export."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from kedro.io import DatasetError
from torch import nn

from eurosat_kedro.datasets import ArrayBundleDataset, TorchModelDataset
from eurosat_kedro.models import ModelSpec, TrainedModel, build_model, load_trained_model
from eurosat_kedro.models.export import export_onnx
from eurosat_kedro.training.augment import dihedral
from eurosat_kedro.training.config import TrainConfig
from eurosat_kedro.training.device import Placement, cpu_has_bf16
from eurosat_kedro.training.distill import (
    DistillSettings,
    Teacher,
    distillation_loss,
    folded,
    weights_sha256,
)
from eurosat_kedro.training.distributed import train_distributed
from eurosat_kedro.training.loop import train
from tests.conftest import CLASSES, copy_project, copy_trained_data, run_session, tiny_arrays
from tests.training.conftest import config, runtime
from tests.training.test_loop import InterruptAfter, Interrupted, small_model

TEACHER_SPEC = ModelSpec("simple_cnn", width=8)


def trained_teacher(seed: int = 1) -> TrainedModel:
    """A teacher as the training pipeline saves one (its weights random: the mechanics of
    distillation do not depend on what it knows)."""
    torch.manual_seed(seed)
    weights = build_model(TEACHER_SPEC).state_dict()
    return TrainedModel(weights, TEACHER_SPEC, tuple(CLASSES), best_epoch=3, best_val_accuracy=0.75)


def distilling(teacher: TrainedModel, **overrides) -> TrainConfig:
    """``config(**overrides)`` that distils from ``teacher`` (its file named teacher.pt)."""
    recipe = config(**overrides)
    settings = {"teacher": "teacher.pt", **recipe.distill}
    sha256 = weights_sha256(teacher.state_dict)
    return TrainConfig(**{**vars(recipe), "distill": settings, "teacher_sha256": sha256})


# ---------------------------------------------------------------- the loss


def test_the_distillation_loss_is_t_squared_times_the_kl_divergence_computed_by_hand():
    student = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]
    teacher = [[3.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    temperature = 2.0

    def softmax(row: list[float]) -> list[float]:
        exps = [math.exp(v / temperature) for v in row]
        return [e / sum(exps) for e in exps]

    by_hand = 0.0
    for s_row, t_row in zip(student, teacher, strict=True):
        p, q = softmax(t_row), softmax(s_row)
        by_hand += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    by_hand = temperature**2 * by_hand / len(student)  # the mean over the batch, times T^2

    loss = distillation_loss(torch.tensor(student), torch.tensor(teacher), temperature)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert distillation_loss(torch.tensor(student), torch.tensor(student), 3.0).item() == 0.0


class Constant(nn.Module):
    """A teacher that answers ``logits`` whatever it is shown."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_alpha_weighs_the_teacher_against_the_labels_and_alpha_0_is_the_labels_loss():
    student, answer = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[3.0, 1.0, 0.0]])
    labels_loss, images = torch.tensor(0.7), torch.zeros(1, 3, 4, 4)
    soft = distillation_loss(student, answer, 4.0)
    blended = Teacher(Constant(answer), 4.0, 0.9).blend(student, images, labels_loss)
    assert blended.item() == pytest.approx(0.9 * soft.item() + 0.1 * 0.7, rel=1e-6)
    plain = Teacher(Constant(answer), 4.0, 0.0).blend(student, images, labels_loss)
    assert torch.equal(plain, labels_loss)


def test_alpha_0_trains_exactly_as_without_a_teacher():
    data, val, teacher = tiny_arrays(2), tiny_arrays(1, seed=1), trained_teacher()
    plain = train(small_model(), data, val, config(epochs=2), runtime())
    distilled = train(
        small_model(),
        data,
        val,
        distilling(teacher, epochs=2, distill={"alpha": 0.0}),
        runtime(),
        teacher=load_trained_model(teacher, tta=True),
    )
    assert [r["train_loss"] for r in distilled.history] == [r["train_loss"] for r in plain.history]
    for key, tensor in plain.best_state.items():
        assert torch.equal(tensor, distilled.best_state[key]), key


# ---------------------------------------------------------------- the teacher's view


def linear_student() -> nn.Module:
    """A student with neither BatchNorm nor dropout, so a copy of it computes the same
    function in eval mode: a teacher that answers exactly what the student answers on the
    same images."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 10))


@pytest.mark.parametrize("mixing", [{}, {"mixup_alpha": 0.4, "cutmix_alpha": 1.0}])
def test_the_teacher_sees_the_augmented_and_mixed_batch_the_student_sees(mixing: dict):
    data = tiny_arrays(2)  # 20 images: one step of 20 per epoch
    student = linear_student()
    twin = copy.deepcopy(student)  # the teacher: the student's own function of its input
    recipe = distilling(trained_teacher(), epochs=1, batch_size=20, mixing=mixing)
    recipe = TrainConfig(**{**vars(recipe), "distill": {**recipe.distill, "alpha": 1.0}})
    result = train(student, data, data, recipe, runtime(), teacher=twin)
    # the one step's loss is the divergence between the twins on what each was shown: none
    # when both saw the same flipped, rotated and mixed images
    assert result.history[0]["train_loss"] == pytest.approx(0.0, abs=1e-6)
    # ... and the twins are not flip-invariant, so another view would have shown
    with torch.no_grad():
        x = torch.randn(4, 3, 64, 64)
        assert distillation_loss(twin(x), twin(x.flip(-1)), 4.0).item() > 1e-3


def test_a_compiled_teacher_teaches_what_the_eager_one_does(monkeypatch):
    """``runtime.compile_teacher``: the teacher through torch.compile is the same function."""
    compiled, compile_ = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(m) or compile_(m, **kw))
    data = tiny_arrays(2)
    student = linear_student()
    twin = copy.deepcopy(student)
    recipe = distilling(trained_teacher(), epochs=1, batch_size=20)
    recipe = TrainConfig(**{**vars(recipe), "distill": {**recipe.distill, "alpha": 1.0}})
    result = train(student, data, data, recipe, runtime(compile_teacher=True), teacher=twin)
    assert len(compiled) == 1  # the teacher, and only it
    assert result.history[0]["train_loss"] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_the_teacher_runs_frozen_in_the_students_precision_and_layout(cpu_bf16: bool):
    teacher = load_trained_model(trained_teacher(), tta=True)
    machine = runtime(cpu_bf16=cpu_bf16)
    placement = Placement.for_runtime(machine)
    seen: set[tuple] = set()

    def frozen_convolutions(module, inputs, out):  # every convolution the run computes
        if isinstance(module, nn.Conv2d) and not module.weight.requires_grad:  # the teacher's
            layout = module.weight.is_contiguous(memory_format=placement.memory_format)
            seen.add((out.dtype, layout, module.training))

    hook = nn.modules.module.register_module_forward_hook(frozen_convolutions)
    try:
        recipe = distilling(trained_teacher(), epochs=1)
        train(
            small_model(), tiny_arrays(2), tiny_arrays(1, seed=1), recipe, machine, teacher=teacher
        )
    finally:
        hook.remove()
    bf16 = cpu_bf16 and cpu_has_bf16()
    # the student's precision on every view, its weights' layout, in eval mode (DihedralTTA
    # turns the batch: rot90 keeps no layout, so the inputs' layout is not the student's)
    assert seen == {(torch.bfloat16 if bf16 else torch.float32, True, False)}


class TeacherPasses:
    """Counts the teacher's convolution calls (its weights are frozen, the student's are
    not), and the count at each epoch's end."""

    def __init__(self):
        self.calls, self.at_epoch_end = 0, []

    def __call__(self, module, inputs, out) -> None:
        if isinstance(module, nn.Conv2d) and not module.weight.requires_grad:
            self.calls += 1

    def on_epoch_end(self, progress) -> None:
        self.at_epoch_end.append(self.calls)


def teacher_with_statistics() -> tuple[nn.Module, nn.Module]:
    """A teacher network whose BatchNorm running statistics are not the identity, and it in
    ``DihedralTTA``."""
    torch.manual_seed(0)
    network = build_model(TEACHER_SPEC).train()
    with torch.no_grad():
        network(torch.randn(16, 3, 64, 64))
    tta = load_trained_model(TrainedModel(network.state_dict(), TEACHER_SPEC, tuple(CLASSES)), True)
    return network, tta


def test_a_tta_teacher_remembers_one_answer_per_image_whatever_its_flip_or_turn():
    network, tta = teacher_with_statistics()
    placement = Placement(torch.device("cpu"))
    teacher = Teacher.on_placement(tta, DistillSettings(teacher="teacher.pt"), placement)
    images = torch.randn(7, 3, 64, 64)
    teacher.remember(images, placement, batch_size=3)  # 3 + 3 + 1 padded to 3
    assert teacher.remembered.shape == (7, len(CLASSES))
    alone = Teacher.on_placement(tta, DistillSettings(teacher="teacher.pt"), placement)
    alone.remember(images[:2], placement, batch_size=5)  # one batch, padded beyond the split
    torch.testing.assert_close(alone.remembered, teacher.remembered[:2], rtol=1e-5, atol=1e-5)
    turned = dihedral(images, torch.Generator().manual_seed(0))
    assert not torch.equal(turned, images)
    indices = torch.tensor([6, 0, 3])
    torch.testing.assert_close(
        teacher.logits(turned[indices], indices), tta(turned[indices]), rtol=1e-5, atol=1e-5
    )
    one_pass = Teacher.on_placement(network.eval(), DistillSettings(teacher="t.pt"), placement)
    with pytest.raises(ValueError, match="only a TTA teacher"):
        one_pass.remember(images, placement, batch_size=3)


@pytest.mark.parametrize(
    "tta, augment, mixing, looked_up",
    [
        (True, {}, {}, True),  # flips and turns alone: every batch looks the teacher up
        (True, {}, {"mixup_alpha": 0.4, "probability": 1.0}, False),  # all mixed: run it
        (True, {"photometric": {"probability": 0.5, "gain": 0.2}}, {}, False),  # not a flip
        (False, {}, {}, False),  # a one-pass teacher answers each view differently: run it
    ],
)
def test_the_teacher_is_looked_up_only_for_flipped_and_turned_images_and_teaches_the_same(
    tta: bool, augment: dict, mixing: dict, looked_up: bool
):
    data, val, teacher = tiny_arrays(2), tiny_arrays(1, seed=1), trained_teacher()
    recipe = distilling(
        teacher,
        epochs=2,
        batch_size=8,
        augment={"flips": True, "rot90": True, **augment},
        mixing=mixing,
        distill={"tta": tta},
    )
    histories, passes = [], []
    for remember in (True, False):  # runtime.remember_teacher
        counted = TeacherPasses()
        hook = nn.modules.module.register_module_forward_hook(counted)
        try:
            result = train(
                small_model(),
                data,
                val,
                recipe,
                runtime(cpu_bf16=False, remember_teacher=remember),
                callbacks=[counted],
                teacher=load_trained_model(teacher, tta),
            )
        finally:
            hook.remove()
        histories.append([r["train_loss"] for r in result.history])
        passes.append(counted.at_epoch_end[1] - counted.at_epoch_end[0])  # epoch 2's
    remembered, run_always = passes
    assert run_always > 0
    assert remembered == (0 if looked_up else run_always)
    # the same targets, up to the order of the 8 views' sum
    assert histories[0] == pytest.approx(histories[1], rel=1e-4)


def test_the_teacher_folds_its_batchnorm_into_its_convolutions_and_computes_the_same():
    network, tta = teacher_with_statistics()
    settings = DistillSettings(teacher="teacher.pt")
    teacher = Teacher.on_placement(tta, settings, Placement(torch.device("cpu")))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in teacher.network.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in tta.modules())  # the given one untouched
    assert not teacher.network.training
    assert all(not p.requires_grad for p in teacher.network.parameters())
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(teacher.network(x), tta(x), rtol=1e-5, atol=1e-5)


def test_a_teacher_torch_fx_cannot_trace_is_used_as_it_is():
    class DataDependent(nn.Module):  # control flow on a tensor's value: fx cannot trace it
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 10)

        def forward(self, x):
            return self.linear(x.mean((2, 3))) if x.sum() > 0 else -self.linear(x.mean((2, 3)))

    network = DataDependent()
    assert folded(network) is network


# ---------------------------------------------------------------- the recipe


def test_without_a_teacher_the_recipe_is_what_it_was_before_distillation():
    before = TrainConfig(epochs=2).fingerprint()
    assert not {"distill", "teacher_sha256"} & set(before)
    unused = TrainConfig(epochs=2, distill={"teacher": None, "temperature": 9.0})
    assert unused.fingerprint() == before


def test_with_a_teacher_the_recipe_knows_it_by_its_weights_not_its_path():
    teacher = trained_teacher()
    here = distilling(teacher)
    moved = TrainConfig(**{**vars(here), "distill": {"teacher": "elsewhere/teacher.pt"}})
    assert here.fingerprint() == moved.fingerprint()
    assert here.fingerprint()["teacher_sha256"] == weights_sha256(teacher.state_dict)
    assert here.fingerprint()["distill"] == {"tta": True, "temperature": 4.0, "alpha": 0.9}
    assert weights_sha256(trained_teacher(seed=2).state_dict) != here.teacher_sha256


def test_the_teacher_of_a_recipe_is_the_recipe_without_its_teacher_in_its_own_checkpoint():
    student = distilling(trained_teacher(), epochs=2, distill={"alpha": 0.5})
    teacher = student.without_teacher()
    assert teacher.fingerprint() == config(epochs=2).fingerprint()  # a plain run's recipe
    assert teacher.distill == {"teacher": None, "alpha": 0.5} and teacher.teacher_sha256 is None
    machine = runtime(checkpoint_path="student.pt", teacher_checkpoint_path="teacher.pt")
    assert machine.for_teacher().checkpoint_path == "teacher.pt"
    assert machine.for_teacher().num_threads == machine.num_threads


@pytest.mark.parametrize(
    ("distill", "message"),
    [
        ({"temp": 4}, r"unknown training.distill key\(s\) \['temp'\]"),
        ({"alpha": 1.5}, r"training.distill.alpha must be in \[0, 1\], got 1.5"),
        ({"temperature": 0}, "training.distill.temperature must be above 0, got 0"),
        ({"tta": "yes"}, "training.distill.tta must be true or false, got 'yes'"),
    ],
)
def test_a_wrong_distill_setting_is_named(distill: dict, message: str):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_params({"distill": distill})


def test_a_teacher_and_the_recipe_must_agree():
    data, teacher = tiny_arrays(2), trained_teacher()
    network = load_trained_model(teacher)
    with pytest.raises(ValueError, match="training.distill.teacher is null"):
        train(small_model(), data, data, config(epochs=1), runtime(), teacher=network)
    with pytest.raises(ValueError, match="no teacher network was given"):
        train(small_model(), data, data, distilling(teacher, epochs=1), runtime())
    unnamed = TrainConfig(**{**vars(distilling(teacher, epochs=1)), "teacher_sha256": None})
    with pytest.raises(ValueError, match="lacks its weights' sha256"):
        train(small_model(), data, data, unnamed, runtime(), teacher=network)
    assert DistillSettings().on is False


# ---------------------------------------------------------------- the sample data


TEACHER_FILE = "data/sample/06_models/teacher.pt"  # as a user would name it, relative


@pytest.fixture(scope="module")
def distilled_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `kedro run --env sample --pipelines data_processing,training
    --params "training.distill.teacher=data/sample/06_models/teacher.pt,training.epochs=1"`
    ran, a teacher saved there first: the committed 300 images as arrays, and a student."""
    root = copy_project(tmp_path_factory.mktemp("distill") / "project")
    TorchModelDataset(str(root / TEACHER_FILE)).save(trained_teacher())
    previous = Path.cwd()
    os.chdir(root)
    try:
        params = {"training.distill.teacher": TEACHER_FILE, "training.epochs": 1}
        run_session(root, env="sample", pipeline=["data_processing", "training"], params=params)
    finally:
        os.chdir(previous)
    return root


def test_kedro_run_distils_from_the_teacher_file_tags_the_run_and_the_student_exports(
    distilled_project: Path,
):
    classes = distilled_project / "data/sample/02_intermediate/classes.json"
    assert json.loads(classes.read_text()) == CLASSES  # the teacher's, saved before
    student = TorchModelDataset(str(distilled_project / "data/sample/06_models/model.pt")).load()
    assert student.spec.name == "simple_cnn" and student.classes == tuple(CLASSES)
    client = mlflow.MlflowClient(f"sqlite:///{distilled_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("eurosat-sample").experiment_id
    (run,) = client.search_runs([experiment], f"tags.`distill.teacher` = '{TEACHER_FILE}'")
    teacher = trained_teacher()
    assert run.data.tags["distill.teacher"] == TEACHER_FILE
    assert run.data.tags["distill.teacher_sha256"] == weights_sha256(teacher.state_dict)
    assert run.data.tags["distill.teacher_best_val_accuracy"] == "0.75"
    assert run.data.params["training.distill.teacher"] == TEACHER_FILE
    assert "training.val_accuracy" in run.data.metrics
    onnx_model = export_onnx(student, 18)  # checked by onnx.checker inside
    assert [o.name for o in onnx_model.graph.output] == ["logits"]


def sample_split(project: Path, split: str, count: int) -> dict:
    """The first ``count`` images of a split of the sample (sorted by class, so mixed)."""
    path = project / "data" / "sample" / "05_model_input" / f"{split}.npz"
    arrays = ArrayBundleDataset(str(path)).load()
    pick = np.random.default_rng(0).permutation(len(arrays["labels"]))[:count]
    return {"images": arrays["images"][pick], "labels": arrays["labels"][pick]}


def test_a_sample_distillation_resumes_exactly_and_only_under_its_teacher(
    distilled_project: Path, tmp_path: Path
):
    data = sample_split(distilled_project, "train", 64)
    val = sample_split(distilled_project, "val", 20)
    teacher, recipe = trained_teacher(), distilling(trained_teacher(), epochs=2, batch_size=32)
    whole = train(
        small_model(),
        data,
        val,
        recipe,
        runtime(checkpoint_path=str(tmp_path / "whole.pt")),
        teacher=load_trained_model(teacher, tta=True),
    )
    checkpoint = str(tmp_path / "cut.pt")
    with pytest.raises(Interrupted):
        train(
            small_model(),
            data,
            val,
            recipe,
            runtime(checkpoint_path=checkpoint),
            callbacks=[InterruptAfter(1)],
            teacher=load_trained_model(teacher, tta=True),
        )
    resumed = train(
        small_model(),
        data,
        val,
        recipe,
        runtime(resume=True, checkpoint_path=checkpoint),
        teacher=load_trained_model(teacher, tta=True),
    )
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    for key, tensor in whole.best_state.items():
        assert torch.equal(tensor, resumed.best_state[key]), key

    other = trained_teacher(seed=2)
    with pytest.raises(ValueError, match=r"different training parameters \(teacher_sha256\)"):
        train(
            small_model(),
            data,
            val,
            distilling(other, epochs=2, batch_size=32),
            runtime(resume=True, checkpoint_path=checkpoint),
            teacher=load_trained_model(other, tta=True),
        )


def test_a_missing_teacher_file_says_to_train_the_teacher_first_and_point_at_it(
    distilled_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    project = copy_trained_data(distilled_project, tmp_path / "project")  # its arrays
    monkeypatch.chdir(project)
    with pytest.raises(DatasetError) as error:
        params = {"training.distill.teacher": "data/sample/06_models/no_teacher.pt"}
        run_session(project, env="sample", pipeline="training", params=params)
    message = str(error.value)
    assert "data/sample/06_models/no_teacher.pt does not exist" in message
    assert "Train that model first: the teacher pipeline trains it there" in message
    assert 'point training.distill.teacher at a trained model.pt: --params "training.distill.' in (
        message
    )


@pytest.mark.slow
def test_ddp_processes_each_hold_the_teacher(tmp_path: Path):
    teacher = trained_teacher()
    result = train_distributed(
        ModelSpec("simple_cnn", width=8),
        tiny_arrays(4),
        tiny_arrays(1, seed=1),
        distilling(teacher, epochs=1),
        runtime(device="cpu", num_processes=2, checkpoint_path=str(tmp_path / "ddp.pt")),
        teacher=load_trained_model(teacher, tta=True),
    )
    assert np.isfinite(result.history[0]["train_loss"])
    saved = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert saved["config"]["teacher_sha256"] == weights_sha256(teacher.state_dict)
