"""Serving latency, throughput, cold start and package size of the predict function, against its floor and baseline.

For each model (the churn example, a RandomForest of 100 trees of depth 12 and a LogisticRegression, the two
latter on 20 numeric + 3 categorical features), in the same run:

  (a) floor:    onnxruntime `InferenceSession.run` on prepared numpy inputs (the session options we serve with);
  (b) handler:  the real `functions/predict/handler.py`, warm, on an API Gateway proxy event, with the model
                registered in a moto server (DynamoDB, S3, KMS) of its own process, as AWS is outside a function's
                (its handling of the capture's PUTs takes none of this process's time); capture sampled at 1.0
                (and at 0 to show capture's share);
  (c) baseline: an MLflow-pyfunc-style handler, JSON -> pandas DataFrame -> sklearn `predict_proba` -> JSON.

Cold starts run in fresh `python -c` processes: (b) imports the handler and answers its first event against the
same moto server (so its registry and S3 reads are real round trips, to localhost); (c) imports
pandas, unpickles the pipeline with joblib and answers its first event. Both read their modules' bytecode from a
cache the first, discarded run writes, as the deployed layers carry it (`make bench-cold-start` measures what it
saves in Lambda's Python).

Run `.venv/bin/python bench/serving.py [--quick] [--profile [ROWS]]`. A report, not a test: it exits 0 unless
it crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import gc
import importlib.util
import io
import json
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from infra.local.example_data import EXAMPLE_SPEC, churn_instances, churn_table  # noqa: E402
from infra.local.runner import LambdaContext  # noqa: E402
from mlcore.catalog import PREDICT, RunFile, run_key  # noqa: E402

HANDLER = ROOT / "functions" / PREDICT / "handler.py"
EVENT = ROOT / "events" / "predict.json"
REGION = "us-east-1"
TABLE, ARTIFACTS_BUCKET, CAPTURE_BUCKET = "registry", "mlops-artifacts", "mlops-capture"
ONLINE_TABLE = "online-features"
REQUEST_ID_KEY: list[str] = []  # the HMAC key create_resources made (the newest last)
# The deployed values (infra/constructs/serving.py).
SETTINGS = {"MAX_ROWS": "1000", "ALIAS_TTL_SECONDS": "30"}
POWERTOOLS = {
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_SERVICE_NAME": PREDICT,
}
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
BATCHES = (1, 100, 1000)
# Targets from the issue.
MAX_OVERHEAD_MS, MIN_SPEEDUP, MAX_COLD_S, MAX_COLD_SHARE, MAX_PACKAGE_MIB = 0.25, 15.0, 0.5, 0.25, 170.0
MIN_BATCH_SPEEDUP = {100: 10.0, 1000: 3.0}  # (b) rows/s over (c) rows/s, issue 8


@dataclass(frozen=True)
class Counts:
    """Timed calls per path and batch size, cold-start processes per path, interleaved rounds."""

    calls: dict[tuple[str, int], int]
    cold: int
    rounds: int


FULL = Counts(
    calls={
        **{("a", 1): 2000, ("b", 1): 2000, ("b0", 1): 2000, ("c", 1): 300},
        **{("a", 100): 400, ("b", 100): 200, ("b0", 100): 200, ("c", 100): 100},
        **{("a", 1000): 100, ("b", 1000): 40, ("b0", 1000): 40, ("c", 1000): 30},
    },
    cold=5,
    rounds=5,
)
QUICK = Counts(calls={key: max(4, n // 20) for key, n in FULL.calls.items()}, cold=2, rounds=2)


# -- models ----------------------------------------------------------------------------------------------------


@dataclass
class Model:
    """A spec trained with mlcore.training: the fitted pipeline, its ONNX export and request rows."""

    name: str
    title: str
    spec: Any
    pipeline: Any
    onnx: bytes
    classes: list[str]
    records: list[dict[str, Any]]
    timings: dict[str, Any] = field(default_factory=dict)


SCALES = 10.0 ** np.linspace(-2, 3, 20)
LOCATIONS = np.linspace(-10.0, 100.0, 20)
LEVELS = {"c1": 5, "c2": 12, "c3": 20}


def synthetic_columns(rows: int, seed: int) -> dict[str, np.ndarray]:
    """20 normal numeric features of varied scales, 3 categoricals of 5-20 levels, and a binary target."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {
        f"x{j + 1:02d}": rng.normal(LOCATIONS[j], SCALES[j], rows).round(4) for j in range(20)
    }
    logit = np.zeros(rows)
    for j, weight in enumerate((1.2, -0.8, 0.6, 0.5, -0.4, 0.3)):
        logit += weight * (columns[f"x{j + 1:02d}"] - LOCATIONS[j]) / SCALES[j]
    for name, levels in LEVELS.items():
        p = np.random.default_rng(levels).dirichlet(np.ones(levels))  # a fixed skew per feature
        index = rng.choice(levels, size=rows, p=p)
        columns[name] = np.array([f"{name}_{k:02d}" for k in range(levels)])[index]
        logit += 0.4 * (index % 3 - 1)
    columns["y"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return columns


def synthetic_spec(name: str, kind: str, params: dict[str, Any]) -> Any:
    from mlcore.spec import parse_spec

    features: list[dict[str, Any]] = [{"name": f"x{j + 1:02d}", "type": "numeric"} for j in range(20)]
    features += [
        {"name": c, "type": "categorical", "categories": [f"{c}_{k:02d}" for k in range(n)]} for c, n in LEVELS.items()
    ]
    return parse_spec(
        {
            "name": name,
            "task": "classification",
            "target": "y",
            "features": features,
            "estimator": {"kind": kind, "params": params},
            "metrics": {"primary": "roc_auc"},
            "data": {"min_rows": 100, "holdout_fraction": 0.2, "seed": 7},
            "capture": {"sample_rate": 1.0},
        }
    )


def records_of(columns: dict[str, np.ndarray], names: list[str]) -> list[dict[str, Any]]:
    """JSON-ready request rows."""
    lists = {name: columns[name].tolist() for name in names}
    return [{name: lists[name][i] for name in names} for i in range(len(lists[names[0]]))]


def train(spec: Any, table: pa.Table, records: list[dict[str, Any]], title: str) -> Model:
    """Fit and export exactly as the platform does, and prove parity on the holdout."""
    from mlcore.data import split_holdout
    from mlcore.serving import OnnxModel, signature_of
    from mlcore.training import check_parity, export_onnx, fit, table_columns

    fitted, holdout = split_holdout(table, spec)
    pipeline, classes = fit(spec, fitted)
    onnx = export_onnx(pipeline, spec)
    check_parity(pipeline, OnnxModel(onnx, signature_of(spec.features), classes), table_columns(holdout, spec), spec)
    assert classes is not None
    return Model(spec.name, title, spec, pipeline, onnx, classes, records)


def build_models() -> list[Model]:
    from mlcore.data import enforce_contract
    from mlcore.spec import load_spec

    churn = load_spec(EXAMPLE_SPEC.read_text())
    churn = churn.model_copy(update={"capture": churn.capture.model_copy(update={"sample_rate": 1.0})})
    clean, _ = enforce_contract(churn_table(1000, seed=2), churn)
    # Requests without nulls first, so that single-row requests are valid for the pandas baseline as well.
    rows = sorted(churn_instances(1200, seed=11), key=lambda r: any(v is None for v in r.values()))
    models = [train(churn, clean, rows, "churn example: RandomForest 60 trees depth 8, 5 numeric + 2 categorical")]
    requests = synthetic_columns(1000, seed=99)
    for name, kind, params, title in (
        ("bench-rf", "random_forest_classifier", {"n_estimators": 100, "max_depth": 12, "n_jobs": 1}, "RandomForest"),
        ("bench-lr", "logistic_regression", {"max_iter": 1000}, "LogisticRegression"),
    ):
        spec = synthetic_spec(name, kind, params)
        table = pa.table(synthetic_columns(5000, seed=1))
        detail = " 100 trees depth 12" if kind.startswith("random") else ""
        models.append(train(spec, table, records_of(requests, spec.feature_names), f"{title}{detail}, 20 num + 3 cat"))
    return models


# -- AWS: a moto server in a process of its own -----------------------------------------------------------------


def create_resources(dynamodb: Any, s3: Any, endpoint: str | None = None) -> None:
    """The tables, the buckets and the request ids' HMAC key (its ARN goes to the handler's environment)."""
    from mlcore.features import create_online_table
    from mlcore.registry import create_registry_table

    create_registry_table(dynamodb, TABLE)
    create_online_table(dynamodb, ONLINE_TABLE)
    kms = boto3_client("kms", endpoint)
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    REQUEST_ID_KEY.append(key)
    for bucket in (ARTIFACTS_BUCKET, CAPTURE_BUCKET):
        s3.create_bucket(Bucket=bucket)


def register(dynamodb: Any, s3: Any, model: Model, name: str, sample_rate: float) -> None:
    """Register the model under `name` as an approved champion, as tests/conftest.py does."""
    from mlcore.registry import CHAMPION, ModelVersion, Registry, VersionStatus, utc_now
    from mlcore.serving import signature_of
    from mlcore.spec import parse_spec
    from mlcore.storage import ObjectStore

    document = model.spec.model_dump(mode="json")
    spec = parse_spec({**document, "name": name, "capture": {**document["capture"], "sample_rate": sample_rate}})
    registry, artifacts = Registry(TABLE, dynamodb), ObjectStore(ARTIFACTS_BUCKET, s3)
    registry.put_spec(spec, actor="bench")
    version = registry.register_version(
        ModelVersion(
            model_name=name,
            version=registry.allocate_version(name),
            run_id="bench",
            status=VersionStatus.APPROVED,
            created_at=utc_now(),
            artifacts={"model": artifacts.put(run_key(name, "bench", RunFile.MODEL), model.onnx)},
            metrics={},
            signature=signature_of(spec.features),
            classes=model.classes,
        ),
        actor="bench",
    )
    registry.set_alias(name, CHAMPION, version.version, actor="bench")


def no_capture(name: str) -> str:
    return f"{name}-nocap"


def boto3_client(service: str, endpoint: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


# A moto server (the local target's: connections kept open) until the bench closes the child's stdin.
AWS_SERVER = """
import logging, os, sys
from infra.local.server import EmbeddedAwsServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = EmbeddedAwsServer("127.0.0.1", {port}).start()
print("ready", flush=True)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nobody reads the pipe from here on
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def aws_server() -> Iterator[str]:
    """The endpoint of a moto server in a child process: AWS's work (a PUT's checksum, a query) is not the
    function's, so it runs outside the process whose calls are timed (a thread of it would take their GIL)."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", AWS_SERVER.format(port=port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        if child.stdout.readline().strip() != b"ready":
            raise RuntimeError("the moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()  # its cue to stop
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def setup_aws(models: list[Model], endpoint: str) -> None:
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    create_resources(dynamodb, s3, endpoint)
    for model in models:
        register(dynamodb, s3, model, model.name, 1.0)
        register(dynamodb, s3, model, no_capture(model.name), 0.0)


def function_env(endpoint: str) -> dict[str, str]:
    return {
        **FAKE_AWS,
        **POWERTOOLS,
        **SETTINGS,
        "REGISTRY_TABLE": TABLE,
        "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
        "CAPTURE_BUCKET": CAPTURE_BUCKET,
        "ONLINE_FEATURES_TABLE": ONLINE_TABLE,
        "REQUEST_ID_KEY": REQUEST_ID_KEY[-1],
        "AWS_ENDPOINT_URL": endpoint,
    }


# -- the three paths -------------------------------------------------------------------------------------------


def import_handler() -> ModuleType:
    """A fresh import of the predict handler under its own module name (never a cached one)."""
    spec = importlib.util.spec_from_file_location(f"bench_predict_handler_{time.monotonic_ns()}", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as a real import does (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def proxy_event(name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    event = copy.deepcopy(json.loads(EVENT.read_text()))
    event["path"] = f"/models/{name}/predict"
    event["pathParameters"] = {"name": name}
    event["requestContext"]["path"] = f"/prod/models/{name}/predict"
    event["body"] = json.dumps({"instances": records})
    return event


def event_stream(event: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    """A distinct request id per call (capture keys and logs carry it), built outside the timed region."""

    def prepare(i: int) -> dict[str, Any]:
        return {**event, "requestContext": {**event["requestContext"], "requestId": f"bench-{i:08d}"}}

    return prepare


def checked(response: dict[str, Any]) -> dict[str, Any]:
    if response.get("statusCode") != 200:
        raise RuntimeError(f"predict answered {response.get('statusCode')}: {response.get('body')}")
    return response


def onnx_inputs(session: Any, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The (n, 1) float32 / string tensors the export declares, from request rows (null -> NaN)."""
    inputs = {}
    for tensor in session.get_inputs():
        values = [record[tensor.name] for record in records]
        if tensor.type == "tensor(string)":
            inputs[tensor.name] = np.array(values, dtype=object).reshape(-1, 1)
        else:
            inputs[tensor.name] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(
                -1, 1
            )
    return inputs


Timed = tuple[Callable[[Any], Any], Callable[[int], Any]]  # (call, prepare): prepare(i) runs outside the timer


def paths(model: Model, handler: ModuleType, rows: int) -> dict[str, Timed]:
    """The callables of (a), (b), (b0: capture off) and (c) for one model and batch size."""
    from pyfunc_baseline import PyfuncHandler

    from mlcore.serving import OnnxModel, signature_of

    records = model.records[:rows]
    session = OnnxModel(model.onnx, signature_of(model.spec.features), model.classes).session
    inputs = onnx_inputs(session, records)
    baseline = PyfuncHandler(model.pipeline)
    base_event = proxy_event(model.name, records)
    context = LambdaContext(PREDICT)
    return {
        "a": (lambda _: session.run(None, inputs), lambda i: None),
        "b": (lambda event: handler.handler(event, context), event_stream(base_event)),
        "b0": (
            lambda event: handler.handler(event, context),
            event_stream(proxy_event(no_capture(model.name), records)),
        ),
        "c": (lambda event: baseline(event, None), lambda i: base_event),
    }


# -- timing ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Powertools prints logs and EMF metrics: keep paying for the writes, not for a terminal.

    Line buffering makes every printed line one write(2), whatever stdout is attached to.
    """
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    line_buffering = sys.stdout.line_buffering
    os.dup2(devnull, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout.reconfigure(line_buffering=line_buffering)  # type: ignore[attr-defined]
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def measure(call: Callable[[Any], Any], prepare: Callable[[int], Any], n: int, start: int) -> list[int]:
    samples = []
    for i in range(start, start + n):
        argument = prepare(i)
        began = time.perf_counter_ns()
        call(argument)
        samples.append(time.perf_counter_ns() - began)
    return samples


def time_paths(callables: dict[str, Timed], calls: dict[str, int], rounds: int) -> dict[str, np.ndarray]:
    """Interleave the paths in rounds, so that a background load spreads over all of them alike."""
    samples: dict[str, list[int]] = {key: [] for key in callables}
    for key, (call, prepare) in callables.items():
        response = call(prepare(10**7))  # warm-up; the handler's first call loads the model
        if key.startswith("b"):
            checked(response)
    # This process holds what a function's does not (scikit-learn, pandas, boto3, the training data): a full
    # collection over it (~0.1 s) would land on whichever call was timed. Set it apart while timing; each path's
    # own garbage is still collected.
    gc.collect()
    gc.freeze()
    try:
        for r in range(rounds):
            for key, (call, prepare) in callables.items():
                n = max(1, calls[key] // rounds)
                samples[key] += measure(call, prepare, n, start=r * n)
    finally:
        gc.unfreeze()
    return {key: np.asarray(values) / 1e6 for key, values in samples.items()}  # ms


def warm_benchmark(models: list[Model], counts: Counts, profile_rows: int | None, endpoint: str) -> None:
    os.environ.update(function_env(endpoint))
    handler = import_handler()
    for model in models:
        for rows in BATCHES:
            print(f"  warm {model.name} x{rows}", file=sys.stderr, flush=True)
            callables = paths(model, handler, rows)
            with stdout_to_devnull():
                model.timings[rows] = time_paths(
                    callables, {key: counts.calls[key, rows] for key in callables}, counts.rounds
                )
        if profile_rows:
            model.timings["profile"] = profile_handler(
                paths(model, handler, profile_rows)["b"],
                counts.calls["b", min(BATCHES, key=lambda b: abs(b - profile_rows))],
            )
    handler.service().capture.flush()  # the writes in flight and the rows still buffered, while S3 is up


def profile_handler(path: Timed, n: int, top: int = 20) -> str:
    """cProfile of (b) calls: the functions with the most own time, per call."""
    call, prepare = path
    profiler = cProfile.Profile()
    with stdout_to_devnull():
        profiler.enable()
        for i in range(n):
            call(prepare(i))
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]  # type: ignore[attr-defined]
    lines = [f"    {'own us/call':>11} {'cum us/call':>11}  function (cProfile overhead inflates both)"]
    for (filename, line, function), (_, _, own, cumulative, _) in rows:
        where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}" if line else filename
        lines.append(f"    {own / n * 1e6:>11.1f} {cumulative / n * 1e6:>11.1f}  {function} ({where})")
    return "\n".join(lines)


# -- cold start ------------------------------------------------------------------------------------------------

# A child's import of the handler at {handler} (a format string), as the Lambda runtime imports it.
IMPORT_HANDLER = """
spec = importlib.util.spec_from_file_location("handler", {handler!r})
module = importlib.util.module_from_spec(spec)
sys.modules["handler"] = module
spec.loader.exec_module(module)
"""
HANDLER_CHILD = (
    """
import time
started = time.perf_counter()
import importlib.util, json, sys
"""
    + IMPORT_HANDLER
    + """
imported = time.perf_counter()
class Context:
    function_name, function_version, memory_limit_in_mb = "predict", "$LATEST", 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = "5a1b2c3d-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 30000
with open({event!r}) as f:
    event = json.load(f)
response = module.handler(event, Context())
done = time.perf_counter()
assert response["statusCode"] == 200, response
sys.stdout.flush()
print("BENCH_RESULT", json.dumps({{"imports": imported - started, "first": done - imported, "total": done - started}}))
"""
)

BASELINE_CHILD = """
import time
started = time.perf_counter()
import json, sys
sys.path.insert(0, {bench!r})
import pyfunc_baseline
imported = time.perf_counter()
handler = pyfunc_baseline.load({pickle!r})
loaded = time.perf_counter()
with open({event!r}) as f:
    event = json.load(f)
response = handler(event, None)
done = time.perf_counter()
assert response["statusCode"] == 200, response
print("BENCH_RESULT", json.dumps({{"imports": imported - started, "load": loaded - imported,
    "first": done - loaded, "total": done - started}}))
"""


def run_child(script: str, env: dict[str, str]) -> dict[str, float]:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    wall = time.perf_counter() - began
    results = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not results:
        raise RuntimeError(
            f"cold-start process failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return {**json.loads(results[-1].split(" ", 1)[1]), "wall": wall}


def cold_runs(script: str, env: dict[str, str], n: int) -> dict[str, float]:
    """Median of n fresh processes, after one discarded run (bytecode caches and the page cache warm)."""
    run_child(script, env)
    runs = [run_child(script, env) for _ in range(n)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: dict[str, str], bytecode: str) -> dict[str, str]:
    """The child's environment: bytecode written to and read from `bytecode` (the discarded first run writes it,
    as the layers ship it: infra/constructs/layers.py), even where PYTHONDONTWRITEBYTECODE is set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**env, "PYTHONPYCACHEPREFIX": bytecode, **extra}


def cold_benchmark(models: list[Model], counts: Counts, endpoint: str) -> dict[str, float]:
    import joblib

    with tempfile.TemporaryDirectory() as tmp:
        baseline_env = child_env({}, tmp)
        handler_env = child_env(function_env(endpoint), tmp)
        for model in models:
            print(f"  cold {model.name}", file=sys.stderr, flush=True)
            event, pickle = Path(tmp, f"{model.name}.json"), Path(tmp, f"{model.name}.joblib")
            event.write_text(json.dumps(proxy_event(model.name, model.records[:1])))
            joblib.dump(model.pipeline, pickle)
            model.timings["cold_b"] = cold_runs(
                HANDLER_CHILD.format(handler=str(HANDLER), event=str(event)), handler_env, counts.cold
            )
            model.timings["cold_c"] = cold_runs(
                BASELINE_CHILD.format(bench=str(BENCH), pickle=str(pickle), event=str(event)),
                baseline_env,
                counts.cold,
            )
        interpreter = cold_runs("print('BENCH_RESULT', '{\"total\": 0}')", baseline_env, counts.cold)
    return interpreter


# -- report ----------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def p(samples: np.ndarray, q: float) -> float:
    return float(np.percentile(samples, q))


def latency_table(model: Model) -> list[str]:
    t = model.timings[1]
    lines = [
        f"  single row, ms (n = {', '.join(f'{k} {len(v)}' for k, v in t.items())})",
        "    path" + " " * 34 + "p50      p99",
    ]
    names = {
        "a": "(a) onnxruntime session.run",
        "b": "(b) predict handler, capture 1.0",
        "b0": "(b) predict handler, capture 0",
        "c": "(c) pandas + sklearn predict_proba",
    }
    for key, label in names.items():
        lines.append(f"    {label:<36}{p(t[key], 50):>7.3f}  {p(t[key], 99):>7.3f}")
    return lines


def rates(model: Model, rows: int) -> dict[str, float]:
    """Rows/s of each path from its mean call: the capture's periodic writes (one per CAPTURE_MAX_ROWS
    rows) are counted, spread over the calls, as a sustained load pays them."""
    return {key: rows / (float(np.mean(samples)) / 1e3) for key, samples in model.timings[rows].items()}


def throughput_table(model: Model) -> list[str]:
    lines = [
        "  batches, rows/s from the mean call",
        f"    {'rows':>5}{'(a)':>11}{'(b)':>11}{'(b) cap 0':>11}{'(c)':>11}{'b/a':>7}{'b/c':>7}",
    ]
    for rows in BATCHES[1:]:
        rate = rates(model, rows)
        lines.append(
            f"    {rows:>5}{rate['a']:>11,.0f}{rate['b']:>11,.0f}{rate['b0']:>11,.0f}{rate['c']:>11,.0f}"
            f"{rate['b'] / rate['a']:>7.2f}{rate['b'] / rate['c']:>7.1f}"
        )
    return lines


def cold_table(model: Model, n: int) -> list[str]:
    b, c = model.timings["cold_b"], model.timings["cold_c"]
    return [
        f"  cold start, s (median of {n} fresh processes)  in-process  imports  load+first  wall (with interpreter)",
        f"    (b) handler, registry + S3 on moto server {b['total']:>8.3f}  {b['imports']:>7.3f}  {b['first']:>10.3f}"
        f"  {b['wall']:>6.3f}",
        f"    (c) pandas + joblib pickle + sklearn      {c['total']:>8.3f}  {c['imports']:>7.3f}  "
        f"{c['load'] + c['first']:>10.3f}  {c['wall']:>6.3f}",
    ]


def targets(model: Model) -> list[tuple[str, str, str, bool]]:
    t = model.timings[1]
    a, b, b0, c = (p(t[k], 50) for k in ("a", "b", "b0", "c"))
    cold_b, cold_c = model.timings["cold_b"]["total"], model.timings["cold_c"]["total"]
    return [
        ("b-a p50, ms (capture 1.0)", f"{b - a:.3f}", f"<= {MAX_OVERHEAD_MS}", b - a <= MAX_OVERHEAD_MS),
        ("c/b p50 (capture 1.0)", f"{c / b:.1f}x", f">= {MIN_SPEEDUP:.0f}x", c / b >= MIN_SPEEDUP),
        ("cold start (b), s", f"{cold_b:.3f}", f"<= {MAX_COLD_S}", cold_b <= MAX_COLD_S),
        ("cold start b/c", f"{cold_b / cold_c:.2f}", f"<= {MAX_COLD_SHARE}", cold_b / cold_c <= MAX_COLD_SHARE),
        *(
            (
                f"rows/s b/c at {rows}",
                f"{rate['b'] / rate['c']:.1f}x",
                f">= {MIN_BATCH_SPEEDUP[rows]:.0f}x",
                rate["b"] / rate["c"] >= MIN_BATCH_SPEEDUP[rows],
            )
            for rows, rate in ((rows, rates(model, rows)) for rows in BATCHES[1:])
        ),
        ("  info: b-a p50, ms (capture 0)", f"{b0 - a:.3f}", "", True),
        ("  info: capture share of (b) p50", f"{max(0.0, b - b0) / b:.0%}", "(its Parquet and PUTs)", True),
    ]


def package_size() -> tuple[list[str], list[tuple[str, bool]]]:
    from package_size import function_sizes

    outdir = ROOT / "cdk.out"
    rows = function_sizes(outdir) if outdir.exists() else None
    predict = [row for row in rows or [] if row[0] == PREDICT]
    if not predict:
        return ["package size: no bundled layers in cdk.out; run `make layers-size` (a bundled synth)"], []
    _, code, layers, total = predict[0]
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime((outdir / "MlopsServing.template.json").stat().st_mtime))
    mib = total / 2**20
    line = (
        f"package size: predict function + layers, unzipped: {mib:.1f} MiB (code {code / 2**20:.2f}, "
        f"layers {layers / 2**20:.1f}) from cdk.out of {built}; target < {MAX_PACKAGE_MIB:.0f}  "
        f"{verdict(mib < MAX_PACKAGE_MIB)}"
    )
    return [line], [("package size", mib < MAX_PACKAGE_MIB)]


def versions() -> str:
    import onnxruntime
    import pandas
    import sklearn

    return (
        f"python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, scikit-learn "
        f"{sklearn.__version__}, pandas {pandas.__version__}, numpy {np.__version__}; {os.cpu_count()} cores"
    )


def report(models: list[Model], interpreter: dict[str, float], counts: Counts, load: float) -> None:
    print("serving benchmark:", versions())
    print(
        f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end. X-Ray tracing disabled "
        "(POWERTOOLS_TRACE_DISABLED=true: no X-Ray daemon here). AWS is a moto server in a process of its own. "
        "Handler stdout (logs, EMF) goes to /dev/null, one write per line."
    )
    verdicts: list[tuple[str, bool]] = []
    for model in models:
        print(f"\n{model.name}: {model.title}; ONNX {len(model.onnx) / 1e3:,.0f} kB")
        for line in latency_table(model) + throughput_table(model) + cold_table(model, counts.cold):
            print(line)
        print(f"  {'target':<36}{'measured':>10}  {'target':<18}verdict")
        for name, value, target, ok in targets(model):
            scored = target.startswith(("<", ">"))
            print(f"    {name:<34}{value:>10}  {target:<18}{verdict(ok) if scored else ''}")
            if scored:
                verdicts.append((f"{model.name} {name}", ok))
        if "profile" in model.timings:
            print("  profile of (b):\n" + model.timings["profile"])
    print(f"\ninterpreter start + exit (python -c, median): {interpreter['wall']:.3f} s")
    lines, size_verdicts = package_size()
    print("\n".join(lines))
    verdicts += size_verdicts
    missed = [name for name, ok in verdicts if not ok]
    print(
        f"\nsummary: {len(verdicts) - len(missed)}/{len(verdicts)} targets met"
        + (f"; missed: {'; '.join(missed)}" if missed else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small iteration counts, for a smoke run")
    parser.add_argument(
        "--profile",
        nargs="?",
        type=int,
        const=1,
        metavar="ROWS",
        help="also cProfile the handler's calls of ROWS rows (1)",
    )
    args = parser.parse_args()
    counts = QUICK if args.quick else FULL
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)
    os.environ.update(FAKE_AWS)
    load = os.getloadavg()[0]
    print("training the models ...", file=sys.stderr, flush=True)
    models = build_models()
    with aws_server() as endpoint:
        setup_aws(models, endpoint)
        warm_benchmark(models, counts, args.profile, endpoint)
        interpreter = cold_benchmark(models, counts, endpoint)
    report(models, interpreter, counts, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
