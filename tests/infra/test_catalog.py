"""The synthesized app is what the catalog declares: functions, routes, request models, state machines, outputs, grants.

Each test compares the templates with `mlcore.catalog`, so a name declared once reaches every place
that needs it (and a change to the catalog shows up in the template, or fails here).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from mlcore.catalog import (
    FUNCTION_TAG,
    FUNCTIONS,
    IMAGE_FUNCTION_TAG,
    JOB_FUNCTIONS,
    LAYER_TAG,
    OUTPUTS,
    REPORT_FAILURE,
    ROUTES,
    SCORING_JOB,
    STATE_MACHINES,
    TRAINING_JOB,
    Access,
    FunctionArn,
    env_keys,
    tagged,
    tunable_defaults,
)
from mlcore.serving import gateway_schema

if TYPE_CHECKING:
    from conftest import Synthesized


def functions(synthesized: Synthesized, prefix: str = FUNCTION_TAG) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """`{catalog name: (stack, logical id, properties)}` of the synthesized functions (by default the catalog's
    functions; with IMAGE_FUNCTION_TAG, the jobs' functions)."""
    found = {}
    for logical, (stack, resource) in synthesized.resources("AWS::Lambda::Function").items():
        name = tagged(resource["Properties"].get("Description", ""), prefix)
        if name is not None:
            found[name] = (stack, logical, resource["Properties"])
    return found


def test_the_template_has_exactly_the_catalog_functions(synthesized: Synthesized) -> None:
    assert set(functions(synthesized)) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_is_built_from_its_catalog_entry(synthesized: Synthesized, name: str) -> None:
    entry = FUNCTIONS[name]
    stack, _, props = functions(synthesized)[name]
    assert props["Handler"] == entry.handler
    assert props["MemorySize"] == entry.memory_mb
    assert props["Timeout"] == entry.timeout_seconds
    resources = synthesized.raw(stack)["Resources"]
    layers = {tagged(resources[ref["Ref"]]["Properties"]["Description"], LAYER_TAG) for ref in props["Layers"]}
    assert layers == set(entry.layers)
    variables = props["Environment"]["Variables"]
    assert sorted(k for k in variables if not k.startswith("POWERTOOLS_")) == env_keys(entry.settings)
    for field, default in tunable_defaults(entry.settings).items():
        assert variables[field.upper()] == str(default)


def _policy_of(synthesized: Synthesized, stack: str, role_logical_id: str) -> str:
    """Every statement of the policies attached to one role, as JSON text."""
    statements = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for _, (name, policy) in synthesized.resources("AWS::IAM::Policy").items()
        if name == stack and {"Ref": role_logical_id} in policy["Properties"]["Roles"]
    ]
    return json.dumps(statements)


# What each access level must grant, and what it must not (on the resource's own statements).
TABLE_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_may_write_only_what_its_catalog_access_says(synthesized: Synthesized, name: str) -> None:
    entry = FUNCTIONS[name]
    stack, _, props = functions(synthesized)[name]
    policy = _policy_of(synthesized, stack, props["Role"]["Fn::GetAtt"][0])
    writes_table = any(action in policy for action in TABLE_WRITES)
    assert writes_table == (entry.access.get("registry_table") is Access.READ_WRITE)
    assert ("dynamodb:GetItem" in policy) == ("registry_table" in entry.access)
    assert ("s3:PutObject" in policy) == any(
        access in (Access.PUT, Access.READ_WRITE, Access.WITHDRAW_BATCHES)
        for r, access in entry.access.items()
        if r.endswith("_bucket")
    )
    assert ("s3:DeleteObject" in policy) == (Access.WITHDRAW_BATCHES in entry.access.values())
    databases = {access for r, access in entry.access.items() if r.endswith("_database")}
    assert ("glue:GetTable" in policy) == bool(databases)  # read: tables and partitions, nothing written
    assert ("glue:CreateTable" in policy) == (Access.READ_WRITE in databases)
    starts, answers = {Access.START, Access.START_AND_CALLBACK}, {Access.CALLBACK, Access.START_AND_CALLBACK}
    assert ("states:StartExecution" in policy) == bool(starts & set(entry.access.values()))
    assert ("states:SendTaskSuccess" in policy) == bool(answers & set(entry.access.values()))


def test_the_training_job_reads_the_registry_and_writes_only_artifacts(synthesized: Synthesized) -> None:
    (job_role,) = [
        logical
        for logical, (stack, role) in synthesized.resources("AWS::IAM::Role").items()
        if stack == "MlopsTraining" and role["Properties"].get("Description", "").startswith("Training job")
    ]
    policy = _policy_of(synthesized, "MlopsTraining", job_role)
    assert TRAINING_JOB.access["registry_table"] is Access.READ
    assert "dynamodb:GetItem" in policy
    assert not any(action in policy for action in TABLE_WRITES)
    assert "DataPlaneData" not in policy


