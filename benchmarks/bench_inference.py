"""PyTorch eager vs ONNX Runtime, and a running `mlflow models serve`, for both models on CPU.

    .venv/bin/python benchmarks/bench_inference.py [--threads 2] [--requests 500]

Part 1: images/s at batch 1 and 64 (same weights, same preprocessed input).
Part 2: builds a pyfunc model of each architecture, serves it on 127.0.0.1, and measures
single-image request latency (p50, p99) and requests/s with 4 concurrent clients.
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
import onnxruntime as ort
import requests
import torch
import yaml
from PIL import Image

from eurosat_kedro.datasets import PyfuncModelDataset
from eurosat_kedro.models import build_model
from eurosat_kedro.pipelines.deployment.nodes import build_serving_model, export_onnx
from eurosat_kedro.preprocessing import normalize
from eurosat_kedro.training.distributed import free_port

# the class list of the project's configuration (run from the project root)
CLASSES = yaml.safe_load(Path("conf/base/parameters_data_processing.yml").read_text())["data"][
    "classes"]


def rate(fn, batch: int, seconds: float = 3.0) -> float:
    fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += batch
    return count / (time.perf_counter() - start)


def serve(model_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "-h",
         "127.0.0.1", "-p", str(port), "--env-manager", "local"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, format="JPEG")
    body = {"dataframe_split": {"columns": ["image_b64"],
                                "data": [[base64.b64encode(buffer.getvalue()).decode()]]}}
    print(f"CPU, {args.threads} threads")
    print(f"{'model':<12}{'batch':>6}{'torch img/s':>13}{'onnx img/s':>12}{'onnx/torch':>12}")
    serving_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("simple_cnn", "resnet18"):
            torch.manual_seed(0)
            model = build_model(name).eval()
            bundle = {"state_dict": model.state_dict(), "spec": {"name": name},
                      "classes": CLASSES}
            proto = export_onnx(bundle, 18)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            session = ort.InferenceSession(proto.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
            for batch in (1, 64):
                x = normalize(images[:batch])
                xt = torch.from_numpy(x)
                with torch.inference_mode():
                    t = rate(lambda m=model, xt=xt: m(xt), batch)
                o = rate(lambda s=session, x=x: s.run(None, {"image": x}), batch)
                print(f"{name:<12}{batch:>6}{t:>13.1f}{o:>12.1f}{o / t:>12.2f}")

            model_dir = Path(tmp) / name
            PyfuncModelDataset(str(model_dir)).save(
                build_serving_model(proto, CLASSES, {"images": images}, 3, ["data"]))
            port = free_port()
            process = serve(model_dir, port)
            url = f"http://127.0.0.1:{port}/invocations"
            try:
                session_http = requests.Session()
                latencies, errors = [], 0
                for _ in range(min(200, args.requests)):
                    start = time.perf_counter()
                    errors += not session_http.post(url, json=body, timeout=30).ok
                    latencies.append(time.perf_counter() - start)

                def client(n: int, url: str = url) -> int:
                    http = requests.Session()
                    return sum(not http.post(url, json=body, timeout=30).ok for _ in range(n))

                start = time.perf_counter()
                with ThreadPoolExecutor(4) as pool:
                    errors += sum(pool.map(client, [args.requests // 4] * 4))
                throughput = (args.requests // 4 * 4) / (time.perf_counter() - start)
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
            serving_rows.append((name, p50, p99, throughput, errors))
    print(f"\n{'served model':<14}{'p50 ms':>8}{'p99 ms':>8}{'req/s (4 clients)':>19}{'errors':>8}")
    for name, p50, p99, throughput, errors in serving_rows:
        print(f"{name:<14}{p50:>8.1f}{p99:>8.1f}{throughput:>19.1f}{errors:>8d}")


if __name__ == "__main__":
    main()
