"""A folder dataset checked in parts (the Distributed Map's children, run here one by one) on moto: the same
report, snapshot and fingerprint as one pass, its rows split into parts that training reads back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from functional_helpers import csv_bytes

from infra.local.example_data import churn_table
from mlcore.catalog import (
    CountPartRequest,
    PartsPlan,
    PipelineInput,
    RunFile,
    ValidateRequest,
    ValidateResult,
    part_key,
    run_key,
)
from mlcore.data import count_part, read_parquet, read_split, to_parquet, validate_step
from mlcore.errors import ArtifactIntegrityError, DataValidationError
from mlcore.registry import Registry
from mlcore.spec import ModelSpec, parse_spec
from mlcore.storage import ObjectStore

FOLDER = "datasets/churn/20250301T000000000000Z/"
REGIONS = ("north", "south", "east", "west")


def upload(data: ObjectStore, table: pa.Table) -> None:
    """20 files: 4 `region=` partitions of 5 files, the last of each a CSV."""
    for region in REGIONS:
        rows = table.filter(pc.equal(table.column("region"), region)).drop_columns(["region"])
        size = -(-rows.num_rows // 5)
        for part in range(5):
            chunk = rows.slice(part * size, size)
            name = f"{FOLDER}region={region}/part-{part}." + ("csv" if part == 4 else "parquet")
            data.put(name, csv_bytes(chunk) if part == 4 else to_parquet(chunk))


def dirty(table: pa.Table) -> pa.Table:
    """Out-of-range ages and unknown plans, here and there."""
    ages, plans = table.column("age").to_pylist(), table.column("plan").to_pylist()
    for row in range(0, table.num_rows, 97):
        ages[row] = 150
    for row in range(7, table.num_rows, 131):
        plans[row] = "platinum"
    table = table.set_column(table.column_names.index("age"), "age", pa.array(ages))
    return table.set_column(table.column_names.index("plan"), "plan", pa.array(plans))


Step = Callable[..., ValidateResult | PartsPlan]


@pytest.fixture
def step(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec
) -> Callable[[str, str], ValidateResult]:
    """`run(run_id, distributed)`: the validate step for the folder; in parts, each child then the merge."""

    def run(run_id: str, distributed: str) -> ValidateResult:
        raw = churn_spec.model_dump(mode="json")
        raw["data"] = {**raw["data"], "distributed": distributed}
        registry.put_spec(parse_spec(raw), actor="test")
        request = ValidateRequest(
            request=PipelineInput(model_name="churn", dataset_uri=data.uri(FOLDER)), run_id=run_id
        )
        stores: dict[str, Any] = {"registry": registry, "data": data, "artifacts": artifacts, "capture": artifacts}
        first = validate_step(request, **stores, part_bytes=5_000)  # a file or two per part
        if isinstance(first, ValidateResult):
            return first
        items = json.loads(artifacts.get(first.items_key))
        assert len(items) == first.parts > 5
        for item in items:
            count_part(
                CountPartRequest(model_name="churn", run_id=run_id, part=item["part"]),
                registry=registry, data=data, artifacts=artifacts, batch_rows=50,
            )  # fmt: skip
        merged = validate_step(request.model_copy(update={"merge": True}), **stores)
        assert isinstance(merged, ValidateResult)
        return merged

    return run


def report(artifacts: ObjectStore, run_id: str) -> dict[str, Any]:
    document = json.loads(artifacts.get(run_key("churn", run_id, RunFile.VALIDATION_JSON)))
    return {key: document[key] for key in ("rows", "columns", "failures")}


def test_a_dataset_checked_in_parts_is_the_dataset_one_pass_checks(
    step: Callable[[str, str], ValidateResult], data: ObjectStore, artifacts: ObjectStore
) -> None:
    # GIVEN a folder of 20 files in hive partitions
    table = churn_table(1500, seed=11)
    upload(data, table)
    # WHEN it is validated in one pass, and in parts (each read 50 rows at a time)
    single, parts = step("one-pass", "never"), step("in-parts", "always")
    # THEN the same report, the same snapshot of the same files, the same fingerprint
    assert report(artifacts, "in-parts") == report(artifacts, "one-pass")
    assert json.loads(artifacts.get(run_key("churn", "in-parts", RunFile.VALIDATION_JSON)))["in_parts"] is True
    assert (parts.dataset.sha256, parts.fingerprint, parts.rows) == (single.dataset.sha256, single.fingerprint, 1500)
    # and training reads every clean row back, split about as one pass splits them
    train, holdout = read_split(artifacts, parts.train), read_split(artifacts, parts.holdout)
    assert train.num_rows + holdout.num_rows == 1500
    assert 0.15 < holdout.num_rows / 1500 < 0.25  # holdout_fraction 0.2, each row drawn
    assert sorted(train.column_names) == sorted(read_split(artifacts, single.train).column_names)
    assert sorted(pa.concat_tables([train, holdout]).column("tenure_months").to_pylist()) == sorted(
        table.column("tenure_months").cast(pa.float64()).to_pylist()
    )


def test_a_dataset_that_breaks_the_contract_in_parts_reports_what_one_pass_does(
    step: Callable[[str, str], ValidateResult], data: ObjectStore, artifacts: ObjectStore
) -> None:
    upload(data, dirty(churn_table(1500, seed=12)))
    with pytest.raises(DataValidationError, match="breaks the contract") as single:
        step("one-pass", "never")
    with pytest.raises(DataValidationError, match="breaks the contract") as parts:
        step("in-parts", "always")
    assert str(parts.value).replace("in-parts", "") == str(single.value).replace("one-pass", "")
    assert re.search(r"categories\(plan\): \d+ values outside .* \(in region=\w+/part-\d\.\w+: \d", str(parts.value))
    found = report(artifacts, "in-parts")
    assert found == report(artifacts, "one-pass")
    assert {f["check"] for f in found["failures"]} == {"range", "categories"}


def test_a_file_without_a_column_is_named_in_parts_as_in_one_pass(
    step: Callable[[str, str], ValidateResult], data: ObjectStore, artifacts: ObjectStore
) -> None:
    upload(data, churn_table(1500, seed=14))
    lacking = f"{FOLDER}region=west/part-2.parquet"
    data.put(lacking, to_parquet(read_parquet(data.get(lacking)).drop_columns(["age"])))
    with pytest.raises(DataValidationError, match="breaks the contract") as single:
        step("one-pass", "never")
    with pytest.raises(DataValidationError, match="breaks the contract") as parts:
        step("in-parts", "always")
    assert str(parts.value).replace("in-parts", "") == str(single.value).replace("one-pass", "")
    assert "missing values in a non-nullable column (in region=west/part-2.parquet: no column age)" in str(parts.value)


@pytest.fixture
def in_parts(registry: Registry, data: ObjectStore, artifacts: ObjectStore, churn_spec: ModelSpec) -> dict[str, Any]:
    """The churn spec with `data.distributed: always` registered; the validate step's stores."""
    raw = churn_spec.model_dump(mode="json")
    raw["data"] = {**raw["data"], "distributed": "always"}
    registry.put_spec(parse_spec(raw), actor="test")
    return {"registry": registry, "data": data, "artifacts": artifacts, "capture": artifacts}


