"""The model registry: specs, versions, aliases and an audit trail in DynamoDB; artifacts in S3.

The registry table is keyed `pk = MODEL#<name>` and `sk` = `SPEC`, `COUNTER`, `VERSION#<n>`,
`ALIAS#<alias>`, `APPROVAL#<n>`, `MONITOR` or `RUN#<start time>#<run id>`; `pk = RUNID#<run id>` finds
a run's model; `pk = VIEW#<name>` holds a feature view (`sk = VIEW`). Each item's document is JSON in
`doc` (a `registry.records` model), so floats survive without Decimal conversions; `rev`, the revision
conditions test, is top-level. Every write is conditional (on the revision read, or on the item not
existing yet) and every change of a spec, view, version or alias is written in one transaction with
its audit record.

The audit records live in their own table (`catalog.audit_table_name`), keyed alike (`pk` the model's
or view's, `sk = AUDIT#<time>#<id>`): append-only, every write `attribute_not_exists`, and no role may
update or delete there; its stream is exported to the Object Lock bucket (`export_audit`).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from mlcore.catalog import ViewBinding, ViewDriftCheck, audit_table_name
from mlcore.errors import ConflictError, ModelNotFoundError, NotFoundError
from mlcore.registry.records import (
    CHALLENGER,
    CHAMPION,
    SERVED_BEFORE_KEPT,
    STATUS_CHANGES,
    AliasRecord,
    AuditRecord,
    ModelVersion,
    MonitorState,
    Record,
    RolloutMode,
    RunRecord,
    SpecProposal,
    SpecRecord,
    VersionStatus,
    ViewRecord,
    is_rollback_from,
    no_fallback,
    rollback_reason,
    served_before,
    utc_now,
)
from mlcore.spec import FeatureView, ModelSpec, spec_diff

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTE_DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]


@dataclass(frozen=True)
class ViewReader:
    """A model or a version that reads a view: what of it, each feature's type as it reads it, and how to let go."""

    who: str
    binding: ViewBinding
    kinds: dict[str, str]
    way_out: str


def _named(version: int | None) -> str:
    return f"v{version}" if version is not None else "no version"


def create_registry_table(client: DynamoDBClient, name: str) -> None:
    """Create a registry table and its audit table (for tests and benchmarks; deployments get theirs from the CDK
    app)."""
    for table in (name, audit_table_name(name)):
        client.create_table(
            TableName=table,
            KeySchema=KEY_SCHEMA,  # type: ignore[arg-type]
            AttributeDefinitions=ATTRIBUTE_DEFINITIONS,  # type: ignore[arg-type]
            BillingMode="PAY_PER_REQUEST",
        )


R = TypeVar("R", bound=Record)
SPEC, COUNTER, MONITOR, VIEW = "SPEC", "COUNTER", "MONITOR", "VIEW"
SPEC_PROPOSAL = "SPEC_PROPOSAL"
# Why DynamoDB cancels a transaction when another write got there first. Any other reason (throttling, capacity)
# is the service's: the error propagates, and the caller's handling of AWS errors answers 503 or retries.
LOST_RACE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
# Attempts of a read-modify-write (`update_monitor_state`) before a conflict is reported, and the
# longest pause between them (full jitter): concurrent writers of one item spread out and each gets a turn.
UPDATE_ATTEMPTS = 10
UPDATE_BACKOFF_SECONDS = 0.05


def cancellation_reasons(error_response: Mapping[str, Any]) -> set[str]:
    """Why DynamoDB cancelled a transaction: its CancellationReasons' codes, less "None" (an item that did not fail)."""
    return {str(reason.get("Code")) for reason in error_response.get("CancellationReasons", [])} - {"None"}


def _pk(name: str) -> dict[str, Any]:
    return {"S": f"MODEL#{name}"}


def _view_pk(name: str) -> dict[str, Any]:
    return {"S": f"VIEW#{name}"}


class RunMarker(Record):
    """The version a pipeline run registered: one per run, written with the version."""

    version: int


class ApprovalToken(Record):
    """The task token of a training pipeline waiting for a person's decision on a pending version."""

    version: int
    token: str
    requested_at: str


def _approval_sk(version: int) -> str:
    return f"APPROVAL#{version:06d}"


