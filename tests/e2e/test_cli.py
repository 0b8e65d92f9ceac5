"""The `mlops` CLI against the local target, as a new user meets it: failures explained, output for scripts."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, parquet, register_copy

from infra.local.demo import DemoResult
from infra.local.example_data import EXAMPLE_SPEC, churn_instances, churn_table
from infra.local.target import LocalTarget
from infra.operations import Platform, Resources

pytestmark = pytest.mark.e2e


def alerts(target: LocalTarget, platform: Platform, model: str | None = None) -> Callable[[], list[str]]:
    """Subscribe a queue to the alerts topic (with `model`, as a team routes its own models' alerts: a filter policy
    on the `model` message attribute); the returned function reads what was published since."""
    sqs = platform.client("sqs")
    queue = sqs.create_queue(QueueName=f"alerts-{time.monotonic_ns()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (topic,) = target.deployment.topics.values()
    policy = {"FilterPolicy": json.dumps({"model": [model]})} if model else {}
    platform.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=policy)

    def read() -> list[str]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["Message"] for m in messages]

    return read


def test_a_failed_validation_says_which_step_failed_why_and_where_the_report_is(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN a dataset whose `plan` column has values the spec does not list
    register_copy(platform, tmp_path, "churn-bad-data")
    table = churn_table(600, seed=5)
    plans = table.column("plan").to_pylist()
    plans[:11] = ["platinum"] * 11
    bad = table.set_column(table.column_names.index("plan"), "plan", __import__("pyarrow").array(plans))
    platform.upload_dataset("churn-bad-data", parquet(bad), "parquet")
    published, others = alerts(target, platform, "churn-bad-data"), alerts(target, platform, "churn-other")
    # WHEN the pipeline runs from the CLI
    code, _, err = cli("pipeline", "run", "churn-bad-data")
    # THEN it says which step failed, with the error's type and message, and where the report is
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("Validate failed: DataValidationError: dataset datasets/churn-bad-data/")
    assert lines[0].endswith(
        "categories(plan): 11 values outside ['basic', 'standard', 'premium'] (first at row 0, counted from 0: "
        "'platinum')"
    )
    assert lines[1].startswith("Validation report: s3://") and lines[1].endswith("/validation.html")
    run_id = lines[2].rsplit(" ", 1)[1]
    assert lines[2] == f"Download it with: mlops pipeline report churn-bad-data {run_id}"
    assert "Traceback" not in err and "stackTrace" not in err
    # AND the alert says the same, in the same words, to whoever routes this model's alerts, and to no one else
    assert published() == [err.strip()]
    assert others() == []
    # AND a script's run (--output json) says it on stderr too, beside the JSON on stdout
    code, out, json_err = cli("pipeline", "run", "churn-bad-data", "--force", "--output", "json")
    assert code == 1 and json.loads(out)["failure"].split("\n")[0] == json_err.strip().split("\n")[0] == lines[0]
    # AND the command it names downloads the report
    code, _, _ = cli("pipeline", "report", "churn-bad-data", run_id, "--out", str(tmp_path))
    assert code == 0
    assert "11 values outside" in (tmp_path / f"churn-bad-data-{run_id}-validation.html").read_text()
    # (for a script: the files' paths as JSON)
    code, out, err = cli("pipeline", "report", "churn-bad-data", run_id, "--out", str(tmp_path), "--output", "json")
    assert (code, json.loads(out)) == (0, {
        "html": str(tmp_path / f"churn-bad-data-{run_id}-validation.html"),
        "json": str(tmp_path / f"churn-bad-data-{run_id}-validation.json"),
    }), err  # fmt: skip
    # AND the run's id under another model's name, or a mistyped one, is named as such
    code, _, err = cli("pipeline", "report", "churn", run_id, "--out", str(tmp_path))
    assert code == 1 and f"Run {run_id} is a run of 'churn-bad-data', not of 'churn'" in err
    code, _, err = cli("pipeline", "report", "churn-bad-data", run_id + "x", "--out", str(tmp_path))
    assert code == 1 and "is not a run recorded for any model" in err


def test_a_failed_training_job_says_what_it_failed_with_and_json_output_carries_it(
    demo: DemoResult,
    target: LocalTarget,
    platform: Platform,
    cli: Cli,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlcore.errors import ParityError

    register_copy(platform, tmp_path, "churn-json")
    platform.upload_dataset("churn-json", parquet(churn_table(600, seed=6)), "parquet")

    def no_parity(*args: Any, **kwargs: Any) -> Any:
        raise ParityError("ONNX export of 'random_forest_classifier' disagrees with scikit-learn on 2.00% of rows")

    assert target.training._entrypoint is not None  # the demo trained already: the entrypoint is loaded
    monkeypatch.setattr(target.training._entrypoint, "train_candidate", no_parity)
    code, out, _ = cli("pipeline", "run", "churn-json", "--output", "json")
    document = json.loads(out)  # stdout is the document alone (stderr has the job's own log line here)
    assert (code, document["status"], document["outcome"]) == (1, "FAILED", "failed")
    assert document["steps"][:3] == ["Validate", "Train", "TrainFailed"]  # the states that work, not the choices
    assert document["failure"] == (
        "Train failed: ParityError: ONNX export of 'random_forest_classifier' disagrees with scikit-learn "
        "on 2.00% of rows"
    )


def test_bracketed_text_reaches_the_user_whole(demo: DemoResult, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(EXAMPLE_SPEC.read_text().replace("name: churn", "name: Churn_Model", 1))
    code, _, err = cli("models", "register", str(path))
    assert code == 1
    said = " ".join(err.split())
    assert said.startswith(f"SpecError: {path}: name: String should match pattern '^[a-z][a-z0-9-]{{1,47}}$' (")
    assert said.endswith("2 to 48 characters), got 'Churn_Model'")


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ("{input: s3://elsewhere/in/, output: OUT}", "batch.input: s3://elsewhere/in/ is outside the platform's data "
         "bucket"),
        ("{input: IN, output: IN}", "batch.output: the output prefix may not contain the input, nor lie inside it"),
        ("{input: IN, output: s3://elsewhere/out/}", "batch.output: s3://elsewhere/out/ is outside"),
    ],
)  # fmt: skip
def test_a_batch_no_plan_would_take_is_refused_at_registration(  # noqa: PLR0917 (pytest fixtures)
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path, batch: str, message: str
) -> None:
    # a scheduled batch there would fail at every tick, where only its execution says why
    data = f"s3://{platform.resources.data_bucket}/scoring/churn-sched"
    batch = batch.replace("IN", f"{data}/in/").replace("OUT", f"{data}/out/")
    path = tmp_path / "sched.yaml"
    text = EXAMPLE_SPEC.read_text().replace("name: churn", "name: churn-sched", 1)
    path.write_text(f"{text}\nbatch: {batch.removesuffix('}')}, schedule: 'cron(0 2 * * ? *)'}}\n")
    code, _, err = cli("models", "register", str(path))
    assert code == 1 and f"SpecError: {path}: {message}" in err, err
    assert platform.registry.find_spec("churn-sched") is None


def test_two_models_cannot_share_a_batch_output(demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path) -> None:
    data = f"s3://{platform.resources.data_bucket}/scoring"
    text = EXAMPLE_SPEC.read_text()
    for name, output in (("churn-out-a", "shared/out/"), ("churn-out-b", "shared/out/"), ("churn-out-c", "c/out/")):
        path = tmp_path / f"{name}.yaml"
        batch = f"batch: {{input: {data}/{name}/in/, output: {data}/{output}}}"
        path.write_text(text.replace("name: churn", f"name: {name}", 1) + f"\n{batch}\n")
        code, _, err = cli("models", "register", str(path))
        if name == "churn-out-b":  # where churn-out-a writes: refused, naming it
            assert code == 1 and f"batch.output: {data}/shared/out/ is where model 'churn-out-a' writes" in err, err
        else:
            assert code == 0, err


def test_a_refusal_of_the_apis_own_checks_names_the_file_too(demo: DemoResult, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    text = EXAMPLE_SPEC.read_text().replace("name: churn", "name: churn-typo", 1)
    path.write_text(text.replace("n_estimators:", "n_estimator:", 1))
    code, _, err = cli("models", "register", str(path))
    assert code == 1
    assert f"SpecError: {path}: estimator.params.n_estimator: not a parameter of RandomForestClassifier" in err, err


def test_a_spec_file_that_is_missing_or_no_yaml_is_named(demo: DemoResult, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    code, _, err = cli("models", "register", str(path))
    assert (code, err.strip()) == (1, f"{path}: no such file")
    path.write_text("name: churn\nfeatures: [\n")
    code, _, err = cli("models", "register", str(path))
    assert (code, err.strip()) == (
        1,
        f"SpecError: {path}: the spec is not valid YAML at line 3, column 1: expected the node content, but found "
        "'<stream end>'",
    )


def test_read_verbs_print_json_for_scripts(demo: DemoResult, cli: Cli) -> None:
    code, out, _ = cli("models", "list", "--output", "json")
    rows = json.loads(out)
    churn = next(row for row in rows if row["model"] == "churn")
    assert (code, churn["task"], churn["champion"]) == (0, "classification", demo.final_champion)
    code, out, _ = cli("models", "show", "churn", "--output", "json")
    shown = json.loads(out)
    assert (code, shown["spec"]["name"], shown["champion"]["version"]) == (0, "churn", demo.final_champion)


def test_models_show_is_a_summary_for_a_person(demo: DemoResult, cli: Cli) -> None:
    code, out, _ = cli("models", "show", "churn")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("churn: classification, target churned, ")
    assert lines[1].startswith(f"Serving: champion v{demo.final_champion}")
    versions = lines[lines.index("Versions") :]
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in versions if line.startswith("│")]
    assert [str(demo.final_champion), "approved"] in [row[:2] for row in rows], out
    assert "Latest audit records" in out and out.rstrip().endswith("Everything: --output json")
    assert "…" not in "\n".join(versions[: versions.index("Latest audit records")])  # no cell cut to fit 80 columns
    audit = "\n".join(versions[versions.index("Latest audit records") :])
    assert "{'" not in audit and "None" not in audit  # details as JSON (a client's words), not Python's repr


def test_local_status_shows_endpoints_models_and_running_executions(
    demo: DemoResult, target: LocalTarget, cli: Cli
) -> None:
    code, out, _ = cli("local", "status", "--output", "json")
    status = json.loads(out)
    assert code == 0
    assert (status["endpoint"], status["api_url"]) == (target.endpoint, target.api.url if target.api else None)
    resources = Resources.discover(target.names())
    assert (status["data_bucket"], status["artifacts_bucket"]) == (resources.data_bucket, resources.artifacts_bucket)
    assert status["runs_database"] is not None and status["runs_database"] == resources.runs_database
    assert {"model": "churn", "champion": demo.final_champion} in status["models"]
    assert status["running"] == []
    code, out, _ = cli("local", "status")
    assert f"Embedded AWS: {target.endpoint}" in out and "Running executions:\n  none" in out
    assert f"Data bucket: s3://{status['data_bucket']}/" in out
    assert f"Run export: Glue database {status['runs_database']}, table runs" in out
    # AND an execution of a state machine the CLI has no output for (the materialization's, say) is listed by name
    sfn = Platform(resources).sfn
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 120, "End": True}}}
    machine = sfn.create_state_machine(
        name="status-probe", definition=json.dumps(waiting), roleArn="arn:aws:iam::123456789012:role/probe"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="probe-1")["executionArn"]
    try:
        running = json.loads(cli("local", "status", "--output", "json")[1])["running"]
        assert [(r["state_machine"], r["execution"]) for r in running] == [("status-probe", "probe-1")]
    finally:
        sfn.stop_execution(executionArn=execution)
        sfn.delete_state_machine(stateMachineArn=machine)


def test_feedback_from_a_csv_or_a_jsonl_file(demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path) -> None:
    status, body = platform.predict("churn", churn_instances(3, seed=40))
    assert status == 200
    request_id = body["request_id"]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"request_id,row_index,label\n{request_id},0,yes\n{request_id},1,no\n")
    code, out, _ = cli("feedback", "churn", "--file", str(labels))
    assert (code, out.strip()) == (0, "2 labels stored for 'churn'")
    lines = tmp_path / "labels.jsonl"
    lines.write_text(json.dumps({"request_id": request_id, "row_index": 2, "label": "yes"}) + "\n")
    code, out, _ = cli("feedback", "churn", "--file", str(lines))
    assert (code, out.strip()) == (0, "1 label stored for 'churn'")
    code, out, _ = cli("feedback", "churn", "--file", str(lines), "--output", "json")  # a script's
    assert (code, json.loads(out)) == (0, {"model": "churn", "accepted": 1, "labels": 1})
    # a row labelled twice in the file: both are sent, and the user is told which one counts
    labels.write_text(f"request_id,row_index,label\n{request_id},1,no\n{request_id},1,yes\n")
    code, out, err = cli("feedback", "churn", "--file", str(labels))
    assert (code, out.strip()) == (0, "2 labels stored for 'churn'")
    assert f"{labels}, line 3: labels the row that line 2 labels (request {request_id}, row 1)" in err
    assert "a row keeps its first label" in err
    labels.write_text(f"request_id,row_index,label\n{request_id},0,yes\n{request_id},1,maybe\n")
    code, _, err = cli("feedback", "churn", "--file", str(labels))
    # the API's refusal of the second item is told by the line of the file it is on
    assert code == 1 and f"{labels}, line 3: label: 'maybe' is not one of" in err


def test_predict_sends_a_body_file_as_it_is_or_rows_and_names_a_json_mistake(
    demo: DemoResult, cli: Cli, tmp_path: Path
) -> None:
    rows = churn_instances(2, seed=41)
    columns = sorted({name for row in rows for name in row})
    split = {"columns": columns, "data": [[row.get(name) for name in columns] for row in rows]}
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"dataframe_split": split}))
    code, out, _ = cli("predict", "churn", "--file", str(body))
    assert code == 0 and len(json.loads(out)["predictions"]) == 2
    code, out, _ = cli("predict", "churn", "--json", json.dumps(rows))
    assert code == 0 and len(json.loads(out)["predictions"]) == 2
    code, out, _ = cli("predict", "churn", "--json", json.dumps(rows[0]))  # one row, as an object
    assert code == 0 and len(json.loads(out)["predictions"]) == 1
    code, _, err = cli("predict", "churn", "--json", '{"instances": [}')
    assert code == 1 and "--json: not valid JSON (Expecting value, line 1, column 16)" in err
    # the API's refusal is a line on stderr, as every failing command's; stdout stays for the answer a script reads
    code, out, err = cli("predict", "churn-nope", "--json", json.dumps(rows))
    assert (code, out) == (1, "")
    said = " ".join(err.split())
    assert said.startswith("Refused (404 model_not_found): model 'churn-nope' is not registered (request ")
    code, out, err = cli("predict", "churn", "--json", json.dumps([{**rows[0], "tenure_months": "four"}]))
    assert (code, out) == (1, "")
    assert " ".join(err.split()).startswith("Refused (400 bad_request): instances[0].tenure_months: ")
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,row_index,label\n")
    code, _, err = cli("feedback", "churn", "--file", str(labels))
    assert (code, err.strip()) == (1, f"{labels} has no labels.")


def test_an_upload_that_cannot_train_is_refused_naming_the_file_and_nothing_is_stored(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-upload")  # whose data drops start no run

    def stored() -> list[str]:
        listed = platform.client("s3").list_objects_v2(
            Bucket=platform.resources.data_bucket, Prefix="datasets/churn-upload/"
        )
        return [item["Key"] for item in listed.get("Contents", [])]

    columns = churn_table(5, seed=3).drop_columns(["plan"]).to_pandas()
    cases = {
        "notes.txt": ("age\n1\n", "a dataset is a .csv, .csv.gz, .parquet, .pq file, or a folder of them"),
        "empty.csv": ("", "the file is empty"),
        "header.csv": (
            churn_table(5, seed=3).to_pandas().head(0).to_csv(index=False),
            "the file has no rows, only its columns' names",
        ),
        "Plan.csv": (
            churn_table(5, seed=3)
            .rename_columns([c.replace("plan", "Plan") for c in churn_table(5, seed=3).column_names])
            .to_pandas()
            .to_csv(index=False),
            "no column 'plan' (the data has 'Plan': a column's name must be the spec's exactly), which the spec of "
            "'churn-upload' needs",
        ),
        "no-plan.csv": (columns.to_csv(index=False), "no column 'plan', which the spec of 'churn-upload' needs"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        code, _, err = cli("data", "upload", "churn-upload", str(path))
        assert (code, err.strip()) == (1, f"ValueError: {path}: {message}")
    assert stored() == []
    # AND a folder is checked file by file before any is sent: its `key=value` folders count as columns
    folder = tmp_path / "drop"
    (folder / "plan=basic").mkdir(parents=True)
    columns.to_csv(folder / "plan=basic" / "a.csv", index=False)  # plan from its folder: taken
    columns.drop(columns=["age"]).to_csv(folder / "b.csv", index=False)
    code, _, err = cli("data", "upload", "churn-upload", str(folder))
    assert (code, err.strip()) == (1, f"ValueError: {folder / 'b.csv'}: no column 'age', 'plan', which the spec of "
                                      "'churn-upload' needs")  # fmt: skip
    assert stored() == []
    (folder / "b.csv").unlink()
    # a folder whose files have no rows (only their columns' names) is refused; one such file beside rows is not
    (folder / "plan=basic" / "a.csv").write_text(columns.head(0).to_csv(index=False))
    code, _, err = cli("data", "upload", "churn-upload", str(folder))
    assert (code, err.strip()) == (
        1,
        f"ValueError: {folder}: no file in the folder has rows, only their columns' names",
    )
    assert stored() == []
    columns.head(0).to_csv(folder / "plan=basic" / "empty.csv", index=False)
    columns.to_csv(folder / "plan=basic" / "a.csv", index=False)
    (folder / "notes.txt").write_text("what this drop is")
    code, out, err = cli("data", "upload", "churn-upload", str(folder))
    assert code == 0 and out.startswith("Uploaded 2 files of ")
    assert err.strip() == "Not data files (.csv, .csv.gz, .parquet, .pq), so not uploaded: notes.txt"
    assert [key.rsplit("/", 2)[-2:] for key in stored()] == [["plan=basic", "a.csv"], ["plan=basic", "empty.csv"]]
    for key in stored():
        platform.client("s3").delete_object(Bucket=platform.resources.data_bucket, Key=key)
    # while the example dataset is taken, streamed to S3 with its SHA-256
    example = EXAMPLE_SPEC.with_name("churn.csv")
    code, out, _ = cli("data", "upload", "churn-upload", str(example))
    [key] = stored()
    assert code == 0 and out.strip().endswith(key) and key.endswith(".csv")
    head = platform.client("s3").head_object(Bucket=platform.resources.data_bucket, Key=key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(example.read_bytes()).hexdigest()


def test_monitor_run_sees_the_traffic_sent_a_moment_before(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Captured rows wait in the predict function's buffer; `monitor run` recycles it first, as AWS would."""
    register_copy(platform, tmp_path, "churn-fresh", drift={"min_rows": 100, "window_hours": 24, "dataset_share": 0.25})
    platform.upload_dataset("churn-fresh", parquet(churn_table(1200, seed=8)), "parquet")
    code, out, _ = cli("pipeline", "run", "churn-fresh")
    assert code == 0 and "SUCCEEDED: registered v1" in out
    code, out, _ = cli("pipeline", "run", "churn-fresh")  # the same data again
    assert code == 0 and "SKIPPED: nothing new to learn since the champion's data" in out
    # and the local target's log has none of the errors moto's interpreter logs on a run that succeeds
    assert [r.getMessage()[:80] for r in caplog.records if r.name.startswith("moto.stepfunctions")] == []
    for seed in range(3):  # 150 rows, in 3 requests
        status, _ = platform.predict("churn-fresh", churn_instances(50, seed=50 + seed))
        assert status == 200
    code, out, _ = cli("monitor", "run", "--model", "churn-fresh", "--output", "json")
    (check,) = [r for r in json.loads(out)["results"] if r.get("model_name") == "churn-fresh" and "rows" in r]
    assert (code, check["rows"], check["status"]) == (0, 150, "ok")
    # a window that drifts ends with the retraining decision, printed with the check's verdict before it
    for seed in range(3):
        status, _ = platform.predict("churn-fresh", churn_instances(100, seed=70 + seed, drifted=True))
        assert status == 200
    cli("local", "alerts")  # what came before: seen
    code, out, _ = cli("monitor", "run", "--model", "churn-fresh")
    assert code == 0
    verdict = next(line for line in out.splitlines() if line.startswith("churn-fresh v1: dataset drift"))
    assert " over 450 rows" in verdict, out
    assert out.index(verdict) < out.index("churn-fresh: retraining not started")
    # and the alert says where the report is
    alerts = json.loads(cli("local", "alerts", "--output", "json")[1])
    [drift] = [a["message"] for a in alerts if a["subject"] == "Model drift detected" and a["model"] == "churn-fresh"]
    assert drift.startswith(verdict) and drift.endswith(": mlops monitor report churn-fresh shows it)")
    # and in JSON, the drifted model's result has the check's flags beside its decisions
    code, out, _ = cli("monitor", "run", "--model", "churn-fresh", "--output", "json")
    (drifted,) = [r for r in json.loads(out)["results"] if r.get("model_name") == "churn-fresh" and "rows" in r]
    assert (code, drifted["status"], drifted["dataset_drift"], drifted["performance_degraded"]) == (
        0, "drift", True, False
    )  # fmt: skip


