"""Batch scoring on the local target: `mlops batch predict` runs the Distributed Map of scoring jobs end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from e2e_helpers import Cli, parquet, register_copy

from infra.local import hooks
from infra.local.demo import DemoResult
from infra.local.example_data import churn_table
from infra.local.target import LocalTarget
from infra.operations import Platform
from mlcore.batch import scheduled_batch_id
from mlcore.catalog import SCORE_CHUNK

pytestmark = pytest.mark.e2e
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "age", "data_usage_gb", "plan", "region"]


def test_a_prefix_of_files_is_scored_by_one_job_per_chunk_with_its_rejects(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN six files to score under a prefix of the data bucket, one row of which has an unknown plan, and one
    # of which is twenty times the size of the others
    tables = [churn_table(1000 if i == 5 else 50, seed=60 + i).select(FEATURES) for i in range(6)]
    rows = tables[4].to_pylist()
    rows[9]["plan"] = "platinum"
    tables[4] = pa.Table.from_pylist(rows)
    for i, table in enumerate(tables):
        platform.data.put(f"scoring/churn/in/day=2026-03-0{i % 2 + 1}/part-{i}.parquet", parquet(table))
    jobs_before = hooks.CALLS["batch_job"]
    in_lambda_before = target.functions.invocations.get(SCORE_CHUNK, 0)
    # WHEN a user scores them with the champion, in chunks of about two small files, the large file's chunk just
    # over the Lambda limit, and waits
    data = f"s3://{platform.resources.data_bucket}"
    sizes = {o.key.rsplit("/", 1)[1]: o.size for o in platform.data.list_objects("scoring/churn/in/")}
    small = max(size for name, size in sizes.items() if name != "part-5.parquet")
    code, out, err = cli(
        "batch", "predict", "churn",
        "--input", f"{data}/scoring/churn/in/", "--output", f"{data}/scoring/churn/out/",
        "--chunk-mb", str(2.5 * small / 1e6), "--lambda-mb", str((sizes["part-5.parquet"] - 1) / 1e6),
        "--wait", "--json",
    )  # fmt: skip
    # THEN the batch succeeded: 1250 rows read, 1249 scored, the bad one refused with its reason
    assert code == 0, err
    result = json.loads(out)
    manifest = result["manifest"]
    assert (manifest["read"], manifest["scored"], manifest["rejected"]) == (1250, 1249, 1)
    assert manifest["chunks"] == 4 and manifest["files"] == 6 and manifest["lambda_chunks"] == 3
    # the three small chunks ran in the image's Lambda function, the large one as a Batch job (the Batch hook ran
    # the image's `score` command)
    assert target.functions.invocations[SCORE_CHUNK] - in_lambda_before == 3
    assert hooks.CALLS["batch_job"] - jobs_before == 1
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
    assert len(read) == 1249 and set(read["batch_id"]) == {batch_id}
    assert set(read["prediction"]) <= {"yes", "no"} and read["score"].between(0, 1).all()
    partitions = wr.catalog.get_partitions(database=database, table=table, boto3_session=platform_session(target))
    assert list(partitions.values()) == [[batch_id]]


def test_a_batch_that_cannot_start_says_why(demo: DemoResult, platform: Platform, cli: Cli) -> None:
    # GIVEN a prefix with no data files, no input at all, or a version the model does not have WHEN each is scored
    data = f"s3://{platform.resources.data_bucket}"
    machine = platform.resources.batch_state_machine
    started = len(platform.sfn.list_executions(stateMachineArn=machine)["executions"])
    where = ("--input", f"{data}/scoring/nothing/", "--output", f"{data}/scoring/x/")
    for options, said in (
        (where, "NotFoundError: no .csv, .csv.gz or .parquet file under"),
        ((), "BadRequestError: input: no input given, and the spec has no batch.input"),
        ((*where, "--version", "97"), "model 'churn' has no version 97"),
    ):
        code, out, err = cli("batch", "predict", "churn", *options, "--wait")
        # THEN the CLI refuses it, saying why, before it starts anything (a failed plan alerts the platform's topic)
        assert code == 1 and said in err and "Started batch" not in out, (options, out, err)
    assert len(platform.sfn.list_executions(stateMachineArn=machine)["executions"]) == started
    # AND an option out of its range is named as typed, before anything starts
    for option, value, said in (("--lambda-mb", "999", "less than or equal to 256"), ("--version", "0", "greater")):
        code, _, err = cli("batch", "predict", "churn", option, value)
        assert code == 2 and err.startswith(f"{option}: Input should be {said}") and f"got {int(value)}" in err, err
    # AND another verb's `--output json` is told apart from the prefix the scores go under
    code, _, err = cli("batch", "predict", "churn", "--output", "json")
    assert code == 2 and " ".join(err.split()).startswith("--output: batch predict's --output is the s3:// prefix"), err
    assert len(platform.sfn.list_executions(stateMachineArn=machine)["executions"]) == started


def test_a_batch_of_files_without_rows_says_it_scored_none_rather_than_name_a_predictions_folder(
    demo: DemoResult, platform: Platform, cli: Cli
) -> None:
    # GIVEN a file of no bytes (a writer's empty part) and a CSV of its header only
    platform.data.put("scoring/empty/in/part-0.csv", b"")
    platform.data.put("scoring/empty/in/part-1.csv", (",".join(FEATURES) + "\n").encode())
    data = f"s3://{platform.resources.data_bucket}"
    code, out, err = cli(
        "batch", "predict", "churn", "--input", f"{data}/scoring/empty/in/", "--output", f"{data}/scoring/empty/out/",
        "--wait",
    )  # fmt: skip
    # THEN it succeeds, scoring none, and names no predictions folder it never wrote
    assert code == 0, err
    assert "SUCCEEDED: 0 rows read, 0 scored, 0 rejected" in out
    assert "  predictions: none: the input's files hold no rows" in out
    assert platform.data.list_keys("scoring/empty/out/predictions/") == []


def test_a_chunk_that_fails_in_lambda_fails_the_batch_naming_it(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli
) -> None:
    # GIVEN a file that is no Parquet file under a prefix, small enough for the Lambda function
    data = f"s3://{platform.resources.data_bucket}"
    platform.data.put("scoring/broken/in/part-0.parquet", b"not a parquet file")
    in_lambda_before = target.functions.invocations.get(SCORE_CHUNK, 0)
    # WHEN it is scored
    code, _, err = cli(
        "batch", "predict", "churn", "--input", f"{data}/scoring/broken/in/", "--output", f"{data}/scoring/broken/out/",
        "--wait",
    )  # fmt: skip
    # THEN the function's failure went through the Map's catch to Publish, which names the chunk and why
    assert code == 1
    assert target.functions.invocations[SCORE_CHUNK] - in_lambda_before == 1
    assert "1 of 1 chunks failed; nothing was published: chunk 00000: DataValidationError: dataset" in err
    assert "part-0.parquet" in err and not platform.data.list_keys("scoring/broken/out/predictions/")


def test_a_batch_schedule_scores_through_the_templates_tick(
    demo: DemoResult, target: LocalTarget, platform: Platform, tmp_path: Path
) -> None:
    # GIVEN a model with a champion, scored hourly from a prefix, its last batch served 61 minutes ago
    data = f"s3://{platform.resources.data_bucket}"
    batch = {"schedule": "rate(1 hour)", "input": f"{data}/nightly/in/", "output": f"{data}/nightly/out/"}
    register_copy(platform, tmp_path, "churn-hourly", batch=batch)
    platform.upload_dataset("churn-hourly", parquet(churn_table(1200, seed=31)), "parquet")
    trained = platform.wait(platform.start_pipeline("churn-hourly", reason="first version"))
    assert trained["status"] == "SUCCEEDED", trained.get("cause")
    platform.data.put("nightly/in/part-0.parquet", parquet(churn_table(40, seed=32).select(FEATURES)))
    served = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=61)
    platform.registry.update_monitor_state(
        "churn-hourly", lambda state: state.model_copy(update={"batch_served_at": served.isoformat()})
    )
    # WHEN the template's tick rule fires (its own rule only: the other rules keep their times)
    [tick] = [rule for name, rule in target.scheduler.rules.items() if "batchscoringtick" in name.lower()]
    assert tick.expression == "rate(5 minutes)"
    assert target.scheduler.fire(tick.targets[0]["Arn"], {}) == [tick.name]
    # THEN the tick's state machine started the batch of the hour's firing, which scored the prefix
    batch_id = scheduled_batch_id("churn-hourly", served + timedelta(hours=1))
    arn = f"{platform.resources.batch_state_machine}:{batch_id}".replace(":stateMachine:", ":execution:")
    execution = wait_for(platform, arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    manifest = json.loads(str(execution["output"]))
    assert (manifest["trigger"], manifest["read"], manifest["scored"]) == ("schedule", 40, 40)


def wait_for(platform: Platform, arn: str, timeout: float = 120) -> dict[str, object]:
    """An execution that a rule starts, waited for to exist and then to end."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return platform.wait(arn, timeout=timeout)
        except platform.client("stepfunctions").exceptions.ExecutionDoesNotExist:
            assert time.monotonic() < deadline, f"{arn} did not start in {timeout} s"
            time.sleep(0.2)


def platform_session(target: LocalTarget) -> object:
    """A boto3 session on the local target (AWS_ENDPOINT_URL points every client at it)."""
    import boto3

    return boto3.Session(region_name=target.names()["region"])
