"""Your own model on the local target: boosted trees, a tuned threshold served by the API, your own code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from e2e_helpers import Cli, parquet, register_copy

from infra.local.demo import DemoResult
from infra.local.example_data import churn_instances, churn_table
from infra.local.runner import LOCAL_IMAGES_VARIABLE
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.catalog import DESCRIBE_ROUTE

pytestmark = pytest.mark.e2e


def datasets_table(platform: Platform, table: pa.Table, model: str, name: str) -> tuple[str, str]:
    """The rows written by awswrangler as a table of the deployment's datasets database, partitioned by plan,
    under the model's datasets/ folder: the database and the table's location."""
    import awswrangler as wr
    import boto3

    database = platform.resources.datasets_database
    assert database is not None
    location = f"s3://{platform.resources.data_bucket}/datasets/{model}/labels/"
    wr.s3.to_parquet(
        table.to_pandas(), path=location, dataset=True, partition_cols=["plan"], database=database, table=name,
        boto3_session=boto3.Session(),
    )  # fmt: skip
    return database, location


def train(platform: Platform, name: str, table: pa.Table) -> None:
    platform.upload_dataset(name, parquet(table), "parquet")
    execution = platform.wait(platform.start_pipeline(name, reason="first version"))
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)


def test_a_lightgbm_classifier_serves_labels_by_its_tuned_threshold(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN a LightGBM classifier whose spec asks for the best recall at precision 0.4
    register_copy(
        platform,
        tmp_path,
        "churn-lgbm",
        estimator={"kind": "lightgbm_classifier", "params": {"n_estimators": 80}, "class_weight": "balanced"},
        metrics={
            "primary": "average_precision",
            "minimum": {"recall_at_precision@0.4": 0.1},
            "threshold": {"optimize": "recall_at_precision", "precision": 0.4},
        },
        data={"min_rows": 500, "holdout_fraction": 0.25, "seed": 7, "distributed": "always"},
    )
    # WHEN it is trained through the pipeline on a folder of 20 files in region= partitions, checked in parts
    table = churn_table(1500, seed=41)
    for region in ("north", "south", "east", "west"):
        part = table.filter(pc.equal(table.column("region"), region)).drop_columns(["region"])
        (tmp_path / "drop" / f"region={region}").mkdir(parents=True)
        for i in range(5):
            pq.write_table(part.slice(i * 80, 80), tmp_path / "drop" / f"region={region}" / f"part-{i}.parquet")
    uploaded = platform.upload_dataset_folder("churn-lgbm", tmp_path / "drop")
    execution = platform.wait(platform.start_pipeline("churn-lgbm", reason="first version"))
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    [run] = platform.registry.list_runs("churn-lgbm")
    assert [(d.uri, d.rows) for d in run.datasets] == [(uploaded, table.num_rows)]
    # by the Distributed Map's children (the engine ran the plan's items, the hooks each child's function)
    steps = [e["stateEnteredEventDetails"]["name"] for e in platform.history(execution["executionArn"])
             if "stateEnteredEventDetails" in e]  # fmt: skip
    assert steps[:5] == ["Validate", "FromQuery", "InParts", "CountParts", "MergeParts"]
    report = json.loads(platform.artifacts.get(f"runs/churn-lgbm/{run.run_id}/validation.json"))
    assert (report["in_parts"], report["rows"], report["failures"]) == (True, table.num_rows, [])
    # THEN the version holds the threshold, and the API says so and labels by it
    version = platform.registry.get_version("churn-lgbm", 1)
    assert version.threshold is not None and run.threshold == version.threshold  # the run records what it picked
    assert version.metrics["precision"] >= 0.4
    assert version.importance
    assert set(version.importance) <= set(platform.registry.get_spec("churn-lgbm").feature_names)
    status, described = platform.call_api("GET", DESCRIBE_ROUTE.url_path(name="churn-lgbm"))
    assert (status, described["threshold"]) == (200, version.threshold)
    status, answer = platform.predict("churn-lgbm", churn_instances(40, seed=8))
    assert status == 200
    positive = [p["yes"] >= version.threshold for p in answer["probabilities"]]
    assert answer["predictions"] == ["yes" if p else "no" for p in positive]


def test_an_xgboost_regressor_is_trained_served_and_labelled_from_a_csv(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    rows = 800
    rooms = rng.integers(1, 8, rows).astype(float)
    district = rng.choice(["a", "b", "c"], rows)
    area = np.round(rng.normal(80, 25, rows), 1)
    price = 1000 * rooms + 30 * area + (district == "a") * 5000 + rng.normal(0, 300, rows)
    spec = {
        "name": "prices-xgb",
        "task": "regression",
        "target": "price",
        "features": [
            {"name": "rooms", "type": "integer", "min": 1, "max": 10},
            {"name": "area", "type": "numeric", "nullable": True},
            {"name": "district", "type": "categorical", "categories": ["a", "b", "c"]},
        ],
        "estimator": {"kind": "xgboost_regressor", "params": {"n_estimators": 80, "max_depth": 4}},
        "metrics": {"primary": "rmse", "minimum": {"r2": 0.8}},
        "data": {"min_rows": 100},
    }
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(spec))
    platform.register_spec(path)
    train(platform, "prices-xgb", pa.table({"rooms": rooms, "area": area, "district": district, "price": price}))
    version = platform.registry.get_version("prices-xgb", 1)
    assert version.metrics["r2"] > 0.8
    status, answer = platform.predict("prices-xgb", [{"rooms": 3, "area": 90.0, "district": "a"}])
    assert status == 200
    assert 3000 + 2700 + 5000 - 1500 < answer["predictions"][0] < 3000 + 2700 + 5000 + 1500
    # a CSV's labels are text: a regressor's are sent as the numbers they are
    labels = tmp_path / "labels.csv"
    labels.write_text(f"request_id,row_index,label\n{answer['request_id']},0,10712.5\n")
    code, out, err = cli("feedback", "prices-xgb", "--file", str(labels))
    assert (code, out.strip()) == (0, "1 label stored for 'prices-xgb'"), err
    labels.write_text(f"request_id,row_index,label\n{answer['request_id']},0,about 10k\n")
    code, _, err = cli("feedback", "prices-xgb", "--file", str(labels))
    assert code == 1 and "line 2: label: expected a finite number (the model is a regressor), got 'about 10k'" in err
    code, _, err = cli("feedback", "prices-xgbx", "--file", str(labels))
    assert code == 1 and "Refused before any label (404 model_not_found): model 'prices-xgbx' is not registered" in err


CUSTOM_MODEL = textwrap.dedent(
    """
    from sklearn.ensemble import ExtraTreesClassifier


    def build(n_estimators=50, **params):
        return ExtraTreesClassifier(n_estimators=n_estimators, max_depth=6, random_state=0, **params)
    """
)


def test_an_uploaded_package_is_trained_and_recorded_on_the_run(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN a package of the user's own, uploaded with `mlops code upload`
    package = tmp_path / "code" / "forest_model"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(CUSTOM_MODEL)
    register_copy(
        platform,
        tmp_path,
        "churn-custom",
        estimator={"kind": "custom", "entrypoint": "forest_model.model:build", "params": {"n_estimators": 40}},
    )
    stored = platform.upload_code("churn-custom", package.parent)
    # WHEN the pipeline runs
    train(platform, "churn-custom", churn_table(1200, seed=43))
    # THEN the version and the run record carry the code it was built with
    version = platform.registry.get_version("churn-custom", 1)
    assert version.code == stored
    assert version.params["n_estimators"] == 40
    [run] = platform.registry.list_runs("churn-custom")
    assert run.training_code == stored.uri
    assert stored.sha256 in stored.uri
    status, _ = platform.predict("churn-custom", churn_instances(5, seed=2))
    assert status == 200


def test_a_models_jobs_run_on_the_queue_and_at_the_size_its_spec_asks(
    demo: DemoResult, target: LocalTarget, platform: Platform, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-spot", training={"resources": {"vcpus": 4, "memory_gb": 16, "spot": True}})
    train(platform, "churn-spot", churn_table(1000, seed=44))
    batch = platform.client("batch")
    [spot] = [arn for logical, arn in target.deployment.job_queues.items() if "SpotQueue" in logical]
    jobs = [j for j in batch.list_jobs(jobQueue=spot)["jobSummaryList"] if j["jobName"] == "training"]
    assert jobs, "no training job on the Spot queue"
    [described] = batch.describe_jobs(jobs=[jobs[-1]["jobId"]])["jobs"]
    requirements = {r["type"]: r["value"] for r in described["container"]["resourceRequirements"]}
    assert (requirements["VCPU"], requirements["MEMORY"]) == ("4", "16384")
    [run] = platform.registry.list_runs("churn-spot")
    assert run.batch.jobs == 1 and run.batch.vcpu_seconds == pytest.approx(4 * run.batch.gb_seconds / 16)


def test_a_models_own_image_is_run_by_the_batch_hook_adopted_and_served(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN a model trained by its own image (the example of containers/byo-example/, which the local
    # Batch hook runs as the image's entrypoint, in a process of its own)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/byo-example@sha256:" + "c" * 64
    register_copy(
        platform,
        tmp_path,
        "churn-image",
        estimator={"kind": "own_image", "params": {"hidden_layer_sizes": [12]}},
        training={"image": image},
    )
    # WHEN it is trained through the pipeline
    train(platform, "churn-image", churn_table(1200, seed=43))
    # THEN the version is the image's model, checked and scored by the platform on the holdout
    version = platform.registry.get_version("churn-image", 1)
    assert version.image == image and version.params == {"hidden_layer_sizes": [12]}
    assert version.metrics["roc_auc"] > 0.6 and "image_metrics" in version.artifacts
    [run] = platform.registry.list_runs("churn-image")
    assert (run.estimator, run.image) == ("own_image", image)
    # and the API serves it
    status, answer = platform.predict("churn-image", churn_instances(5, seed=9))
    assert status == 200 and set(answer["predictions"]) <= {"yes", "no"}


def test_an_image_that_fails_fails_the_run_naming_its_step(
    demo: DemoResult, platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a model whose own image exits 1 (mapped to a local folder, as MLOPS_LOCAL_IMAGES does)
    folder = tmp_path / "broken-image"
    folder.mkdir()
    (folder / "entrypoint.py").write_text("import sys\nprint('no GPU found')\nsys.exit(1)\n")
    monkeypatch.setenv(LOCAL_IMAGES_VARIABLE, f"broken-net={folder}")
    register_copy(
        platform,
        tmp_path,
        "churn-broken-image",
        estimator={"kind": "own_image"},
        training={"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/broken-net:1.0"},
    )
    platform.upload_dataset("churn-broken-image", parquet(churn_table(600, seed=44)), "parquet")
    # WHEN it is trained
    execution = platform.wait(platform.start_pipeline("churn-broken-image", reason="first version"))
    # THEN the run fails at the image's step, no version is made, and nothing was adopted
    assert execution["status"] == "FAILED"
    assert platform.failure(execution).startswith("TrainImage failed: States.TaskFailed: the job failed; its log: ")
    assert platform.registry.list_versions("churn-broken-image") == []


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # awswrangler's writer, on pandas 3.1
def test_a_model_trains_on_a_glue_table_of_the_datasets_database(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN labels written by awswrangler as a table of the deployment's datasets database
    table = churn_table(900, seed=46)
    database, location = datasets_table(platform, table, "churn-glue", "churn_glue_labels")
    register_copy(
        platform,
        tmp_path,
        "churn-glue",
        data={"min_rows": 500, "source": {"glue_table": f"{database}.churn_glue_labels"}},
    )
    # WHEN the pipeline runs, with no upload of its own
    execution = platform.wait(platform.start_pipeline("churn-glue", reason="from the table"))
    # THEN the validate function read the table's partitions through the catalog
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    [run] = platform.registry.list_runs("churn-glue")
    assert [(d.uri, d.rows) for d in run.datasets] == [(location, table.num_rows)]
    assert platform.registry.get_version("churn-glue", 1).training_rows > 0


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # awswrangler's writer, on pandas 3.1
def test_a_model_trains_on_an_athena_query_run_by_the_state_machine(
    demo: DemoResult, platform: Platform, tmp_path: Path
) -> None:
    from infra.local import hooks

    # GIVEN a table of the datasets database and a spec whose dataset is a query over it
    table = churn_table(1200, seed=47)
    datasets_table(platform, table, "churn-sql", "churn_sql_labels")
    query = "SELECT * FROM churn_sql_labels WHERE plan <> 'basic' AND tenure_months >= 3"
    register_copy(platform, tmp_path, "churn-sql", data={"min_rows": 300, "source": {"athena_sql": query}})
    queries_before = hooks.CALLS["athena_query"]
    # WHEN the pipeline runs
    execution = platform.wait(platform.start_pipeline("churn-sql", reason="from the query"))
    # THEN its Athena step ran the query (the local Athena), and the run trained on exactly the rows it returned
    assert execution["status"] == "SUCCEEDED", platform.failure(execution)
    assert hooks.CALLS["athena_query"] - queries_before == 1
    steps = [e["stateEnteredEventDetails"]["name"] for e in platform.history(execution["executionArn"])
             if "stateEnteredEventDetails" in e]  # fmt: skip
    assert steps[:5] == ["Validate", "FromQuery", "RunQuery", "ValidateQueried", "InParts"]
    expected = pc.sum(
        pc.and_(pc.not_equal(table.column("plan"), "basic"), pc.greater_equal(table.column("tenure_months"), 3))
    ).as_py()
    [run] = platform.registry.list_runs("churn-sql")
    [source] = run.datasets
    assert source.rows == expected < table.num_rows
    assert source.uri.endswith(f"/queries/churn-sql/{execution['name']}/result/")
    # WHEN the query names a column the table does not have THEN the run fails at Validate with Athena's reason
    register_copy(
        platform, tmp_path, "churn-sql", data={"min_rows": 300, "source": {"athena_sql": query + " AND nope > 1"}}
    )
    failed = platform.wait(platform.start_pipeline("churn-sql", reason="a bad column", force=True))
    assert failed["status"] == "FAILED"
    assert platform.failure(failed).startswith("Validate failed: States.TaskFailed: the query "), platform.failure(
        failed
    )
    assert "nope" in platform.failure(failed)
    assert len(platform.registry.list_versions("churn-sql")) == 1
