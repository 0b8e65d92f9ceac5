"""EventBridge where moto stops short, from the template's rules: the one module that supplies it.

moto matches events against rules but delivers to no Step Functions target, never fires a
schedule, applies no input transformer to S3's events and gives every S3 event the same id.
Here, as AWS does:
- a rule's Step Functions targets start an execution with the target's `Input` or
  `InputTransformer` applied to the event (`deliver`, called by the hook on moto's rules);
- S3's events get an id of their own and an ISO 8601 time (`as_sent_by_aws`);
- scheduled rules fire at their rate or cron (`Scheduler`), with the event AWS sends;
- `Scheduler.fire` delivers a rule's scheduled event now (`mlops local fire MODEL`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.local.template import ACCOUNT
from mlcore.schedules import parse_schedule

log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"<([\w.-]+)>")


def _at_path(event: dict[str, Any], path: str) -> Any:
    """The value at a JSONPath of dotted names (`$.detail.object.key`), or None."""
    value: Any = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fill(template: str, values: dict[str, Any]) -> str:
    """Replace each `<name>` of an input template: as JSON outside a string, as its text inside one."""
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(template):
        char = template[i]
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            out.append(json.dumps(str(value))[1:-1] if in_string else json.dumps(value))
            i = match.end()
            continue
        if in_string and not escaped and char == '"':
            in_string = False
        elif not in_string and char == '"':
            in_string = True
        escaped = in_string and char == "\\" and not escaped
        out.append(char)
        i += 1
    return "".join(out)


def transform(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The input a target receives: its constant `Input`, its `InputTransformer` applied, or the event.

    A placeholder outside quotes becomes the value as JSON (a string with its quotes); inside a
    quoted string, the value's text.
    """
    if "Input" in target:
        return str(target["Input"])
    transformer = target.get("InputTransformer")
    if transformer is None:
        return json.dumps(event)
    values = {name: _at_path(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    return _fill(transformer["InputTemplate"], values)


def as_sent_by_aws(event: dict[str, Any]) -> dict[str, Any]:
    """An event moto made, with what AWS gives every event: its own id and an ISO 8601 time."""
    sent = dict(event)
    sent["id"] = str(uuid.uuid4())
    if not isinstance(sent.get("time"), str) or not sent["time"]:
        sent["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return sent


@dataclass
class Delivery:
    """Starts the executions a rule's Step Functions targets ask for; counts what it delivered."""

    client: Callable[[str], Any]
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (state machine ARN, input)

    def deliver(self, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        for target in targets:
            if ":states:" not in target["Arn"]:
                continue
            payload = transform(target, event)
            try:
                # EventBridge names each execution it starts with a fresh id (moto would name it "None")
                self.client("stepfunctions").start_execution(
                    stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=payload
                )
            except Exception:  # moto drops what its S3 notifications raise: say it here
                log.exception("delivering an event to %s failed", target["Arn"])
                raise
            self.delivered.append((target["Arn"], payload))


@dataclass
class ScheduledRule:
    name: str
    arn: str
    expression: str
    targets: list[dict[str, Any]]
    last: datetime  # when it last fired (or was created)


def scheduled_event(rule: ScheduledRule, region: str, at: datetime) -> dict[str, Any]:
    """The event EventBridge sends when a schedule fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.arn],
        "detail": {},
    }


class Scheduler:
    """Fires the deployed scheduled rules at their rate or cron, while the local target runs."""

    def __init__(self, delivery: Delivery, region: str) -> None:
        self.delivery = delivery
        self.region = region
        self.rules: dict[str, ScheduledRule] = {}
        self._stopping = threading.Event()

    def add(self, name: str, expression: str, targets: list[dict[str, Any]], now: datetime | None = None) -> None:
        arn = f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{name}"
        self.rules[name] = ScheduledRule(name, arn, expression, targets, now or datetime.now(UTC))

    def tick(self, now: datetime | None = None) -> list[str]:
        """Fire every rule whose schedule came due since it last fired; returns their names."""
        now = now or datetime.now(UTC)
        fired = []
        for rule in self.rules.values():
            if parse_schedule(rule.expression).due(rule.last, now):
                rule.last = now
                self.delivery.deliver(rule.targets, scheduled_event(rule, self.region, now))
                fired.append(rule.name)
        return fired

    def fire(self, target_arn: str, add: dict[str, Any]) -> list[str]:
        """Deliver now the scheduled event of the rules targeting `target_arn`, each input with `add` merged in."""
        fired = []
        for rule in self.rules.values():
            targets = [
                {"Id": t["Id"], "Arn": t["Arn"], "Input": json.dumps({**json.loads(transform(t, event)), **add})}
                for event in [scheduled_event(rule, self.region, datetime.now(UTC))]
                for t in rule.targets
                if t["Arn"] == target_arn
            ]
            if targets:
                self.delivery.deliver(targets, {})
                fired.append(rule.name)
        return fired

    def run(self, interval: float = 1.0) -> None:
        while not self._stopping.wait(interval):
            try:
                self.tick()
            except Exception:  # a failed delivery is logged; the schedule keeps running, as AWS retries
                log.exception("delivering a scheduled event failed")

    def start(self) -> Scheduler:
        threading.Thread(target=self.run, name="local-scheduler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
