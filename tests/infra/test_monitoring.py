"""MonitoringStack: the schedule targets the monitor state machine; alarms notify the alerts topic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Synthesized


def test_schedule_starts_the_monitor_state_machine(synthesized: Synthesized) -> None:
    template = synthesized.raw("MlopsMonitoring")
    (rule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    (target,) = rule["Targets"]
    machine_id = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine")
    assert target["Arn"] == {"Ref": machine_id}
    assert json.loads(target["Input"]) == {"source": "schedule"}


def test_alarms_on_api_errors_and_failed_executions_notify_alerts(synthesized: Synthesized) -> None:
    alarms = [r["Properties"] for _, r in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    assert sorted(a["MetricName"] for a in alarms) == [
        "5XXError",
        "DatasetDrift",
        "ExecutionsFailed",
        "ExecutionsFailed",
        "PerformanceDegraded",
    ]
    assert {a["Namespace"] for a in alarms if a["MetricName"] in ("DatasetDrift", "PerformanceDegraded")} == {"Mlops"}
    for alarm in alarms:
        assert "DataPlaneAlerts" in json.dumps(alarm["AlarmActions"])


def test_no_email_subscription_without_an_address(synthesized: Synthesized) -> None:
    assert not synthesized.resources("AWS::SNS::Subscription")
