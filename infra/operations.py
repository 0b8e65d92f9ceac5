"""What the `mlops` CLI and the demo do against a deployment, through boto3's standard configuration.

The same code talks to AWS or to the local target: point `AWS_ENDPOINT_URL` at the local target
and every call goes there. boto3 and each client load on first use, so a light command pays only
for what it calls.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlcore.catalog import (
    APPROVE_ROUTE,
    ARCHIVE_ROUTE,
    DATA_SUFFIXES,
    DEFAULT_PREFIX,
    FEEDBACK_ROUTE,
    GATEWAY_RESPONSE,
    OUTPUTS,
    PREDICT_ROUTE,
    REJECT_ROUTE,
    STACKS,
    Artifact,
    BatchRequest,
    FailedStep,
    Route,
    StepError,
    code_key,
    current_code_key,
    dataset_folder,
    dataset_key,
    dataset_prefix,
    granting_duty,
    limits,
    stack_name,
)
from mlcore.errors import ForbiddenError, MlopsError, SpecError
from mlcore.registry import Registry, VersionStatus, ViewRecord
from mlcore.spec import FeatureView, ModelSpec, load_view
from mlcore.storage import ObjectStore

if TYPE_CHECKING:
    from mlcore.catalog import ViewMaterialized
    from mlcore.features import IngestResult

STATUS_ROUTES: dict[VersionStatus, Route] = {
    VersionStatus.APPROVED: APPROVE_ROUTE,
    VersionStatus.REJECTED: REJECT_ROUTE,
    VersionStatus.ARCHIVED: ARCHIVE_ROUTE,
}


class DeploymentNotFoundError(RuntimeError):
    """The CLI cannot tell which deployment to talk to."""


@dataclass(frozen=True)
class SpecChange:
    """A spec as the API registered it (or keeps it, waiting for an approver: `answer["applied"]` is False)."""

    spec: ModelSpec
    answer: dict[str, Any]


@dataclass(frozen=True)
class AuditExport:
    """A subject's audit records as exported under Object Lock, against what its audit table holds."""

    source: str  # the export's S3 prefix
    records: list[dict[str, Any]]
    in_table: int
    missing_from_table: list[dict[str, Any]]  # exported records the table no longer has (none, where nobody may delete)


def boto3_client(service: str) -> Any:
    """A boto3 client with the standard configuration (boto3 is imported on first use)."""
    import boto3

    make: Any = boto3.client  # by service name, which the typed overloads do not take
    return make(service)


class StillRunningError(TimeoutError):
    """An execution waited for longer than the wait allows: it goes on (not a platform too busy to answer)."""


@dataclass(frozen=True)
class Resources:
    """The deployed resources the CLI works with."""

    registry_table: str
    data_bucket: str
    artifacts_bucket: str
    capture_bucket: str
    training_state_machine: str
    monitor_state_machine: str
    retraining_state_machine: str
    batch_state_machine: str | None
    alerts_topic: str | None
    api_url: str | None
    api_key: str | None = None
    online_features_table: str | None = None
    features_database: str | None = None
    datasets_database: str | None = None  # tables a spec may train on (data.source.glue_table)
    runs_database: str | None = None  # the run export's (table `runs`)
    audit_bucket: str | None = None

    @classmethod
    def discover(cls, local_state: dict[str, Any] | None = None) -> Resources:
        """From MLOPS_<NAME> variables, else the local target's state file, else the stacks' outputs.

        Both name resources as the catalog's `OUTPUTS` do: `{resource: value}`.
        """
        overrides = {
            o.resource: os.environ[f"MLOPS_{o.resource.upper()}"]
            for o in OUTPUTS
            if os.environ.get(f"MLOPS_{o.resource.upper()}")
        }
        if local_state:
            values: dict[str, Any] = dict(local_state["outputs"])
        elif all(o.resource in overrides for o in OUTPUTS if o.required):
            values = {}  # the variables name everything: no need to ask CloudFormation
        else:
            values = _stack_outputs()
        values.update(overrides)
        missing = [o.resource for o in OUTPUTS if o.required and not values.get(o.resource)]
        if missing:
            raise DeploymentNotFoundError(
                f"cannot find {missing}: deploy with `cdk deploy --all`, start `mlops local up`, or set MLOPS_<NAME>"
            )
        return cls(
            registry_table=values["registry_table"],
            data_bucket=values["data_bucket"],
            artifacts_bucket=values["artifacts_bucket"],
            capture_bucket=values["capture_bucket"],
            training_state_machine=values["training_state_machine"],
            monitor_state_machine=values["monitor_state_machine"],
            retraining_state_machine=values["retraining_state_machine"],
            batch_state_machine=values.get("batch_state_machine"),
            alerts_topic=values.get("alerts_topic"),
            api_url=values.get("api_url"),
            api_key=os.environ.get("MLOPS_API_KEY"),
            online_features_table=values.get("online_features_table"),
            features_database=values.get("features_database"),
            datasets_database=values.get("datasets_database"),
            runs_database=values.get("runs_database"),
            audit_bucket=values.get("audit_bucket"),
        )


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})  # an endpoint there is a local target's


