"""The `mlops` command line.

Light verbs (the registry, data, pipelines, the API) import neither the embedded AWS nor the CDK;
`tests/unit/test_cli.py` keeps it so. Text is printed as it is (no console markup), so a message
with brackets reaches the user whole; read verbs take `--output json` for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console, Group
from rich.table import Table

from mlcore.errors import ConflictError, MlopsError, NotFoundError

T = TypeVar("T")

if TYPE_CHECKING:
    from infra.operations import Platform
    from mlcore.catalog import ViewDriftCheck

# No markup: what the CLI prints is data (error messages carry `[a-z0-9-]`, category lists, ...). Into a pipe or
# a file, rich would fit tables to 80 columns and cut their cells: there they are as wide as they need.
PIPED_WIDTH = 240
console = Console(markup=False, highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)
err = Console(
    stderr=True, markup=False, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else PIPED_WIDTH
)


def _state() -> dict[str, Any] | None:
    """The local target's state, when AWS_ENDPOINT_URL points at it."""
    from infra.local.state import read_state

    state = read_state() if os.environ.get("AWS_ENDPOINT_URL") else None
    return state if state and state["endpoint"] == os.environ["AWS_ENDPOINT_URL"] else None


def _platform() -> Platform:
    from infra.operations import Platform, Resources

    return Platform(Resources.discover(_state()))


def emit(args: argparse.Namespace, document: Any, human: Any = None) -> None:
    """Print a verb's result: JSON with `--output json`, else `human` (a renderable or text)."""
    if getattr(args, "output", "text") == "json":
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        console.print(human if human is not None else json.dumps(document, indent=2, default=str))


# -- the embedded AWS ----------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.local.demo import Demo, DemoError
    from infra.local.demo_features import FeatureStoreDemo

    demo = FeatureStoreDemo if args.feature_store else Demo
    try:
        result = demo(Path(args.report_dir)).run()
    except DemoError as exc:
        err.print(f"DemoError: {exc}", style="red")
        return 1
    total = result.steps[-1][1]
    console.print(f"Demo finished in {total:.1f} s", style="bold green")
    return 0


def export_line(endpoint: str, api_key: str | None) -> str:
    """The shell line that points `mlops` (and any AWS SDK) at a local target, to paste as it is."""
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        **({"MLOPS_API_KEY": api_key} if api_key else {}),
    }
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())


def cmd_local_up(args: argparse.Namespace) -> int:
    from infra.local.target import LocalTarget

    with console.status("Synthesizing the CDK app and deploying it into the embedded AWS…"):
        target = LocalTarget(
            moto_port=args.port, api_port=args.api_port, api_key=args.api_key, idle_seconds=args.idle_seconds
        ).start()
    console.print(f"Embedded AWS: {target.endpoint}   REST API: {target.api.url if target.api else '-'}")
    console.print("In another shell, run this line, then use mlops (Ctrl-C here stops the target):", style="bold")
    console.print(export_line(target.endpoint, args.api_key))
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    # a function running now (a materialization, a training job) finishes first: a second Ctrl-C or SIGTERM does not
    # wait for it
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    err.print("Stopping: functions running now finish first (Ctrl-C again stops at once, and loses what they do)")
    try:
        target.stop()
    except KeyboardInterrupt:
        from infra.local.state import clear_state

        clear_state(target.outdir)  # no command finds a target that is gone
        err.print("Stopped without waiting for the functions running.")
        os._exit(130)  # their threads would keep the interpreter alive
    return 0


def _running_state(*, needs_api: bool = False) -> dict[str, Any] | None:
    """The running local target's state; None, having said so, when none answers (or, `needs_api`, it serves no
    API)."""
    from infra.local.state import read_state

    state = read_state()
    if state is None or not _reachable(state["endpoint"]) or (needs_api and not state["outputs"].get("api_url")):
        err.print("No local target is running: start one with `mlops local up`.")
        return None
    return state


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False
    return True


def cmd_local_status(args: argparse.Namespace) -> int:
    from infra.operations import Platform, Resources

    state = _running_state()
    if state is None:
        return 1
    os.environ.setdefault("AWS_ENDPOINT_URL", state["endpoint"])
    platform = Platform(Resources.discover(state))
    specs = platform.registry.list_specs()
    models = [
        {"model": spec.name, "champion": alias.version if (alias := platform.registry.get_alias(spec.name)) else None}
        | ({"retired": True} if spec.retired else {})  # (the key only where it is so: a row's shape as it was)
        for spec in specs
    ]
    known = ("training_state_machine", "monitor_state_machine", "retraining_state_machine", "batch_state_machine")
    machines = {getattr(platform.resources, name): name for name in known if getattr(platform.resources, name)}
    for machine in platform.sfn.list_state_machines()["stateMachines"]:  # the others by name (materialization, …)
        machines.setdefault(machine["stateMachineArn"], machine["name"])
    names = [spec.name for spec in specs]
    running = [
        {
            "state_machine": machine,
            "execution": execution["name"],
            "model": platform.execution_model(execution["executionArn"], names),
            "started": str(execution["startDate"]),
        }
        for arn, machine in machines.items()
        for execution in platform.executions(arn, status="RUNNING")
    ]
    document = {
        "endpoint": state["endpoint"],
        "api_url": state["outputs"].get("api_url"),
        "data_bucket": platform.resources.data_bucket,  # where datasets and batch scoring's input go
        "artifacts_bucket": platform.resources.artifacts_bucket,  # runs, models, reports, the run export
        "runs_database": platform.resources.runs_database,  # the run export's Glue database (table runs)
        "models": models,
        "running": running,
    }
    lines = [f"Embedded AWS: {document['endpoint']}", f"REST API: {document['api_url']}"]
    lines += [
        f"Data bucket: s3://{document['data_bucket']}/",
        f"Artifacts bucket: s3://{document['artifacts_bucket']}/",
    ]
    if document["runs_database"]:  # no Athena engine here: read the export with wr.s3.read_parquet_table
        lines.append(f"Run export: Glue database {document['runs_database']}, table runs")
    lines.append("Models:")
    lines += [
        (f"  {m['model']}: champion v{m['champion']}" if m["champion"] else f"  {m['model']}")
        + (" (retired: serves nothing)" if m.get("retired") else "")
        for m in models
    ]
    lines += [] if models else ["  none"]
    lines += ["Running executions:"]
    lines += [
        f"  {r['state_machine'].removesuffix('_state_machine')}{f' of {m}' if (m := r['model']) else ''}: "
        f"{r['execution']} (started {r['started']})"
        for r in running
    ] or ["  none"]
    emit(args, document, "\n".join(lines))
    return 0


def cmd_local_alerts(args: argparse.Namespace) -> int:
    """What the platform alerted since the last look (the local target's queue on the alerts topic), oldest first;
    each is shown once."""
    from infra.local.state import LOCAL_ALERTS

    state = _running_state()
    if state is None:
        return 1
    queue = state.get("outputs", {}).get(LOCAL_ALERTS)
    if not queue:
        err.print("This local target keeps no alerts (its deployment has no alerts topic).")
        return 1
    os.environ.setdefault("AWS_ENDPOINT_URL", state["endpoint"])
    from infra.operations import boto3_client

    sqs, alerts = boto3_client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            notification = json.loads(message["Body"])  # SNS's envelope
            model = notification.get("MessageAttributes", {}).get("model", {}).get("Value")  # the model it is about
            alerts.append(
                {"at": notification.get("Timestamp"), "subject": notification.get("Subject"), "model": model,
                 "message": notification.get("Message")}
            )  # fmt: skip
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    alerts.sort(key=lambda alert: str(alert["at"]))
    about = [f" ({a['model']})" if a["model"] else "" for a in alerts]
    lines = [f"{a['at']}  {a['subject']}{model}\n  {a['message']}" for a, model in zip(alerts, about, strict=True)]
    text = "\n".join(lines) or "No alerts since the last look."
    emit(args, alerts, text)
    return 0


