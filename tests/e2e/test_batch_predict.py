"""Batch scoring on the local target: `mlops batch predict` runs the Distributed Map of scoring jobs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from e2e_helpers import Cli, parquet

from infra.local import hooks
from infra.local.demo import DemoResult
from infra.local.example_data import churn_table
from infra.local.target import LocalTarget
from infra.operations import Platform

pytestmark = pytest.mark.e2e
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age", "data_usage_gb", "plan", "region"]


def test_a_prefix_of_files_is_scored_by_one_job_per_chunk_with_its_rejects(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN six files to score under a prefix of the data bucket, one row of which has an unknown plan
    tables = [churn_table(50, seed=60 + i).select(FEATURES) for i in range(6)]
    rows = tables[4].to_pylist()
    rows[9]["plan"] = "platinum"
    tables[4] = pa.Table.from_pylist(rows)
    for i, table in enumerate(tables):
        platform.data.put(f"scoring/churn/in/day=2026-03-0{i % 2 + 1}/part-{i}.parquet", parquet(table))
    jobs_before = hooks.CALLS["batch_job"]
    # WHEN a user scores them with the champion, in chunks of about two files, and waits
    data = f"s3://{platform.resources.data_bucket}"
    size = max(o.size for o in platform.data.list_objects("scoring/churn/in/"))
    code, out, err = cli(
        "batch", "predict", "churn",
        "--input", f"{data}/scoring/churn/in/", "--output", f"{data}/scoring/churn/out/",
        "--chunk-mb", str(2.5 * size / 1e6), "--wait", "--json",
    )  # fmt: skip
    # THEN the batch succeeded: 300 rows read, 299 scored, the bad one refused with its reason
    assert code == 0, err
    result = json.loads(out)
    manifest = result["manifest"]
    assert (manifest["read"], manifest["scored"], manifest["rejected"]) == (300, 299, 1)
    assert manifest["chunks"] == 3 and manifest["files"] == 6
    # each chunk ran as its own scoring job (the Batch hook ran the image's `score` command)
    assert hooks.CALLS["batch_job"] - jobs_before == 3
    [rejects] = manifest["rejects"]
    [line] = platform.data.get(rejects.split("/", 3)[3]).decode().splitlines()
    refused = json.loads(line)
    assert refused["row_id"] == "day=2026-03-01/part-4.parquet:9"
    assert refused["field"] == "plan" and "'platinum' is not one of the model's categories" in refused["reason"]
    # and awswrangler reads the predictions as the Glue table's partition of this batch
    import awswrangler as wr

    database, table = manifest["table"].split(".")
    batch_id = result["execution_arn"].rsplit(":", 1)[-1]
    read = wr.s3.read_parquet(
        f"{data}/scoring/churn/out/predictions/", dataset=True, boto3_session=platform_session(target)
    )
    assert len(read) == 299 and set(read["batch_id"]) == {batch_id}
    assert set(read["prediction"]) <= {"yes", "no"} and read["score"].between(0, 1).all()
    partitions = wr.catalog.get_partitions(database=database, table=table, boto3_session=platform_session(target))
    assert list(partitions.values()) == [[batch_id]]


def test_a_batch_that_cannot_start_says_why(demo: DemoResult, platform: Platform, cli: Cli) -> None:
    # GIVEN a prefix with no data files WHEN it is scored
    data = f"s3://{platform.resources.data_bucket}"
    code, _, err = cli(
        "batch", "predict", "churn", "--input", f"{data}/scoring/nothing/", "--output", f"{data}/scoring/x/", "--wait"
    )
    # THEN the CLI names the failed step and the reason
    assert code == 1
    assert "Plan failed: NotFoundError: no .csv, .csv.gz or .parquet file under" in err


def platform_session(target: LocalTarget) -> object:
    """A boto3 session on the local target (AWS_ENDPOINT_URL points every client at it)."""
    import boto3

    return boto3.Session(region_name=target.names()["region"])
