"""Serving speed side by side, in one run: raw ONNX Runtime, `mlflow models serve` of the
project's model and a do-nothing pyfunc (MLflow's own ceiling), at 1 and 2 workers.

    .venv/bin/python benchmarks/bench_serving.py [MODEL_DIR ...] [--workers 1 2] [--clients 4 16]
        [--seconds 10] [--quick] [--as-is] [--python-client] [--no-access-log]

Each MODEL_DIR is a served folder (default data/06_models/mlflow_model, else
data/sample/06_models/mlflow_model); several are measured side by side, e.g. the fp32 and the
int8 model of one run (``deployment.serve_precision``). Their model.onnx and config.json are
packaged again with this checkout's serving code (``--as-is`` serves the folders with the code
they were packaged with, to compare an older packaging). The do-nothing pyfunc has the same
signature and returns a fixed answer of the same shape per row, so MLflow does the same parsing,
schema enforcement and JSON writing for both: its rate is what MLflow's server carries on this
machine.

Per server: p50/p99 of sequential single-image requests (one keep-alive connection),
single-image requests/s with 4 and 16 concurrent keep-alive clients, images/s of 64-image
requests (one client per worker), and every non-200 answer or socket error counted. The load
comes from `wrk` (one client thread, C, cheap on shared cores) when it is on PATH (Debian:
`apt-get install wrk`), else from an asyncio keep-alive client in this process; the report says
which. Raw ONNX Runtime runs the same model.onnx on preprocessed input (all cores, batch 1 and
64) before any server starts. Servers are started on 127.0.0.1 and stopped by their PID.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from eurosat_kedro.ports import free_port
from eurosat_kedro.preprocessing import normalize
from eurosat_kedro.serving.contract import ServingConfig, model_signature
from eurosat_kedro.serving.images import decode
from eurosat_kedro.serving.package import PyfuncPackage
from eurosat_kedro.serving.providers import cpu_cores

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIRS = (
    str(ROOT / "data/06_models/mlflow_model"),
    str(ROOT / "data/sample/06_models/mlflow_model"),
)
SAMPLE_ZIP = ROOT / "data/sample/EuroSAT_RGB_sample.zip"
# the targets (issue 22): single-image req/s at 16 clients, the share of the do-nothing
# pyfunc's rate, sequential p99 in ms, the share of raw ONNX Runtime's batch-64 rate
TARGET_RATE, TARGET_CEILING_SHARE, TARGET_P99_MS, TARGET_BATCH_SHARE = 500, 0.5, 15.0, 0.8

DO_NOTHING = '''"""Answers every row with the same fixed answer: MLflow's own ceiling."""
import mlflow.pyfunc
from mlflow.models import set_model

ANSWER = {answer!r}