def cmd_local_fire(args: argparse.Namespace) -> int:
    """Deliver the retraining schedule's event for one model now, as if its schedule were due."""
    from infra.local.state import FIRE_PATH

    state = _running_state(needs_api=True)
    if state is None:
        return 1
    api_url = state["outputs"]["api_url"]
    platform = _platform()
    _registered(platform, [args.name], retired="no trigger retrains it, and its schedule is not due")
    machine = platform.resources.retraining_state_machine
    before = {e["executionArn"] for e in platform.executions(machine)}
    request = urllib.request.Request(
        api_url + FIRE_PATH,
        data=json.dumps({"model_name": args.name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if not answer["fired"]:
        err.print("The deployment has no retraining schedule to fire.")
        return 1
    console.print(f"Delivered the scheduled event of {', '.join(answer['fired'])} for '{args.name}'")
    for decision in _fired_decisions(platform, machine, before):
        started = "started" if decision["started"] else "not started"
        console.print(f"{decision['model_name']}: retraining {started}: {decision['reason']}")
    return 0


def _fired_decisions(platform: Platform, machine: str, before: set[str], seconds: float = 30.0) -> list[Any]:
    """The decisions of the retraining request a fired event started (its execution waited for)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = [e["executionArn"] for e in platform.executions(machine) if e["executionArn"] not in before]
        if started:
            execution = platform.wait(started[0])
            result = json.loads(execution.get("output") or "{}").get("result") or {}
            return list(result.get("decisions") or [])
        time.sleep(0.2)
    err.print("The request has not started yet: see `mlops runs list` or the audit trail later")
    return []


# -- models --------------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    platform = _platform()
    registry = platform.registry
    if args.action == "register":
        _register(platform, args)
    elif args.action == "card":
        _model_card(platform, args)
    elif args.action == "approve-spec":
        from mlcore.catalog import SPEC_APPROVAL_ROUTE

        answer = platform.govern(SPEC_APPROVAL_ROUTE, {"reason": args.reason}, name=args.name)
        emit(
            args,
            answer,
            f"Applied the change to '{args.name}' proposed by {answer['proposed_by']} ({'; '.join(answer['loosens'])})",
        )
    elif args.action == "list":
        from mlcore.registry import CHALLENGER

        rows: list[dict[str, Any]] = []
        for spec in registry.list_specs():
            alias, rollout = registry.get_alias(spec.name), registry.get_alias(spec.name, CHALLENGER)
            rows.append(
                {
                    "model": spec.name,
                    "task": str(spec.task),
                    "champion": alias.version if alias else None,
                    "challenger": _rollout(rollout),
                    # the same as data, for scripts: {"version", "mode", "weight"}
                    "rollout": (
                        {"version": rollout.version, "mode": str(rollout.mode), "weight": rollout.weight}
                        if rollout is not None and rollout.mode is not None
                        else None
                    ),
                    "versions": len(registry.list_versions(spec.name)),
                    "retired": spec.retired,
                }
            )
        table = Table("model", "task", "champion", "challenger", "versions")
        for row in rows:
            model = f"{row['model']} (retired)" if row["retired"] else row["model"]
            table.add_row(
                model, row["task"], str(row["champion"] or "-"), row["challenger"] or "-", str(row["versions"])
            )
        emit(args, rows, table)
    elif args.action == "show":
        from mlcore.registry import CHALLENGER

        spec, alias = registry.get_spec(args.name), registry.get_alias(args.name)
        challenger = registry.get_alias(args.name, CHALLENGER)
        versions, audit = registry.list_versions(args.name), registry.audit_trail(args.name)[-20:]
        proposal, record = registry.spec_proposal(args.name), registry.find_spec(args.name)
        # a spec registered since it was proposed: approve-spec refuses it, so it is not waiting any more
        stale = proposal is not None and record is not None and proposal.base_revision != record.revision
        document = {
            "spec": spec.model_dump(mode="json"),
            "champion": alias.model_dump(mode="json") if alias else None,
            "challenger": challenger.model_dump(mode="json") if challenger else None,  # a rollout: its mode, weight
            "versions": [v.model_dump(mode="json") for v in versions],
            "audit": [a.model_dump(mode="json") for a in audit],
            "spec_proposal": {**proposal.model_dump(mode="json"), "stale": stale} if proposal else None,
        }
        emit(args, document, _model_summary(spec, alias, challenger, versions, audit, proposal=proposal, stale=stale))
    else:
        return _govern(platform, args)
    return 0


def _takes_effect() -> str:
    """When a moved alias reaches every answer: each predict container trusts its aliases this long."""
    from mlcore.catalog import limits

    seconds = limits.ALIAS_TTL_SECONDS
    return f" (the API answers with it within {seconds:g} s, as each container reads the aliases again)"


def _promote(platform: Platform, args: argparse.Namespace) -> None:
    from mlcore.catalog import ALIAS_ROUTE
    from mlcore.registry import CHAMPION

    body = {"version": args.version, "reason": args.reason}
    if args.expected_version is not None:  # two people promoting at once: the second one's move is refused
        body["expected_version"] = args.expected_version
    moved = platform.govern(ALIAS_ROUTE, body, name=args.name, alias=args.alias)
    version, was = moved["version"], moved["previous_version"]
    before = f"was v{was}" if was is not None else "none before"
    change = f"→ v{version} ({before}){_takes_effect()}"
    said = f"is v{version} already; nothing changed" if was == version else change
    emit(args, {**moved, "changed": was != version}, f"{args.name}: {args.alias} {said}")
    if args.alias == CHAMPION and was != version:
        _warn_request_change(platform, args.name, was, version)
        _warn_rollout_beside(platform, args.name, version)


def _set_status(platform: Platform, args: argparse.Namespace, status: Any) -> None:
    """Approve, reject or archive; a version already so (a retry, or another approver first) is said as such, as a
    promotion to the champion is: nothing changed, exit 0."""
    try:
        answer = platform.set_status(args.name, args.version, status, args.reason)
    except ConflictError:
        version = _read_if_allowed(lambda: platform.registry.get_version(args.name, args.version))
        if version is None or version.status is not status:
            raise  # the route's own words: another status, or a caller who may not read the registry
        already = {"model": args.name, "version": args.version, "status": str(status), "changed": False}
        emit(args, already, f"{args.name}: version {args.version} is {status} already; nothing changed")
        return
    emit(args, {**answer, "changed": True}, answer["serving"])


def _register(platform: Platform, args: argparse.Namespace) -> None:
    change = platform.register_spec(Path(args.spec))
    spec, answer = change.spec, change.answer
    if args.output == "json":  # the API's answer: `applied` false while the change waits for an approver
        console.print_json(json.dumps(answer))
    elif answer["applied"] and not answer["diff"]:
        console.print(f"'{spec.name}' is registered with this spec already; nothing changed")
    elif answer["applied"]:
        console.print(f"Registered '{spec.name}' ({spec.task}, {len(spec.features)} features)")
    else:
        console.print(
            f"The change to '{spec.name}' loosens its governance ({'; '.join(answer['loosens'])}): it waits for "
            f"an approver, who applies it with `mlops models approve-spec {spec.name}`. Until then nothing of it "
            "applies: a run trains, and is gated, under the spec as it was"
        )


def _end_rollout(platform: Platform, args: argparse.Namespace) -> None:
    """End a rollout; none running (a retry, or another person first) is said as such: nothing changed, exit 0."""
    from mlcore.catalog import END_ROLLOUT_ROUTE
    from mlcore.registry import CHALLENGER

    name = args.name
    try:
        ended = platform.govern(END_ROLLOUT_ROUTE, name=name, alias=CHALLENGER)
    except ConflictError:
        running = _read_if_allowed(lambda: platform.registry.get_alias(name, CHALLENGER) is not None)
        if running is not False:
            raise  # the route's own words, for a caller who may not read the registry
        said = f"{name}: no rollout is running; nothing changed (the champion serves all traffic)"
        emit(args, {"model": name, "alias": CHALLENGER, "version": None, "changed": False}, said)
        return
    emit(args, {**ended, "changed": True}, f"{name}: rollout ended, the champion serves all traffic")


def _read_if_allowed(read: Callable[[], T]) -> T | None:
    """A registry read for what a governance command says beside its result: None when the caller may not read the
    registry (a promoter's or an approver's policy grants the API's routes only) or it does not answer; the command
    has done its work by then, and must not look failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read()
    except (ClientError, BotoCoreError, MlopsError):
        return None


def _rollback(platform: Platform, args: argparse.Namespace) -> None:
    from mlcore.catalog import ROLLBACK_ROUTE
    from mlcore.registry import CHAMPION

    moved = platform.govern(ROLLBACK_ROUTE, {"reason": args.reason}, name=args.name, alias=args.alias)
    emit(args, moved, f"{args.name}: {args.alias} rolled back to v{moved['version']}{_takes_effect()}")
    if args.alias == CHAMPION:
        _warn_request_change(platform, args.name, moved.get("previous_version"), moved["version"])


def _warn_request_change(platform: Platform, name: str, was: int | None, now: int) -> None:
    """Say how the request the new champion reads differs from the one the version it replaces read: clients that
    send the old one get 400s once it serves."""
    versions = _read_if_allowed(lambda: [platform.registry.get_version(name, v) for v in (was, now) if v is not None])
    if versions is None or len(versions) < 2:  # no version before, or the caller may not read them
        return
    before, after = ({f.name: f for f in version.signature} for version in versions)
    kind = {"float": "a number", "string": "text"}
    changes = [f"no longer takes {n} (a row with it is a 400)" for n in before if n not in after]
    changes += [
        f"needs {n} (a row without it is a 400)" if not f.nullable else f"takes {n} too (optional)"
        for n, f in after.items()
        if n not in before
    ]
    changes += [f"reads {n} as {kind[f.type]}" for n, f in after.items() if n in before and before[n].type != f.type]
    changes += [
        f"needs {n} now (a row without it is a 400)"
        for n, f in after.items()
        if n in before and before[n].nullable and not f.nullable
    ]
    same_type = [(before[n], f) for n, f in after.items() if n in before and before[n].type == f.type]
    changes += [change for was_read, read in same_type for change in _narrowed(was_read, read)]
    if changes:
        err.print(
            f"v{now} reads another request than v{was}: it {'; it '.join(changes)}. Clients must follow: "
            f"GET /models/{name}/openapi.json describes what it takes"
        )


def _narrowed(before: Any, after: Any) -> list[str]:
    """How a feature of the same type takes fewer values than it did (a value it took before is now a 400): fewer
    categories, a higher minimum, a lower maximum, whole numbers only. A feature that takes more says nothing."""
    name, said = after.name, []
    if after.categories is not None:
        dropped = [c for c in before.categories or [] if c not in after.categories]
        if before.categories is None:
            said.append(f"takes only {after.categories} for {name} (any other value is a 400)")
        elif dropped:
            said.append(f"no longer takes {dropped} for {name} (a 400)")
    if after.minimum is not None and (before.minimum is None or after.minimum > before.minimum):
        said.append(f"takes {name} >= {after.minimum:g} only (a smaller one is a 400)")
    if after.maximum is not None and (before.maximum is None or after.maximum < before.maximum):
        said.append(f"takes {name} <= {after.maximum:g} only (a larger one is a 400)")
    if after.integer and not before.integer:
        said.append(f"takes whole numbers only for {name} (a 400 otherwise)")
    return said


def _bounds(feature: Any) -> str:
    """A feature's contract beyond its type, in a few words: ` 0 to 500`, ` >= 0`, ` in [a, b]`."""
    low, high = getattr(feature, "min", None), getattr(feature, "max", None)
    if low is not None and high is not None:
        return f" {low:g} to {high:g}"
    if low is not None or high is not None:
        return f" >= {low:g}" if low is not None else f" <= {high:g}"
    categories = getattr(feature, "categories", None)
    return f" in {categories}" if categories else ""


def _warn_rollout_beside(platform: Platform, name: str, champion: int) -> None:
    """Say that a rollout still runs beside a newly promoted champion (its challenger is now compared with another
    version), as the API describes the model; nothing when the API cannot be asked (no key, say)."""
    from types import SimpleNamespace

    from mlcore.catalog import DESCRIBE_ROUTE

    try:
        status, described = platform.call_api("GET", DESCRIBE_ROUTE.url_path(name=name))
    except (OSError, ValueError, RuntimeError):  # unreachable, not JSON, no API URL: a note, not the command's result
        return
    challenger = described.get("challenger") if status == 200 else None
    if isinstance(challenger, dict) and challenger.get("version") != champion:
        err.print(
            f"A rollout still runs beside the new champion: {_rollout(SimpleNamespace(**challenger))}; "
            f"`mlops models rollout {name} --stop` ends it, `mlops models promote {name} {challenger['version']}` "
            "serves it"
        )


def _rollout(challenger: Any) -> str | None:
    """A rollout in a few words, `v3 (canary 10%)` or `v3 (shadow)`; None without one."""
    if challenger is None or challenger.mode is None:
        return None
    how = f"canary {challenger.weight:.0%}" if challenger.mode == "canary" else str(challenger.mode)
    return f"v{challenger.version} ({how})"


def _model_summary(
    spec: Any, champion: Any, challenger: Any, versions: list[Any], audit: list[Any], *, proposal: Any, stale: bool
) -> Group:
    """`models show` for a person: what the model is, what serves, a spec change waiting for an approver, its
    versions, its latest decisions."""
    primary = spec.metrics.primary
    serving = f"champion v{champion.version}" if champion else "no champion"
    if challenger is not None and challenger.mode is not None:
        serving += f", challenger {_rollout(challenger)}"
    if spec.retired:
        serving = f"nothing: retired ({serving} kept; retired: false brings it back)"
    lines = [
        f"{spec.name}: {spec.task}, target {spec.target}, {len(spec.features)} features "
        f"({', '.join(spec.feature_names[:8])}{', …' if len(spec.features) > 8 else ''})",
        f"Serving: {serving}; approval {spec.approval}; primary metric {primary}",
    ]
    if proposal is not None:
        change = (
            f"a spec change by {proposal.proposed_by} at {proposal.proposed_at[:19]} ({'; '.join(proposal.loosens)})"
        )
        lines.append(
            f"Out of date: {change}; the spec was registered again since: propose it again (mlops models register)"
            if stale
            else f"Waiting for an approver: {change}; apply it with `mlops models approve-spec {spec.name}`"
        )
    table = Table("version", "status", primary, "rows", "created", "run", title="Versions", title_justify="left")
    for version in versions:
        score = version.metrics.get(primary)
        table.add_row(
            str(version.version), str(version.status), "-" if score is None else f"{score:.4f}",
            str(version.training_rows), version.created_at[:19], version.run_id,
        )  # fmt: skip
    decisions = Table("at", "action", "actor", "details", title="Latest audit records", title_justify="left")
    for record in audit[-5:]:
        details = ", ".join(
            f"{key}={value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)}"
            for key, value in record.details.items()
        )
        # a summary: a long record (a spec's diff) is cut, the whole of it is in --output json
        decisions.add_row(
            record.at[:19], record.action, record.actor, details if len(details) <= 120 else details[:119] + "…"
        )
    return Group("\n".join(lines), table, decisions, "Everything: --output json")


def _model_card(platform: Platform, args: argparse.Namespace) -> None:
    """A version's model card (default: the champion's), from the registry: to a file or standard output."""
    from mlcore.registry import model_card

    registry = platform.registry
    version = registry.get_version(args.name, args.version) if args.version else registry.champion(args.name)
    if version is None:
        registry.get_spec(args.name)  # a misspelt name is not a model without a champion
        raise SystemExit(f"'{args.name}' has no champion: name a version (mlops models card {args.name} VERSION)")
    card = model_card(registry, version, form=args.format)
    if args.out:
        Path(args.out).write_text(card)
        console.print(f"Model card of {args.name} v{version.version} written to {args.out}")
    else:
        sys.stdout.write(card)


def _govern(platform: Platform, args: argparse.Namespace) -> int:
    """Governance through the API's IAM routes, signed with the caller's AWS credentials (SigV4)."""
    from mlcore.catalog import ALIAS_ROUTE, AUDIT_ROUTE
    from mlcore.registry import CHALLENGER, RolloutMode, VersionStatus

    statuses = {"approve": VersionStatus.APPROVED, "reject": VersionStatus.REJECTED, "archive": VersionStatus.ARCHIVED}
    if args.action in statuses:
        _set_status(platform, args, statuses[args.action])
    elif args.action == "audit":
        trail = platform.govern(AUDIT_ROUTE, name=args.name)
        table = Table("at", "action", "actor", "details")
        for record in trail["records"]:
            table.add_row(record["at"], record["action"], record["actor"], json.dumps(record["details"]))
        emit(args, trail, table)
    elif args.action == "promote":
        _promote(platform, args)
    elif args.action == "rollback":
        _rollback(platform, args)
    elif args.stop:  # rollout
        _end_rollout(platform, args)
    else:
        if args.version is None or (args.weight is None) == (not args.shadow):
            raise SystemExit("mlops models rollout NAME VERSION (--weight W | --shadow), or NAME --stop")
        mode = RolloutMode.SHADOW if args.shadow else RolloutMode.CANARY
        body = {"version": args.version, "reason": args.reason, "mode": mode}
        if not args.shadow:
            body["weight"] = args.weight
        moved = platform.govern(ALIAS_ROUTE, body, name=args.name, alias=CHALLENGER)
        share = "shadow: scored on every request, never answers"
        if not args.shadow:
            share = f"answers {args.weight:.0%} of traffic"
        emit(args, moved, f"{args.name}: challenger v{moved['version']} ({share})")
    return 0


# -- the feature store -----------------------------------------------------------------------------


def _view_drift(check: ViewDriftCheck | None) -> str | None:
    """A view's last drift check in words: `drift: <features> (<when>)`, `ok (...)` or `not_enough_data (...)`."""
    if check is None:
        return None
    return f"{check.summary} ({check.checked_at})"


def _ingested_at(ingest: str) -> str | None:
    """When an ingest started (ISO 8601, UTC), from its id; None without one."""
    from mlcore.catalog import ingest_time

    at = ingest_time(ingest) if ingest else None
    return at.isoformat(timespec="seconds") if at else None


def _view_text(record: Any, audit: list[dict[str, Any]]) -> str:
    """A registered feature view for a person: its definition, how fresh its online store is, its changes."""
    view = record.view
    through = _ingested_at(record.materialized_through)
    lines = [
        f"Feature view '{view.name}' (owner {view.owner}): by {', '.join(view.entities)} at {view.timestamp}, "
        f"ttl {view.ttl_hours:g} h, {'online' if view.online else 'offline only'}",
        *(f"  {f.name}: {f.type}{_bounds(f)}" + (" (nullable)" if f.nullable else "") for f in view.features),
        f"  materialized through the ingest of {through} ({record.materialized_through})" if through else
        "  not materialized yet",
        f"  newest value online: {record.newest_event_at or '-'}; drift: {_view_drift(record.drift) or '-'}",
        "  changes:",
        *(f"    {a['at'][:19]} {a['action']} by {a['actor']}" for a in audit),
    ]  # fmt: skip
    return "\n".join(lines)


def cmd_features(args: argparse.Namespace) -> int:
    platform = _platform()
    if args.action == "register":
        record = platform.register_view(Path(args.view))
        view = record.view
        online = "online" if view.online else "offline only"
        console.print(
            f"Registered feature view '{view.name}' ({len(view.features)} features by "
            f"{', '.join(view.entities)}, ttl {view.ttl_hours:g} h, {online})"
        )
    elif args.action == "list":
        records = platform.registry.list_views()
        rows: list[dict[str, Any]] = [
            {
                "view": r.view.name,
                "entities": r.view.entities,
                "features": r.view.feature_names,
                "ttl_hours": r.view.ttl_hours,
                "online": r.view.online,
                "owner": r.view.owner,
                "materialized_through": r.materialized_through or None,
                "materialized_through_at": _ingested_at(r.materialized_through),
                "drift": _view_drift(r.drift),
            }
            for r in records
        ]
        table = Table("view", "entities", "features", "ttl (h)", "online", "owner", "materialized through", "drift")
        for r in records:
            view = r.view
            table.add_row(
                view.name,
                ", ".join(view.entities),
                ", ".join(view.feature_names),
                f"{view.ttl_hours:g}",
                "yes" if view.online else "no",
                view.owner,
                (_ingested_at(r.materialized_through) or "-")[:19].replace("T", " "),
                _view_drift(r.drift) or "-",
            )
        emit(args, rows, table)
    elif args.action == "show":
        record = platform.registry.get_view(args.name)
        audit = [a.model_dump(mode="json") for a in platform.registry.view_audit_trail(args.name)][-20:]
        emit(args, {**record.model_dump(mode="json"), "audit": audit}, _view_text(record, audit))
    elif args.action == "ingest":
        result = platform.ingest_features(args.name, args.source)
        human = (
            f"Ingested {result.rows:,} rows into '{result.view}' ({len(result.days)} days, "
            f"{result.days[0]} to {result.days[-1]}; ingest {result.ingest})"
            if not result.already
            else f"Nothing ingested: '{result.view}' holds these {result.rows:,} rows already (ingest {result.ingest})"
        ) + (f"; not the view's columns, not stored: {', '.join(result.ignored)}" if result.ignored else "")
        emit(args, dataclasses.asdict(result), human)
    else:  # materialize
        done = platform.materialize_features(args.name)
        at = _ingested_at(done.through)
        through = (f"the ingest of {at} ({done.through})" if at else done.through) if done.through else "nothing yet"
        if done.files:
            human = (
                f"'{done.view}': {done.files} new files, {done.rows:,} rows; {done.written:,} entities updated, "
                f"{done.kept:,} already newer; online through {through}"
            )
        elif done.through:  # the platform's tick may have materialized it already
            human = (
                f"'{done.view}': up to date, nothing ingested since it was last materialized; online through {through}"
            )
        else:
            human = f"'{done.view}': nothing ingested yet (mlops features ingest {done.view} FILE)"
        if done.age_hours is not None:
            human += f"; newest value {done.age_hours:.1f} h old" + (
                " (older than its ttl: stale)" if done.stale else ""
            )
        emit(args, done.model_dump(mode="json"), human)
    return 0


def _features_parser(sub: Any) -> None:
    features = sub.add_parser("features", help="the feature store").add_subparsers(dest="action", required=True)
    features.add_parser("register", help="register or update a feature view (YAML)").add_argument(
        "view", help="the view's YAML file"
    )
    _output(features.add_parser("list", help="the feature views"))
    show = features.add_parser("show", help="a view, how far it is materialized, and its audit trail")
    show.add_argument("name", help="the feature view's name")
    _output(show)
    ingest = features.add_parser("ingest", help="check rows against a view's contract and append them offline")
    ingest.add_argument("name", help="the feature view's name")
    ingest.add_argument(
        "source", nargs="?", help="a .csv/.parquet file or folder, or s3://... (default: the view's source)"
    )
    _output(ingest)
    materialize = features.add_parser("materialize", help="bring a view's online store up to date")
    materialize.add_argument("name", help="the feature view's name")
    _output(materialize)
    sub.choices["features"].set_defaults(func=cmd_features)


# -- data, pipelines, the API ----------------------------------------------------------------------


# Below this a file's upload is over before a progress bar would tell anything.
PROGRESS_BYTES = 8 * 1024 * 1024


def cmd_data(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.is_dir():
        from infra.operations import folder_files
        from mlcore.catalog import DATA_SUFFIXES

        uploaded: list[str] = []

        def sent(relative: str) -> None:
            uploaded.append(relative)
            if console.is_terminal and args.output != "json":
                console.print(f"  {relative}")

        uri = _platform().upload_dataset_folder(args.name, path, on_file=sent)
        said = f"Uploaded {len(uploaded)} file{'s' if len(uploaded) != 1 else ''} of {path} → {uri}"
        emit(args, {"model": args.name, "uri": uri, "files": uploaded}, said)
        skipped = [f.relative_to(path).as_posix() for f in folder_files(path)[1]]
        if skipped:
            err.print(f"Not data files ({', '.join(DATA_SUFFIXES)}), so not uploaded: {', '.join(skipped)}")
        return 0
    size = path.stat().st_size if path.is_file() else 0
    if not console.is_terminal or size < PROGRESS_BYTES or args.output == "json":
        uri = _platform().upload_dataset_file(args.name, path)
    else:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        with Progress(
            "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
        ) as bar:
            task = bar.add_task(f"Uploading {path.name}", total=size)
            uri = _platform().upload_dataset_file(args.name, path, progress=lambda sent: bar.advance(task, sent))
    emit(args, {"model": args.name, "uri": uri, "files": [path.name]}, f"Uploaded {path} → {uri}")
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    from mlcore.catalog import CUSTOM

    platform = _platform()
    stored = platform.upload_code(args.name, Path(args.path))
    kind = platform.registry.get_spec(args.name).estimator.kind
    used = f"the next runs of {args.name} train with it"
    if kind != CUSTOM:  # stored all the same: a spec turned custom later trains with it
        used = f"{args.name} trains a built-in estimator ({kind}): its runs use uploaded code with kind {CUSTOM}"
    human = f"Uploaded {args.path} → {stored.uri} (sha256 {stored.sha256[:12]}…, {stored.size:,} bytes); {used}"
    emit(args, stored.model_dump(), human)
    return 0


AWAITING_APPROVAL = "AwaitingApproval"  # the training pipeline's state that waits for a person's decision


def _awaited_version(platform: Platform, arn: str, name: str, timeout: float = 60) -> int | None:
    """The version a pipeline waits on a decision for, once it has asked (a decision needs its task token); None
    when it does not wait after all (the version was decided already, or the step failed)."""
    from mlcore.registry import VersionStatus

    version = int(platform.state_input(arn, AWAITING_APPROVAL)["version"])
    deadline = time.monotonic() + timeout
    while platform.registry.approval_token(name, version) is None:
        running = platform.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        if not running or platform.registry.get_version(name, version).status is not VersionStatus.PENDING:
            return None
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} entered {AWAITING_APPROVAL} and never asked for the decision")
        time.sleep(0.25)
    return version


def _followed_run(
    platform: Platform, arn: str, name: str, *, quiet: bool
) -> tuple[dict[str, Any], list[str], int | None]:
    """A pipeline run waited for, each step it enters printed (and every STILL_EVERY s one takes): its execution,
    its steps, and the version it waits on a person's decision for (None: it ran to its end). No time limit: a
    Train step of a large dataset takes minutes, a search hours (Ctrl-C stops waiting, not the run)."""
    steps: list[str] = []

    def step(state: str) -> None:
        steps.append(state)
        if not quiet:
            console.print(f"  → {state}")

    def still(state: str, seconds: float) -> None:
        if not quiet:
            console.print(f"    … still in {state} after {seconds:.0f} s", style="dim")

    execution = platform.wait(arn, on_step=step, until=AWAITING_APPROVAL, timeout=None, on_still=still)
    version = _awaited_version(platform, arn, name) if execution["status"] == "RUNNING" else None
    if execution["status"] == "RUNNING" and version is None:  # it went on without waiting: to its end
        execution = platform.wait(arn, on_step=step, seen=len(steps), timeout=None, on_still=still)
    return execution, steps, version


def _in_flight(platform: Platform, name: str) -> str:
    """The model's runs in flight, in a line (a run is recorded once it ends); empty with none."""
    from mlcore.runs import runs_in_flight

    running = runs_in_flight(platform.sfn, platform.resources.training_state_machine, name)
    return f"In flight: {', '.join(running)} (recorded once it ends)" if running else ""


def _run_id(arn: str) -> str:
    """A run's id: its execution's name, the last part of the execution's ARN."""
    return arn.rsplit(":", 1)[-1]


def cmd_pipeline(args: argparse.Namespace) -> int:
    platform = _platform()
    if args.action == "report":
        return _download_report(platform, args.name, args.run_id, Path(args.out), output=args.output)
    quiet = args.output == "json"
    try:
        arn = platform.start_pipeline(args.name, args.dataset_uri, reason="cli", force=args.force)
    except KeyboardInterrupt:  # the API may have started it: a second run is refused while it is in flight
        err.print(
            f"Stopped while starting the run; it may have started: mlops runs list {args.name} (locally: mlops local "
            "status)"
        )
        return 130
    if not quiet:
        console.print(f"Started {arn}")
    if not args.wait:
        emit(args, {"execution_arn": arn, "run_id": _run_id(arn), "status": "RUNNING"}, "")
        return 0
    try:
        execution, steps, version = _followed_run(platform, arn, args.name, quiet=quiet)
    except KeyboardInterrupt:
        err.print(
            f"Stopped waiting; the run goes on: {arn} (aws stepfunctions describe-execution --execution-arn {arn}; "
            f"locally: mlops local status). Its record is in mlops runs list {args.name} once it ends."
        )
        return 130
    if version is not None:  # a version waits for a person (approval: manual, or held by the gate): say what to run
        held = str(platform.state_input(arn, AWAITING_APPROVAL).get("held") or "")
        why = f"held by the gate: {held}" if held else "approval: manual"
        emit(
            args,
            {
                "execution_arn": arn,
                "run_id": _run_id(arn),
                "status": "AWAITING_APPROVAL",
                "steps": steps,
                "version": version,
                "held": held,
            },
            f"Version {version} of '{args.name}' awaits approval ({why}). The pipeline promotes it "
            f"once approved: mlops models approve {args.name} {version}  (or: mlops models reject "
            f"{args.name} {version})",
        )
        return 0
    return _ended(platform, args, arn, execution, steps)


def _ended(platform: Platform, args: argparse.Namespace, arn: str, execution: Any, steps: list[str]) -> int:
    """What became of a run the CLI followed to its end: JSON with `--output json`, else a line; a failure is said on
    stderr either way. The exit code: 0 unless it failed."""
    quiet = args.output == "json"
    succeeded = execution["status"] == "SUCCEEDED"
    failure = None if succeeded else platform.failure(execution)
    output = json.loads(execution.get("output") or "null")
    # what became of the run, for a script (a rejection ends the execution well: its status says SUCCEEDED)
    outcome = _outcome_kind(output) or ("succeeded" if succeeded else "failed")
    registered = output.get("version") if outcome == "registered" and isinstance(output, dict) else None
    document = {
        "execution_arn": arn,
        "run_id": _run_id(arn),
        "status": execution["status"],
        "outcome": outcome,
        "version": registered,  # the version the run registered (None: it registered none)
        "steps": steps,
        "output": output,
    }
    if quiet:
        emit(args, {**document, "failure": failure})
    if failure:  # a failing command says why on stderr, whatever its stdout carries
        err.print(failure, style="red")
    elif succeeded and not quiet:
        line, style = _run_outcome(args.name, output, serving=platform.registry.champion(args.name) is not None)
        console.print(line, style=style, markup=False)
        if isinstance(output, dict) and output.get("alias") == "champion":  # the run promoted its version
            _warn_request_change(platform, args.name, output.get("previous_version"), output["version"])
    return 0 if succeeded else 1


def _outcome_kind(output: Any) -> str | None:
    """What a training execution's output says became of the run: registered, rejected, skipped or failed."""
    return (output.get("outcome") or {}).get("kind") if isinstance(output, dict) else None


def _run_outcome(name: str, output: Any, *, serving: bool = True) -> tuple[str, str]:
    """What a training run that ended well did, in a line for a person, and its style (the whole: --output json);
    `serving`: whether the model has a champion (which a rejection leaves serving)."""
    kind = _outcome_kind(output)
    if kind == "rejected":
        left = "the champion serves on" if serving else "no version serves yet"
        return f"REJECTED by the gate: {output.get('reason', '')} ({left})", "yellow"
    if kind == "skipped":
        force = f"mlops pipeline run {name} --force"
        by = output.get("learned_by") if isinstance(output, dict) else None  # not the champion: rejected, rolled back
        said = "SKIPPED: nothing new to learn" + (f": {by}" if by else " since the champion's data")
        if isinstance(output, dict) and output.get("spec_changed"):  # the same data: a new estimator trains only so
            return f"{said}; the spec changed since it was trained: if in what trains, {force} trains with it", "yellow"
        return f"{said} ({'upload new data, or ' if by else ''}{force})", "yellow"
    if kind is not None:
        return f"SUCCEEDED: {(output.get('record') or {}).get('outcome', kind)}", "green"
    return f"SUCCEEDED: {json.dumps(output)}", "green"


def _batch_request(args: argparse.Namespace) -> Any:
    """The batch request the options make (`BatchRequest`), or None once what is wrong with one is said (exit 2)."""
    from pydantic import ValidationError

    from mlcore.catalog import BatchRequest

    if args.output in ("json", "text"):  # another verb's --output: here it is the prefix the scores go under
        err.print(f"--output: batch predict's --output is the s3:// prefix to write under; --json prints JSON, got "
                  f"{args.output!r}")  # fmt: skip
        return None
    try:
        return BatchRequest(
            model_name=args.name,
            input=args.input,
            output=args.output,
            version=args.version,
            chunk_mb=args.chunk_mb,
            lambda_mb=args.lambda_mb,
        )
    except ValidationError as exc:  # named as the option the user typed, not as the request's field
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-")
        err.print(f"{option}: {first['msg']}, got {first.get('input')!r}")
        return None


def cmd_batch(args: argparse.Namespace) -> int:
    request = _batch_request(args)
    if request is None:
        return 2
    platform = _platform()
    arn = platform.start_batch(request)
    quiet = args.json  # `--output` is the batch's output prefix here
    if not quiet:
        console.print(f"Started batch {arn.rsplit(':', 1)[-1]} ({arn})")
    if not args.wait:
        if quiet:
            sys.stdout.write(json.dumps({"execution_arn": arn, "status": "RUNNING"}) + "\n")
        return 0
    try:
        execution = platform.wait(arn, on_step=None if quiet else lambda step: console.print(f"  → {step}"))
    except KeyboardInterrupt:
        err.print(
            f"Stopped waiting; the batch goes on: {arn} (aws stepfunctions describe-execution --execution-arn {arn}; "
            "locally: mlops local status)"
        )
        return 130
    succeeded = execution["status"] == "SUCCEEDED"
    manifest = json.loads(execution.get("output") or "null") if succeeded else None
    failure = None if succeeded else platform.failure(execution)
    if quiet:
        document = {"execution_arn": arn, "status": execution["status"], "manifest": manifest, "failure": failure}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif manifest:
        console.print(
            f"SUCCEEDED: {manifest['read']} rows read, {manifest['scored']} scored, {manifest['rejected']} rejected "
            f"by version {manifest['version']}",
            style="green",
        )
        jobs = manifest["chunks"] - manifest["lambda_chunks"]
        console.print(
            f"  chunks:      {manifest['chunks']} ({manifest['lambda_chunks']} in Lambda, {jobs} in Batch jobs)"
        )
        table = f" (Glue table {manifest['table']})" if manifest["table"] else ""
        if manifest["scored"]:
            console.print(f"  predictions: {manifest['predictions']}{table}")
        else:  # no file written: the input's files held no row (empty, a header only), or every row was refused
            why = "every row was refused (see the rejects)" if manifest["read"] else "the input's files hold no rows"
            console.print(f"  predictions: none: {why}")
        for uri in manifest["rejects"]:
            console.print(f"  rejects:     {uri}")
    else:
        err.print(failure, style="red")
    return 0 if succeeded else 1


def _at_least_one(text: str) -> int:
    """A count of 1 or more (argparse names the option when this refuses)."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a count of 1 or more")
    return number


def _download_report(platform: Platform, name: str, run_id: str, out: Path, *, output: str = "text") -> int:
    """The validation report of a pipeline run (HTML and JSON), downloaded and opened where a browser can;
    `output` json: their paths as JSON."""
    from mlcore.catalog import RunFile, run_key

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file in (RunFile.VALIDATION_HTML, RunFile.VALIDATION_JSON):
        try:
            data = platform.artifacts.get(run_key(name, run_id, file))
        except NotFoundError:
            run = platform.registry.find_run(run_id)
            if run is None or run.model_name != name:  # a mistyped id, or another model's run
                whose = f"a run of '{run.model_name}'" if run else "not a run recorded for any model"
                err.print(f"Run {run_id} is {whose}, not of '{name}' (mlops runs list {name})")
            else:
                err.print(f"Run {run_id} of '{name}' has no {file}: its dataset was never checked.")
            return 1
        path = out / f"{name}-{run_id}-{file}"
        path.write_bytes(data)
        written.append(path)
    document = {"html": str(written[0]), "json": str(written[1])}
    _report(written[0], document, f"Validation report: {written[0]} (and {written[1].name})", output)
    return 0


def _report(path: Path, document: dict[str, Any], human: str, output: str) -> None:
    """Tell a downloaded report: JSON for a script (no browser), else the text, opened where a browser can."""
    emit(argparse.Namespace(output=output), document, human)
    if output != "json":
        _open(path)


def _open(path: Path) -> None:
    # Only where a graphical browser can open it: a text browser would take over a headless terminal.
    if os.environ.get("DISPLAY") or os.environ.get("BROWSER") or sys.platform == "darwin":
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def cmd_predict(args: argparse.Namespace) -> int:
    from infra.operations import read_json

    body = read_json(Path(args.file).read_text(), args.file) if args.file else read_json(args.json, "--json")
    status, response = _platform().predict(args.name, body)  # a list of rows, or a whole request body
    if status == 200:
        console.print_json(json.dumps(response))
        return 0
    err.print(f"Refused {_refused(status, response)}")
    _hint_api_key(status, response)
    return 1


def _refused(status: int, answer: dict[str, Any]) -> str:
    """An API refusal in words: `(404 model_not_found): model 'x' is not registered (request …)`; API Gateway's own
    (`{"message"}`, IAM's `{"Message"}`) without a code."""
    error = answer["error"] if isinstance(answer.get("error"), dict) else {}
    code = f" {error['code']}" if isinstance(error.get("code"), str) else ""
    message = error.get("message") or answer.get("message") or answer.get("Message") or answer
    request = f" (request {error['request_id']})" if error.get("request_id") else ""
    return f"({status}{code}): {message}{request}"


def _hint_api_key(status: int, answer: dict[str, Any]) -> None:
    """Where the API's key comes from, after a 403 for want of it or for a key the API does not take."""
    where = (
        "on AWS, `aws apigateway get-api-key --include-value --api-key <the stack's ApiKeyId output>`; locally, "
        "the key `mlops local up --api-key` was given."
    )
    if status != 403:
        return
    if not os.environ.get("MLOPS_API_KEY"):
        err.print(f"The API wants its key in MLOPS_API_KEY: {where}")
    elif isinstance(error := answer.get("error"), dict) and error.get("field") == "x-api-key":  # a key it does not know
        err.print(f"MLOPS_API_KEY is not a key of this API (another deployment's, or an earlier local up's?): {where}")


def _warn_relabelled(file: str, read: list[tuple[int, dict[str, Any]]]) -> None:
    """Say which lines label a row a line before them labelled: the monitor counts a row's first label only."""
    first: dict[tuple[Any, Any], int] = {}
    for line, label in read:
        row = (label.get("request_id"), label.get("row_index", 0))
        if not isinstance(row[0], str) or not isinstance(row[1], int):
            continue  # the API names what is wrong with it
        if row in first:
            err.print(
                f"{file}, line {line}: labels the row that line {first[row]} labels (request {row[0]}, row "
                f"{row[1]}); a row keeps its first label"
            )
        first.setdefault(row, line)


def cmd_feedback(args: argparse.Namespace) -> int:
    from infra.operations import read_labels
    from mlcore.catalog import DESCRIBE_ROUTE

    platform, numeric = _platform(), False
    if args.file.endswith(".csv"):  # a CSV's labels are text: a regressor's are numbers, which the API tells
        status, described = platform.call_api("GET", DESCRIBE_ROUTE.url_path(name=args.name))
        if status != 200:
            err.print(f"Refused before any label {_refused(status, described)}")
            _hint_api_key(status, described)
            return 1
        numeric = described["task"] == "regression"
    read = read_labels(Path(args.file), numeric=numeric)
    if not read:
        err.print(f"{args.file} has no labels.")
        return 1
    lines, labels = [line for line, _ in read], [label for _, label in read]
    _warn_relabelled(args.file, read)
    accepted = 0
    for status, answer in platform.send_feedback(args.name, labels):
        if status != 200:
            error = answer.get("error", answer)
            message, field = str(error.get("message", error)), str(error.get("field") or "")
            # `feedback[i].label: ...` of the batch sent: told as the file's line, which the user can open
            item = re.match(r"feedback\[(\d+)\]\.?", field)
            if item and accepted + int(item[1]) < len(lines):
                message = f"{args.file}, line {lines[accepted + int(item[1])]}: {message.removeprefix(item[0])}"
            err.print(f"Refused after {accepted} labels ({status}): {message}")
            _hint_api_key(status, answer)
            return 1
        accepted += answer["accepted"]
    stored = {"model": args.name, "accepted": accepted, "labels": len(labels)}
    emit(args, stored, f"{accepted} label{'s' if accepted != 1 else ''} stored for '{args.name}'")
    return 0


# -- runs ------------------------------------------------------------------------------------------


MISSING_SHOWN = 5  # exported audit records the table lost, named one by one


def cmd_audit(args: argparse.Namespace) -> int:
    platform = _platform()
    exported = platform.export_audit(args.name, view=args.view)
    out = Path(args.out or f"{args.name}-audit.jsonl")
    out.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in exported.records))
    what = f"feature view '{args.name}'" if args.view else f"model '{args.name}'"
    console.print(
        f"Exported {len(exported.records)} audit records of {what} from {exported.source} to {out}"
        f" (the audit table holds {exported.in_table})"
    )
    if missing := exported.missing_from_table:
        err.print(f"{len(missing)} exported record(s) no longer in the audit table:", style="red")
        for line in missing[:MISSING_SHOWN]:
            err.print(f"  {line.get('at')} {line.get('action')} by {line.get('actor')}: {line.get('details')}")
        if len(missing) > MISSING_SHOWN:
            err.print(f"  and {len(missing) - MISSING_SHOWN} more, in {out}")
        return 1
    if exported.in_table > len(exported.records):
        console.print(f"{exported.in_table - len(exported.records)} newer records are still on their way to the export")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from infra import runs_view

    platform = _platform()
    registry = platform.registry
    if args.action == "list":
        decided = runs_view.decisions(registry.audit_trail(args.name))
        rows = runs_view.list_rows(registry.list_runs(args.name), limit=args.limit, decided=decided)
        if not rows:
            registry.get_spec(args.name)  # a misspelt name is not a model without runs
        table = Table("run", "started", "trigger", "outcome", "metric", "trials", "seconds", "cost USD")
        for row in rows:
            value = "-" if row["value"] is None else f"{row['metric']} {row['value']:.4f}"
            table.add_row(
                row["run_id"],
                row["started_at"][:19],
                row["trigger"],
                runs_view.outcome_text(row),
                value,
                str(row["trials"] or "-"),
                f"{row['seconds']:.1f}",
                f"{row['cost_usd']:.6f}",
            )
        if args.output == "json":
            emit(args, rows)
        else:
            running = _in_flight(platform, args.name)
            invite = f"'{args.name}' has no runs yet: `mlops pipeline run {args.name}`"
            console.print(table if rows else running or invite)
            if rows and running:
                console.print(running)
    elif args.action == "show":
        record = registry.find_run(args.run_id) or _unrecorded(args, platform)
        if record is None:
            return 0  # in flight, and shown as such
        trials = [r for r in registry.list_runs(record.model_name) if r.parent_run_id == record.run_id]
        since = runs_view.decisions(registry.audit_trail(record.model_name)).get(record.version or 0)
        document = {
            **record.model_dump(mode="json"),
            "recorded": True,  # (false for a run in flight: a script polls until it is true)
            "since": since,
            "trials": [t.model_dump(mode="json") for t in trials],
        }
        emit(args, document, "\n".join(runs_view.show_lines(record, trials, since)))
    else:
        if len(args.run_ids) < 2:
            err.print("mlops runs compare RUN_ID RUN_ID [...]: compare two runs or more")
            return 2
        records = [registry.get_run(run_id) for run_id in args.run_ids]
        compared = runs_view.compare_rows(records)
        document = {
            "runs": [r.run_id for r in records],
            # the table's rows, as shown; `records` holds the same runs as data (numbers, nulls, whole hashes)
            "rows": [{"field": line.field, "values": line.values, "differs": line.differs} for line in compared],
            "records": [r.model_dump(mode="json") for r in records],
        }
        emit(args, document, runs_view.compare_table(records))
    return 0


def _unrecorded(args: argparse.Namespace, platform: Platform) -> Any:
    """A run without a record when it was looked for: one in flight is shown as such (None: a script polls it until
    its record is there); one that has ended since, its record (`RunRecord`); one whose execution ended without
    recording it, or no run at all, is not found."""
    execution = platform.training_execution(args.run_id)
    if execution is None:
        raise NotFoundError(f"no run {args.run_id!r} was recorded, nor is one in flight")
    if execution["status"] != "RUNNING":
        recorded = platform.registry.find_run(args.run_id)  # it may have ended between the two reads
        if recorded is not None:
            return recorded
        raise NotFoundError(
            f"no run {args.run_id!r} was recorded: its execution ended {execution['status']} at "
            f"{execution['stopDate'].isoformat()[:19]} before recording it (mlops local status, or the Step Functions "
            "console, shows its history)"
        )
    document = json.loads(execution.get("input") or "{}")
    started = execution["startDate"].astimezone(UTC).isoformat()
    shown = {
        "run_id": args.run_id,
        "model_name": document.get("model_name"),
        "status": "RUNNING",
        "started_at": started,
        "recorded": False,
    }
    text = (
        f"Run {args.run_id} of {document.get('model_name')} is in flight since {started[:19]}: it is recorded once "
        f"it ends (`mlops runs show {args.run_id}` then)"
    )
    emit(args, shown, text)
    return None


# -- the monitor -----------------------------------------------------------------------------------


def _recycle_local(state: dict[str, Any] | None) -> None:
    """Against the local target, recycle the functions' containers first, as AWS does with idle ones.

    The predict function flushes its captured rows at shutdown: without this, traffic sent a moment
    ago would still sit in its buffer.
    """
    from infra.local.state import RECYCLE_PATH

    api_url = (state or {}).get("outputs", {}).get("api_url")
    if api_url:
        urllib.request.urlopen(urllib.request.Request(api_url + RECYCLE_PATH, method="POST"), timeout=30).close()


def cmd_monitor(args: argparse.Namespace) -> int:
    platform = _platform()
    if args.action == "report":
        return monitor_report(platform, args.name, Path(args.out), output=args.output)
    quiet = args.output == "json"
    _registered(platform, args.model or [])
    _recycle_local(_state())
    arn = platform.start_monitor(force=True, models=args.model or None)
    if not quiet:
        console.print(f"Started {arn}")
    execution = platform.wait(arn, on_step=None if quiet else lambda s: console.print(f"  → {s}"))
    succeeded = execution["status"] == "SUCCEEDED"
    results = json.loads(execution.get("output") or "{}").get("results", []) if succeeded else []
    for result in results:
        _with_verdict(platform, result)
    # A check that failed ends its branch with the failure report (`step` and `message`).
    failures = [r["message"] for r in results if "step" in r and "message" in r]
    if not succeeded:
        failures.append(platform.failure(execution))
    document = {"execution_arn": arn, "status": execution["status"], "results": results, "failures": failures}
    if quiet:
        emit(args, document)
    else:
        for result in results:
            if "summary" in result:  # a check's summary names its model and version; a skipped check's does not
                name, summary = result["model_name"], result["summary"]
                console.print(summary if summary.startswith(f"{name} v") else f"{name}: {summary}", markup=False)
            for decision in result.get("decisions", []):
                started = "started" if decision["started"] else "not started"
                console.print(f"{decision['model_name']}: retraining {started}: {decision['reason']}")
        for failure in failures:
            err.print(failure, style="red")
    return 0 if succeeded and not failures else 1


def _registered(platform: Platform, names: list[str], retired: str = "the monitor checks it no more") -> None:
    """Refuse a misspelt model's name (ModelNotFoundError), rather than check no model, or say it has no report; say
    which of them are retired, and what that means to the command (`retired`)."""
    for name in names:
        if platform.registry.get_spec(name).retired:
            err.print(f"'{name}' is retired: {retired} (its spec says retired: true)")


def _with_verdict(platform: Platform, result: dict[str, Any]) -> None:
    """A model that drifted ends its branch with the retraining decisions, not the check: its check's summary and
    rows (the check recorded them in the registry) are added, so the verdict is printed with the decision."""
    decisions = result.get("decisions") or []
    if "summary" in result or not decisions:
        return
    check = platform.registry.get_monitor_state(decisions[0]["model_name"]).last_check
    if check is not None:
        verdict = {"model_name", "summary", "rows", "status", "dataset_drift", "performance_degraded"}
        result.update(check.model_dump(mode="json", include=verdict))


def monitor_report(platform: Platform, name: str, out: Path, *, output: str = "text") -> int:
    """Download the HTML report of a model's last check and open it; `output` json: the check and the report's path
    as JSON."""
    _registered(platform, [name])
    check = platform.registry.get_monitor_state(name).last_check
    if check is None or check.report is None:
        err.print(f"'{name}' has no drift report yet: run `mlops monitor run` after some traffic")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{check.check_id}.html"
    path.write_bytes(platform.artifacts.get_verified(check.report))
    document = {"check_id": check.check_id, "summary": check.summary, "report": str(path)}
    _report(path, document, f"{check.summary}\nReport: {path}", output)
    return 0


# -- the parser ------------------------------------------------------------------------------------


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("text", "json"), default="text", help="json: for scripts")


MODEL_NAME = "the model's name (mlops models list)"
REASON = "why, in the audit trail (and the alert)"


def _models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="the registry").add_subparsers(dest="action", required=True)
    register = models.add_parser("register", help="register or update a model spec")
    register.add_argument("spec", help="the spec's YAML or JSON file")
    _output(register)
    _output(models.add_parser("list", help="models, champions, versions"))
    show = models.add_parser("show", help="a model's spec, versions and audit trail")
    show.add_argument("name", help=MODEL_NAME)
    _output(show)
    helps = {
        "approve": "approve a pending version",
        "reject": "reject a pending version, or recall an approved one (the champion falls back to the newest "
        "other approved version it was not rolled back from)",
        "archive": "retire an approved version (never served again)",
        "promote": "point an alias at an approved version",
    }
    for action, text in helps.items():
        p = models.add_parser(action, help=text)
        p.add_argument("name", help=MODEL_NAME)
        p.add_argument("version", type=int, help="the version's number (mlops models show NAME lists them)")
        p.add_argument("--reason", default="", help=REASON)
        _output(p)
        if action == "promote":
            p.add_argument("--alias", default="champion", help="the alias to move (default: champion)")
            p.add_argument(
                "--expected-version",
                type=int,
                help="move it only while it points at this version (else ConflictError): another's move is not undone",
            )
    rollout = models.add_parser("rollout", help="canary or shadow a challenger version; --stop ends it")
    rollout.add_argument("name", help=MODEL_NAME)
    rollout.add_argument("version", type=int, nargs="?", help="the approved version to try beside the champion")
    rollout.add_argument("--weight", type=float, help="share of traffic the challenger answers (0..1)")
    rollout.add_argument(
        "--shadow", action="store_true", help="score the challenger on every request, answer with the champion"
    )
    rollout.add_argument("--stop", action="store_true", help="end the rollout: the champion answers all traffic")
    rollout.add_argument("--reason", default="", help=REASON)
    _output(rollout)
    rollback = models.add_parser("rollback", help="point an alias back at the version it served before")
    rollback.add_argument("name", help=MODEL_NAME)
    rollback.add_argument("--alias", default="champion", help="the alias to move back (default: champion)")
    rollback.add_argument("--reason", default="", help=REASON)
    _output(rollback)
    card = models.add_parser("card", help="a version's model card (default: the champion's), from the registry")
    card.add_argument("name", help=MODEL_NAME)
    card.add_argument("version", type=int, nargs="?", help="the version (default: the champion)")
    card.add_argument("--format", choices=("md", "html", "json"), default="md", help="json: its sections as data")
    card.add_argument("--out", help="a file to write (default: standard output)")
    approve_spec = models.add_parser(
        "approve-spec", help="apply a spec change that loosens governance (not the proposer's to apply)"
    )
    approve_spec.add_argument("name", help=MODEL_NAME)
    approve_spec.add_argument("--reason", default="", help=REASON)
    _output(approve_spec)
    audit = models.add_parser("audit", help="a model's audit trail: every change, by whom (principal ARN) and when")
    audit.add_argument("name", help=MODEL_NAME)
    _output(audit)
    sub.choices["models"].set_defaults(func=cmd_models)


def _local_parser(sub: Any) -> None:
    local = sub.add_parser("local", help="the embedded AWS").add_subparsers(dest="action", required=True)
    up = local.add_parser(
        "up",
        help="deploy cdk.out into an embedded AWS on 127.0.0.1 and serve the API, until Ctrl-C",
        description="Deploy cdk.out into an embedded AWS on 127.0.0.1 and serve the API until Ctrl-C (or SIGTERM). "
        "It keeps everything in memory: once stopped, its models, data, runs, audit trail and alerts are gone, and "
        "the next one starts empty.",
    )
    up.add_argument("--port", type=int, default=5000, help="the embedded AWS's port (AWS_ENDPOINT_URL)")
    up.add_argument("--api-port", type=int, default=3000, help="the REST API's port")
    up.add_argument("--api-key", default=None, help="require this x-api-key on the API")
    up.add_argument(
        "--idle-seconds", type=float, default=10.0, help="recycle a function's container after this long idle"
    )
    up.set_defaults(func=cmd_local_up)
    status = local.add_parser("status", help="endpoints, models and running executions of the local target")
    _output(status)
    status.set_defaults(func=cmd_local_status)
    alerts = local.add_parser("alerts", help="what the platform alerted since the last look (each shown once)")
    _output(alerts)
    alerts.set_defaults(func=cmd_local_alerts)
    fire = local.add_parser("fire", help="deliver a model's scheduled retraining event now")
    fire.add_argument("name", help=MODEL_NAME)
    fire.set_defaults(func=cmd_local_fire)


def _pipeline_parser(sub: Any) -> None:
    pipeline = sub.add_parser("pipeline", help="the training pipeline").add_subparsers(dest="action", required=True)
    run = pipeline.add_parser("run", help="run the training pipeline, showing each step")
    run.add_argument("name", help=MODEL_NAME)
    run.add_argument("--dataset-uri", default=None, help="train on this file or folder (default: the newest)")
    run.add_argument("--force", action="store_true", help="train even when there is nothing new to learn")
    run.add_argument("--no-wait", dest="wait", action="store_false", help="print the execution and return at once")
    _output(run)
    report = pipeline.add_parser("report", help="download the validation report of a run")
    report.add_argument("name", help=MODEL_NAME)
    report.add_argument("run_id", help="the run (mlops runs list NAME)")
    report.add_argument("--out", default="reports", help="the folder to write it to")
    _output(report)
    sub.choices["pipeline"].set_defaults(func=cmd_pipeline)


def _runs_parser(sub: Any) -> None:
    runs = sub.add_parser("runs", help="the record of every training run").add_subparsers(dest="action", required=True)
    listing = runs.add_parser("list", help="a model's runs, newest first")
    listing.add_argument("name", help=MODEL_NAME)
    listing.add_argument("--limit", type=_at_least_one, default=20, help="the newest runs to list (20)")
    _output(listing)
    show = runs.add_parser("show", help="one run in full")
    show.add_argument("run_id", help="the run (mlops runs list NAME)")
    _output(show)
    compare = runs.add_parser("compare", help="runs side by side: parameters and metrics, differences marked")
    compare.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more runs")
    _output(compare)
    sub.choices["runs"].set_defaults(func=cmd_runs)


def _batch_parser(sub: Any) -> None:
    batch = sub.add_parser("batch", help="batch scoring").add_subparsers(dest="action", required=True)
    predict = batch.add_parser("predict", help="score the files under an S3 prefix, writing Parquet predictions")
    predict.add_argument("name", help=MODEL_NAME)
    predict.add_argument("--input", help="s3://<data bucket>/<prefix>/ of .csv/.parquet files (default: batch.input)")
    predict.add_argument("--output", help="s3://<data bucket>/<prefix>/ to write under (default: batch.output)")
    predict.add_argument("--version", type=int, help="an approved version (default: the champion)")
    predict.add_argument("--chunk-mb", type=float, default=256, help="input megabytes per scoring job (256)")
    predict.add_argument(
        "--lambda-mb",
        type=float,
        default=64,
        help="a chunk of at most this many megabytes (stored size, at most 256) is scored in Lambda, a larger one in "
        "a Batch job (64; 0: Batch only)",
    )
    predict.add_argument("--wait", action="store_true", help="wait for the batch, showing each step and the counts")
    predict.add_argument(
        "--json", action="store_true", help="print the execution (and with --wait its manifest) as JSON"
    )
    sub.choices["batch"].set_defaults(func=cmd_batch)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps for tabular models on AWS.")
    sub = root.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole lifecycle of the bundled example on the local target")
    demo.add_argument("--report-dir", default="reports/demo", help="where its reports go")
    demo.add_argument(
        "--feature-store",
        action="store_true",
        help="the feature store's lifecycle instead: a fraud model served by card id",
    )
    demo.set_defaults(func=cmd_demo)
    _local_parser(sub)
    _models_parser(sub)
    audit = sub.add_parser("audit", help="the audit trail, as exported under Object Lock").add_subparsers(
        dest="action", required=True
    )
    export = audit.add_parser("export", help="a model's (or a view's) exported audit records, as JSON lines")
    export.add_argument("name", help="the model's (or, with --view, the view's) name")
    export.add_argument("--view", action="store_true", help="NAME is a feature view")
    export.add_argument("--out", help="the JSON lines file (default: NAME-audit.jsonl)")
    sub.choices["audit"].set_defaults(func=cmd_audit)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="action", required=True)
    upload = data.add_parser(
        "upload", help="upload a CSV or parquet file, or a folder of them, as the model's newest dataset"
    )
    upload.add_argument("name", help=MODEL_NAME)
    upload.add_argument("file", help="a .csv, .csv.gz or .parquet file of labelled rows")
    _output(upload)
    sub.choices["data"].set_defaults(func=cmd_data)
    code = sub.add_parser("code", help="a model's own training code (estimator kind custom)")
    code_upload = code.add_subparsers(dest="action", required=True).add_parser(
        "upload", help="store a folder or a wheel by its SHA-256; the model's next runs train with it"
    )
    code_upload.add_argument("name", help=MODEL_NAME)
    code_upload.add_argument("path", help="a folder of Python code (zipped reproducibly) or a .whl file")
    _output(code_upload)
    code.set_defaults(func=cmd_code)
    _pipeline_parser(sub)

    predict = sub.add_parser("predict", help="call the prediction API")
    predict.add_argument("name", help=MODEL_NAME)
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--file", help="a JSON file: a request body (instances or dataframe_split), a list of rows, or a row"
    )
    source.add_argument("--json", help="the same, inline")
    predict.set_defaults(func=cmd_predict)

    feedback = sub.add_parser("feedback", help="send ground-truth labels (request_id,row_index,label) to the API")
    feedback.add_argument("name", help=MODEL_NAME)
    feedback.add_argument("--file", required=True, help="a .csv with a header, or .jsonl")
    _output(feedback)
    feedback.set_defaults(func=cmd_feedback)

    _runs_parser(sub)
    _batch_parser(sub)
    _features_parser(sub)

    monitor = sub.add_parser("monitor", help="the scheduled monitor").add_subparsers(dest="action", required=True)
    mrun = monitor.add_parser("run", help="fire the monitor schedule now")
    mrun.add_argument("--model", action="append", help="check only this model (repeatable; default: all)")
    _output(mrun)
    report = monitor.add_parser("report", help="download and open the HTML report of a model's last check")
    report.add_argument("name", help=MODEL_NAME)
    report.add_argument("--out", default="reports", help="the folder to write it to")
    _output(report)
    sub.choices["monitor"].set_defaults(func=cmd_monitor)
    return root


