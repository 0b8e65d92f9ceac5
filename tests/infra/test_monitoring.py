"""MonitoringStack: the schedule targets the monitor state machine; alarms notify the alerts topic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Synthesized


def rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def machine(template: dict[str, Any], construct_id: str) -> str:
    """The logical id of the Monitor construct's state machine `construct_id`."""
    return next(
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith(f"Monitor{construct_id}")
    )


def test_schedule_starts_the_monitor_state_machine(synthesized: Synthesized) -> None:
    template = synthesized.raw("MlopsMonitoring")
    [rule] = [r for k, r in rules(template).items() if k.startswith("MonitorSchedule")]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": machine(template, "StateMachine")}
    assert json.loads(target["Input"]) == {"source": "schedule"}


def test_the_retrain_tick_and_data_drops_reach_the_retraining_state_machine(synthesized: Synthesized) -> None:
    template = synthesized.raw("MlopsMonitoring")
    [tick] = [r for k, r in rules(template).items() if k.startswith("MonitorRetrainTick")]
    [drops] = [r for k, r in rules(template).items() if k.startswith("MonitorDataDrops")]
    assert tick["ScheduleExpression"] == "rate(5 minutes)"
    retraining = {"Ref": machine(template, "Retraining")}
    assert tick["Targets"][0]["Arn"] == drops["Targets"][0]["Arn"] == retraining
    # the tick says which event it is; the drop which object landed
    assert tick["Targets"][0]["InputTransformer"]["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
    transformer = drops["Targets"][0]["InputTransformer"]
    assert transformer["InputPathsMap"] == {"id": "$.id", "time": "$.time", "detail-object-key": "$.detail.object.key"}
    assert json.loads(
        transformer["InputTemplate"]
        .replace("<id>", '"i"')
        .replace("<time>", '"t"')
        .replace("<detail-object-key>", '"k"')
    ) == {"trigger": "new_data", "event_id": "i", "at": "t", "key": "k"}
    pattern = drops["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.s3"], ["Object Created"])
    assert pattern["detail"]["object"] == {"key": [{"prefix": "datasets/"}]}
    assert "DataPlaneData" in json.dumps(pattern["detail"]["bucket"])


def test_the_data_bucket_sends_its_events_to_eventbridge(synthesized: Synthesized) -> None:
    [bucket] = [
        r["Properties"] for k, r in synthesized.raw("MlopsData")["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and k.startswith("DataPlaneData")
    ]  # fmt: skip
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_alarms_on_api_errors_and_failed_executions_notify_alerts(synthesized: Synthesized) -> None:
    alarms = [r["Properties"] for _, r in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    metric_alarms = [a for a in alarms if "MetricName" in a]  # the others: every model's (test_operations_dashboard)
    assert len(alarms) - len(metric_alarms) == 2
    assert sorted(a["MetricName"] for a in metric_alarms) == [
        "5XXError",
        "DatasetDrift",
        "ExecutionsFailed",
        "ExecutionsFailed",
        "ExecutionsFailed",
        "ExecutionsFailed",
        "PerformanceDegraded",
        "StaleFeatureViews",
    ]
    drift = ("DatasetDrift", "PerformanceDegraded")
    assert {a["Namespace"] for a in metric_alarms if a["MetricName"] in drift} == {"Mlops"}
    for alarm in alarms:
        assert "DataPlaneAlerts" in json.dumps(alarm["AlarmActions"])


def test_no_email_subscription_without_an_address(synthesized: Synthesized) -> None:
    assert not synthesized.resources("AWS::SNS::Subscription")


def test_the_feature_stores_tick_materializes_and_a_stale_view_alarms(synthesized: Synthesized) -> None:
    rules = [
        r["Properties"] for k, (_, r) in synthesized.resources("AWS::Events::Rule").items() if "MaterializeTick" in k
    ]
    [rule] = rules
    assert "ScheduleExpression" in rule
    assert "FeatureMaterialization" in json.dumps(rule["Targets"][0]["Arn"])
    alarms = [r["Properties"] for _, r in synthesized.resources("AWS::CloudWatch::Alarm").values()]
    [stale] = [a for a in alarms if a.get("MetricName") == "StaleFeatureViews"]
    assert stale["Dimensions"] == [{"Name": "service", "Value": "materialize_features"}]
    assert (stale["Threshold"], stale["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_every_registry_change_reaches_eventbridge_through_the_tables_stream(synthesized: Synthesized) -> None:
    [registry] = [r for k, (_, r) in synthesized.resources("AWS::DynamoDB::Table").items() if "Registry" in k]
    assert registry["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    [mapping] = [
        r["Properties"]
        for _, r in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
        if "PublishRegistryEvents" in json.dumps(r["Properties"]["FunctionName"])
    ]
    assert "Registry" in json.dumps(mapping["EventSourceArn"])
    assert (mapping["StartingPosition"], mapping["BisectBatchOnFunctionError"]) == ("TRIM_HORIZON", True)
    # a record that keeps failing goes to the dead-letter queue: nothing is lost
    assert "RegistryEventsDlq" in json.dumps(mapping["DestinationConfig"]["OnFailure"])
    statements = [
        s for _, (_, policy) in synthesized.resources("AWS::IAM::Policy").items()
        if "PublishRegistryEvents" in json.dumps(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]  # fmt: skip
    [put] = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert "event-bus/default" in json.dumps(put["Resource"])
