"""Where and how ONNX Runtime runs: its execution providers (a GPU when the installed build
offers one, else the CPU) and its threads (sized to the server's worker count, so
``workers x threads`` does not exceed the cores). Overridden by ``EUROSAT_ORT_PROVIDERS`` and
``EUROSAT_ORT_THREADS``."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnxruntime as ort

from .contract import ORT_PROVIDERS_ENV, ORT_THREADS_ENV

# the providers chosen when ORT_PROVIDERS_ENV is unset, in this order, among those installed
PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
# what `mlflow models serve` runs: `uvicorn ... --workers N mlflow.pyfunc.scoring_server.app:app`
SCORING_APP = "mlflow.pyfunc.scoring_server.app:app"


def choose_providers(requested: str | None = None) -> list[str]:
    """ONNX Runtime providers to ask for: ``requested`` (comma-separated names; default
    ``$EUROSAT_ORT_PROVIDERS``) when set, else ``PREFERRED_PROVIDERS`` that this build offers.
    A name the build does not offer is a ValueError naming those it does."""
    if requested is None:
        requested = os.environ.get(ORT_PROVIDERS_ENV, "")
    available = ort.get_available_providers()
    names = [name.strip() for name in requested.split(",") if name.strip()]
    if not names:
        return [name for name in PREFERRED_PROVIDERS if name in available]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"{ORT_PROVIDERS_ENV}={requested!r}: {', '.join(unknown)} not offered by the "
            f"installed ONNX Runtime ({_build()}), which offers {', '.join(available)}. Set it "
            f"to some of those, comma-separated (e.g. {ORT_PROVIDERS_ENV}=CPUExecutionProvider),"
            " or unset it to use the GPU when there is one, else the CPU"
            + (
                "; for CUDAExecutionProvider install onnxruntime-gpu instead of onnxruntime"
                if "CUDAExecutionProvider" in unknown
                else ""
            )
        )
    return names


def _build() -> str:
    return f"onnxruntime {ort.__version__}, device {ort.get_device()}"


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def serving_workers(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """How many worker processes serve the model: ``--workers N`` of the uvicorn command that
    ``mlflow models serve --workers N`` runs (uvicorn's spawned workers inherit its
    ``sys.argv``), else ``$WEB_CONCURRENCY`` (uvicorn's and gunicorn's default), else 1 (not a
    server: the CLI, Spark, a notebook)."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if argv and (Path(argv[0]).name == "uvicorn" or SCORING_APP in argv):
        for i, arg in enumerate(argv):
            if arg == "--workers" and i + 1 < len(argv):
                return _positive(argv[i + 1], "uvicorn --workers")
            if arg.startswith("--workers="):
                return _positive(arg.split("=", 1)[1], "uvicorn --workers")
    if environ.get("WEB_CONCURRENCY"):
        return _positive(environ["WEB_CONCURRENCY"], "WEB_CONCURRENCY")
    return 1


def _positive(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {text!r}")
    return value


def serving_threads(
    environ: Mapping[str, str] | None = None,
    workers: int | None = None,
    cores: int | None = None,
) -> int:
    """ONNX Runtime intra-op threads per serving process: ``$EUROSAT_ORT_THREADS`` when set
    (0: ONNX Runtime's default, one per physical core), else the cores shared out among the
    workers (at least 1), so that ``workers x threads`` never exceeds the cores."""
    environ = os.environ if environ is None else environ
    text = environ.get(ORT_THREADS_ENV, "").strip()
    if text:
        if not text.isdigit():
            raise ValueError(
                f"{ORT_THREADS_ENV} must be a whole number >= 0 (the ONNX Runtime threads per "
                f"worker; 0 for one per core), got {text!r}; unset it to share the cores out "
                "among the server's workers"
            )
        return int(text)
    workers = serving_workers(environ=environ) if workers is None else workers
    cores = cpu_cores() if cores is None else cores
    return max(1, cores // workers)