def test_a_part_that_failed_is_named_and_nothing_is_split(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, in_parts: dict[str, Any]
) -> None:
    upload(data, churn_table(800, seed=13))
    request = ValidateRequest(request=PipelineInput(model_name="churn", dataset_uri=data.uri(FOLDER)), run_id="r1")
    stores = in_parts
    plan = validate_step(request, **stores, part_bytes=5_000)
    assert isinstance(plan, PartsPlan)
    # GIVEN one part whose file is not a dataset, and one part that never ran
    plan_document = json.loads(artifacts.get(run_key("churn", "r1", RunFile.PARTS_PLAN)))
    broken = plan_document["parts"]["00002"][0]
    data.put(broken, b"not parquet")
    for item in json.loads(artifacts.get(plan.items_key))[:-1]:
        try:
            count_part(CountPartRequest(model_name="churn", run_id="r1", part=item["part"]), registry=registry,
                       data=data, artifacts=artifacts, batch_rows=1000)  # fmt: skip
        except DataValidationError:
            assert item["part"] == "00002"
    # WHEN the parts are merged THEN each is named with what it failed with
    with pytest.raises(DataValidationError) as failed:
        validate_step(request.model_copy(update={"merge": True}), **stores)
    message = str(failed.value)
    assert f"part 00002: DataValidationError: dataset '{broken}' cannot be read" in message
    assert f"part {plan.parts - 1:05d}: no result (its child did not finish)" in message
    assert artifacts.list_keys(run_key("churn", "r1", RunFile.INPUTS)) == []
    assert json.loads(artifacts.get(part_key("churn", "r1", "00002", "failure.json")))["error_type"] == (
        "DataValidationError"
    )


def test_a_split_part_changed_after_validation_is_refused(
    step: Callable[[str, str], ValidateResult], data: ObjectStore, artifacts: ObjectStore
) -> None:
    upload(data, churn_table(800, seed=14))
    result = step("in-parts", "always")
    [first, *_] = sorted(artifacts.list_keys(run_key("churn", "in-parts", RunFile.TRAIN_PARTS)))
    artifacts.put(first, to_parquet(churn_table(5, seed=1)))
    with pytest.raises(ArtifactIntegrityError, match="the validate step recorded"):
        read_split(artifacts, result.train)


def test_the_merge_records_the_dataset_the_parts_were_planned_from_not_a_newer_one(
    registry: Registry, data: ObjectStore, artifacts: ObjectStore, in_parts: dict[str, Any]
) -> None:
    upload(data, churn_table(800, seed=15))
    request = ValidateRequest(request=PipelineInput(model_name="churn"), run_id="r1")  # the newest dataset
    stores = in_parts
    plan = validate_step(request, **stores, part_bytes=50_000)
    assert isinstance(plan, PartsPlan)
    for item in json.loads(artifacts.get(plan.items_key)):
        count_part(CountPartRequest(model_name="churn", run_id="r1", part=item["part"]), registry=registry,
                   data=data, artifacts=artifacts, batch_rows=1000)  # fmt: skip
    # WHEN a newer dataset lands while the parts are counted
    data.put("datasets/churn/20990101T000000000000Z.parquet", to_parquet(churn_table(600, seed=16)))
    merged = validate_step(request.model_copy(update={"merge": True}), **stores)
    # THEN the run's source is the folder it counted
    assert isinstance(merged, ValidateResult)
    assert [(s.uri, s.rows) for s in merged.sources] == [(data.uri(FOLDER), 800)]
