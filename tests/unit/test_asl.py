"""The ASL renderer: strict about keys, blind to JSONPath and task tokens."""

from __future__ import annotations

import json

import pytest

from infra.asl import AslSubstitutionError, asl_path, placeholders, render_asl

DEFINITION = json.dumps(
    {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "${ApproveFunctionArn}",
                    "Payload": {"token.$": "$$.Task.Token", "model.$": "$.model_name", "topic": "${TopicArn}"},
                },
                "End": True,
            }
        },
    }
)
VALUES = {"ApproveFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:approve", "TopicArn": "arn:sns:t"}


def test_render_fills_every_placeholder_and_leaves_paths_alone() -> None:
    rendered = json.loads(render_asl(DEFINITION, VALUES))
    parameters = rendered["States"]["Wait"]["Parameters"]
    assert parameters["FunctionName"] == VALUES["ApproveFunctionArn"]
    assert parameters["Payload"] == {"token.$": "$$.Task.Token", "model.$": "$.model_name", "topic": "arn:sns:t"}


def test_render_fails_on_a_missing_value() -> None:
    with pytest.raises(AslSubstitutionError, match=r"missing a value: \['TopicArn'\]"):
        render_asl(DEFINITION, {"ApproveFunctionArn": "x"})


def test_render_fails_on_an_unused_value() -> None:
    with pytest.raises(AslSubstitutionError, match=r"values with no placeholder: \['Typo'\]"):
        render_asl(DEFINITION, {**VALUES, "Typo": "x"})


@pytest.mark.parametrize("name", ["training", "monitor"])
def test_bundled_state_machines_render_to_json(name: str) -> None:
    text = asl_path(name).read_text()
    names = placeholders(text)
    assert names, "every bundled state machine takes its resources as placeholders"
    rendered = json.loads(render_asl(text, {key: f"arn:test:{key}" for key in names}))
    assert "${" not in json.dumps(rendered)
    assert rendered["StartAt"] in rendered["States"]


def test_a_chunk_in_lambda_waits_out_throttling_and_an_inactive_function() -> None:
    # a chunk runs for minutes: the account's concurrency is shared, and an image function idle for weeks is
    # inactive until its first call readies it; both are retried with backoff and jitter for many minutes
    machine = json.loads(asl_path("batch_scoring").read_text())
    processor = machine["States"]["Score"]["ItemProcessor"]
    assert processor["States"]["Runner"]["Choices"] == [
        {"Variable": "$.runner", "StringEquals": "lambda", "Next": "ScoreChunkInLambda"}
    ]
    assert processor["States"]["Runner"]["Default"] == "ScoreChunk"  # the Batch job
    [retry] = processor["States"]["ScoreChunkInLambda"]["Retry"]
    assert {"Lambda.TooManyRequestsException", "Lambda.ResourceNotReadyException"} <= set(retry["ErrorEquals"])
    assert (retry["MaxAttempts"], retry["JitterStrategy"]) == (8, "FULL")
    waits = [min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"]) for n in range(8)]
    assert sum(waits) >= 15 * 60