def _unreadable(exc: Exception) -> DeploymentNotFoundError:
    """The stacks' outputs cannot be read at all: why, and what to do (named by class: botocore is not imported
    here)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if type(exc).__name__ == "EndpointConnectionError" and urllib.parse.urlsplit(endpoint).hostname in LOOPBACK:
        todo = f"no local target answers at {endpoint}: start one with `mlops local up` (or unset AWS_ENDPOINT_URL)"
    elif type(exc).__name__ == "EndpointConnectionError":
        todo = "AWS did not answer: check the network, the region and AWS_ENDPOINT_URL (if set)"
    elif type(exc).__name__ == "NoRegionError":
        todo = "set AWS_DEFAULT_REGION to the deployment's region, or start `mlops local up` and run its export line"
    else:
        todo = "deploy with `cdk deploy --all` and use its account's credentials, or start `mlops local up`"
    return DeploymentNotFoundError(f"cannot read the stacks' outputs ({exc}): {todo}")


def _stack_outputs() -> dict[str, str]:
    """The outputs of the deployment's own stacks (`MLOPS_PREFIX`, default `mlops`: `MlopsData`, …), never another
    stack's: a second deployment, or any stack with an `ApiUrl`, would send the CLI's calls elsewhere."""
    prefix = os.environ.get("MLOPS_PREFIX") or DEFAULT_PREFIX
    found: dict[str, str] = {}
    wanted = {o.key: o.resource for o in OUTPUTS}
    try:
        cloudformation = boto3_client("cloudformation")
    except Exception as exc:  # no region: say what to do instead
        raise _unreadable(exc) from exc
    for part in STACKS:
        name = stack_name(prefix, part)
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except cloudformation.exceptions.ClientError as exc:  # not deployed (yet): the required outputs say so
            if "does not exist" not in str(exc):
                raise DeploymentNotFoundError(f"cannot read the outputs of stack {name} ({exc})") from exc
            continue
        except Exception as exc:  # no credentials or no CloudFormation: say what to do instead
            raise _unreadable(exc) from exc
        for output in stacks[0].get("Outputs", []):
            if output["OutputKey"] in wanted:
                found[wanted[output["OutputKey"]]] = output["OutputValue"]
    return found


def _region(url: str, configured: str | None) -> str:
    """The region a request to the API is signed for: API Gateway's host names it; else the configured one."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if ".execute-api." in host:
        return host.split(".execute-api.", 1)[1].split(".", 1)[0]
    return configured or "us-east-1"


def api_error(answer: dict[str, Any], status: int) -> MlopsError:
    """The core's error an API error document stands for (by its code), with the API's message."""
    import mlcore.errors

    found = answer.get("error")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    code, message = str(detail.get("code", "")), str(detail.get("message") or answer.get("message") or answer)
    kinds = [k for k in vars(mlcore.errors).values() if isinstance(k, type) and issubclass(k, MlopsError)]
    kind = next((k for k in kinds if k.code == code), None)
    if kind is None:
        error = MlopsError(f"HTTP {status} {code}: {message}".replace("  ", " "))
        error.status = status
        return error
    return kind(message, field=detail.get("field"))