class DoNothing(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [ANSWER] * len(model_input)


set_model(DoNothing())
'''


def find_model(given: str | Path | None) -> Path:
    """The served model folder given, else the first of ``MODEL_DIRS`` with an MLmodel file."""
    candidates = [str(given)] if given else MODEL_DIRS
    for candidate in candidates:
        if (Path(candidate) / "MLmodel").is_file():
            return Path(candidate)
    raise SystemExit(
        f"no served model folder (with an MLmodel file) at {', '.join(candidates)}: run "
        "`kedro run` (or `kedro run --env sample`) from the project root first, or pass the "
        "folder"
    )


def sample_jpegs(n: int) -> list[bytes]:
    """The first ``n`` JPEGs of the committed sample (real EuroSAT tiles)."""
    with zipfile.ZipFile(SAMPLE_ZIP) as archive:
        names = sorted(name for name in archive.namelist() if name.endswith(".jpg"))[:n]
        return [archive.read(name) for name in names]


def request_body(jpegs: list[bytes]) -> bytes:
    rows = [[base64.b64encode(jpeg).decode()] for jpeg in jpegs]
    return json.dumps({"dataframe_split": {"columns": ["image_b64"], "data": rows}}).encode()


def package(model_dir: Path, out: Path) -> Path:
    """``model_dir``'s ONNX model and config, packaged with this checkout's serving code."""
    artifacts = model_dir / "artifacts"
    config = ServingConfig.from_json(json.loads((artifacts / "config.json").read_text()))
    PyfuncPackage(onnx.load(str(artifacts / "model.onnx")), config).save(out)
    return out


def do_nothing_model(classes: list[str], topk: int, out: Path) -> Path:
    """The do-nothing pyfunc, saved as code with the served model's signature."""
    import mlflow.pyfunc

    probabilities = {name: 1.0 / len(classes) for name in classes}
    answer = {
        "predicted_class": classes[0],
        "probability": probabilities[classes[0]],
        "probabilities": probabilities,
        "topk": [{"class": name, "probability": probabilities[name]} for name in classes[:topk]],
        "unknown": False,
        "error": None,
    }
    code = out.parent / "do_nothing.py"
    code.write_text(DO_NOTHING.format(answer=answer))
    mlflow.pyfunc.save_model(path=str(out), python_model=str(code), signature=model_signature())
    return out


def raw_rates(onnx_path: Path, jpegs: list[bytes], seconds: float) -> dict[int, float]:
    """Images/s of ONNX Runtime alone on preprocessed input, batch 1 and 64, all cores."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_cores()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    images = normalize(np.stack([decode(jpeg) for jpeg in jpegs]))
    rates = {}
    for batch in (1, 64):
        feed = {name: images[:batch]}
        for _ in range(5):
            session.run(None, feed)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.run(None, feed)
            count += batch
        rates[batch] = count / (time.perf_counter() - start)
    return rates


@contextmanager
def serving(model_dir: Path, workers: int, log: Path, env: dict[str, str]) -> Iterator[int]:
    """`mlflow models serve` on a free 127.0.0.1 port until every worker has started; stopped
    by its PID (the process group) at the end."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
               "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local",
               "--workers", str(workers)]  # fmt: skip
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env, "PATH": path},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while log.read_text(errors="replace").count("Application startup complete") < workers:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def sequential(port: int, body: bytes, n: int) -> tuple[float, float, int]:
    """p50 and p99 in ms of ``n`` requests one after the other on one keep-alive connection,
    and how many failed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    latencies, errors = [], 0
    for _ in range(n):
        start = time.perf_counter()
        connection.request("POST", "/invocations", body, headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        errors += response.status != 200
    connection.close()
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return float(p50), float(p99), errors


def load(port: int, body: bytes, clients: int, seconds: float, use_wrk: bool) -> tuple:
    """Requests/s of ``clients`` concurrent keep-alive clients for ``seconds``, and errors."""
    if use_wrk:
        return _wrk(port, body, clients, seconds)
    return asyncio.run(_asyncio_load(port, body, clients, seconds))


def _wrk(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body.decode()}]==]\n"
        )
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
             "-s", script.name, f"http://127.0.0.1:{port}/invocations"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return rate, errors


async def _asyncio_load(port: int, body: bytes, clients: int, seconds: float) -> tuple:
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    stop = time.perf_counter() + seconds

    async def client() -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        done = errors = 0
        while time.perf_counter() < stop:
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            done, errors = done + 1, errors + (status != 200)
        writer.close()
        return done, errors

    start = time.perf_counter()
    results = await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return sum(done for done, _ in results) / elapsed, sum(errors for _, errors in results)


def measure(port: int, bodies: dict[int, bytes], args, workers: int, use_wrk: bool) -> dict:
    load(port, bodies[1], max(args.clients), min(args.seconds, 2), use_wrk)  # warm-up
    p50, p99, errors = sequential(port, bodies[1], args.sequential)
    row = {"p50": p50, "p99": p99}
    for clients in args.clients:
        rate, failed = load(port, bodies[1], clients, args.seconds, use_wrk)
        row[clients], errors = rate, errors + failed
    rate, failed = batch_rate(port, bodies[64], workers, args.seconds, args.batch_requests)
    row["batch64"], row["errors"] = rate * 64, errors + failed
    return row


def batch_rate(port: int, body: bytes, clients: int, seconds: float, minimum: int) -> tuple:
    """Requests/s of ``clients`` threads sending ``body`` (large requests: the client's cost
    is small) for ``seconds`` and at least ``minimum`` requests each, and errors."""
    headers = {"Content-Type": "application/json"}

    def client(stop: float) -> tuple[int, int]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        done = errors = 0
        while done < minimum or time.perf_counter() < stop:
            connection.request("POST", "/invocations", body, headers)
            response = connection.getresponse()
            response.read()
            done, errors = done + 1, errors + (response.status != 200)
        connection.close()
        return done, errors

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, [start + seconds] * clients))
    elapsed = time.perf_counter() - start
    return sum(done for done, _ in results) / elapsed, sum(errors for _, errors in results)


def ort_line(log: Path) -> str:
    """What the served classifier logged about its providers and threads."""
    found = re.findall(r"ONNX Runtime runs on ([^\n]*)", log.read_text(errors="replace"))
    return found[0] if found else "(no line logged)"


def report(raws: dict, rows: dict, args) -> None:
    """The table (a raw ONNX Runtime line per model, a line per server) and the targets."""
    header = "".join(f"{f'req/s {c} cl':>14}" for c in args.clients)
    print(f"\n{'':<40}{header}{'p50 ms':>9}{'p99 ms':>9}{'batch-64 img/s':>16}{'errors':>8}")
    blank = "".join(f"{'':>14}" for _ in args.clients)
    for label, raw in raws.items():
        raw_label = f"raw ONNX Runtime {label} ({cpu_cores()} thr.)"
        print(f"{raw_label:<40}{blank}{'':>18}{f'{raw[1]:.0f} (b1) / {raw[64]:.0f}':>16}")
    for (label, workers), row in rows.items():
        rates = "".join(f"{row[c]:>14.0f}" for c in args.clients)
        name = f"{label}, {workers} worker{'s' * (workers > 1)}"
        batch = f"{row['batch64']:.0f}" if "batch64" in row else ""
        print(f"{name:<40}{rates}{row['p50']:>9.1f}{row['p99']:>9.1f}{batch:>16}{row['errors']:>8}")
    print("\nTargets (issue 22):")
    top = max(args.clients)
    for label, raw in raws.items():
        for workers in args.workers:
            served, ceiling = rows[(label, workers)], rows.get(("do-nothing", workers))
            checks = [
                (f"{served[top]:.0f} req/s at {top} clients", served[top] >= TARGET_RATE,
                 f">= {TARGET_RATE}"),
                (f"p99 {served['p99']:.1f} ms sequential", served["p99"] <= TARGET_P99_MS,
                 f"<= {TARGET_P99_MS:.0f} ms"),
                (f"batch-64 {served['batch64'] / raw[64]:.2f}x raw ONNX Runtime",
                 served["batch64"] >= TARGET_BATCH_SHARE * raw[64], f">= {TARGET_BATCH_SHARE}x"),
                (f"{served['errors']} errors", served["errors"] == 0, "0"),
            ]  # fmt: skip
            if ceiling:
                share = served[top] / ceiling[top]
                checks.append(
                    (f"{share:.2f}x the do-nothing pyfunc at {top} clients",
                     share >= TARGET_CEILING_SHARE, f">= {TARGET_CEILING_SHARE}x")
                )  # fmt: skip
                bound = 1 / (1 / ceiling[top] + 1 / raw[1])
                print(
                    f"  {label}, {workers} worker{'s' * (workers > 1)}: with no work of its own "
                    f"beside ONNX Runtime's, the server could reach about {bound:.0f} req/s "
                    f"(1 / (1/do-nothing + 1/raw b1): the two costs add up on the same cores)"
                )
            for what, met, target in checks:
                print(f"  {label}, {workers} worker{'s' * (workers > 1)}: {what:<44} target "
                      f"{target:<9} {'met' if met else 'NOT MET'}")  # fmt: skip


def served_label(model_dir: Path, as_is: bool) -> str:
    """``served fp32`` / ``served int8`` (the folder's precision), ``as packaged`` with --as-is."""
    config = json.loads((model_dir / "artifacts" / "config.json").read_text())
    precision = config.get("precision", "fp32")
    return f"served {precision}" + (" as packaged" if as_is else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="served model folders, side by side")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--seconds", type=float, default=10.0, help="per load measurement")
    parser.add_argument("--sequential", type=int, default=1000, help="sequential requests")
    parser.add_argument("--batch-requests", type=int, default=20, help="at least, per client")
    parser.add_argument("--quick", action="store_true", help="a few hundred requests a server")
    parser.add_argument("--as-is", action="store_true", help="serve the folders' own code")
    parser.add_argument("--python-client", action="store_true", help="not wrk, even if found")
    parser.add_argument("--no-access-log", action="store_true", help="UVICORN_ACCESS_LOG=false")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sequential, args.batch_requests = 1.0, 100, 2
    model_dirs = [find_model(given) for given in args.models] or [find_model(None)]
    labels = [served_label(model_dir, args.as_is) for model_dir in model_dirs]
    if len(set(labels)) < len(labels):
        labels = [
            f"{label} ({model_dir})" for label, model_dir in zip(labels, model_dirs, strict=True)
        ]
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    env = {"UVICORN_ACCESS_LOG": "false"} if args.no_access_log else {}
    jpegs = sample_jpegs(64)
    bodies = {1: request_body(jpegs[:1]), 64: request_body(jpegs)}
    config = json.loads((model_dirs[0] / "artifacts" / "config.json").read_text())
    print(
        f"models {', '.join(str(d) for d in model_dirs)} "
        f"({'as packaged' if args.as_is else 'packaged with this checkout'}),"
        f" one {len(jpegs[0])}-byte JPEG a request (base64), {cpu_cores()} cores, client: "
        + ("wrk -t1 (keep-alive)" if use_wrk else "asyncio keep-alive connections (Python)")
        + f", {args.seconds:g} s a load, {args.sequential} sequential requests"
        + (", access log off" if args.no_access_log else "")
    )
    raws = {
        label: raw_rates(model_dir / "artifacts" / "model.onnx", jpegs, min(args.seconds, 3))
        for label, model_dir in zip(labels, model_dirs, strict=True)
    }
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        servers = [
            (label, model_dir if args.as_is else package(model_dir, tmp / f"served{i}"))
            for i, (label, model_dir) in enumerate(zip(labels, model_dirs, strict=True))
        ]
        ceiling = do_nothing_model(config["classes"], config.get("topk", 3), tmp / "do_nothing")
        for workers in args.workers:
            for i, (label, folder) in enumerate([*servers, ("do-nothing", ceiling)]):
                log = tmp / f"server{i}-{workers}.log"
                with serving(folder, workers, log, env) as port:
                    row = measure(port, bodies, args, workers, use_wrk)
                if label == "do-nothing":
                    del row["batch64"]
                rows[(label, workers)] = row
                if label != "do-nothing":
                    print(f"  {label}, {workers} worker(s): ONNX Runtime runs on {ort_line(log)}")
    report(raws, rows, args)


if __name__ == "__main__":
    main()