def test_an_idle_function_is_recycled_as_lambda_would(demo: DemoResult, target: LocalTarget) -> None:
    import urllib.request

    assert target.idle_seconds is not None and target.api is not None
    predict = next(name for name, f in target.deployment.functions.items() if f.function == "predict")
    recycled = target.functions.recycled.get(predict, 0)
    # GIVEN a request that loads the predict function
    body = json.dumps({"instances": churn_instances(1, seed=60)}).encode()
    urllib.request.urlopen(urllib.request.Request(target.api.url + "/models/churn/predict", data=body), timeout=10)
    # WHEN it stays idle THEN the local target recycles its container (its shutdown hook flushes the capture)
    deadline = time.monotonic() + target.idle_seconds + 5
    while target.functions.recycled.get(predict, 0) == recycled:
        assert time.monotonic() < deadline, "the idle predict function was not recycled"
        time.sleep(0.5)


def test_local_fire_delivers_a_models_scheduled_event(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    from e2e_helpers import arns, decisions, new_executions

    register_copy(platform, tmp_path, "churn-fired", retrain={"schedule": "cron(0 6 ? * MON *)"})
    machine = platform.resources.retraining_state_machine
    before = arns(platform, machine)
    predict = next(name for name, f in target.deployment.functions.items() if f.function == "predict")
    assert platform.predict("churn", churn_instances(2, seed=61))[0] == 200  # the predict function holds its capture
    recycled = target.functions.recycled.get(predict, 0)
    code, out, _ = cli("local", "fire", "churn-fired")
    # its container recycled first (its capture flushed), so that what was served a moment ago counts
    assert target.functions.recycled.get(predict, 0) == recycled + 1
    assert code == 0 and out.startswith("Delivered the scheduled event of ") and "for 'churn-fired'" in out
    [decision] = decisions(platform, new_executions(platform, machine, before))
    # it asked for churn-fired only, as its schedule would; with no dataset, nothing starts, and it says why
    assert (decision["model_name"], decision["trigger"], decision["started"]) == ("churn-fired", "schedule", False)
    assert decision["reason"].startswith("no dataset under s3://") and decision["reason"].endswith(
        "datasets/churn-fired/; upload one first"
    )
    # AND the command printed that decision, having waited for it
    assert f"churn-fired: retraining not started: {decision['reason']}" in out


def test_local_fire_without_a_model_name_is_a_400(demo: DemoResult, target: LocalTarget) -> None:
    import urllib.error
    import urllib.request

    from infra.local.state import FIRE_PATH

    assert target.api is not None
    request = urllib.request.Request(target.api.url + FIRE_PATH, data=b'{"model": "churn"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["field"] == "model_name"


def test_code_upload_stores_the_folder_by_its_sha256_and_says_where(
    demo: DemoResult, cli: Cli, platform: Platform, tmp_path: Path
) -> None:
    register_copy(platform, tmp_path, "churn-code", estimator={"kind": "custom", "entrypoint": "pkg.model:build"})
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "model.py").write_text("def build(**params):\n    return None\n")
    code, out, _ = cli("code", "upload", "churn-code", str(tmp_path / "src"), "--output", "json")
    assert code == 0
    stored = json.loads(out)
    assert stored["uri"].endswith(f"/code/churn-code/{stored['sha256']}/code.zip")
    again, text, _ = cli("code", "upload", "churn-code", str(tmp_path / "src"))
    assert again == 0
    assert f"sha256 {stored['sha256'][:12]}" in text  # the same folder: the same upload
    assert text.rstrip().endswith("the next runs of churn-code train with it")
    # a model that trains a built-in estimator is told its runs do not use the upload
    register_copy(platform, tmp_path, "churn-builtin")
    code, text, _ = cli("code", "upload", "churn-builtin", str(tmp_path / "src"))
    assert code == 0 and "churn-builtin trains a built-in estimator (random_forest_classifier): its runs use " in text
    assert [r.action for r in platform.registry.audit_trail("churn-code")].count("code_uploaded") == 2
    missing, _, err = cli("code", "upload", "churn-code", str(tmp_path / "nothing-here"))
    assert (missing, err.strip()) == (
        1,
        f"BadRequestError: {tmp_path / 'nothing-here'}: no such file or folder",
    )


def test_a_gate_rejection_alerts_whoever_routes_the_model_in_words(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN a model whose gate no candidate passes, and its team's queue on the alerts topic
    register_copy(platform, tmp_path, "churn-gated", metrics={"primary": "roc_auc", "minimum": {"roc_auc": 0.9999}})
    platform.upload_dataset("churn-gated", parquet(churn_table(800, seed=8)), "parquet")
    published = alerts(target, platform, "churn-gated")
    # WHEN its run's candidate is rejected
    code, out, err = cli("pipeline", "run", "churn-gated", "--output", "json")
    run_id = json.loads(out)["run_id"]
    assert code == 0, err
    # THEN the alert says which model, which run and why, in a sentence, not the state's JSON
    [message] = published()
    assert message.startswith(
        f"churn-gated: the candidate of run {run_id} was rejected by the evaluation gate: roc_auc 0."
    ), message
    assert message.endswith(
        f" misses the minimum 0.9999. The champion keeps serving (mlops runs show {run_id} has every metric)."
    ), message


def test_a_retired_model_serves_and_trains_nothing_until_registered_back(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    import yaml

    # GIVEN a model with a champion
    path = register_copy(platform, tmp_path, "churn-retire")
    platform.upload_dataset("churn-retire", parquet(churn_table(800, seed=9)), "parquet")
    run = platform.wait(platform.start_pipeline("churn-retire", reason="first", force=True))
    assert run["status"] == "SUCCEEDED", platform.failure(run)
    rows = json.dumps(churn_instances(2, seed=43))
    # WHEN its spec is registered retired
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, "retired": True}))
    assert cli("models", "register", str(path))[0] == 0
    # THEN it is marked so, and a prediction, a run and a batch of it are refused saying why
    code, out, _ = cli("models", "list", "--output", "json")
    assert next(row for row in json.loads(out) if row["model"] == "churn-retire")["retired"] is True
    code, out, _ = cli("models", "show", "churn-retire")
    assert "Serving: nothing: retired (champion v1 kept; retired: false brings it back)" in " ".join(out.split())
    code, out, err = cli("predict", "churn-retire", "--json", rows)
    assert (code, out) == (1, "") and " ".join(err.split()).startswith(
        "Refused (404 model_retired): model 'churn-retire'"
    )
    code, _, err = cli("pipeline", "run", "churn-retire", "--force")
    assert code == 1 and "is retired: it serves, trains and scores nothing" in " ".join(err.split()), err
    code, out, err = cli("monitor", "run", "--model", "churn-retire", "--output", "json")
    assert (code, json.loads(out)["results"]) == (0, []) and "'churn-retire' is retired: the monitor checks it" in err
    code, out, _ = cli("local", "status", "--output", "json")
    assert {"model": "churn-retire", "champion": 1, "retired": True} in json.loads(out)["models"]
    code, out, err = cli("local", "fire", "churn-retire")
    assert "'churn-retire' is retired: no trigger retrains it, and its schedule is not due" in err, (code, out, err)
    assert "  churn-retire: champion v1 (retired: serves nothing)" in cli("local", "status")[1]
    # AND registered back, it waits for an approver (its champion would serve again), then answers again
    path.write_text(yaml.safe_dump({**document, "retired": False}))
    code, out, err = cli("models", "register", str(path))
    assert code == 0 and "(retired: true -> false (its champion serves again)): it waits for an approver" in out, err
    assert cli("predict", "churn-retire", "--json", rows)[0] == 1
    platform.registry.apply_spec_proposal("churn-retire", "e2e-approver")  # (the approval's route: governance tests)
    code, out, err = cli("predict", "churn-retire", "--json", rows)
    assert code == 0 and json.loads(out)["model"] == {"name": "churn-retire", "version": 1}, err


