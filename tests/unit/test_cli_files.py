"""What the CLI reads from the user: labels files, JSON bodies, and the line `mlops local up` asks to run."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.cli import export_line
from infra.operations import data_columns, read_json, read_labels


def test_labels_from_a_csv_with_or_without_row_index(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,row_index,label\nr.1,0,yes\nr.1, 3 ,no\n")
    assert read_labels(path) == [
        (2, {"request_id": "r.1", "row_index": 0, "label": "yes"}),
        (3, {"request_id": "r.1", "row_index": 3, "label": "no"}),
    ]
    path.write_text("request_id,label\nr.2,yes\n")
    assert read_labels(path) == [(2, {"request_id": "r.2", "row_index": 0, "label": "yes"})]
    path.write_text("request_id,row_index,label,labelled_at\nr.3,1,no,2026-01-01\n")  # other columns beside row_index
    assert read_labels(path) == [(2, {"request_id": "r.3", "row_index": 1, "label": "no"})]


def test_a_regressors_labels_from_a_csv_are_numbers_and_text_is_named_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,row_index,label\nr.1,0,425.72\nr.1,1,-3e2\n")
    assert read_labels(path, numeric=True) == [
        (2, {"request_id": "r.1", "row_index": 0, "label": 425.72}),
        (3, {"request_id": "r.1", "row_index": 1, "label": -300.0}),
    ]
    assert read_labels(path)[0][1]["label"] == "425.72"  # a classifier's class, as written
    path.write_text("request_id,row_index,label\nr.1,0,425.72\nr.1,1,inf\n")
    with pytest.raises(ValueError, match=r"line 3: label: expected a finite number .*, got 'inf'"):
        read_labels(path, numeric=True)
    path.write_text("request_id,row_index,label\nr.1,0,425.72\nr.1,1,\n")
    finite = r"line 3: label: expected a finite number \(the model is a regressor\), got "
    with pytest.raises(ValueError, match=finite + "''$"):
        read_labels(path, numeric=True)


def test_a_csv_with_only_its_header_has_no_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,row_index,label\n")
    assert read_labels(path) == []


HEADER = "request_id,row_index,label"
NOT_A_ROW = "row_index: expected a row number >= 0, got"
QUOTES = "(a comma in a label needs quotes)"


def test_labels_from_json_lines_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"request_id": "r", "row_index": 1, "label": "yes"}\n\n{"request_id": "r", "label": "no"}\n')
    assert read_labels(path) == [
        (1, {"request_id": "r", "row_index": 1, "label": "yes"}),
        (3, {"request_id": "r", "label": "no"}),
    ]


FIRST = '{"request_id": "r", "label": "yes"}\n'


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("labels.csv", "request_id,row_index\nr,0\n", f"labels.csv: the header lacks ['label'] ({HEADER})"),
        ("labels.csv", "", f"labels.csv: the header lacks ['label', 'request_id'] ({HEADER})"),
        ("labels.csv", f"{HEADER}\nr,0,yes\nr,abc,no\n", f"labels.csv, line 3: {NOT_A_ROW} 'abc'"),
        (  # a misnamed row column would label row 0 of every request
            "labels.csv",
            "request_id,row,label\nr,3,yes\n",
            "labels.csv: the header has ['row'] but no row_index: name the row column row_index (without one, every "
            "label is for row 0 of its request; drop the other columns then)",
        ),
        ("labels.csv", f"{HEADER}\nr,-1,no\n", f"labels.csv, line 2: {NOT_A_ROW} '-1'"),
        (
            "labels.csv",
            f"{HEADER}\nr,0,yes\nr,1,no,extra\n",
            f"labels.csv, line 3: 4 cells where the header has 3 {QUOTES}",
        ),
        ("labels.csv", f"{HEADER}\nr,0\n", f"labels.csv, line 2: 2 cells where the header has 3 {QUOTES}"),
        (
            "labels.jsonl",
            FIRST + '{"request_id": \n',
            "labels.jsonl, line 2: not valid JSON (Expecting value, column 16)",
        ),
        (
            "labels.jsonl",
            FIRST + '["r", 0, "yes"]\n',
            "labels.jsonl, line 2: expected an object with request_id, row_index and label",
        ),
    ],
)
def test_a_labels_file_of_the_wrong_shape_is_refused_naming_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as refused:
        read_labels(path)
    assert str(refused.value) == f"{tmp_path}/{message}"


def test_labels_come_only_as_csv_or_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("r,0,yes\n")
    with pytest.raises(
        ValueError, match=r"labels\.txt: labels come as \.csv \(request_id,row_index,label\) or \.jsonl"
    ):
        read_labels(path)


def test_a_json_argument_that_is_no_json_names_where_it_came_from() -> None:
    assert read_json('{"instances": []}', "--json") == {"instances": []}
    with pytest.raises(ValueError) as refused:
        read_json('{"instances": [}', "--json")
    assert str(refused.value) == "--json: not valid JSON (Expecting value, line 1, column 16)"


@pytest.mark.parametrize("api_key", [None, "k3y", "a key with 'quotes' and $dollars"])
def test_the_line_local_up_prints_sets_the_variables_when_pasted_into_a_shell(api_key: str | None) -> None:
    line = export_line("http://127.0.0.1:5000", api_key)
    shown = subprocess.run(
        ["bash", "-c", f'{line}\necho "$AWS_ENDPOINT_URL|$AWS_DEFAULT_REGION|${{MLOPS_API_KEY-unset}}"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    assert shown == f"http://127.0.0.1:5000|us-east-1|{api_key or 'unset'}\n"


def test_a_data_files_columns_are_read_from_its_header_or_schema_alone() -> None:
    import gzip
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_text = '\ufeffage,"plan, monthly",churned\n' + "1,basic,no\n" * 3
    assert data_columns(io.BytesIO(csv_text.encode()), ".csv", "d.csv")[0] == ["age", "plan, monthly", "churned"]
    packed = io.BytesIO(gzip.compress(csv_text.encode()))
    assert data_columns(packed, ".csv.gz", "d.csv.gz")[0] == ["age", "plan, monthly", "churned"]
    sink = io.BytesIO()
    pq.write_table(pa.table({"age": [1.0], "churned": ["no"]}), sink)
    assert data_columns(io.BytesIO(sink.getvalue()), ".parquet", "d.parquet") == (["age", "churned"], True)


def test_a_data_file_with_columns_and_no_rows_is_told_apart() -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"age": pa.array([], pa.float64())}), sink)
    empty = {".csv": b"age,plan\n\n  \n", ".csv.gz": gzip.compress(b"age,plan\n"), ".parquet": sink.getvalue()}
    for suffix, data in empty.items():
        assert data_columns(io.BytesIO(data), suffix, f"d{suffix}")[1] is False, suffix
    # one row is enough
    assert data_columns(io.BytesIO(b"age,plan\n\n3,basic"), ".csv", "d.csv") == (["age", "plan"], True)


@pytest.mark.parametrize(
    ("data", "suffix"), [(b"age,plan\n", ".parquet"), (b"age,plan\n", ".csv.gz"), (b"\xff\xfe", ".csv")]
)
def test_a_data_file_that_is_not_what_its_suffix_says_is_refused_naming_it(data: bytes, suffix: str) -> None:
    with pytest.raises(ValueError, match=rf"^mine{suffix}: not a readable {suffix} file \("):
        data_columns(io.BytesIO(data), suffix, f"mine{suffix}")


WRONG_KEY = {"error": {"code": "forbidden", "message": "the x-api-key header is missing or not a valid key",
                       "field": "x-api-key", "request_id": "r1"}}  # fmt: skip
NOT_ALLOWED = {"error": {"code": "forbidden", "message": "the caller may not call this route", "request_id": "r1"}}


@pytest.mark.parametrize(
    ("key", "refusal", "hint"),
    [
        (None, (403, WRONG_KEY), "The API wants its key in MLOPS_API_KEY: on AWS, `aws apigateway get-api-key"),
        ("k3y", (403, WRONG_KEY), "MLOPS_API_KEY is not a key of this API (another deployment's, or an earlier local"),
        ("k3y", (403, NOT_ALLOWED), ""),  # the key was taken: something else refused
        (None, (400, WRONG_KEY), ""),
    ],
)
def test_a_refusal_for_want_of_an_api_key_says_where_the_key_comes_from(
    key: str | None,
    refusal: tuple[int, dict[str, Any]],
    hint: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra import cli

    status, answer = refusal

    if key is None:
        monkeypatch.delenv("MLOPS_API_KEY", raising=False)
    else:
        monkeypatch.setenv("MLOPS_API_KEY", key)
    cli._hint_api_key(status, answer)
    said = capsys.readouterr().err
    assert said.startswith(hint) if hint else said == ""


@pytest.mark.parametrize(
    ("size", "terminal", "shown"), [(9 << 20, True, True), (1 << 20, True, False), (9 << 20, False, False)]
)
def test_a_large_upload_to_a_terminal_shows_its_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, terminal: bool, shown: bool
) -> None:
    import argparse

    from rich.console import Console

    from infra import cli

    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * size)
    calls: list[bool] = []

    class Uploads:
        def upload_dataset_file(self, name: str, file: Path, progress: Any = None) -> str:
            calls.append(progress is not None)
            if progress is not None:
                progress(size)
            return "s3://data/datasets/churn/x.csv"

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=terminal, width=120, highlight=False, markup=False, color_system=None)
    monkeypatch.setattr(cli, "console", console)
    monkeypatch.setattr(cli, "_platform", Uploads)
    assert cli.cmd_data(argparse.Namespace(name="churn", file=str(path), output="text")) == 0
    assert calls == [shown] and ("Uploading big.csv" in screen.getvalue()) is shown
    assert screen.getvalue().rstrip().endswith("s3://data/datasets/churn/x.csv")


def test_an_upload_for_a_script_prints_where_it_went_as_json_and_no_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from rich.console import Console

    from infra import cli

    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * (9 << 20))  # a progress bar's size, on a terminal
    progress_given: list[Any] = []

    class Uploads:
        def upload_dataset_file(self, name: str, file: Path, progress: Any = None) -> str:
            progress_given.append(progress)
            return "s3://data/datasets/churn/x.csv"

    monkeypatch.setattr(cli, "console", Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.setattr(cli, "_platform", Uploads)
    assert cli.cmd_data(argparse.Namespace(name="churn", file=str(path), output="json")) == 0
    assert json.loads(capsys.readouterr().out) == {
        "model": "churn",
        "uri": "s3://data/datasets/churn/x.csv",
        "files": ["big.csv"],
    }
    assert progress_given == [None]


@pytest.mark.parametrize(
    ("document", "row"),
    [
        ({"age": 41, "plan": "basic", "data_usage_gb": None, "monthly_charges": 70.5}, True),
        ({"Instances": [{"age": 41}]}, False),  # a mistyped body goes as it is: the API names what is wrong
        ({"instances": [{"age": 41}]}, False),
        ({"dataframe_split": {"columns": ["age"], "data": [[41]]}}, False),
        ({}, False),
    ],
)
def test_predict_takes_an_object_of_feature_values_as_one_row(document: dict[str, Any], row: bool) -> None:
    from infra.operations import _is_row

    assert _is_row(document) is row


def test_a_runs_end_is_one_line_for_a_person() -> None:
    from infra.cli import _run_outcome

    rejected = {"outcome": {"kind": "rejected"}, "passed": False, "reason": "rmse 12.8 is above 10.0"}
    assert _run_outcome("m", rejected) == (
        "REJECTED by the gate: rmse 12.8 is above 10.0 (the champion serves on)",
        "yellow",
    )
    assert _run_outcome("m", rejected, serving=False)[0].endswith("rmse 12.8 is above 10.0 (no version serves yet)")
    skipped = _run_outcome("m", {"outcome": {"kind": "skipped"}})
    assert skipped[0].startswith("SKIPPED: nothing new to learn") and "mlops pipeline run m --force" in skipped[0]
    changed = _run_outcome("m", {"outcome": {"kind": "skipped"}, "spec_changed": True})[0]
    assert changed == (
        "SKIPPED: nothing new to learn since the champion's data; the spec changed since it was trained: if in what "
        "trains, mlops pipeline run m --force trains with it"
    )
    rejected_before = {"outcome": {"kind": "skipped"}, "learned_by": "version 2 (rejected, not the champion) learned"}
    assert _run_outcome("m", rejected_before)[0] == (
        "SKIPPED: nothing new to learn: version 2 (rejected, not the champion) learned (upload new data, or "
        "mlops pipeline run m --force)"
    )
    registered = {"outcome": {"kind": "registered"}, "record": {"outcome": "registered v2"}}
    assert _run_outcome("m", registered) == ("SUCCEEDED: registered v2", "green")


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_count_of_runs_below_one_is_refused_naming_the_option(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    from infra.cli import parser

    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["runs", "list", "churn", "--limit", limit])
    assert exited.value.code == 2
    assert f"argument --limit: {limit} is not a count of 1 or more" in capsys.readouterr().err
    assert parser().parse_args(["runs", "list", "churn", "--limit", "1"]).limit == 1


@pytest.mark.parametrize(
    ("answer", "warned"),
    [
        ((200, {"version": 3, "challenger": {"version": 2, "mode": "canary", "weight": 0.1}}), True),
        ((200, {"version": 3, "challenger": {"version": 3, "mode": "canary", "weight": 0.1}}), False),  # promoted it
        ((200, {"version": 3}), False),  # no rollout
        ((403, {"error": {"code": "forbidden"}}), False),  # no key to ask with: nothing said
        (OSError("connection refused"), False),
    ],
)
def test_a_promotion_beside_a_running_rollout_says_it_still_runs(
    answer: Any, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import cli

    class Api:
        def call_api(self, method: str, path: str) -> Any:
            assert (method, path) == ("GET", "/models/churn")
            if isinstance(answer, Exception):
                raise answer
            return answer

    cli._warn_rollout_beside(Api(), "churn", 3)  # type: ignore[arg-type]
    said = capsys.readouterr().err
    expected = (
        "A rollout still runs beside the new champion: v2 (canary 10%); `mlops models rollout churn --stop` ends it, "
        "`mlops models promote churn 2` serves it"
    )
    assert said.strip() == (expected if warned else "")


def warned(capsys: pytest.CaptureFixture[str], signatures: dict[int, list[Any]], was: int | None, now: int) -> str:
    """What a promotion of `loan` from `was` to `now` says of its request, in a line (as the console wraps it)."""
    from types import SimpleNamespace

    from infra import cli

    registry = SimpleNamespace(get_version=lambda name, v: SimpleNamespace(signature=signatures[v]))
    cli._warn_request_change(SimpleNamespace(registry=registry), "loan", was, now)  # type: ignore[arg-type]
    return " ".join(capsys.readouterr().err.split())


def test_a_new_champion_that_takes_fewer_values_of_a_feature_says_which(capsys: pytest.CaptureFixture[str]) -> None:

    from mlcore.catalog import SignatureField

    def versions(**changed: Any) -> list[SignatureField]:
        fields = {
            "age": {"type": "float", "minimum": 0.0, "maximum": 120.0},
            "income": {"type": "float"},
            "visits": {"type": "float"},
            "region": {"type": "string", "categories": ["n", "s", "e", "w"]},
            "plan": {"type": "string"},  # allow_unseen: any text
        }
        return [SignatureField(name=n, nullable=False, **{**f, **changed.get(n, {})}) for n, f in fields.items()]

    narrowed = {
        "age": {"minimum": 18.0, "maximum": 100.0},
        "income": {"minimum": 0.0},
        "visits": {"integer": True},
        "region": {"categories": ["n", "s"]},
        "plan": {"categories": ["basic", "pro"]},
    }
    signatures = {
        1: versions(),
        2: versions(**narrowed),
        3: versions(**narrowed),  # the same bounds: nothing narrower
        4: versions(),  # wider than 2 in every way: a client of 2 is still answered
    }
    expected = (
        "v2 reads another request than v1: it takes age >= 18 only (a smaller one is a 400); it takes age <= 100 "
        "only (a larger one is a 400); it takes income >= 0 only (a smaller one is a 400); it takes whole numbers "
        "only for visits (a 400 otherwise); it no longer takes ['e', 'w'] for region (a 400); it takes only "
        "['basic', 'pro'] for plan (any other value is a 400). Clients must follow: GET /models/loan/openapi.json "
        "describes what it takes"
    )
    assert warned(capsys, signatures, 1, 2) == expected
    assert warned(capsys, signatures, 2, 3) == warned(capsys, signatures, 2, 4) == ""


def test_a_new_champion_that_reads_another_request_says_how_it_differs(capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from infra import cli
    from mlcore.catalog import SignatureField

    def field(name: str, kind: str = "float", nullable: bool = False) -> SignatureField:
        return SignatureField(name=name, type=kind, nullable=nullable)  # type: ignore[arg-type]

    signatures = {
        1: [field("income", nullable=True), field("region", "string"), field("age")],
        2: [field("income"), field("age", "string"), field("late_payments"), field("note", "string", nullable=True)],
        3: [field("income"), field("age", "string"), field("late_payments"), field("note", "string", nullable=True)],
    }
    expected = (
        "v2 reads another request than v1: it no longer takes region (a row with it is a 400); it needs "
        "late_payments (a row without it is a 400); it takes note too (optional); it reads age as text; it needs "
        "income now (a row without it is a 400). Clients must follow: GET /models/loan/openapi.json describes what "
        "it takes"
    )
    assert warned(capsys, signatures, 1, 2) == expected
    # the same request, or no version before: nothing said
    assert warned(capsys, signatures, 2, 3) == warned(capsys, signatures, None, 3) == ""
    # a caller who may not read the registry (a promoter's policy grants the routes only): the move stands, unsaid
    from botocore.exceptions import ClientError

    def denied(name: str, version: int) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")

    cli._warn_request_change(SimpleNamespace(registry=SimpleNamespace(get_version=denied)), "loan", 1, 2)  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""


def test_ctrl_c_is_exit_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import cli

    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_models", interrupted)
    assert cli.main(["models", "list"]) == 130
    assert capsys.readouterr().err.strip() == "Interrupted."


def test_a_platform_too_busy_to_answer_says_the_change_may_be_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import cli

    def busy(args: Any) -> int:
        raise TimeoutError("timed out")

    monkeypatch.setattr(cli, "cmd_models", busy)
    assert cli.main(["models", "list"]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith("TimeoutError: timed out: the platform did not answer in time. What the command asked for")

    def waited(args: Any) -> int:  # a wait's own limit: the execution goes on, nothing to look for
        from infra.operations import StillRunningError

        raise StillRunningError("arn:batch still running after 600 s; it goes on")

    monkeypatch.setattr(cli, "cmd_models", waited)
    assert cli.main(["models", "list"]) == 1
    assert " ".join(capsys.readouterr().err.split()) == (
        "StillRunningError: arn:batch still running after 600 s; it goes on"
    )


def test_every_argument_of_every_verb_says_what_it_is_in_its_help() -> None:
    import argparse

    from infra.cli import parser

    def undocumented(command: argparse.ArgumentParser, path: str) -> list[str]:
        found = []
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += undocumented(child, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                found.append(f"{path}: {action.dest}")
        return found

    assert undocumented(parser(), "mlops") == []


def test_a_models_runs_in_flight_are_found_by_name_and_input_whatever_started_them() -> None:
    import json
    from types import SimpleNamespace

    from mlcore.monitoring import retrain_execution_name
    from mlcore.runs import runs_in_flight

    long = "a-model-whose-name-is-longer-than-forty-chars"  # 45: a retraining's name keeps the first 40
    executions = {
        f"{long}-20261207T170000000000": long,  # a manual run
        retrain_execution_name(long, "drift", "check-1"): long,  # a retraining
        f"{long}-b-20261207T170000000000": f"{long}-b",  # another model's, of a like name
        "other-20261207T170000000000": "other",
    }

    class Sfn:
        def get_paginator(self, operation: str) -> Any:
            assert operation == "list_executions"
            pages = [[{"name": n, "executionArn": f"arn:{n}"} for n in list(executions)[i : i + 2]] for i in (0, 2)]
            return SimpleNamespace(paginate=lambda **kwargs: [{"executions": page} for page in pages])

        def describe_execution(self, executionArn: str) -> dict[str, str]:
            return {"input": json.dumps({"model_name": executions[executionArn.removeprefix("arn:")]})}

    assert runs_in_flight(Sfn(), "arn:training", long) == [  # type: ignore[arg-type]
        f"{long}-20261207T170000000000",
        retrain_execution_name(long, "drift", "check-1"),
    ]
    assert runs_in_flight(Sfn(), "arn:training", "none-running") == []  # type: ignore[arg-type]


@pytest.mark.parametrize("readable", [True, False])
def test_a_status_the_version_has_already_is_said_unless_the_registry_may_not_be_read(
    readable: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from botocore.exceptions import ClientError

    from infra import cli
    from mlcore.errors import ConflictError
    from mlcore.registry import VersionStatus

    def set_status(name: str, version: int, status: Any, reason: str) -> str:
        raise ConflictError("version 2 of 'loan' is rejected: it cannot become rejected")

    def get_version(name: str, version: int) -> Any:
        if not readable:  # an approver's policy grants the API's routes only
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")
        return SimpleNamespace(status=VersionStatus.REJECTED)

    platform = SimpleNamespace(set_status=set_status, registry=SimpleNamespace(get_version=get_version))
    args = SimpleNamespace(name="loan", version=2, reason="", output="text")
    if readable:
        cli._set_status(platform, args, VersionStatus.REJECTED)  # type: ignore[arg-type]
        assert capsys.readouterr().out.strip() == "loan: version 2 is rejected already; nothing changed"
        script = SimpleNamespace(name="loan", version=2, reason="", output="json")
        cli._set_status(platform, script, VersionStatus.REJECTED)  # type: ignore[arg-type]
        answer = json.loads(capsys.readouterr().out)
        assert answer == {"model": "loan", "version": 2, "status": "rejected", "changed": False}
    else:  # the route's own words, not an AccessDenied of a read made only to say more
        with pytest.raises(ConflictError, match="it cannot become rejected"):
            cli._set_status(platform, args, VersionStatus.REJECTED)  # type: ignore[arg-type]


@pytest.mark.parametrize("verb", [["local", "status"], ["local", "alerts"], ["local", "fire", "churn"]])
def test_the_local_verbs_without_a_running_target_say_how_to_start_one(
    verb: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra import cli
    from infra.local.state import LOCAL_DIR_VARIABLE

    monkeypatch.setenv(LOCAL_DIR_VARIABLE, str(tmp_path))  # no state file there: no target was started
    assert cli.main(verb) == 1
    assert capsys.readouterr().err.strip() == "No local target is running: start one with `mlops local up`."


@pytest.mark.parametrize("challenger", ["none", "running", "unreadable"])
def test_ending_a_rollout_that_is_not_running_changes_nothing_and_says_so(
    challenger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from botocore.exceptions import ClientError

    from infra import cli
    from mlcore.errors import ConflictError

    def govern(route: Any, **_: Any) -> dict[str, Any]:
        raise ConflictError("model 'loan' has no rollout to end (no challenger): the champion serves all traffic")

    def get_alias(name: str, alias: str) -> Any:
        if challenger == "unreadable":  # a promoter's policy grants the API's routes only
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")
        return SimpleNamespace(version=2) if challenger == "running" else None

    platform = SimpleNamespace(govern=govern, registry=SimpleNamespace(get_alias=get_alias))
    args = SimpleNamespace(name="loan", output="text")
    if challenger == "none":  # a retry, or another person ended it first
        cli._end_rollout(platform, args)  # type: ignore[arg-type]
        said = capsys.readouterr().out.strip()
        assert said == "loan: no rollout is running; nothing changed (the champion serves all traffic)"
        cli._end_rollout(platform, SimpleNamespace(name="loan", output="json"))  # type: ignore[arg-type]
        answer = json.loads(capsys.readouterr().out)
        assert answer == {"model": "loan", "alias": "challenger", "version": None, "changed": False}
    else:  # a conflict of another kind, or one the caller may not look into: the route's own words
        with pytest.raises(ConflictError, match="has no rollout to end"):
            cli._end_rollout(platform, args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("was", "changed"), [(1, True), (2, False)])
def test_a_promotion_for_a_script_is_the_routes_answer_and_whether_it_moved(
    was: int, changed: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from infra import cli

    moved = {"model": "loan", "alias": "champion", "version": 2, "previous_version": was, "actor": "arn:alice"}
    platform = SimpleNamespace(govern=lambda route, body, **_: moved)
    monkeypatch.setattr(cli, "_warn_request_change", lambda *_: None)  # what it says beside, on stderr
    monkeypatch.setattr(cli, "_warn_rollout_beside", lambda *_: None)
    args = SimpleNamespace(name="loan", version=2, reason="", alias="champion", expected_version=None, output="json")
    cli._promote(platform, args)  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out) == {**moved, "changed": changed}


def test_a_run_that_ends_between_the_two_reads_of_runs_show_is_shown_from_its_record() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from infra import cli
    from mlcore.errors import NotFoundError

    ended = {"status": "SUCCEEDED", "stopDate": datetime(2026, 12, 7, 20, 0, tzinfo=UTC), "input": "{}"}
    record = SimpleNamespace(run_id="churn-1")  # written by RecordRun after the first read missed it
    args = SimpleNamespace(run_id="churn-1", output="text")
    platform = SimpleNamespace(
        training_execution=lambda run_id: ended, registry=SimpleNamespace(find_run=lambda _: record)
    )
    assert cli._unrecorded(args, platform) is record  # type: ignore[arg-type]
    # and without a record after it ended (stopped before RecordRun): not found, saying how it ended
    platform.registry.find_run = lambda _: None
    with pytest.raises(NotFoundError, match="its execution ended SUCCEEDED at 2026-12-07T20:00:00 before recording"):
        cli._unrecorded(args, platform)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "said"),
    [
        ("http://127.0.0.1:5000", "no local target answers at http://127.0.0.1:5000: start one with `mlops local up`"),
        ("https://vpce-1.cloudformation.eu-west-1.vpce.amazonaws.com", "AWS did not answer: check the network"),
        (None, "AWS did not answer: check the network"),  # an outage, not a missing deployment
    ],
)
def test_an_unreachable_endpoint_is_told_apart_from_a_missing_deployment(
    endpoint: str | None, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra import operations

    class EndpointConnectionError(Exception):  # botocore's, by name (operations does not import botocore)
        pass

    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    message = str(operations._unreadable(EndpointConnectionError("Could not connect")))
    assert message.startswith("cannot read the stacks' outputs (Could not connect): " + said)
