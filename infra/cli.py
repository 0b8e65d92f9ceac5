"""The `mlops` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlcore.errors import MlopsError

console = Console()
err = Console(stderr=True)


def _platform() -> Any:
    from infra.local.target import read_state
    from infra.operations import Platform, Resources

    state = read_state() if os.environ.get("AWS_ENDPOINT_URL") else None
    if state and state["endpoint"] != os.environ["AWS_ENDPOINT_URL"]:
        state = None
    return Platform(Resources.discover(state))


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.local.demo import Demo

    result = Demo(Path(args.report_dir)).run()
    total = result.steps[-1][1]
    console.print(f"[bold green]Demo finished in {total:.1f} s[/]")
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from infra.local.target import LocalTarget

    with console.status("Synthesizing the CDK app and deploying it into the embedded AWS…"):
        target = LocalTarget(moto_port=args.port, api_port=args.api_port, api_key=args.api_key).start()
    console.print(
        f"Embedded AWS: [bold]{target.endpoint}[/]   REST API: [bold]{target.api.url if target.api else '-'}[/]"
    )
    console.print(
        f"In another shell: [bold]export AWS_ENDPOINT_URL={target.endpoint} AWS_ACCESS_KEY_ID=local "
        "AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1[/] then use mlops. Ctrl-C stops."
    )
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
    target.stop()
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    platform = _platform()
    registry = platform.registry
    if args.action == "register":
        spec = platform.register_spec(Path(args.spec))
        console.print(f"Registered '{spec.name}' ({spec.task}, {len(spec.features)} features)")
    elif args.action == "list":
        table = Table("model", "task", "champion", "versions")
        for spec in registry.list_specs():
            alias = registry.get_alias(spec.name)
            table.add_row(
                spec.name, spec.task, str(alias.version) if alias else "-", str(len(registry.list_versions(spec.name)))
            )
        console.print(table)
    elif args.action == "show":
        alias = registry.get_alias(args.name)
        out = {
            "spec": registry.get_spec(args.name).model_dump(mode="json"),
            "champion": alias.model_dump() if alias else None,
            "versions": [v.model_dump(mode="json") for v in registry.list_versions(args.name)],
            "audit": [a.model_dump() for a in registry.audit_trail(args.name)][-20:],
        }
        console.print_json(json.dumps(out, default=str))
    elif args.action == "approve":
        from mlcore.registry import VersionStatus

        registry.set_status(args.name, args.version, VersionStatus.APPROVED, platform_actor(), args.reason)
        console.print(f"Approved {args.name} v{args.version}")
    elif args.action == "promote":
        record = registry.set_alias(args.name, args.alias, args.version, platform_actor(), args.reason)
        console.print(f"{args.name}: {args.alias} → v{record.version} (was v{record.previous_version})")
    elif args.action == "rollout":
        cmd_rollout(registry, args)
    elif args.action == "rollback":
        record = registry.rollback(args.name, platform_actor(), args.alias)
        console.print(f"{args.name}: {args.alias} rolled back to v{record.version}")
    return 0


def cmd_rollout(registry: Any, args: argparse.Namespace) -> None:
    """Start, change or end a challenger rollout (canary weight or shadow)."""
    from mlcore.registry import CHALLENGER, RolloutMode

    if args.stop:
        registry.remove_alias(args.name, CHALLENGER, platform_actor(), args.reason or "rollout ended")
        console.print(f"{args.name}: rollout ended, the champion serves all traffic")
        return
    if args.version is None or (args.weight is None) == (not args.shadow):
        raise SystemExit("mlops models rollout NAME VERSION (--weight W | --shadow), or NAME --stop")
    mode = RolloutMode.SHADOW if args.shadow else RolloutMode.CANARY
    weight = 0.0 if args.shadow else args.weight
    if not 0.0 <= weight <= 1.0:
        raise SystemExit("--weight must be between 0 and 1")
    record = registry.set_alias(
        args.name, CHALLENGER, args.version, platform_actor(), args.reason, mode=mode, weight=weight
    )
    share = "shadow: scored on every request, never answers" if args.shadow else f"answers {weight:.0%} of traffic"
    console.print(f"{args.name}: challenger v{record.version} ({share})")


def platform_actor() -> str:
    from infra.operations import ACTOR

    return ACTOR


def cmd_data(args: argparse.Namespace) -> int:
    path = Path(args.file)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".csv.gz") else path.suffix
    uri = _platform().upload_dataset(args.name, path.read_bytes(), suffix)
    console.print(f"Uploaded {path} → {uri}")
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    platform = _platform()
    arn = platform.start_pipeline(args.name, args.dataset_uri, reason="cli")
    console.print(f"Started {arn}")
    if not args.wait:
        return 0
    execution = platform.wait(arn, on_step=lambda s: console.print(f"  → {s}"))
    console.print(f"{execution['status']}: {execution.get('output') or execution.get('cause') or ''}")
    return 0 if execution["status"] == "SUCCEEDED" else 1


def cmd_predict(args: argparse.Namespace) -> int:
    body = json.loads(Path(args.file).read_text() if args.file else args.json)
    instances = body["instances"] if isinstance(body, dict) else body
    status, response = _platform().predict(args.name, instances)
    console.print_json(json.dumps(response))
    return 0 if status == 200 else 1


def cmd_monitor(args: argparse.Namespace) -> int:
    platform = _platform()
    if args.action == "run":
        arn = platform.start_monitor(force=True, models=args.model or None)
        console.print(f"Started {arn}")
        execution = platform.wait(arn, on_step=lambda s: console.print(f"  → {s}"))
        console.print_json(execution.get("output") or "{}")
        return 0 if execution["status"] == "SUCCEEDED" else 1
    if args.action == "report":
        return monitor_report(platform, args.name, Path(args.out))
    return 2


def monitor_report(platform: Any, name: str, out: Path) -> int:
    """Download the HTML report of a model's last check and open it."""
    import webbrowser

    check = platform.registry.get_monitor_state(name).last_check
    if check is None or check.report is None:
        err.print(f"'{name}' has no drift report yet: run `mlops monitor run` after some traffic")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{check.check_id}.html"
    path.write_bytes(platform.artifacts.get_verified(check.report))
    console.print(f"{check.summary}\nReport: {path}")
    # Only where a graphical browser can open it: a text browser would take over a headless terminal.
    if os.environ.get("DISPLAY") or os.environ.get("BROWSER") or sys.platform == "darwin":
        webbrowser.open(path.resolve().as_uri())
    return 0