def _run_marker_sk(run_id: str) -> str:
    return f"RUNVERSION#{run_id}"


def _version_sk(version: int) -> str:
    return f"VERSION#{version:08d}"


def _alias_sk(alias: str) -> str:
    return f"ALIAS#{alias}"


def _run_sk(record: RunRecord) -> str:
    return f"RUN#{record.started_at}#{record.run_id}"


def _run_index(run_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"RUNID#{run_id}"}, "sk": {"S": "RUN"}}


def _record(item: dict[str, Any], model: type[R]) -> R:
    """A record from its item: the document, at the item's revision."""
    record = model.model_validate_json(item["doc"]["S"])
    record.revision = int(item.get("rev", {}).get("N", "0"))
    return record


class Registry:
    """Registry adapter over one DynamoDB table; takes a boto3 client."""

    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.audit_table = audit_table_name(table)
        self.client = client

    # -- low level -------------------------------------------------------------------------
    def _get(self, name: str, sk: str, model: type[R], pk: dict[str, Any] | None = None) -> R | None:
        key = {"pk": pk or _pk(name), "sk": {"S": sk}}
        item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        return _record(found, model)

    def _query(
        self,
        name: str,
        prefix: str,
        *,
        newest_first: bool = False,
        limit: int | None = None,
        pk: dict[str, Any] | None = None,
        table: str | None = None,
        consistent: bool = False,
    ) -> list[str]:
        """The documents (JSON text) of a model's (or another `pk`'s) items whose sort key starts with `prefix`
        (`consistent`: as of every write acknowledged before the read)."""
        kwargs: dict[str, Any] = {
            "TableName": table or self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": pk or _pk(name), ":prefix": {"S": prefix}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": consistent,
        }
        if limit:
            kwargs["Limit"] = limit
        docs: list[str] = []
        while True:
            page = self.client.query(**kwargs)
            docs.extend(item["doc"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit and len(docs) >= limit):
                return docs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put(
        self, name: str, sk: str, record: BaseModel, *, revised: bool = True, pk: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A conditional Put: of a revised record, on the revision it was read at; else only if new."""
        item = {"pk": pk or _pk(name), "sk": {"S": sk}, "doc": {"S": record.model_dump_json()}}
        if not revised:
            return {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(sk)"}
        assert isinstance(record, Record)
        item["rev"] = {"N": str(record.revision + 1)}
        if record.revision == 0:
            return {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(rev)"}
        return {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": "rev = :rev",
            "ExpressionAttributeValues": {":rev": {"N": str(record.revision)}},
        }

    def _audit_put(
        self, name: str, action: str, actor: str, details: dict[str, Any], pk: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An audit record's write, to the append-only audit table: only ever a new item."""
        record = AuditRecord(at=utc_now(), action=action, actor=actor, details=details)
        item = {"pk": pk or _pk(name), "sk": {"S": f"AUDIT#{record.at}#{uuid.uuid4().hex}"}}
        item["doc"] = {"S": record.model_dump_json()}
        return {"Put": {"TableName": self.audit_table, "Item": item, "ConditionExpression": "attribute_not_exists(sk)"}}

    def _transact(self, items: list[Any], conflict: str) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = cancellation_reasons(exc.response)
            if reasons & LOST_RACE or not reasons:  # none given (an emulator may not say): read as a lost race
                raise ConflictError(conflict) from exc
            raise

    # -- specs -----------------------------------------------------------------------------
    def put_spec(self, spec: ModelSpec, actor: str, diff: list[dict[str, Any]] | None = None) -> None:
        """Register or update a model's spec (with an audit record carrying the change's `diff`).

        Raises
        ------
        ConflictError
            If the spec changed since it was read here.
        """
        current = self._get(spec.name, SPEC, SpecRecord)
        record = SpecRecord(spec=spec, updated_at=utc_now(), revision=current.revision if current else 0)
        action = "spec_updated" if current else "spec_registered"
        self._transact(
            [
                {"Put": self._put(spec.name, SPEC, record)},
                self._audit_put(spec.name, action, actor, {"diff": diff} if diff else {}),
            ],
            f"model '{spec.name}' changed concurrently",
        )

    def find_spec(self, name: str) -> SpecRecord | None:
        return self._get(name, SPEC, SpecRecord)

    def propose_spec(self, spec: ModelSpec, actor: str, diff: list[dict[str, Any]], loosens: list[str]) -> SpecProposal:
        """Keep a spec change that loosens the model's governance until an approver applies it (a newer proposal
        replaces it), with an audit record.

        Raises
        ------
        ConflictError
            If the spec or the proposal changed concurrently.
        """
        current = self.find_spec(spec.name)
        if current is None:
            raise ModelNotFoundError(f"model '{spec.name}' is not registered: a first spec needs no approval")
        earlier = self._get(spec.name, SPEC_PROPOSAL, SpecProposal)
        proposal = SpecProposal(
            spec=spec, proposed_by=actor, proposed_at=utc_now(), base_revision=current.revision, diff=diff,
            loosens=loosens, revision=earlier.revision if earlier else 0,
        )  # fmt: skip
        self._transact(
            [
                {"Put": self._put(spec.name, SPEC_PROPOSAL, proposal)},
                self._audit_put(spec.name, "spec_proposed", actor, {"diff": diff, "loosens": loosens}),
            ],
            f"model '{spec.name}' changed concurrently",
        )
        return proposal.model_copy(update={"revision": proposal.revision + 1})

    def spec_proposal(self, name: str) -> SpecProposal | None:
        return self._get(name, SPEC_PROPOSAL, SpecProposal)

    def apply_spec_proposal(self, name: str, actor: str, reason: str = "") -> SpecProposal:
        """Apply the spec change that waits for approval, only while the spec is still the one it was proposed
        against, in one transaction with its audit record (proposer and approver).

        Raises
        ------
        ConflictError
            If no change waits, or the spec changed since it was proposed.
        """
        proposal = self.spec_proposal(name)
        if proposal is None:
            raise ConflictError(f"no spec change of '{name}' waits for approval")
        current = self.find_spec(name)
        if current is None or current.revision != proposal.base_revision:
            raise ConflictError(
                f"the spec of '{name}' changed since {proposal.proposed_by} proposed this change: propose it again"
            )
        record = SpecRecord(spec=proposal.spec, updated_at=utc_now(), revision=current.revision)
        details = {"diff": proposal.diff, "loosens": proposal.loosens, "proposed_by": proposal.proposed_by,
                   "reason": reason}  # fmt: skip
        self._transact(
            [
                {"Put": self._put(name, SPEC, record)},
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": {"pk": _pk(name), "sk": {"S": SPEC_PROPOSAL}},
                        "ConditionExpression": "rev = :rev",
                        "ExpressionAttributeValues": {":rev": {"N": str(proposal.revision)}},
                    }
                },
                self._audit_put(name, "spec_updated", actor, details),
            ],
            f"model '{name}' changed concurrently; read it again and retry",
        )
        return proposal

    def get_spec(self, name: str) -> ModelSpec:
        """The spec of a registered model.

        Raises
        ------
        ModelNotFoundError
            If no model of that name is registered.
        """
        record = self._get(name, SPEC, SpecRecord)
        if record is None:
            raise ModelNotFoundError(f"model '{name}' is not registered")
        return record.spec

    def _scan(self, sk: str) -> list[dict[str, Any]]:
        """Every item with this sort key (one per model, or per view)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :sk",
            "ExpressionAttributeValues": {":sk": {"S": sk}},
        }
        while True:
            page = self.client.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_specs(self) -> list[ModelSpec]:
        return sorted((_record(item, SpecRecord).spec for item in self._scan(SPEC)), key=lambda s: s.name)

    # -- feature views ---------------------------------------------------------------------
    def put_view(self, view: FeatureView, actor: str) -> ViewRecord:
        """Register or update a feature view (with an audit record under the view).

        Raises
        ------
        ConflictError
            If the view changed since it was read here.
        """
        current = self.find_view(view.name)
        if current is not None:
            self._still_serves_its_models(view, was_online=current.view.online)
        if current is None:
            record = ViewRecord(view=view, updated_at=utc_now())
        else:  # what of it is in the online store stays recorded
            record = current.model_copy(update={"view": view, "updated_at": utc_now()})
            record.revision = current.revision
        pk = _view_pk(view.name)
        action = "view_updated" if current else "view_registered"
        details: dict[str, Any] = {
            "online": view.online,
            "features": view.feature_names,
            "diff": spec_diff(current.view if current else None, view),
        }
        self._transact(
            [
                {"Put": self._put(view.name, VIEW, record, pk=pk)},
                self._audit_put(view.name, action, actor, details, pk),
            ],
            f"feature view '{view.name}' changed concurrently",
        )
        record.revision += 1
        return record

    def _still_serves_its_models(self, view: FeatureView, *, was_online: bool) -> None:
        """A view's update keeps what the registered models, and the approved versions one may serve again (a
        promotion, a rollback), take from it: its keys, its time, their features, and its online store.

        Raises
        ------
        ConflictError
            Naming the model (or version) and what the update would take from it.
        """
        features = {f.name: f.type for f in view.features}
        for reader in self._view_readers(view.name):
            binding, way_out = reader.binding, reader.way_out
            if (binding.entities, binding.timestamp) != (view.entities, view.timestamp):
                raise ConflictError(
                    f"{reader.who} reads view '{view.name}' by {binding.entities} at '{binding.timestamp}': "
                    "register the view under a new name to change its keys or its time"
                )
            if was_online and not view.online:
                raise ConflictError(
                    f"{reader.who} is served by the keys of view '{view.name}', from its online store: an offline "
                    f"view would leave its values to go stale unwatched; register a new view, or {way_out}"
                )
            for name in binding.features:
                if features.get(name) != reader.kinds.get(name):
                    change = "drops" if name not in features else f"retypes as {features[name]}"
                    raise ConflictError(
                        f"{reader.who} takes '{name}' ({reader.kinds.get(name)}) from view '{view.name}', which this "
                        f"update {change}: {way_out}, or register a new view"
                    )

    def _view_readers(self, view: str) -> Iterator[ViewReader]:
        """Who reads a view: each model's spec, and each version trained on it that may serve (approved, or pending
        a person's decision)."""
        for spec in self.list_specs():
            if view in spec.views:
                kinds = {name: str(spec.feature(name).type) for name in spec.views[view].features}
                yield ViewReader(f"model '{spec.name}'", spec.views[view], kinds, "update the model first")
            for version in self.list_versions(spec.name):
                binding = (version.views or {}).get(view)
                if binding is not None and version.status in (VersionStatus.APPROVED, VersionStatus.PENDING):
                    kinds = {field.name: field.kind for field in version.signature}
                    who = f"version {version.version} of '{spec.name}' ({version.status}: it may serve)"
                    yield ViewReader(who, binding, kinds, "archive or reject the version first")

    def find_view(self, name: str) -> ViewRecord | None:
        return self._get(name, VIEW, ViewRecord, pk=_view_pk(name))

    def get_view(self, name: str) -> ViewRecord:
        """A registered feature view, with what of it was materialized.

        Raises
        ------
        NotFoundError
            If no view of that name is registered.
        """
        record = self.find_view(name)
        if record is None:
            raise NotFoundError(f"feature view '{name}' is not registered (mlops features register VIEW.yaml)")
        return record

    def list_views(self) -> list[ViewRecord]:
        # each at its revision: a record listed here may be written back (a drift check's)
        return sorted((_record(item, ViewRecord) for item in self._scan(VIEW)), key=lambda r: r.view.name)

    def set_materialized(self, record: ViewRecord, done: dict[str, Any]) -> ViewRecord:
        """Record how far the view's offline store is in the online store, on the revision read.

        Raises
        ------
        ConflictError
            If the view changed since `record` was read (another materialization, or a re-registration).
        """
        return self._update_view(record, done, "materialized")

    def set_view_drift(self, record: ViewRecord, check: ViewDriftCheck) -> ViewRecord:
        """Record a view's drift check, on the revision read.

        Raises
        ------
        ConflictError
            If the view changed since `record` was read.
        """
        return self._update_view(record, {"drift": check}, "checked for drift")

    def _update_view(self, record: ViewRecord, changes: dict[str, Any], doing: str) -> ViewRecord:
        updated = record.model_copy(update=changes)
        self._transact([{"Put": self._put(record.view.name, VIEW, updated, pk=_view_pk(record.view.name))}],
                       f"feature view '{record.view.name}' changed while it was {doing}")  # fmt: skip
        updated.revision = record.revision + 1
        return updated

    def view_audit_trail(self, name: str) -> list[AuditRecord]:
        docs = self._query(name, "AUDIT#", pk=_view_pk(name), table=self.audit_table)
        return [AuditRecord.model_validate_json(doc) for doc in docs]

    # -- versions --------------------------------------------------------------------------
    def allocate_version(self, name: str) -> int:
        """Atomically reserve the next version number of a model (an atomic counter: ADD is its condition)."""
        self.get_spec(name)
        response = self.client.update_item(
            TableName=self.table,
            Key={"pk": _pk(name), "sk": {"S": COUNTER}},
            UpdateExpression="ADD latest :one SET doc = if_not_exists(doc, :doc)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":doc": {"S": "{}"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["latest"]["N"])

    def register_version(self, record: ModelVersion, actor: str) -> ModelVersion:
        """Write a version record whose number came from `allocate_version`; never overwrites, and a run
        registers one version only (a marker of its run in the same transaction).

        Raises
        ------
        ConflictError
            When the version number, or a version of the same run, already exists.
        """
        marker = RunMarker(version=record.version)
        self._transact(
            [
                {"Put": self._put(record.model_name, _version_sk(record.version), record)},
                {"Put": self._put(record.model_name, _run_marker_sk(record.run_id), marker, revised=False)},
                self._audit_put(
                    record.model_name,
                    "version_registered",
                    actor,
                    {"version": record.version, "status": record.status, "metrics": record.metrics},
                ),
            ],
            f"version {record.version} of '{record.model_name}', or a version of run {record.run_id}, already exists",
        )
        return record.model_copy(update={"revision": 1})

    def find_version_by_run(self, name: str, run_id: str) -> ModelVersion | None:
        """The version a pipeline run registered, if any (makes registration idempotent): by the run's marker,
        read consistently; for a version registered before markers were written, by listing."""
        marker = self._get(name, _run_marker_sk(run_id), RunMarker)
        if marker is not None:
            return self.get_version(name, marker.version)
        return next((v for v in self.list_versions(name) if v.run_id == run_id), None)

    def get_version(self, name: str, version: int) -> ModelVersion:
        """A model's version.

        Raises
        ------
        NotFoundError
            When the model has no such version; `ModelNotFoundError` when no model of that name is registered.
        """
        record = self._get(name, _version_sk(version), ModelVersion)
        if record is None:
            self.get_spec(name)  # a misspelt model's name is named as such, not as a missing version
            raise NotFoundError(f"model '{name}' has no version {version}")
        return record

    def list_versions(self, name: str) -> list[ModelVersion]:
        return [ModelVersion.model_validate_json(doc) for doc in self._query(name, "VERSION#")]

    def set_status(self, name: str, version: int, status: VersionStatus, actor: str, reason: str = "") -> ModelVersion:
        """Approve, reject or archive a version, by the status rules, conditional on the revision read and with
        an audit record, in one transaction with what it does to the aliases: a version that stops being
        approved stops being served. The champion falls back to the newest other approved version it was not
        rolled back from (or, with none, the model has no champion); a challenger's rollout ends.

        Raises
        ------
        ConflictError
            For a change the status rules forbid (rejected and archived are final), naming both statuses,
            or when the version or an alias changed concurrently.
        """
        current = self.get_version(name, version)
        if status is current.status or status not in STATUS_CHANGES[current.status]:
            allowed = sorted(STATUS_CHANGES[current.status])
            raise ConflictError(
                f"version {version} of '{name}' is {current.status}: it cannot become {status} "
                + (f"(it may become {', '.join(allowed)})" if allowed else f"({current.status} is final)")
            )
        updated = current.model_copy(update={"status": status})
        details = {"version": version, "from": current.status, "to": status, "reason": reason}
        items = [
            {"Put": self._put(name, _version_sk(version), updated)},
            self._audit_put(name, "status_changed", actor, details),
        ]
        if status is not VersionStatus.APPROVED:
            said = f"version {version} {status}" + (f": {reason}" if reason else "")
            items += self._stop_serving(name, version, actor, said)
        self._transact(items, f"version {version} of '{name}' changed concurrently")
        return updated.model_copy(update={"revision": updated.revision + 1})

    def await_decision(self, name: str, version: int, token: str) -> ModelVersion:
        """Keep a waiting pipeline's task token with a version while it is pending (the decision completes it), in
        one transaction with the check that it still is; the version as read (not pending: nothing is kept)."""
        current = self.get_version(name, version)
        if current.status is not VersionStatus.PENDING:
            return current
        kept = self._get(name, _approval_sk(version), ApprovalToken)  # a retried step's new token replaces it
        record = ApprovalToken(
            version=version, token=token, requested_at=utc_now(), revision=kept.revision if kept else 0
        )
        try:
            self._transact(
                [{"Put": self._put(name, _approval_sk(version), record)}, self._still(name, current)],
                f"version {version} of '{name}' changed while its decision was asked for",
            )
        except ConflictError:
            return self.get_version(name, version)  # decided meanwhile: the caller acts on the decision
        return current

    def approval_token(self, name: str, version: int) -> str | None:
        """The task token of the pipeline waiting for a decision on the version, if one is."""
        record = self._get(name, _approval_sk(version), ApprovalToken)
        return record.token if record else None

    def _stop_serving(self, name: str, version: int, actor: str, reason: str) -> list[dict[str, Any]]:
        """The writes that take `version` out of serving: the champion alias falls back, the challenger ends."""
        items: list[dict[str, Any]] = []
        champion, challenger = self.get_alias(name, CHAMPION), self.get_alias(name, CHALLENGER)
        if challenger is not None and challenger.version == version:
            items += self._alias_delete(name, challenger, actor, reason)
        if champion is None or champion.version != version:
            return items
        approved = {v.version for v in self.list_versions(name) if v.status is VersionStatus.APPROVED} - {version}
        rolled_back = self._rolled_back(name) & approved
        fallback = max(approved - rolled_back, default=None)
        if fallback is None:
            if rolled_back:
                reason += f" ({no_fallback(rolled_back)})"
            return [*items, *self._alias_delete(name, champion, actor, reason)]
        target = self.get_version(name, fallback)  # read consistently: the transaction checks it is still so
        if target.status is not VersionStatus.APPROVED:
            raise ConflictError(f"version {fallback} of '{name}' changed concurrently; read it again and retry")
        if challenger is not None and challenger.version == fallback:  # the champion is never its own challenger
            items += self._alias_delete(name, challenger, actor, f"version {fallback} is champion now ({reason})")
        # the version taken out is not one to roll back to, nor is the one now serving
        history = [v for v in served_before(champion) if v not in (version, fallback)]
        record = AliasRecord(alias=CHAMPION, version=fallback, previous_version=version, served_before=history,
                             updated_at=utc_now(), reason=reason, revision=champion.revision)  # fmt: skip
        details = {"alias": CHAMPION, "from": version, "to": fallback, "reason": reason}
        return [
            *items,
            {"Put": self._put(name, _alias_sk(CHAMPION), record)},
            self._still(name, target),
            self._audit_put(name, "champion_fallback", actor, details),
        ]

    def rolled_back_from(self, name: str) -> set[int]:
        """The approved versions the champion was rolled back from and not promoted to since: never a fallback."""
        return self._rolled_back(name) & {
            v.version for v in self.list_versions(name) if v.status is VersionStatus.APPROVED
        }

    def _rolled_back(self, name: str) -> set[int]:
        """The versions the champion was rolled back from and not promoted to since, by the audit trail (read
        consistently: a rollback just made counts)."""
        found: set[int] = set()
        for record in self.audit_trail(name, consistent=True):
            details = record.details
            if record.action != "alias_moved" or details.get("alias") != CHAMPION:
                continue
            left, to = details.get("from"), details.get("to")
            if isinstance(left, int) and is_rollback_from(str(details.get("reason", "")), left):
                found.add(left)
            if isinstance(to, int):
                found.discard(to)
        return found

    def _still(self, name: str, version: ModelVersion) -> dict[str, Any]:
        """A transaction's check that a version is as read (approved, say): no status change slipped in between."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": {"pk": _pk(name), "sk": {"S": _version_sk(version.version)}},
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {":rev": {"N": str(version.revision)}},
            }
        }

    def _alias_delete(self, name: str, alias: AliasRecord, actor: str, reason: str) -> list[dict[str, Any]]:
        """Remove an alias read at its revision, with an audit record."""
        return [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": {"pk": _pk(name), "sk": {"S": _alias_sk(alias.alias)}},
                    "ConditionExpression": "rev = :rev",
                    "ExpressionAttributeValues": {":rev": {"N": str(alias.revision)}},
                }
            },
            self._audit_put(
                name, "alias_removed", actor, {"alias": alias.alias, "version": alias.version, "reason": reason}
            ),
        ]

    # -- aliases ---------------------------------------------------------------------------
    def get_alias(self, name: str, alias: str = CHAMPION) -> AliasRecord | None:
        return self._get(name, _alias_sk(alias), AliasRecord)

    def champion(self, name: str) -> ModelVersion | None:
        """The version behind the `champion` alias, if any."""
        alias = self.get_alias(name, CHAMPION)
        return self.get_version(name, alias.version) if alias else None

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        actor: str,
        reason: str = "",
        *,
        mode: RolloutMode | None = None,
        weight: float = 0.0,
        if_current: int | EllipsisType | None = ...,
        history: tuple[int, list[int]] | None = None,
    ) -> AliasRecord:
        """Point an alias at an approved version, atomically with an audit record; with `if_current`, only
        while the alias points at that version (None: while there is no such alias). The alias remembers the
        version it leaves; a rollback's `history` is (the revision it read, what the alias remembers instead),
        written only over that revision.

        Raises
        ------
        ConflictError
            If the version is not approved, the alias is not at `if_current`, or the alias moved
            concurrently (two first writes included).
        """
        target = self.get_version(name, version)
        if target.status is not VersionStatus.APPROVED:
            raise ConflictError(
                f"version {version} of '{name}' is {target.status}, only approved versions can be served"
            )
        current = self.get_alias(name, alias)
        found = current.version if current else None
        if if_current is not ... and found != if_current:
            raise ConflictError(
                f"the {alias} of '{name}' is {_named(found)}, not {_named(if_current)} as expected (as read, or as "
                f"when version {version} was gated against it): not moved; read it again (a pipeline run: run it "
                "again to gate against what serves now)"
            )
        if history is None:  # it remembers the version it leaves (none when it stays)
            left = [current.version] if current and current.version != version else []
            remembered = [*(served_before(current) if current else []), *left]
        elif current is None or current.revision != history[0]:  # moved and back since the history was read
            raise ConflictError(f"alias '{alias}' of '{name}' moved concurrently; read it again and retry")
        else:
            remembered = history[1]
        record = AliasRecord(
            alias=alias,
            version=version,
            previous_version=current.version if current else None,
            served_before=remembered[-SERVED_BEFORE_KEPT:],
            updated_at=utc_now(),
            reason=reason,
            mode=mode,
            weight=weight,
            revision=current.revision if current else 0,
        )
        self._transact(
            [
                {"Put": self._put(name, _alias_sk(alias), record)},
                self._still(name, target),
                self._audit_put(
                    name,
                    "alias_moved",
                    actor,
                    {
                        "alias": alias,
                        "from": record.previous_version,
                        "to": version,
                        "reason": reason,
                        **({"mode": mode, "weight": weight} if mode else {}),
                    },
                ),
            ],
            f"alias '{alias}' of '{name}' moved concurrently; read it again and retry",
        )
        return record.model_copy(update={"revision": record.revision + 1})

    def remove_alias(self, name: str, alias: str, actor: str, reason: str = "") -> None:
        """Remove an alias (ending a rollout), atomically with an audit record."""
        current = self.get_alias(name, alias)
        if current is None:
            raise ConflictError(f"model '{name}' has no '{alias}' alias")
        self._transact(
            self._alias_delete(name, current, actor, reason),
            f"alias '{alias}' of '{name}' moved concurrently; read it again and retry",
        )

    def rollback(self, name: str, actor: str, alias: str = CHAMPION, reason: str = "") -> AliasRecord:
        """Point the alias back at the newest version it served before that is still approved (only while it still
        serves the one read), and forget the versions after it: a second rollback goes further back.

        Raises
        ------
        ConflictError
            When it served no approved version before, or it moved concurrently.
        """
        current = self.get_alias(name, alias)
        # not the version serving now (an older record may remember it), nor a challenger's the champion's
        champion = self.get_alias(name, CHAMPION) if alias == CHALLENGER else None
        serving = {current.version if current else None, champion.version if champion else None}
        history = remembered = [v for v in served_before(current) if v not in serving] if current else []
        while history and self.get_version(name, history[-1]).status is not VersionStatus.APPROVED:
            history = history[:-1]  # rejected or archived since: never served again
        if current is None or not history:
            still = " that is still approved" if remembered else ""
            raise ConflictError(f"alias '{alias}' of '{name}' has no previous version{still} to roll back to")
        said = rollback_reason(current.version, reason)
        return self.set_alias(
            name, alias, history[-1], actor, said, mode=current.mode, weight=current.weight,
            if_current=current.version, history=(current.revision, history[:-1]),
        )  # fmt: skip

    # -- runs ------------------------------------------------------------------------------
    def put_run(self, record: RunRecord) -> None:
        """Record a run once, with the index item that finds it by id.

        Raises
        ------
        ConflictError
            If the run is recorded already (a retried record step).
        """
        index = {
            **_run_index(record.run_id),
            "doc": {"S": f'{{"model_name": "{record.model_name}", "sk": "{_run_sk(record)}"}}'},
        }
        self._transact(
            [
                {"Put": self._put(record.model_name, _run_sk(record), record, revised=False)},
                {"Put": {"TableName": self.table, "Item": index, "ConditionExpression": "attribute_not_exists(sk)"}},
            ],
            f"run {record.run_id} is recorded already",
        )

    def find_run(self, run_id: str) -> RunRecord | None:
        """A run by its id, whatever its model; None if it was not recorded (yet)."""
        found = self.client.get_item(TableName=self.table, Key=_run_index(run_id), ConsistentRead=True).get("Item")
        if not found:
            return None
        where = json.loads(found["doc"]["S"])
        return self._get(where["model_name"], where["sk"], RunRecord)

    def get_run(self, run_id: str) -> RunRecord:
        """A run by its id, whatever its model.

        Raises
        ------
        NotFoundError
            If no run of that id was recorded.
        """
        record = self.find_run(run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id!r} was recorded")
        return record

    def list_runs(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """A model's runs, newest first."""
        self.get_spec(name)
        return [RunRecord.model_validate_json(doc) for doc in self._query(name, "RUN#", newest_first=True, limit=limit)]

    # -- audit and monitor state -----------------------------------------------------------
    def audit(self, name: str, action: str, actor: str, details: dict[str, Any]) -> None:
        self._transact([self._audit_put(name, action, actor, details)], "audit write failed")

    def audit_trail(self, name: str, *, consistent: bool = False) -> list[AuditRecord]:
        docs = self._query(name, "AUDIT#", table=self.audit_table, consistent=consistent)
        return [AuditRecord.model_validate_json(doc) for doc in docs]

    def get_monitor_state(self, name: str) -> MonitorState:
        return self._get(name, MONITOR, MonitorState) or MonitorState()

    def put_monitor_state(self, name: str, state: MonitorState) -> MonitorState:
        """Write the monitor state read at `state.revision`.

        Raises
        ------
        ConflictError
            If another writer changed it since.
        """
        try:
            self.client.put_item(**self._put(name, MONITOR, state))
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConflictError(f"the monitor state of '{name}' changed concurrently") from exc
        return state.model_copy(update={"revision": state.revision + 1})

    def update_monitor_state(self, name: str, change: Callable[[MonitorState], MonitorState | None]) -> MonitorState:
        """Read, change and conditionally write the monitor state, again on a concurrent change.

        `change` returns the new state, or None to leave it as read (nothing is written).
        """
        for attempt in range(UPDATE_ATTEMPTS):
            state = self.get_monitor_state(name)
            changed = change(state)
            if changed is None:
                return state
            try:
                return self.put_monitor_state(name, changed)
            except ConflictError:
                if attempt == UPDATE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, UPDATE_BACKOFF_SECONDS * (attempt + 1)))
        raise AssertionError("unreachable")
