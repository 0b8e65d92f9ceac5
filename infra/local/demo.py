"""`mlops demo`: the whole lifecycle of the bundled example on the local target, with a summary and a report."""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from infra.local.example_data import EXAMPLE_SPEC, churn_features, churn_instances, churn_labels, churn_table
from infra.local.target import LocalTarget
from infra.operations import Platform, Resources
from infra.runs_view import compare_rows
from mlcore.catalog import CAPTURE, Artifact, CheckFile, check_key
from mlcore.data import read_parquet_window
from mlcore.registry import CHAMPION, model_card
from mlcore.spec import parse_spec
from mlcore.storage import ObjectStore

ROWS_PER_REQUEST = 5
REQUESTS = 200
# Days compressed into seconds: files landing within 3 s start one run, and runs follow each other.
DEMO_RETRAIN = {"debounce_minutes": 0.05, "cooldown_hours": 0, "max_per_day": 10}


class DemoError(RuntimeError):
    """A step of the demo did not do what it must."""


@dataclass
class DemoResult:
    """What the demo did, for the summary, the report folder and the end-to-end test."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)
    first_version: int | None = None
    final_champion: int | None = None
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    traffic: dict[str, dict[str, Any]] = field(default_factory=dict)
    monitor: dict[str, Any] = field(default_factory=dict)
    retrain_execution: str | None = None
    retraining_requests: list[dict[str, Any]] = field(default_factory=list)  # the retraining state machine's
    compared: list[str] = field(default_factory=list)  # the run ids `mlops runs compare` showed
    audit: list[dict[str, Any]] = field(default_factory=list)
    report_dir: Path | None = None


def _parquet(table: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


class Demo:
    def __init__(self, report_dir: Path, console: Console | None = None, seed: int = 1) -> None:
        self.report_dir = report_dir
        self.console = console or Console()
        self.seed = seed
        self.result = DemoResult(report_dir=report_dir)
        self.target: LocalTarget | None = None
        self.comparison: Table | None = None

    def step(self, title: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        with self.console.status(f"[bold]{title}[/]…"):
            detail = action()
        elapsed = time.perf_counter() - started
        self.result.steps.append((title, elapsed, detail))
        self.console.print(f"[green]✓[/] {title} [dim]({elapsed:.1f} s)[/] {detail}")

    def run(self, target: LocalTarget | None = None) -> DemoResult:
        owned = target is None
        self.target = target
        started = time.perf_counter()
        if target is None:
            target = self.target = LocalTarget()
            self.step("Start the embedded AWS from the synthesized CDK app", lambda: self._start(target))
        try:
            state = target.names()
            platform = Platform(Resources.discover(state), target.client)
            self._lifecycle(platform)
        finally:
            if owned:
                target.stop()
        self.result.steps.append(("total", time.perf_counter() - started, ""))
        return self.result

    def _start(self, target: LocalTarget) -> str:
        target.start()
        return f"(moto at {target.endpoint}, API at {target.api.url if target.api else '-'})"

    def _lifecycle(self, platform: Platform) -> None:
        spec_name = "churn"
        self.step("Register the example model spec", lambda: self._register(platform))
        self.step(
            "Drop its dataset into the data bucket: S3 → EventBridge → retraining starts the first run by itself",
            lambda: self._data_drop(platform, spec_name, churn_table(6000, self.seed)),
        )
        champion = platform.registry.champion(spec_name)
        if champion is None:
            raise DemoError("the first pipeline run did not promote a champion")
        self.result.first_version = champion.version
        self.step(
            "The retraining schedule fires (mlops local fire churn): nothing new to learn, nothing trained",
            lambda: self._scheduled(platform, spec_name),
        )
        self.step(
            f"Send {REQUESTS} prediction requests through the local API",
            lambda: self._traffic(platform, spec_name, "normal", drifted=False, seed=self.seed + 10),
        )
        self.step(
            f"Send {REQUESTS} requests of drifted traffic",
            lambda: self._traffic(platform, spec_name, "drifted", drifted=True, seed=self.seed + 20),
        )
        self.step(
            "Send the drifted traffic's ground truth to POST /models/churn/feedback",
            lambda: self._feedback(platform, spec_name, seed=self.seed + 20),
        )
        self.step(
            "Run the scheduled monitor: drift found, but the data is the champion's: nothing new to learn",
            lambda: self._monitor(platform),
        )
        self.step(
            "Land a fresh labelled data drop: it starts the retraining by itself (v2 vs v1 on the same holdout)",
            lambda: self._data_drop(platform, spec_name, churn_table(6000, self.seed + 30, drifted=True)),
        )
        self.result.retrain_execution = self.result.pipelines[-1]["name"]
        champion = platform.registry.champion(spec_name)
        self.result.final_champion = champion.version if champion else None
        self.step("Compare the two runs (mlops runs compare)", lambda: self._compare(platform, spec_name))
        self.result.audit = [a.model_dump() for a in platform.registry.audit_trail(spec_name)]
        self.step("Write the report folder", lambda: self._report(platform, spec_name))
        self._summary(platform, spec_name)

    def _register(self, platform: Platform) -> str:
        """The example spec, its retraining compressed from days into seconds for the demo."""
        import yaml

        document = yaml.safe_load(EXAMPLE_SPEC.read_text())
        document["retrain"] = {**document["retrain"], **DEMO_RETRAIN}
        spec = parse_spec(document)
        platform.registry.put_spec(spec, platform.principal)
        return f"'{spec.name}' from {EXAMPLE_SPEC.name}, retraining with {DEMO_RETRAIN}"

    def _retraining_request(self, platform: Platform, after: set[str]) -> dict[str, Any]:
        """The retraining state machine's next execution (one not in `after`), waited for; its decisions."""
        machine = platform.resources.retraining_state_machine
        deadline = time.monotonic() + 60
        while True:
            fresh = [e for e in platform.executions(machine) if e["executionArn"] not in after]
            if fresh:
                break
            if time.monotonic() > deadline:
                raise DemoError("no retraining request arrived: is the data bucket's EventBridge rule deployed?")
            time.sleep(0.2)
        execution = platform.wait(fresh[0]["executionArn"])
        if execution["status"] != "SUCCEEDED":
            raise DemoError(f"the retraining request ended {execution['status']}: {platform.failure(execution)}")
        result: dict[str, Any] = json.loads(execution["output"])["result"]
        self.result.retraining_requests.append(result)
        return result

    def _requests(self, platform: Platform) -> set[str]:
        return {e["executionArn"] for e in platform.executions(platform.resources.retraining_state_machine)}

    def _data_drop(self, platform: Platform, name: str, table: Any) -> str:
        before = self._requests(platform)
        platform.upload_dataset(name, _parquet(table), "parquet")
        [decision] = self._retraining_request(platform, before)["decisions"]
        if not decision["started"]:
            raise DemoError(f"the data drop did not start a run: {decision['reason']}")
        return self._pipeline(platform, self._training_execution(platform, decision["execution_name"]))

    def _scheduled(self, platform: Platform, name: str) -> str:
        assert self.target is not None
        before = self._requests(platform)
        self.target.fire(name)
        [decision] = self._retraining_request(platform, before)["decisions"]
        if decision["started"]:
            raise DemoError("the schedule started a run on the data the champion learned from")
        return f"{decision['reason']} (audit: retrain_skipped)"

    @staticmethod
    def _training_execution(platform: Platform, name: str) -> str:
        return next(
            e["executionArn"]
            for e in platform.executions(platform.resources.training_state_machine)
            if e["name"] == name
        )

    def _compare(self, platform: Platform, name: str) -> str:
        runs = [r for r in reversed(platform.registry.list_runs(name)) if r.version is not None]
        if len(runs) < 2:
            raise DemoError(f"expected two registered runs to compare, found {len(runs)}")
        self.result.compared = [r.run_id for r in runs[-2:]]
        rows = compare_rows(runs[-2:])
        table = Table(title=f"mlops runs compare {' '.join(self.result.compared)}")
        for column in ("", "first version", "retrained", ""):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row.field, *row.values, "≠" if row.differs else "", style="bold yellow" if row.differs else None
            )
        self.comparison = table
        return f"{sum(row.differs for row in rows)} of {len(rows)} fields differ"

    def _pipeline(self, platform: Platform, arn: str) -> str:
        steps: list[str] = []
        execution = platform.wait(arn, on_step=steps.append)
        output = json.loads(execution.get("output") or "{}")
        self.result.pipelines.append(
            {"arn": arn, "name": execution["name"], "status": execution["status"], "steps": steps, "output": output}
        )
        if execution["status"] != "SUCCEEDED":
            raise DemoError(
                f"pipeline {arn} ended {execution['status']}: {execution.get('cause') or execution.get('error')}"
            )
        return " → ".join(steps)

    def _traffic(self, platform: Platform, name: str, label: str, *, drifted: bool, seed: int) -> str:
        instances = churn_instances(REQUESTS * ROWS_PER_REQUEST, seed, drifted=drifted)
        batches = [instances[i : i + ROWS_PER_REQUEST] for i in range(0, len(instances), ROWS_PER_REQUEST)]

        def call(batch: list[dict[str, Any]]) -> tuple[int, float, dict[str, Any]]:
            started = time.perf_counter()
            status, body = platform.predict(name, batch)
            return status, (time.perf_counter() - started) * 1000, body

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(call, batches))
        failures = [(s, b) for s, _, b in results if s != 200]
        if failures:
            raise DemoError(f"{len(failures)} of {len(results)} requests failed, first: {failures[0]}")
        # What Lambda does when it recycles the API's container: the SIGTERM hook flushes buffered capture.
        assert self.target is not None
        self.target.functions.shutdown()
        captured = self._captured_rows(platform, name)
        latencies = sorted(ms for _, ms, _ in results)
        churners = sum(p == "yes" for _, _, b in results for p in b["predictions"])
        versions = sorted({b["model"]["version"] for _, _, b in results})
        self.result.traffic[label] = {
            "requests": len(results),
            "rows": len(instances),
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
            "predicted_churn": churners / len(instances),
            "versions": versions,
            "request_ids": [b["request_id"] for _, _, b in results],
            "captured_rows": captured - sum(t["captured_rows"] for t in self.result.traffic.values()),
        }
        return (
            f"{len(results)} x 200 OK, {len(instances)} rows, p50 {statistics.median(latencies):.1f} ms, "
            f"{churners / len(instances):.0%} predicted to churn, served by v{versions}"
        )

    def _feedback(self, platform: Platform, name: str, seed: int) -> str:
        """The true outcomes of the drifted requests, as a client would report them later."""
        rows = REQUESTS * ROWS_PER_REQUEST
        labels = churn_labels(churn_features(rows, seed, drifted=True), seed).tolist()
        request_ids = self.result.traffic["drifted"]["request_ids"]
        items = [
            {"request_id": request_ids[i // ROWS_PER_REQUEST], "row_index": i % ROWS_PER_REQUEST, "label": label}
            for i, label in enumerate(labels)
        ]
        status, body = platform.call_api("POST", f"/models/{name}/feedback", {"feedback": items})
        if status != 200:
            raise DemoError(f"feedback was refused: {status} {body}")
        return f"{body['accepted']} labels stored"

    @staticmethod
    def _captured_rows(platform: Platform, name: str) -> int:
        capture = ObjectStore(platform.resources.capture_bucket, platform.client("s3"))
        now = datetime.now(UTC)
        table = read_parquet_window(capture, CAPTURE, name, now - timedelta(days=1), now)
        return table.num_rows if table is not None else 0

    def _monitor(self, platform: Platform) -> str:
        arn = platform.start_monitor(force=True)
        execution = platform.wait(arn)
        if execution["status"] != "SUCCEEDED":
            raise DemoError(f"monitor {arn} ended {execution['status']}: {execution.get('cause')}")
        output = json.loads(execution["output"])
        # Each model's branch ends with the request step's decisions (or the check, when nothing was asked).
        decisions = [d for r in output.get("results", []) for d in r.get("decisions", []) if d["model_name"] == "churn"]
        last = platform.registry.get_monitor_state("churn").last_check
        check = last.model_dump(mode="json") if last else None
        self.result.monitor = {"output": output, "check": check, "retraining": decisions[0] if decisions else None}
        if last is None or not last.dataset_drift:
            raise DemoError(f"the monitor did not detect the injected drift: {last.summary if last else 'no check'}")
        if not decisions or decisions[0]["started"]:
            raise DemoError(f"the monitor retrained on the data the champion learned from: {decisions}")
        return f"{last.summary}; retraining: {decisions[0]['reason']}"

    def _report(self, platform: Platform, name: str) -> str:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        check = self.result.monitor.get("check") or {}
        report = check.get("report")
        if report:
            html = platform.artifacts.get_verified(Artifact.model_validate(report))
            (self.report_dir / "drift-report.html").write_bytes(html)
            drift_json = platform.artifacts.get(check_key(name, check["check_id"], CheckFile.JSON))
            (self.report_dir / "drift-report.json").write_bytes(drift_json)
        champion = platform.registry.champion(name)
        assert champion is not None
        (self.report_dir / "model-card.md").write_text(model_card(platform.registry, champion))
        summary = {
            "first_version": self.result.first_version,
            "champion": self.result.final_champion,
            "versions": [
                v.model_dump(mode="json", exclude={"signature"}) for v in platform.registry.list_versions(name)
            ],
            "traffic": self.result.traffic,
            "drift": check,
            "pipelines": self.result.pipelines,
            "steps": [{"step": s, "seconds": round(t, 2), "detail": d} for s, t, d in self.result.steps],
        }
        (self.report_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return str(self.report_dir)

    def _summary(self, platform: Platform, name: str) -> None:
        versions = Table(title="Registry: churn")
        for column in ("version", "status", "roc_auc", "accuracy", "f1", "serving", "gate"):
            versions.add_column(column)
        champion = platform.registry.champion(name)
        for v in platform.registry.list_versions(name):
            versions.add_row(
                str(v.version),
                v.status,
                f"{v.metrics['roc_auc']:.3f}",
                f"{v.metrics['accuracy']:.3f}",
                f"{v.metrics['f1']:.3f}",
                CHAMPION if champion and champion.version == v.version else "",
                v.notes,
            )
        self.console.print(versions)
        check = self.result.monitor.get("check") or {}
        drift = Table(title=f"Drift per feature ({check.get('rows', 0)} captured rows)")
        for column in ("feature", "test", "score", "threshold", "drift"):
            drift.add_column(column)
        report_json = self.report_dir / "drift-report.json"
        if report_json.exists():
            for f in json.loads(report_json.read_text())["features"]:
                drift.add_row(
                    f["feature"],
                    f["method"],
                    f"{f['score']:.4g}",
                    f"{f['threshold']:.3g}",
                    "[red]yes[/]" if f["drifted"] else "no",
                )
        self.console.print(drift)
        rejected = [a for a in self.result.audit if a["action"] == "candidate_rejected"]
        if self.result.final_champion != self.result.first_version:
            verdict = f"v{self.result.final_champion} promoted to champion: {champion.notes if champion else ''}"
        else:
            why = rejected[-1]["details"]["reason"] if rejected else "see the audit trail"
            verdict = f"champion v{self.result.first_version} kept: {why}"
        if self.comparison is not None:
            self.console.print(self.comparison)
        self.console.print(f"[bold]{verdict}[/]")
        self.console.print(f"Report folder: {self.report_dir} (drift-report.html, model-card.md, summary.json)")
