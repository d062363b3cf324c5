"""CPU time of one served request inside MLflow's scoring server code, without HTTP: the
project's own cost per request, side by side with MLflow's do-nothing ceiling, in one process.

    .venv/bin/python benchmarks/bench_serving_request.py [MODEL_DIR ...] [--requests 2000]
        [--images 1 64] [--profile]

Each request goes through ``mlflow.pyfunc.scoring_server.invocations`` (what
`mlflow models serve` runs per request after uvicorn has read the body: JSON -> DataFrame,
schema enforcement, the pyfunc's ``predict``, the answer -> JSON) on one thread, ONNX Runtime
with one intra-op thread (what each of N workers on N cores gets). Rows:

- ``served (records)``: the pyfunc as the scoring server runs it (it answers with records);
- ``served (DataFrame)``: the same model answering with a DataFrame, as it does outside the
  server (and as every request did before the records answer): what building a frame for
  MLflow to take apart again costs;
- ``do-nothing``: a pyfunc with the same signature that answers a fixed answer of the same
  shape: MLflow's own work per request;
- ``ONNX Runtime``: ``session.run`` alone on the same preprocessed images.

``served - do-nothing - ONNX Runtime`` is what the project adds per request: decoding,
preprocessing, the answer. ``--profile`` prints cProfile's top functions of the served rows.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_serving import do_nothing_model, find_model, package, request_body, sample_jpegs  # noqa: E402

SERVING_ENV = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"  # set by MLflow's scoring server app


def cpu_ms(call, n: int) -> float:
    """CPU milliseconds per call of ``call`` over ``n`` calls, after a warm-up."""
    for _ in range(max(5, n // 20)):
        call()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="served model folders")
    parser.add_argument("--requests", type=int, default=2000, help="single-image requests")
    parser.add_argument("--images", type=int, nargs="+", default=[1, 64], help="per request")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ["EUROSAT_ORT_THREADS"] = "1"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow.pyfunc
    import onnxruntime as ort
    from mlflow.pyfunc.scoring_server import invocations

    from eurosat_kedro.preprocessing import normalize
    from eurosat_kedro.serving.images import decode

    model_dirs = [find_model(given) for given in args.models] or [find_model(None)]
    jpegs = sample_jpegs(max(args.images))
    print(
        f"CPU {platform.processor() or platform.machine()}; one thread; ONNX Runtime 1 "
        f"intra-op thread; {args.requests} single-image requests (fewer for larger ones)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = json.loads((model_dirs[0] / "artifacts" / "config.json").read_text())
        ceiling = mlflow.pyfunc.load_model(
            str(do_nothing_model(config["classes"], config["topk"], tmp / "do_nothing"))
        )
        print(f"\n{'':<44}" + "".join(f"{f'{n} image(s) ms':>18}" for n in args.images))
        for i, model_dir in enumerate(model_dirs):
            precision = json.loads((model_dir / "artifacts" / "config.json").read_text())
            served = mlflow.pyfunc.load_model(str(package(model_dir, tmp / f"served{i}")))
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(
                str(model_dir / "artifacts" / "model.onnx"), options, ["CPUExecutionProvider"]
            )
            name = session.get_inputs()[0].name
            rows = {}
            for n in args.images:
                body = request_body(jpegs[:n])
                calls = max(20, args.requests // n)
                images = normalize(np.stack([decode(jpeg) for jpeg in jpegs[:n]]))

                def request(model, body=body):
                    return invocations(
                        body, "application/json", model, model.metadata.get_input_schema()
                    )

                for label, flag in (("served (records)", "true"), ("served (DataFrame)", "false")):
                    os.environ[SERVING_ENV] = flag
                    rows.setdefault(label, []).append(cpu_ms(lambda m=served: request(m), calls))
                os.environ[SERVING_ENV] = "true"
                rows.setdefault("do-nothing", []).append(cpu_ms(lambda: request(ceiling), calls))
                rows.setdefault("ONNX Runtime", []).append(
                    cpu_ms(lambda s=session, feed={name: images}: s.run(None, feed), calls)
                )
                if args.profile:
                    profile = cProfile.Profile()
                    for _ in range(calls):
                        profile.runcall(request, served)
                    text = io.StringIO()
                    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
                    print(text.getvalue())
            own = [
                served - nothing - onnx
                for served, nothing, onnx in zip(
                    rows["served (records)"], rows["do-nothing"], rows["ONNX Runtime"], strict=True
                )
            ]
            rows["the project's own work (records)"] = own
            print(f"{model_dir} ({precision.get('precision', 'fp32')})")
            for label, values in rows.items():
                print(f"  {label:<42}" + "".join(f"{value:>18.3f}" for value in values))


if __name__ == "__main__":
    main()