def _with_policy(error: MlopsError, route: Route, model: str | None) -> MlopsError:
    """API Gateway's refusal of a caller without the route's policy, with the managed policies that grant it."""
    duty = granting_duty(route)
    if (
        not isinstance(error, ForbiddenError)
        or duty is None
        or error.message != GATEWAY_RESPONSE["ACCESS_DENIED"].message
    ):
        return error  # another refusal (the proposer approving their own change) says why itself
    # a model named in mlops:governedModels has policies of its own
    alone = f"; or <prefix>-{duty}-{model}, if '{model}' is in mlops:governedModels" if model else ""
    return ForbiddenError(
        f"{error.message}: {route.method} {route.path} needs the {duty} managed policy attached to the caller (the "
        f"serving stack's {duty}PolicyArn output{alone})",
        field=error.field,
    )


def failure_from_history(events: list[dict[str, Any]], execution: dict[str, Any]) -> FailedStep | None:
    """The failed step of an execution, from its history (for executions whose Fail state names no cause)."""
    entered = ""
    for event in events:
        if "stateEnteredEventDetails" in event:
            entered = event["stateEnteredEventDetails"]["name"]
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails")
        if details:
            return FailedStep(
                pipeline="",
                step=entered,
                model_name=json.loads(execution.get("input") or "{}").get("model_name"),
                run_id=execution.get("name"),
                error=StepError(Error=details.get("error", ""), Cause=details.get("cause", "")),
            )
    return None


def _is_row(document: dict[str, Any]) -> bool:
    """Whether an object is one row of feature values rather than a request body (or a mistyped one)."""
    scalars = all(value is None or isinstance(value, str | int | float) for value in document.values())
    return bool(document) and scalars and not {"instances", "dataframe_split"} & document.keys()


