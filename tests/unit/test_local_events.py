"""The local target's EventBridge: input transformers, S3's event ids, schedules that fire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.events import Delivery, Scheduler, as_sent_by_aws, transform

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:retraining"
S3_EVENT = {
    "id": "17793124-05d4-b198-2fde-7ededc63b103",  # moto's one id for every S3 event
    "time": 1740830400.0,
    "source": "aws.s3",
    "detail": {"object": {"key": 'datasets/churn/a "b".csv'}},
}


class FakeSfn:
    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []

    def start_execution(self, **kwargs: str) -> None:
        self.started.append(kwargs)


def delivery() -> tuple[Delivery, FakeSfn]:
    sfn = FakeSfn()
    return Delivery(lambda service: sfn), sfn


def test_an_input_transformer_puts_values_as_json_outside_strings_and_as_text_inside() -> None:
    # the template the CDK writes for RuleTargetInput.from_object with EventFields
    target = {
        "Arn": MACHINE,
        "InputTransformer": {
            "InputPathsMap": {"id": "$.id", "detail-object-key": "$.detail.object.key", "gone": "$.detail.nothing"},
            "InputTemplate": '{"event_id":<id>,"key":<detail-object-key>,"note":"key <detail-object-key>","x":<gone>}',
        },
    }
    assert json.loads(transform(target, S3_EVENT)) == {
        "event_id": S3_EVENT["id"],
        "key": 'datasets/churn/a "b".csv',
        "note": 'key datasets/churn/a "b".csv',
        "x": None,
    }


def test_a_constant_input_wins_and_no_input_passes_the_event() -> None:
    assert transform({"Arn": MACHINE, "Input": '{"source":"schedule"}'}, S3_EVENT) == '{"source":"schedule"}'
    assert json.loads(transform({"Arn": MACHINE}, S3_EVENT)) == S3_EVENT


def test_each_s3_event_gets_its_own_id_and_an_iso_time() -> None:
    first, second = as_sent_by_aws(S3_EVENT), as_sent_by_aws(S3_EVENT)
    assert first["id"] != second["id"] != S3_EVENT["id"]
    assert datetime.strptime(first["time"], "%Y-%m-%dT%H:%M:%SZ")


def test_delivery_starts_each_step_functions_target_with_a_fresh_name() -> None:
    deliver, sfn = delivery()
    target = {"Arn": MACHINE, "Id": "t", "Input": "{}"}
    deliver.deliver([target, target, {"Arn": "arn:aws:sqs:us-east-1:1:q", "Id": "q"}], {})
    assert [s["stateMachineArn"] for s in sfn.started] == [MACHINE, MACHINE]  # not the queue
    assert len({s["name"] for s in sfn.started}) == 2


def tick_target() -> dict[str, Any]:
    return {
        "Arn": MACHINE,
        "Id": "t",
        "InputTransformer": {
            "InputPathsMap": {"id": "$.id", "time": "$.time"},
            "InputTemplate": '{"trigger":"schedule","event_id":<id>,"at":<time>}',
        },
    }


def test_a_rate_rule_fires_once_per_period_with_the_event_aws_sends() -> None:
    deliver, sfn = delivery()
    scheduler = Scheduler(deliver, "us-east-1")
    scheduler.add("tick", "rate(5 minutes)", [tick_target()], now=START)
    assert scheduler.tick(START + timedelta(minutes=4, seconds=59)) == []
    assert scheduler.tick(START + timedelta(minutes=5)) == ["tick"]
    assert scheduler.tick(START + timedelta(minutes=9)) == []
    assert scheduler.tick(START + timedelta(minutes=10)) == ["tick"]
    inputs = [json.loads(s["input"]) for s in sfn.started]
    assert [i["at"] for i in inputs] == ["2025-03-01T12:05:00Z", "2025-03-01T12:10:00Z"]
    assert inputs[0]["trigger"] == "schedule" and inputs[0]["event_id"] != inputs[1]["event_id"]


def test_a_cron_rule_fires_at_its_times() -> None:
    deliver, sfn = delivery()
    assert sfn.started == []
    scheduler = Scheduler(deliver, "us-east-1")
    scheduler.add("daily", "cron(0 6 * * ? *)", [tick_target()], now=START)
    assert scheduler.tick(START + timedelta(hours=17, minutes=59)) == []  # 05:59 the next day
    assert scheduler.tick(START + timedelta(hours=18)) == ["daily"]  # 06:00
    assert scheduler.tick(START + timedelta(hours=18, minutes=30)) == []
    assert len(sfn.started) == 1


def test_firing_delivers_the_rules_event_now_with_the_model_added() -> None:
    deliver, sfn = delivery()
    scheduler = Scheduler(deliver, "us-east-1")
    scheduler.add("tick", "rate(5 minutes)", [tick_target()], now=START)
    scheduler.add("monitor", "rate(1 hour)", [{"Arn": "arn:aws:states:us-east-1:1:stateMachine:monitor", "Id": "m"}])
    assert scheduler.fire(MACHINE, {"model_name": "churn"}) == ["tick"]
    [started] = sfn.started
    body = json.loads(started["input"])
    assert (body["trigger"], body["model_name"]) == ("schedule", "churn") and body["event_id"]