def test_a_failed_check_alerts_whoever_routes_its_model(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    # GIVEN a served model whose captured traffic holds a file that is no Parquet
    register_copy(platform, tmp_path, "churn-broken-capture")
    platform.upload_dataset("churn-broken-capture", parquet(churn_table(800, seed=10)), "parquet")
    run = platform.wait(platform.start_pipeline("churn-broken-capture", reason="first", force=True))
    assert run["status"] == "SUCCEEDED", platform.failure(run)
    day = f"{datetime.now(UTC):%Y-%m-%d}"
    key = f"capture/model=churn-broken-capture/dt={day}/broken.parquet"
    platform.client("s3").put_object(Bucket=platform.resources.capture_bucket, Key=key, Body=b"not parquet")
    published = alerts(target, platform, "churn-broken-capture")
    # WHEN the monitor checks it THEN its check fails, and the alert reaches the team that routes this model
    cli("monitor", "run", "--model", "churn-broken-capture")
    [message] = published()
    assert message.startswith("CheckDrift failed: "), message


def test_drift_is_alerted_even_where_the_spec_does_not_retrain_on_it(
    demo: DemoResult, target: LocalTarget, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN a served model whose spec retrains on nothing the monitor finds
    register_copy(
        platform, tmp_path, "churn-watched", retrain={"on_drift": False, "on_degradation": False},
        drift={"min_rows": 100, "window_hours": 24, "dataset_share": 0.25},
    )  # fmt: skip
    platform.upload_dataset("churn-watched", parquet(churn_table(1200, seed=8)), "parquet")
    run = platform.wait(platform.start_pipeline("churn-watched", reason="first", force=True))
    assert run["status"] == "SUCCEEDED", platform.failure(run)
    published = alerts(target, platform, "churn-watched")
    # WHEN its traffic drifts and the monitor checks it
    for seed in range(3):
        assert platform.predict("churn-watched", churn_instances(100, seed=70 + seed, drifted=True))[0] == 200
    code, out, _ = cli("monitor", "run", "--model", "churn-watched", "--output", "json")
    (check,) = [r for r in json.loads(out)["results"] if r.get("model_name") == "churn-watched" and "rows" in r]
    assert (code, check["dataset_drift"], check["retrain_recommended"]) == (0, True, False)
    # THEN the drift is alerted all the same (a team that retrains by hand is still told), and no run starts
    [message] = published()
    assert message.startswith("churn-watched v1: dataset drift") and "mlops monitor report churn-watched" in message
    assert [r for r in platform.registry.list_runs("churn-watched") if r.trigger == "drift"] == []


def test_a_recalled_champion_falls_back_and_the_alerts_topic_says_so(
    demo: DemoResult, platform: Platform, cli: Cli, tmp_path: Path
) -> None:
    # GIVEN two approved versions of a model, the second its champion, and a subscriber to the alerts
    register_copy(platform, tmp_path, "churn-recall")
    for seed in (51, 52):
        platform.upload_dataset("churn-recall", parquet(churn_table(1200, seed=seed)), "parquet")
        run = platform.wait(platform.start_pipeline("churn-recall", reason="version", force=True))
        assert run["status"] == "SUCCEEDED", platform.failure(run)
    assert platform.registry.get_alias("churn-recall").version == 2  # type: ignore[union-attr]
    cli("local", "alerts")  # what other tests alerted: seen
    # WHEN the champion is rejected
    code, out, err = cli("models", "reject", "churn-recall", "2", "--reason", "label leak")
    # THEN version 1 serves, the CLI says so, and so does the alert, which `mlops local alerts` shows once
    assert code == 0, err
    assert out.strip() == "churn-recall v2 is rejected; it was the champion: the champion falls back to v1"
    assert platform.registry.get_alias("churn-recall").version == 1  # type: ignore[union-attr]
    code, out, err = cli("local", "alerts", "--output", "json")
    [alert] = [a for a in json.loads(out) if a["subject"] == "Champion of churn-recall taken out of serving"]
    assert alert["model"] == "churn-recall"
    assert "the champion falls back to v1. Reason: label leak." in alert["message"] and alert["at"]
    assert cli("local", "alerts")[1].strip() == "No alerts since the last look."
    # AND a rejected version is final
    code, _, err = cli("models", "approve", "churn-recall", "2")
    assert code != 0 and "is rejected: it cannot become approved (rejected is final)" in err
    # AND rejecting it again (a retry, or a second on-call) changes nothing, and says so
    code, out, err = cli("models", "reject", "churn-recall", "2", "--reason", "label leak")
    assert (code, " ".join(out.split())) == (0, "churn-recall: version 2 is rejected already; nothing changed"), err
    # AND a script reads each move as the route's answer: archived v1 leaves no champion, a promotion of none fails
    code, out, err = cli("models", "archive", "churn-recall", "1", "--reason", "retired", "--output", "json")
    archived = json.loads(out)
    assert code == 0 and (archived["model"], archived["version"], archived["status"]) == ("churn-recall", 1, "archived")
    assert archived["changed"] is True and "no champion" in archived["serving"], err
    code, out, err = cli("models", "archive", "churn-recall", "1", "--output", "json")
    assert (code, json.loads(out)["changed"]) == (0, False), err


def test_the_model_card_of_the_champion_comes_from_the_registry_in_markdown_html_or_json(
    demo: DemoResult, cli: Cli, platform: Platform, tmp_path: Path
) -> None:
    champion = platform.registry.champion("churn")
    assert champion is not None
    code, out, err = cli("models", "card", "churn")
    assert code == 0, err
    assert out.startswith(f"# Model card: churn v{champion.version}\n")
    assert "## Training data" in out and "## Approvals and serving" in out and "| alias_moved |" in out
    code, out, err = cli("models", "card", "churn", "1", "--format", "html", "--out", str(tmp_path / "card.html"))
    assert (code, out.strip()) == (0, f"Model card of churn v1 written to {tmp_path / 'card.html'}"), err
    assert (tmp_path / "card.html").read_text().startswith("<!doctype html>")
    code, out, err = cli("models", "card", "churn", "--format", "json")
    assert code == 0, err
    card = json.loads(out)
    assert card["title"] == f"Model card: churn v{champion.version}"
    assert {"Training data", "Approvals and serving"} <= {section["title"] for section in card["sections"]}
    code, _, err = cli("models", "card", "churn", "99")
    assert code == 1 and "has no version 99" in err


@pytest.mark.parametrize(
    "command",
    [
        ("monitor", "run", "--model", "chrun"),
        ("monitor", "report", "chrun"),
        ("models", "rollout", "chrun", "1", "--weight", "0.1"),
        ("models", "rollback", "chrun"),
        ("models", "rollout", "chrun", "--stop"),
        ("models", "approve-spec", "chrun"),
        ("models", "card", "chrun"),
        ("local", "fire", "chrun"),
        ("feedback", "chrun", "--file", "labels.csv"),
        ("runs", "list", "chrun"),
    ],
)
def test_a_misspelt_model_is_named_as_not_registered(demo: DemoResult, cli: Cli, command: tuple[str, ...]) -> None:
    code, out, err = cli(*command)
    assert code == 1, out
    assert "model 'chrun' is not registered" in err
    if command[0] != "feedback" and "--model" not in command:  # (an API client's verb cannot list the models)
        assert "(did you mean 'churn'?)" in err  # a model named alone is pointed at the registered one like it
    assert "Delivered" not in out
