"""`mlops demo --feature-store`: a fraud model trained on a point-in-time set from a feature view, served by card id."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.table import Table

from infra.local.demo import Demo, DemoError
from infra.local.example_data import CARD_VIEW, FRAUD_SPEC, card_activity, card_transactions
from infra.operations import Platform

CARDS, DAYS, LABELS = 400, 7, 4000
VIEW, MODEL = "card-activity", "fraud"


class FeatureStoreDemo(Demo):
    """The feature store's lifecycle: view, ingest, point-in-time training, materialization, prediction by key."""

    def _lifecycle(self, platform: Platform) -> None:
        self.features: dict[str, Any] = {}
        activity, _ = card_activity(CARDS, DAYS, end=datetime.now(UTC) - timedelta(minutes=30), seed=self.seed)
        with tempfile.TemporaryDirectory() as folder:
            files = Path(folder)
            pq.write_table(activity, files / "card-activity.parquet")
            pq.write_table(card_transactions(activity, LABELS, seed=self.seed + 1), files / "transactions.parquet")
            self.step("Register the card-activity feature view", lambda: self._register_view(platform))
            self.step(
                f"Ingest a week of per-card aggregates ({activity.num_rows:,} rows) into its offline store",
                lambda: self._ingest(platform, files / "card-activity.parquet"),
            )
            self.step(
                "Register the fraud model: features_from the view, resolved by the registry",
                lambda: self._register_model(platform),
            )
            self.step(
                f"Upload {LABELS:,} labelled transactions and train on a point-in-time set (no future value)",
                lambda: self._train(platform, files / "transactions.parquet"),
            )
        self.step("Materialize the online store (each card's newest values)", lambda: self._materialize(platform))
        self.step("Predict with card_id only: the API reads the rest from the online store",
                  lambda: self._predict(platform))  # fmt: skip
        self.step("A card the store does not know: a 400 naming the feature", lambda: self._unknown(platform))
        self.report_dir.mkdir(parents=True, exist_ok=True)
        (self.report_dir / "feature-store.json").write_text(json.dumps(self.features, indent=2, default=str))
        self.console.print(f"Report: {self.report_dir / 'feature-store.json'}")

    def _register_view(self, platform: Platform) -> str:
        view = platform.register_view(CARD_VIEW).view
        return f"({', '.join(view.feature_names)} by {', '.join(view.entities)}, ttl {view.ttl_hours:g} h)"

    def _ingest(self, platform: Platform, path: Path) -> str:
        result = platform.ingest_features(VIEW, str(path))
        self.features["ingest"] = {"rows": result.rows, "days": result.days}
        return f"({len(result.days)} daily partitions of the Glue table)"

    def _register_model(self, platform: Platform) -> str:
        spec = platform.register_spec(FRAUD_SPEC).spec
        return f"({', '.join(spec.feature_names)})"

    def _train(self, platform: Platform, path: Path) -> str:
        platform.upload_dataset(MODEL, path.read_bytes(), ".parquet")
        execution = platform.wait(platform.start_pipeline(MODEL, reason="first version"))
        if execution["status"] != "SUCCEEDED":
            raise DemoError(f"the fraud pipeline ended {execution['status']}: {platform.failure(execution)}")
        champion = platform.registry.champion(MODEL)
        if champion is None:
            raise DemoError("the fraud pipeline promoted no champion")
        [run] = [r for r in platform.registry.list_runs(MODEL) if r.version == champion.version]
        view = next(source for source in run.datasets if source.source == "view")
        self.features["version"] = champion.version
        self.features["metrics"] = champion.metrics
        return f"(v{champion.version}: roc_auc {champion.metrics['roc_auc']:.3f}; joined from {view.rows:,} view rows)"

    def _materialize(self, platform: Platform) -> str:
        done = platform.materialize_features(VIEW)
        self.features["materialized"] = done.model_dump(mode="json")
        return f"({done.written} cards; newest value {done.age_hours or 0:.1f} h old)"

    def _predict(self, platform: Platform) -> str:
        transactions: list[dict[str, Any]] = [
            {"card_id": f"c{card:05d}", "amount": amount, "merchant_category": merchant}
            for card, amount, merchant in ((3, 25.0, "grocery"), (17, 480.0, "online"), (250, 60.0, "travel"))
        ]
        latencies: list[float] = []
        answer: dict[str, Any] = {}
        for _ in range(20):
            started = time.perf_counter()
            status, answer = platform.predict(MODEL, transactions)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise DemoError(f"prediction by card_id answered {status}: {answer}")
        table = Table(title="Predictions by card_id")
        for column in ("card_id", "amount", "merchant", "fraud", "P(fraud)"):
            table.add_column(column)
        for row, label, probabilities in zip(transactions, answer["predictions"], answer["probabilities"], strict=True):
            table.add_row(row["card_id"], f"{row['amount']:.2f}", row["merchant_category"], label,
                          f"{probabilities['yes']:.3f}")  # fmt: skip
        self.console.print(table)
        self.features["predictions"] = answer
        return f"(median {statistics.median(latencies):.1f} ms per request through the local API)"

    def _unknown(self, platform: Platform) -> str:
        status, answer = platform.predict(MODEL, [{"card_id": "nobody", "amount": 1.0, "merchant_category": "online"}])
        if status != 400:
            raise DemoError(f"an unknown card answered {status}, not 400: {answer}")
        self.features["unknown_card"] = answer
        return f"({answer['error']['message'][:90]}…)"