def _models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="the registry").add_subparsers(dest="action", required=True)
    models.add_parser("register").add_argument("spec")
    models.add_parser("list")
    models.add_parser("show").add_argument("name")
    for action in ("approve", "promote"):
        p = models.add_parser(action)
        p.add_argument("name")
        p.add_argument("version", type=int)
        p.add_argument("--reason", default="")
        if action == "promote":
            p.add_argument("--alias", default="champion")
    rollout = models.add_parser("rollout", help="canary or shadow a challenger version; --stop ends it")
    rollout.add_argument("name")
    rollout.add_argument("version", type=int, nargs="?")
    rollout.add_argument("--weight", type=float, help="share of traffic the challenger answers (0..1)")
    rollout.add_argument(
        "--shadow", action="store_true", help="score the challenger on every request, answer with the champion"
    )
    rollout.add_argument("--stop", action="store_true")
    rollout.add_argument("--reason", default="")
    rollback = models.add_parser("rollback")
    rollback.add_argument("name")
    rollback.add_argument("--alias", default="champion")
    sub.choices["models"].set_defaults(func=cmd_models)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps for tabular models on AWS.")
    sub = root.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole lifecycle of the bundled example on the local target")
    demo.add_argument("--report-dir", default="reports/demo")
    demo.set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the embedded AWS").add_subparsers(dest="action", required=True)
    up = local.add_parser("up", help="deploy cdk.out into an embedded AWS on 127.0.0.1 and serve the API")
    up.add_argument("--port", type=int, default=5000)
    up.add_argument("--api-port", type=int, default=3000)
    up.add_argument("--api-key", default=None, help="require this x-api-key on the API")
    up.set_defaults(func=cmd_local_up)

    _models_parser(sub)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="action", required=True)
    upload = data.add_parser("upload", help="upload a CSV or parquet file as the model's newest dataset")
    upload.add_argument("name")
    upload.add_argument("file")
    sub.choices["data"].set_defaults(func=cmd_data)

    pipeline = sub.add_parser("pipeline", help="the training pipeline").add_subparsers(dest="action", required=True)
    run = pipeline.add_parser("run")
    run.add_argument("name")
    run.add_argument("--dataset-uri", default=None)
    run.add_argument("--no-wait", dest="wait", action="store_false")
    sub.choices["pipeline"].set_defaults(func=cmd_pipeline)

    predict = sub.add_parser("predict", help="call POST /models/{name}/predict")
    predict.add_argument("name")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--file")
    source.add_argument("--json")
    predict.set_defaults(func=cmd_predict)

    monitor = sub.add_parser("monitor", help="the scheduled monitor").add_subparsers(dest="action", required=True)
    mrun = monitor.add_parser("run", help="fire the monitor schedule now")
    mrun.add_argument("--model", action="append")
    report = monitor.add_parser("report", help="download and open the HTML report of a model's last check")
    report.add_argument("name")
    report.add_argument("--out", default="reports")
    sub.choices["monitor"].set_defaults(func=cmd_monitor)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MlopsError as exc:
        err.print(f"[red]{type(exc).__name__}[/]: {exc.message}")
        return 1
    except Exception as exc:
        from infra.local.demo import DemoError
        from infra.operations import DeploymentNotFoundError

        if isinstance(exc, DemoError | DeploymentNotFoundError):
            err.print(f"[red]{type(exc).__name__}[/]: {exc}")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