def test_the_scoring_jobs_lambda_function_is_its_image_with_its_settings_and_access(synthesized: Synthesized) -> None:
    entry = SCORING_JOB.function
    assert entry is not None
    image_functions = functions(synthesized, IMAGE_FUNCTION_TAG)
    assert set(image_functions) == set(JOB_FUNCTIONS) == {entry.name}
    stack, _, props = image_functions[entry.name]
    # the training image, serving Lambda's Runtime API, sized as the catalog says
    assert props["PackageType"] == "Image" and props["ImageConfig"] == {"Command": list(entry.command)}
    assert (props["MemorySize"], props["Timeout"], props["EphemeralStorage"]["Size"]) == (
        entry.memory_mb, entry.timeout_seconds, entry.ephemeral_mb,
    )  # fmt: skip
    [definition] = [
        r["Properties"]["ContainerProperties"]
        for _, r in synthesized.resources("AWS::Batch::JobDefinition").values()
        if r["Properties"]["ContainerProperties"].get("Command") == list(SCORING_JOB.command)
    ]
    assert definition["EphemeralStorage"] == {"SizeInGiB": SCORING_JOB.disk_gib}  # a large file fits on disk
    image_tag = definition["Image"]["Fn::Sub"].rsplit(":", 1)[1]
    assert props["Code"]["ImageUri"]["Fn::Join"][1][-1] == f":{image_tag}"  # the scoring job's own image
    assert sorted(props["Environment"]["Variables"]) == env_keys(SCORING_JOB.settings)
    assert props["TracingConfig"] == {"Mode": "Active"} and props["LoggingConfig"]["LogFormat"] == "JSON"
    # the scoring jobs' network: the isolated subnets and their security group (endpoints to the platform's own)
    network = json.dumps(props["VpcConfig"])
    assert "JobsSecurityGroup" in network and "isolatedSubnet" in network and "public" not in network.lower()
    # the job's access: reads the registry and the model, writes the batch's output, deletes nothing
    policy = _policy_of(synthesized, stack, props["Role"]["Fn::GetAtt"][0])
    assert "dynamodb:GetItem" in policy and not any(action in policy for action in TABLE_WRITES)
    assert "s3:PutObject" in policy and "s3:DeleteObject" not in policy


def test_api_routes_are_the_catalog_routes(synthesized: Synthesized) -> None:
    resources = {
        logical: resource["Properties"]
        for logical, (_, resource) in synthesized.resources("AWS::ApiGateway::Resource").items()
    }

    def path(ref: dict[str, Any]) -> str:
        if "Ref" not in ref:  # the API's root resource
            return ""
        props = resources[ref["Ref"]]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    methods = {
        (m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"]))
        for _, (_, m) in synthesized.resources("AWS::ApiGateway::Method").items()
    }
    assert methods == {(route.method, route.path) for route in ROUTES}


def test_request_models_are_the_catalog_bodies_in_draft_4(synthesized: Synthesized) -> None:
    models = {
        r["Properties"]["Schema"]["title"]: r["Properties"]["Schema"]
        for _, r in synthesized.resources("AWS::ApiGateway::Model").values()
    }
    expected = {route.request.__name__: route.request for route in ROUTES if route.request is not None}
    assert set(models) == set(expected)
    for name, model in expected.items():
        assert models[name] == gateway_schema(model)


def _function_of(synthesized: Synthesized, value: dict[str, Any]) -> str:
    """The logical id of the function an ARN names: in this stack (GetAtt), or exported by another."""
    if "Fn::ImportValue" in value:
        exports = {
            output["Export"]["Name"]: output["Value"]
            for stack in synthesized.stacks
            for output in synthesized.raw(stack).get("Outputs", {}).values()
            if "Export" in output
        }
        value = exports[value["Fn::ImportValue"]]
    logical, _ = value["Fn::GetAtt"]
    return str(logical)


def test_state_machine_placeholders_resolve_as_the_catalog_says(synthesized: Synthesized) -> None:
    machines = [r["Properties"] for _, r in synthesized.resources("AWS::StepFunctions::StateMachine").values()]
    by_placeholders = {frozenset(m["DefinitionSubstitutions"]): m for m in machines}
    deployed = {**functions(synthesized), **functions(synthesized, IMAGE_FUNCTION_TAG)}
    names = {logical: name for name, (_, logical, _) in deployed.items()}
    for machine in STATE_MACHINES.values():
        props = by_placeholders[frozenset(machine.substitutions)]
        for placeholder, value in machine.substitutions.items():
            if isinstance(value, FunctionArn):
                assert names[_function_of(synthesized, props["DefinitionSubstitutions"][placeholder])] == value.function


def test_the_failure_report_function_is_deployed_once_and_shared(synthesized: Synthesized) -> None:
    deployed = [
        resource
        for _, resource in synthesized.resources("AWS::Lambda::Function").values()
        if resource["Properties"].get("Description") == f"{FUNCTION_TAG}{REPORT_FAILURE}"
    ]
    assert len(deployed) == 1


def test_stack_outputs_are_the_catalog_outputs(synthesized: Synthesized) -> None:
    keys = {
        key
        for stack in synthesized.stacks
        for key in synthesized.raw(stack).get("Outputs", {})
        if not key.startswith("ExportsOutput")  # the CDK's own cross-stack references
    }
    declared = {output.key for output in OUTPUTS}
    assert {output.key for output in OUTPUTS if output.required} <= keys <= declared
    assert "ApiKeyId" in keys  # the default deployment authenticates with an API key