def read_labels(path: Path, *, numeric: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """Feedback labels from a CSV (`request_id,row_index,label`; no `row_index`: row 0) or JSON Lines file, each
    with the line of the file it is on (the API's refusal of an item is told by its line). `numeric`: a regressor's
    labels, which a CSV holds as text, are numbers.

    Raises
    ------
    ValueError
        Naming the file, and the line and column where a value is wrong.
    """
    text = path.read_text()
    if path.suffix == ".jsonl":
        return _json_lines_labels(path, text)
    if path.suffix != ".csv":
        raise ValueError(f"{path}: labels come as .csv (request_id,row_index,label) or .jsonl")
    return _csv_labels(path, text, numeric=numeric)


def _json_lines_labels(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            label = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
        if not isinstance(label, dict):
            raise ValueError(f"{path}, line {number}: expected an object with request_id, row_index and label")
        labels.append((number, label))
    return labels


def _csv_labels(path: Path, text: str, *, numeric: bool) -> list[tuple[int, dict[str, Any]]]:
    import csv

    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = {"request_id", "label"} - set(header)
    if missing:
        raise ValueError(f"{path}: the header lacks {sorted(missing)} (request_id,row_index,label)")
    others = [name for name in header if name not in ("request_id", "row_index", "label")]
    if "row_index" not in header and others:  # `row` for row_index would label row 0 of every request
        raise ValueError(
            f"{path}: the header has {others} but no row_index: name the row column row_index (without one, every "
            "label is for row 0 of its request; drop the other columns then)"
        )
    labels = []
    width = len(reader.fieldnames or [])
    for row in reader:  # the header is line 1
        cells = width + len(row.get(None) or []) - sum(value is None for key, value in row.items() if key is not None)
        if cells != width:  # DictReader files extra cells under None and fills short rows with None
            raise ValueError(
                f"{path}, line {reader.line_num}: {cells} cells where the header has {width} (a comma in a label "
                "needs quotes)"
            )
        row_index = (row.get("row_index") or "0").strip()
        if not row_index.isdigit():
            raise ValueError(
                f"{path}, line {reader.line_num}: row_index: expected a row number >= 0, got {row_index!r}"
            )
        label: str | float = row["label"]
        if numeric:
            try:
                label = float(row["label"])
            except ValueError:
                label = math.nan
            if not math.isfinite(label):
                raise ValueError(
                    f"{path}, line {reader.line_num}: label: expected a finite number (the model is a regressor), got "
                    f"{row['label']!r}"
                )
        labels.append((reader.line_num, {"request_id": row["request_id"], "row_index": int(row_index), "label": label}))
    return labels


def _with_rows(suffix: str, rows: bool, source: str) -> str:
    """A file uploaded as the dataset has rows: one with only its columns' names would train on none."""
    if not rows:
        raise ValueError(f"{source}: the file has no rows, only its columns' names")
    return suffix


def data_suffix(path: Path) -> str:
    """A data file's suffix as the pipeline names it (`.csv.gz` whole)."""
    return ".csv.gz" if path.name.endswith(".csv.gz") else path.suffix


def folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """A folder's data files (the suffixes the pipeline reads, case-sensitive as S3 keys are) and its other files
    (hidden ones left out), each sorted."""
    found = sorted(f for f in folder.rglob("*") if f.is_file())
    data = [f for f in found if f.name.endswith(DATA_SUFFIXES)]
    return data, [f for f in found if not f.name.endswith(DATA_SUFFIXES) and not f.name.startswith(".")]


def data_columns(stream: BinaryIO, suffix: str, source: str) -> tuple[list[str], bool]:
    """The column names of a data file, and whether it has a row: a CSV's header line (and the next line, to see a
    row), a parquet file's schema and row count (nothing else is read).

    Raises
    ------
    ValueError
        Naming `source`, when the file is not what its suffix says.
    """
    import csv
    import gzip
    import io

    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            metadata = pq.read_metadata(stream)
            columns, rows = list(metadata.schema.to_arrow_schema().names), metadata.num_rows > 0
        else:
            raw = gzip.GzipFile(fileobj=stream) if suffix == ".csv.gz" else stream
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            columns = next(csv.reader([text.readline()]), [])
            rows = any(line.strip() for line in text)  # stops at the first line with a value
    # pyarrow's ArrowInvalid is a ValueError, as are csv.Error's NUL and a bad gzip's header
    except (OSError, EOFError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise ValueError(f"{source}: not a readable {suffix} file ({exc})") from exc
    return columns, rows


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """A spec's (or view's) error, prefixed with the file it is in."""
    try:
        yield
    except SpecError as exc:
        raise SpecError(f"{path}: {exc.message}", field=exc.field) from exc


def read_json(text: str, source: str) -> Any:
    """A JSON document the user gave (a file's text, an argument); a ValueError naming `source` if it is none."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno}, column {exc.colno})") from exc


STILL_EVERY = 30.0  # seconds in one state between two "still in" reports of `Platform.wait`
POLL_FIRST, POLL_MOST = 0.25, 2.0  # seconds between two looks at an execution: at a new state, and at the most


class Platform:
    """Operations on one deployment."""

    def __init__(self, resources: Resources, client: Callable[[str], Any] | None = None) -> None:
        self.resources = resources
        self._make_client = client or boto3_client
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """One client per service, made on first use."""
        if service not in self._clients:
            self._clients[service] = self._make_client(service)
        return self._clients[service]

    @functools.cached_property
    def registry(self) -> Registry:
        return Registry(self.resources.registry_table, self.client("dynamodb"))

    @functools.cached_property
    def data(self) -> ObjectStore:
        return ObjectStore(self.resources.data_bucket, self.client("s3"))

    @functools.cached_property
    def artifacts(self) -> ObjectStore:
        return ObjectStore(self.resources.artifacts_bucket, self.client("s3"))

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    # -- models and data ----------------------------------------------------------------------
    def register_spec(self, path: Path) -> SpecChange:
        """Register a model spec through the API's IAM route (the audit records the caller and the diff; a change
        that loosens the model's governance waits for an approver); `features_from` resolve against the views."""
        from mlcore.catalog import SPEC_ROUTE
        from mlcore.spec import parse_spec, yaml_mapping

        with _naming(path):
            document = yaml_mapping(path.read_text(), "spec")
            spec = parse_spec(document, views=self._registered_view)  # a malformed spec fails here, by field
            if spec.batch.input or spec.batch.output:  # where a batch's plan would refuse them, at each tick
                from mlcore.batch import check_batch_spec

                check_batch_spec(spec.batch, self.resources.data_bucket)
                self._own_output(spec)
            # the API's own checks (an estimator parameter's name, the governance rules) name the file too
            answer = self.govern(SPEC_ROUTE, {"spec": document}, name=spec.name)
        return SpecChange(parse_spec(answer["spec"]), answer)

    def _own_output(self, spec: ModelSpec) -> None:
        """A model's batch output is its own: another model's there would mix their predictions in one folder."""
        from mlcore.batch import overlapping

        output = spec.batch.output or ""
        for other in self.registry.list_specs() if output else []:
            theirs = other.batch.output or ""
            if theirs and other.name != spec.name and overlapping(output, theirs):
                raise SpecError(
                    f"batch.output: {output} is where model '{other.name}' writes its batches ({theirs}): the two "
                    "models' predictions would be read as one table; give each model its own prefix",
                    field="batch.output",
                )

    def _registered_view(self, name: str) -> FeatureView | None:
        record = self.registry.find_view(name)
        return record.view if record else None

    # -- the feature store ---------------------------------------------------------------------
    def register_view(self, path: Path) -> ViewRecord:
        with _naming(path):
            view = load_view(path.read_text())
        return self.registry.put_view(view, self.principal)

    def _deployed(self, resource: str, since: str) -> str:
        """An optional resource's name; a deployment from before it has none: say so."""
        value = getattr(self.resources, resource)
        if not value:
            raise DeploymentNotFoundError(
                f"this deployment has no {resource} (deployed before {since}): `cdk deploy --all` again"
            )
        return str(value)

    @functools.cached_property
    def principal(self) -> str:
        """The caller's IAM principal (its ARN), as the governance routes record a model's changes' actor."""
        return str(self.client("sts").get_caller_identity()["Arn"])

    def ingest_features(self, name: str, source: str | None = None) -> IngestResult:
        """Check rows against a view's contract and append them to its offline store: from a local file or
        folder, an s3:// file or prefix, or (no source) the view's declared source."""
        from mlcore.data import concat_dataset, read_table
        from mlcore.features import ingest_rows, read_source, source_rows

        view = self.registry.get_view(name).view
        database = self._deployed("features_database", "the feature store")
        if source is None:
            import boto3

            table = read_source(view, s3=self.client("s3"), boto3_session=boto3.Session())
        elif source.startswith("s3://"):
            table = source_rows(source, view, self.client("s3"))
        else:
            path = Path(source)
            files = sorted(f for f in path.rglob("*") if f.name.endswith(DATA_SUFFIXES)) if path.is_dir() else [path]
            if not files:
                raise FileNotFoundError(f"{path}: no .csv, .csv.gz or .parquet file in the folder")
            contract = view.contract_spec()
            table = concat_dataset([read_table(f.read_bytes(), f.name, contract) for f in files])
        return ingest_rows(view, table, data=self.data, glue=self.client("glue"), database=database)

    def materialize_features(self, name: str) -> ViewMaterialized:
        """Bring a view's online store up to date with what was ingested since the last time."""
        from mlcore.features import materialize_view

        table = self._deployed("online_features_table", "the feature store")
        return materialize_view(
            name, registry=self.registry, data=self.data, dynamodb=self.client("dynamodb"), table=table
        )

    def set_status(self, name: str, version: int, status: VersionStatus, reason: str = "") -> dict[str, Any]:
        """Approve, reject or archive a version through the API's IAM route: its answer (`serving` says in words
        what it did to serving)."""
        route = STATUS_ROUTES[status]
        return dict(self.govern(route, {"reason": reason}, name=name, version=str(version)))

    def export_audit(self, name: str, *, view: bool = False) -> AuditExport:
        """The exported audit records of a model (or a feature view), oldest first, checked against the table."""
        from mlcore.catalog import audit_subject_prefix
        from mlcore.registry import exported_records

        bucket = self._deployed("audit_bucket", "the audit export")
        trail = self.registry.view_audit_trail(name) if view else self.registry.audit_trail(name)
        if not trail and not view:
            self.registry.get_spec(name)  # an unknown model is an error, not an empty export
        subject = f"{'views' if view else 'models'}/{name}"
        records = list(exported_records(ObjectStore(bucket, self.client("s3")), subject))
        in_table = {(r.at, r.action, r.actor) for r in trail}
        missing = [line for line in records if (line.get("at"), line.get("action"), line.get("actor")) not in in_table]
        return AuditExport(f"s3://{bucket}/{audit_subject_prefix(subject)}", records, len(trail), missing)

    def upload_dataset(self, model_name: str, data: bytes, suffix: str, source: str = "the dataset") -> str:
        """Put a dataset where the pipeline looks for the newest one: datasets/<model>/<time>.<suffix>.

        Raises
        ------
        ValueError
            Naming `source`: not a data file, empty, or without a column the spec needs.
        """
        import io

        suffix = _with_rows(*self._checked_dataset(model_name, io.BytesIO(data), len(data), suffix, source), source)
        return self.data.put(dataset_key(model_name, datetime.now(UTC), suffix), data).uri

    def upload_dataset_file(self, model_name: str, path: Path, progress: Callable[[int], None] | None = None) -> str:
        """`upload_dataset` of a local file, streamed (in parts when large) rather than read into memory; `progress`
        is called with each number of bytes sent."""
        suffix = data_suffix(path)
        with path.open("rb") as stream:
            checked = self._checked_dataset(model_name, stream, path.stat().st_size, suffix, str(path))
        suffix = _with_rows(*checked, str(path))
        key = dataset_key(model_name, datetime.now(UTC), suffix)
        return self.data.upload(key, str(path), progress=progress).uri

    def _checked_dataset(
        self,
        model_name: str,
        stream: BinaryIO,
        size: int,
        suffix: str,
        source: str,
        *,
        partitions: Iterable[str] = (),
        spec: ModelSpec | None = None,
    ) -> tuple[str, bool]:
        """The dataset's suffix (with its dot), once it is known to be a data file with the columns the spec reads
        (`partitions`: the columns its `key=value` folders give it; `spec`: the model's, read once for a folder), and
        whether it has a row (a folder's file may have none: a folder's other files must)."""
        spec = spec or self.registry.get_spec(model_name)
        suffix = "." + suffix.lstrip(".")
        if suffix not in DATA_SUFFIXES:
            raise ValueError(f"{source}: a dataset is a {', '.join(DATA_SUFFIXES)} file, or a folder of them")
        if not size:
            raise ValueError(f"{source}: the file is empty")
        joined = spec.view_features  # the pipeline joins them in from the feature store, by key and time
        keys = [entity for binding in spec.views.values() for entity in binding.entities]
        time = [spec.data.timestamp_column] if spec.views and spec.data.timestamp_column else []
        wanted = list(dict.fromkeys([*(n for n in spec.feature_names if n not in joined), spec.target, *keys, *time]))
        names, rows = data_columns(stream, suffix, source)
        columns = {*names, *partitions}
        missing = [name for name in wanted if name not in columns]
        if missing:
            from mlcore.data import named_like  # a misspelt column's hint: `Age` for `age`

            named = ", ".join(f"{name!r}{named_like(name, columns)}" for name in missing)
            raise ValueError(f"{source}: no column {named}, which the spec of '{model_name}' needs")
        return suffix, rows

    def upload_dataset_folder(self, model_name: str, folder: Path, on_file: Callable[[str], None] | None = None) -> str:
        """Put a folder of data files (hive partitions kept) where the pipeline looks for the newest dataset:
        datasets/<model>/<time>/<path inside the folder>. The last file written makes the folder the newest."""
        from mlcore.data import hive_partitions

        spec = self.registry.get_spec(model_name)
        files, _ = folder_files(folder)
        if not files:
            raise FileNotFoundError(f"{folder}: no .csv, .csv.gz or .parquet file in the folder")
        rows = False
        for file in files:  # every file checked before any is sent: a folder is uploaded whole or not at all
            partitions = hive_partitions(file.relative_to(folder).as_posix())  # the columns the pipeline adds
            with file.open("rb") as stream:
                size = file.stat().st_size
                _, has_rows = self._checked_dataset(
                    model_name, stream, size, data_suffix(file), str(file), partitions=partitions, spec=spec
                )
            rows = rows or has_rows  # a file of no rows (an empty partition) adds none: another must have some
        if not rows:
            raise ValueError(f"{folder}: no file in the folder has rows, only their columns' names")
        root = dataset_folder(model_name, datetime.now(UTC))
        for file in files:
            relative = file.relative_to(folder).as_posix()
            self.data.upload(root + relative, str(file))  # streamed, in parts when large
            if on_file is not None:
                on_file(relative)
        return self.data.uri(root)

    def upload_code(self, model_name: str, path: Path) -> Artifact:
        """Store a model's training code (a folder or a wheel) by its SHA-256; new runs train with it."""
        from mlcore.training import package_code

        self.registry.get_spec(model_name)
        filename, blob = package_code(path)
        stored = self.artifacts.put(code_key(model_name, hashlib.sha256(blob).hexdigest(), filename), blob)
        self.artifacts.put(current_code_key(model_name), stored.model_dump_json().encode(), "application/json")
        self.registry.audit(model_name, "code_uploaded", self.principal, {"sha256": stored.sha256, "uri": stored.uri})
        return stored

    # -- executions --------------------------------------------------------------------------
    def start_pipeline(
        self, model_name: str, dataset_uri: str | None = None, reason: str = "manual", *, force: bool = False
    ) -> str:
        """Start a training run through the API's IAM route (the run records its starter); `force` trains even when
        there is nothing new to learn. Its execution's ARN."""
        from mlcore.catalog import RUNS_ROUTE

        body = {"dataset_uri": dataset_uri, "reason": reason, "force": force}
        return str(self.govern(RUNS_ROUTE, body, name=model_name)["execution_arn"])

    def start_batch(self, request: BatchRequest) -> str:
        """Start scoring a batch, checked as its plan checks it; the execution's name is the batch's id (its files are
        named by it).

        Raises
        ------
        BadRequestError, NotFoundError
            As the plan step would (`mlcore.batch.check_batch`): nothing is started.
        """
        from mlcore.batch import batch_id_for, check_batch

        check_batch(request, registry=self.registry, data=self.data)  # a typo refused here rather than at its plan
        if not self.resources.batch_state_machine:
            raise DeploymentNotFoundError(
                "this deployment has no batch scoring: deploy this release with `cdk deploy --all`"
            )
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.resources.batch_state_machine,
                name=batch_id_for(datetime.now(UTC)),
                input=request.model_dump_json(exclude_none=True),
            )["executionArn"]
        )

    def start_monitor(self, *, force: bool = True, models: list[str] | None = None) -> str:
        """Fire the monitor schedule now (the same input the EventBridge rule sends, plus `force`)."""
        name = f"manual-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        payload = {"source": "manual", "force": force, "models": models or []}
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.resources.monitor_state_machine, name=name, input=json.dumps(payload)
            )["executionArn"]
        )

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Every event of an execution, oldest first (a search's trials can make thousands: all pages)."""
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        return [event for page in pages for event in page["events"]]

    def wait(  # noqa: PLR0917 (each a way of waiting)
        self,
        arn: str,
        on_step: Callable[[str], None] | None = None,
        timeout: float | None = 600,
        until: str | None = None,
        seen: int = 0,
        on_still: Callable[[str, float], None] | None = None,
    ) -> dict[str, Any]:
        """Wait for an execution, reporting each state it enters but its choices (they decide, do nothing), after
        the `seen` first (reported already); with `until`, only until it enters that state (one that waits for a
        person: the execution is then RUNNING). `on_still` is told every STILL_EVERY seconds that the execution is
        still in a state, and for how long (a Train step of a large dataset takes minutes); `timeout` None: no limit.
        """
        started = time.monotonic()
        current, since, told, pause = None, started, started, POLL_FIRST
        while True:
            execution = self.sfn.describe_execution(executionArn=arn)
            entered: list[str] = []
            if on_step or until or on_still:
                entered = [
                    e["stateEnteredEventDetails"]["name"]
                    for e in self.history(arn)
                    if "stateEnteredEventDetails" in e and e["type"] != "ChoiceStateEntered"
                ]
            if on_step:
                for step in entered[seen:]:
                    on_step(step)
            seen = len(entered)
            if execution["status"] != "RUNNING" or (until is not None and until in entered):
                return dict(execution)
            now = time.monotonic()
            if entered and entered[-1] != current:
                current, since, told, pause = entered[-1], now, now, POLL_FIRST
            if on_still and current and now - told >= STILL_EVERY:
                on_still(current, now - since)
                told = now
            if timeout is not None and now - started > timeout:
                raise StillRunningError(f"{arn} still running after {timeout:.0f} s; it goes on")
            time.sleep(pause)
            pause = min(POLL_MOST, pause * 1.5)  # a long state is asked after less often (its history is paged)

    def state_input(self, arn: str, state: str) -> dict[str, Any]:
        """The input of the last time an execution entered `state` (empty when it has not)."""
        for event in reversed(self.history(arn)):
            details = event.get("stateEnteredEventDetails")
            if details and details["name"] == state:
                return dict(json.loads(details.get("input") or "{}"))
        return {}

    def failure(self, execution: dict[str, Any]) -> str:
        """Why an execution failed, in the words of its failure report (the Fail state's cause)."""
        if execution.get("cause"):
            return str(execution["cause"])
        from mlcore.runs import describe_failure

        failed = failure_from_history(self.history(execution["executionArn"]), execution)
        if failed is None:
            return f"{execution.get('status')}: {execution.get('error') or 'no cause recorded'}"
        return describe_failure(failed, self.artifacts).message

    def training_execution(self, run_id: str) -> dict[str, Any] | None:
        """The training pipeline's execution of a run (a run's id is its execution's name); None when there is
        none."""
        from botocore.exceptions import ParamValidationError

        machine = self.resources.training_state_machine
        arn = f"{machine.replace(':stateMachine:', ':execution:', 1)}:{run_id}"
        try:
            return dict(self.sfn.describe_execution(executionArn=arn))
        # no such execution, or no such name (one too long for an ARN is refused before it is sent)
        except (self.sfn.exceptions.ExecutionDoesNotExist, self.sfn.exceptions.InvalidArn, ParamValidationError):
            return None

    def executions(self, state_machine: str, status: str | None = None) -> list[dict[str, Any]]:
        kwargs = {"stateMachineArn": state_machine, **({"statusFilter": status} if status else {})}
        return list(self.sfn.list_executions(**kwargs)["executions"])

    def execution_model(self, arn: str, models: list[str]) -> str | None:
        """The model an execution works for: its input's `model_name`, or (a retraining started by a data drop)
        the model whose datasets the dropped object is under; None for one that is for every model (a tick)."""
        document = json.loads(self.sfn.describe_execution(executionArn=arn).get("input") or "{}")
        if isinstance(document.get("model_name"), str):
            return str(document["model_name"])
        key = str(document.get("key") or "")  # DATA_DROP_INPUT's, the dropped object's
        return next((name for name in models if key.startswith(dataset_prefix(name))), None)

    # -- the API -----------------------------------------------------------------------------
    def predict(
        self, model_name: str, instances: list[dict[str, Any]] | dict[str, Any], timeout: float = 10
    ) -> tuple[int, dict[str, Any]]:
        """POST rows (`instances`), one row, or a whole request body (`dataframe_split` too) to the prediction route."""
        if isinstance(instances, dict) and _is_row(instances):
            instances = [instances]  # an object of feature values is one row (any other goes as it is)
        body = instances if isinstance(instances, dict) else {"instances": instances}
        return self.call_api("POST", PREDICT_ROUTE.url_path(name=model_name), body, timeout)

    def send_feedback(self, model_name: str, labels: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """POST the labels in batches the API accepts; yields each batch's answer."""
        for start in range(0, len(labels), limits.MAX_FEEDBACK):
            batch = labels[start : start + limits.MAX_FEEDBACK]
            yield self.call_api("POST", FEEDBACK_ROUTE.url_path(name=model_name), {"feedback": batch})

    def govern(self, route: Route, body: Any = None, timeout: float = 30, **params: str) -> dict[str, Any]:
        """Call a governance route, signed with SigV4 by the caller's AWS credentials (boto3's standard chain):
        API Gateway authorises it with IAM and the registry records the principal it authenticated.

        Raises
        ------
        MlopsError
            The API's error, as the core's error of that code (ConflictError for a status the rules forbid).
        """
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if not self.resources.api_url:
            raise DeploymentNotFoundError("no API URL: set MLOPS_API_URL")
        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise DeploymentNotFoundError("no AWS credentials to sign the request with (aws configure, or a role)")
        url = self.resources.api_url.rstrip("/") + route.url_path(**params)
        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(method=route.method, url=url, data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", _region(url, session.region_name)).add_auth(
            request
        )
        status, answer = self._send(
            urllib.request.Request(url, data=data, method=route.method, headers=dict(request.headers.items())),
            timeout,
        )
        if status >= 400:
            raise _with_policy(api_error(answer, status), route, params.get("name"))
        return answer

    def call_api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> tuple[int, dict[str, Any]]:
        if not self.resources.api_url:
            raise DeploymentNotFoundError("no API URL: set MLOPS_API_URL")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.resources.api_url.rstrip("/") + path,
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                **({"x-api-key": self.resources.api_key} if self.resources.api_key else {}),
            },
        )
        return self._send(request, timeout)

    @staticmethod
    def _send(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
