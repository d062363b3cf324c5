"""PyTorch eager vs ONNX Runtime fp32 and int8, and a running `mlflow models serve`, on CPU.

    .venv/bin/python benchmarks/bench_inference.py [--threads 2] [--requests 500] [--rounds 5]
        [--models simple_cnn resnet18 simple_cnn+tta]

Part 1: images/s at batch 1, 4 and 64 (same weights, same preprocessed input) of PyTorch eager,
the deployed ONNX fp32 model, the same export without the full-map rewrite ("plain": every
convolution stays a Conv; see eurosat_kedro.models.export) and int8. The engines are timed in
interleaved rounds and the median round is reported, so a slow moment of the machine hits
all of them alike. The int8 model is the deployment pipeline's static
quantisation (calibrated here on the benchmark's own images: speed only; its accuracy on the
real test split is in data/08_reporting/int8_report.json after `kedro run`).
Part 2: builds a pyfunc model per architecture and precision, serves it on 127.0.0.1, and
measures single-image request latency (p50, p99) and requests/s with 4 concurrent clients.
A model name ending in `+tta` is that model with test-time augmentation (`evaluation.tta=true`:
the mean of the 8 flips/rotations, exported as one graph), to show what TTA costs.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import torch
import yaml
from PIL import Image

from eurosat_kedro.datasets import PyfuncModelDataset
from eurosat_kedro.models import ModelSpec, TrainedModel, build_model, load_trained_model
from eurosat_kedro.models.export import export_onnx
from eurosat_kedro.pipelines.deployment.nodes import log_mlflow_model, quantize_onnx_int8
from eurosat_kedro.ports import free_port
from eurosat_kedro.preprocessing import normalize
from eurosat_kedro.serving.classifier import OnnxClassifier

# the class list of the project's configuration (run from the project root)
CLASSES = yaml.safe_load(Path("conf/base/parameters_data_processing.yml").read_text())["data"][
    "classes"
]


def rate(fn, batch: int, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += batch
    return count / (time.perf_counter() - start)


def median_rates(engines: dict, batch: int, rounds: int, seconds: float = 1.5) -> dict:
    """Images/s of each engine: the median of ``rounds`` interleaved timed rounds."""
    for fn in engines.values():
        fn()  # warm-up
    rates = {name: [] for name in engines}
    for _ in range(rounds):
        for name, fn in engines.items():
            rates[name].append(rate(fn, batch, seconds))
    return {name: float(np.median(values)) for name, values in rates.items()}


def measure_server(model_dir: Path, body: dict, requests_total: int) -> tuple:
    """p50 and p99 ms of sequential single-image requests, requests/s of 4 clients, errors."""
    port = free_port()
    process = serve(model_dir, port)
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        http = requests.Session()
        latencies, errors = [], 0
        for _ in range(min(200, requests_total)):
            start = time.perf_counter()
            errors += not http.post(url, json=body, timeout=30).ok
            latencies.append(time.perf_counter() - start)

        def client(n: int) -> int:
            own = requests.Session()
            return sum(not own.post(url, json=body, timeout=30).ok for _ in range(n))

        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            errors += sum(pool.map(client, [requests_total // 4] * 4))
        throughput = (requests_total // 4 * 4) / (time.perf_counter() - start)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return p50, p99, throughput, errors


def serve(model_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--env-manager",
            "local",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(240):
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["simple_cnn", "resnet18"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, format="JPEG")
    body = {
        "dataframe_split": {
            "columns": ["image_b64"],
            "data": [[base64.b64encode(buffer.getvalue()).decode()]],
        }
    }
    print(f"CPU, {args.threads} threads, median of {args.rounds} interleaved rounds")
    print(
        f"{'model':<16}{'batch':>6}{'torch img/s':>13}{'plain img/s':>13}{'fp32 img/s':>12}"
        f"{'int8 img/s':>12}{'plain/torch':>13}{'fp32/torch':>12}{'int8/torch':>12}"
    )
    serving_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            architecture, tta = name.removesuffix("+tta"), name.endswith("+tta")
            torch.manual_seed(0)
            model = build_model(ModelSpec(architecture)).eval()
            bundle = TrainedModel(model.state_dict(), ModelSpec(architecture), tuple(CLASSES))
            model = load_trained_model(bundle, tta)  # the same weights, with TTA if asked
            protos = {"fp32": export_onnx(bundle, 18, tta)}
            protos["int8"] = quantize_onnx_int8(protos["fp32"], {"images": images}, len(images))
            protos["plain"] = export_onnx(bundle, 18, tta, full_map_convs_as_matmul=False)
            sessions = {
                p: OnnxClassifier(proto.SerializeToString(), CLASSES, threads=args.threads).session
                for p, proto in protos.items()
            }
            for batch in (1, 4, 64):
                x = normalize(images[:batch])
                xt = torch.from_numpy(x)

                def eager(m=model, xt=xt):
                    with torch.inference_mode():
                        m(xt)

                engines = {
                    "torch": eager,
                    **{
                        p: (lambda s=s, x=x: s.run(None, {"image": x})) for p, s in sessions.items()
                    },
                }
                r = median_rates(engines, batch, args.rounds)
                print(
                    f"{name:<16}{batch:>6}{r['torch']:>13.1f}{r['plain']:>13.1f}"
                    f"{r['fp32']:>12.1f}{r['int8']:>12.1f}{r['plain'] / r['torch']:>13.2f}"
                    f"{r['fp32'] / r['torch']:>12.2f}{r['int8'] / r['torch']:>12.2f}",
                    flush=True,
                )
            for precision in ("fp32", "int8"):
                proto = protos[precision]
                model_dir = Path(tmp) / f"{name}_{precision}"
                PyfuncModelDataset(str(model_dir)).save(
                    log_mlflow_model(proto, CLASSES, {"images": images}, 3, ["data"])[0]
                )
                serving_rows.append(
                    (f"{name} {precision}", *measure_server(model_dir, body, args.requests))
                )
    print(f"\n{'served model':<22}{'p50 ms':>8}{'p99 ms':>8}{'req/s (4 clients)':>19}{'errors':>8}")
    for label, p50, p99, throughput, errors in serving_rows:
        print(f"{label:<22}{p50:>8.1f}{p99:>8.1f}{throughput:>19.1f}{errors:>8d}")


if __name__ == "__main__":
    main()
