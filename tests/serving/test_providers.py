"""serving/providers.py and the classifier built on it: ONNX Runtime's providers (the GPU
when the build offers one, the CPU fallback, the override, a bad value) and its threads sized
to the server's workers. Runs on CPU: the CUDA branch is checked through a build that does not
offer it."""

from __future__ import annotations

import logging

import onnxruntime as ort
import pytest

from eurosat_kedro.serving.classifier import OnnxClassifier
from eurosat_kedro.serving.providers import (
    choose_providers,
    cpu_cores,
    serving_threads,
    serving_workers,
)
from tests.conftest import tiny_onnx

UVICORN = "/venv/bin/uvicorn"
APP = "mlflow.pyfunc.scoring_server.app:app"


@pytest.fixture
def model() -> bytes:
    return tiny_onnx({}).SerializeToString()


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for name in ("EUROSAT_ORT_PROVIDERS", "EUROSAT_ORT_THREADS", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- providers


def test_without_a_gpu_build_the_cpu_is_chosen():
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # this test machine
    assert choose_providers() == ["CPUExecutionProvider"]


def test_cuda_comes_first_when_the_build_offers_it(monkeypatch):
    offered = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offered)
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_environment_variable_overrides(monkeypatch):
    offered = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: offered)
    monkeypatch.setenv("EUROSAT_ORT_PROVIDERS", " CPUExecutionProvider ")
    assert choose_providers() == ["CPUExecutionProvider"]
    assert choose_providers("CUDAExecutionProvider,CPUExecutionProvider") == offered


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("CUDAExecutionProvider", "CUDAExecutionProvider not offered.*install onnxruntime-gpu"),
        ("CPU", r"CPU not offered by the installed ONNX Runtime \(onnxruntime 1\."),
        ("CPUExecutionProvider,Nope", "Nope not offered"),
    ],
)
def test_an_unknown_provider_is_refused_naming_those_offered(monkeypatch, value, message):
    monkeypatch.setenv("EUROSAT_ORT_PROVIDERS", value)
    with pytest.raises(ValueError, match=message) as error:
        choose_providers()
    assert str(error.value).startswith(f"EUROSAT_ORT_PROVIDERS={value!r}: ")
    assert f"which offers {', '.join(ort.get_available_providers())}. Set it" in str(error.value)


def test_the_classifier_records_and_logs_its_providers(model, caplog):
    with caplog.at_level(logging.INFO, logger="eurosat_kedro.serving.classifier"):
        classifier = OnnxClassifier(model, ["a"], threads=1)
    assert classifier.providers == ["CPUExecutionProvider"]
    assert classifier.threads == 1
    lines = [r.getMessage() for r in caplog.records if "ONNX Runtime runs on" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("ONNX Runtime runs on CPUExecutionProvider (asked for CPU")
    assert lines[0].endswith(", 1 intra-op threads")


def test_the_classifier_refuses_a_bad_override_when_built(model, monkeypatch):
    monkeypatch.setenv("EUROSAT_ORT_PROVIDERS", "CUDAExecutionProvider")
    with pytest.raises(ValueError, match="EUROSAT_ORT_PROVIDERS='CUDAExecutionProvider'"):
        OnnxClassifier(model, ["a"])


# ---------------------------------------------------------------- workers and threads


@pytest.mark.parametrize(
    ("argv", "workers"),
    [
        ([UVICORN, "--host", "127.0.0.1", "--port", "5001", "--workers", "3", APP], 3),
        ([UVICORN, "--workers=4", APP], 4),
        (["/usr/bin/python", "-c", "x", "--workers", "5", APP], 5),  # uvicorn's spawned worker
        ([UVICORN, APP], 1),
        (["kedro", "run", "--workers", "8"], 1),  # not a server
        ([], 1),
    ],
)
def test_the_worker_count_comes_from_the_uvicorn_command(argv, workers):
    assert serving_workers(argv, environ={}) == workers


def test_web_concurrency_is_the_fallback():
    assert serving_workers([UVICORN, APP], environ={"WEB_CONCURRENCY": "6"}) == 6
    assert serving_workers([UVICORN, "--workers", "2", APP], {"WEB_CONCURRENCY": "6"}) == 2


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_named(value):
    with pytest.raises(ValueError, match=f"uvicorn --workers must be a whole number.*{value!r}"):
        serving_workers([UVICORN, "--workers", value, APP], environ={})


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 2), (2, 2, 1), (2, 4, 1), (16, 4, 4), (16, 3, 5)]
)
def test_workers_times_threads_never_exceeds_the_cores(cores, workers, threads):
    assert serving_threads({}, workers=workers, cores=cores) == threads


def test_the_thread_override_wins_and_a_bad_one_is_named():
    assert serving_threads({"EUROSAT_ORT_THREADS": "3"}, workers=2, cores=2) == 3
    assert serving_threads({"EUROSAT_ORT_THREADS": "0"}, workers=2, cores=2) == 0
    with pytest.raises(ValueError, match=r"EUROSAT_ORT_THREADS must be a whole number >= 0.*'x'"):
        serving_threads({"EUROSAT_ORT_THREADS": "x"})


def test_by_default_the_threads_are_the_cores_of_this_process():
    assert serving_threads({}) == cpu_cores()  # pytest is not a uvicorn server: one worker