def _did_you_mean(args: argparse.Namespace, exc: MlopsError) -> str:
    """For a model name that is not registered, the registered name closest to it, if one is close."""
    import difflib

    from mlcore.errors import ModelNotFoundError

    name = getattr(args, "name", None)
    if not isinstance(exc, ModelNotFoundError) or not isinstance(name, str):
        return ""
    try:
        names = [spec.name for spec in _platform().registry.list_specs()]
    except MlopsError:  # only a hint: the error itself is what the user must see
        return ""
    if name in names:  # registered (without a champion, say): nothing to correct
        return ""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    return f" (did you mean '{close[0]}'?)" if close else ""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # what was started goes on: the commands that wait say what and where
        err.print("Interrupted.")
        return 130
    except Exception as exc:
        said = _failure(args, exc)
        if said is None:  # not a failure we can explain: a bug, with its traceback
            raise
        err.print(said, style="red")
        return 1


def _failure(args: argparse.Namespace, exc: Exception) -> str | None:
    """A command's failure in a line for a person; None for one we cannot explain."""
    from infra.operations import DeploymentNotFoundError, StillRunningError  # only once a command failed

    if isinstance(exc, MlopsError):
        return f"{type(exc).__name__}: {exc.message}{_did_you_mean(args, exc)}"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file" if exc.filename else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError) and not isinstance(exc, StillRunningError):  # a change asked for may be done
        return (
            f"{type(exc).__name__}: {exc}: the platform did not answer in time. What the command asked for may have "
            "been done: look before repeating it (mlops models show NAME, mlops models audit NAME, mlops runs list "
            "NAME)"
        )
    # a missing endpoint, a labels file of the wrong shape, no deployment
    if isinstance(exc, (OSError, ValueError, DeploymentNotFoundError)):
        return f"{type(exc).__name__}: {exc}"
    # AWS's answer or botocore's (no credentials, no region, nothing at the endpoint): its own words say what is wrong
    if type(exc).__module__.startswith("botocore."):  # named without importing botocore on every verb
        local = type(exc).__name__ == "EndpointConnectionError" and _state()  # killed: its state file is left
        stopped = ". No local target answers there: start one with `mlops local up`." if local else ""
        return f"{type(exc).__name__}: {exc}{stopped}"
    return None


if __name__ == "__main__":
    sys.exit(main())
