"""TrainingStack: isolated VPC, Batch job definition, the training state machine and its permissions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

from infra.asl import asl_path, placeholders
from mlcore.catalog import (
    ATHENA_RESULTS,
    DATASETS,
    GPU_INSTANCE_TYPES,
    IMAGE_OUTPUT_OBJECTS,
    JOB_QUEUES,
    QUERY_OBJECTS,
    RUN_OBJECTS,
    SCORING_JOB,
    TRAINING_JOB,
    env_keys,
)

if TYPE_CHECKING:
    from conftest import Synthesized


def _state_machine(synthesized: Synthesized, stack: str, name: str) -> dict[str, Any]:
    """The state machine of `stack` made from `statemachines/<name>.asl.json` (one of them)."""
    text = asl_path(name).read_text()
    machines = [
        r
        for (s, r) in synthesized.resources("AWS::StepFunctions::StateMachine").values()
        if s == stack and r["Properties"]["DefinitionString"] == text
    ]
    assert len(machines) == 1
    return machines[0]["Properties"]


def _role_statements(synthesized: Synthesized, stack: str, role_id_part: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for _, (name, policy) in synthesized.resources("AWS::IAM::Policy").items():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if name == stack and role_id_part in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_vpc_has_isolated_subnets_only_and_endpoints(synthesized: Synthesized) -> None:
    template = synthesized.templates["MlopsTraining"]
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})
    endpoints = [r["Properties"] for _, r in synthesized.resources("AWS::EC2::VPCEndpoint").values()]
    services = json.dumps([e["ServiceName"] for e in endpoints])
    for service in (".s3", ".dynamodb", ".ecr.api", ".ecr.dkr", ".logs"):
        assert service in services
    assert sorted(e.get("VpcEndpointType", "Gateway") for e in endpoints).count("Interface") == 3


def test_batch_runs_on_fargate_with_env_from_train_settings(synthesized: Synthesized) -> None:
    template = synthesized.templates["MlopsTraining"]
    template.has_resource_properties("AWS::Batch::ComputeEnvironment", {"ComputeResources": {"Type": "FARGATE"}})
    # a queue per catalog.compute.JOB_QUEUES entry but the GPU one: on demand, and Spot
    kinds = sorted(
        r["Properties"]["ComputeResources"]["Type"]
        for _, r in synthesized.resources("AWS::Batch::ComputeEnvironment").values()
    )
    assert kinds == ["FARGATE", "FARGATE_SPOT"]
    template.resource_count_is("AWS::Batch::JobQueue", len(JOB_QUEUES) - 1)
    jobs = {
        tuple(r["Properties"]["ContainerProperties"].get("Command", [])): r["Properties"]
        for _, r in synthesized.resources("AWS::Batch::JobDefinition").values()
    }
    # the training image's two jobs: training (no arguments) and batch scoring, each with its settings
    assert set(jobs) == {TRAINING_JOB.command, SCORING_JOB.command}
    for job in (TRAINING_JOB, SCORING_JOB):
        environment = jobs[job.command]["ContainerProperties"]["Environment"]
        assert sorted(item["Name"] for item in environment) == env_keys(job.settings)
        assert jobs[job.command]["PlatformCapabilities"] == ["FARGATE"]


def test_training_image_is_a_docker_asset_of_the_repo(synthesized: Synthesized) -> None:
    manifest = json.loads((synthesized.outdir / "MlopsTraining.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "containers/training/Dockerfile"


def test_state_machine_definitions_are_the_raw_asl_files(synthesized: Synthesized) -> None:
    for stack, name in (
        ("MlopsTraining", "training"),
        ("MlopsMonitoring", "monitor"),
        ("MlopsMonitoring", "retraining"),
        ("MlopsTraining", "batch_scoring"),
        ("MlopsTraining", "batch_schedule"),
    ):
        props = _state_machine(synthesized, stack, name)
        assert set(props["DefinitionSubstitutions"]) == placeholders(asl_path(name).read_text())
        assert props["TracingConfiguration"] == {"Enabled": True}
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["LoggingConfiguration"]["IncludeExecutionData"] is True


def test_training_state_machine_may_submit_batch_jobs_and_sync(synthesized: Synthesized) -> None:
    statements = _role_statements(synthesized, "MlopsTraining", "PipelineStateMachineRole")
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"batch:SubmitJob", "events:PutTargets", "events:PutRule", "events:DescribeRule"} <= actions
    assert {"lambda:InvokeFunction", "sns:Publish"} <= actions
    events = next(s for s in statements if "events:PutRule" in s["Action"])
    assert "StepFunctionsGetEventsForBatchJobsRule" in json.dumps(events["Resource"])
    # jobs go to every queue a spec may pick, and nowhere else
    [submit] = [s for s in statements if s["Action"] == "batch:SubmitJob"]
    queues = set(synthesized.resources("AWS::Batch::JobQueue"))
    assert all(queue in json.dumps(submit["Resource"]) for queue in queues)
    # and the job definitions: the platform's, and the models' own images' (named by Validate under one prefix)
    assert len(submit["Resource"]) == len(JOB_QUEUES) - 1 + 2
    assert ":job-definition/mlops-training-image-*" in json.dumps(submit["Resource"])


def test_job_role_is_assumed_by_ecs_tasks(synthesized: Synthesized) -> None:
    synthesized.templates["MlopsTraining"].has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "ecs-tasks.amazonaws.com"}})]
                )
            },
            "Description": Match.string_like_regexp("Training job"),
        },
    )


def test_batch_scoring_runs_its_chunks_as_child_executions_of_scoring_jobs(synthesized: Synthesized) -> None:
    statements = _role_statements(synthesized, "MlopsTraining", "BatchScoringStateMachineRole")
    by_action = {a: s for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    # the Distributed Map starts, watches and stops child executions of this state machine only
    assert "stateMachine:mlops-batch-scoring" in json.dumps(by_action["states:StartExecution"]["Resource"])
    assert "execution:mlops-batch-scoring/*" in json.dumps(by_action["states:DescribeExecution"]["Resource"])
    # it reads the chunk list from the data bucket, and submits scoring jobs to the on-demand queue only
    assert "s3:GetObject*" in by_action and "DataPlaneData" in json.dumps(by_action["s3:GetObject*"]["Resource"])
    submit = by_action["batch:SubmitJob"]["Resource"]
    assert len(submit) == 2 and "SpotQueue" not in json.dumps(submit) and "ScoreJob" in json.dumps(submit)
    # and may not write: planning and publishing are the functions' work
    assert not {"s3:PutObject", "s3:DeleteObject*"} & set(by_action)


def test_the_tick_starts_the_scheduled_batches_through_their_state_machine(synthesized: Synthesized) -> None:
    template = synthesized.raw("MlopsTraining")
    [tick] = [
        r["Properties"] for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and k.startswith("BatchScoringTick")
    ]  # fmt: skip
    # every tick (the deployment's retrainTick) runs the schedule's state machine with the event's id and time
    assert tick["ScheduleExpression"] == "rate(5 minutes)"
    [target] = tick["Targets"]
    schedule = next(
        k for k, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith("BatchScoringSchedule")
    )  # fmt: skip
    assert target["Arn"] == {"Ref": schedule}
    assert target["InputTransformer"]["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
    # its function may start executions of the batch-scoring state machine, and of nothing else
    statements = _role_statements(synthesized, "MlopsTraining", "StartScheduledBatches")
    [start] = [s for s in statements if "states:StartExecution" in s["Action"]]
    assert start["Resource"] == {"Ref": next(
        k for k, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith("BatchScoringStateMachine")
    )}  # fmt: skip


def test_a_models_own_image_reads_the_runs_and_writes_only_its_output_folder(synthesized: Synthesized) -> None:
    template = synthesized.raw("MlopsTraining")
    # the image's role: get the runs' files, put under their image/out/ folders, nothing of the registry
    statements = _role_statements(synthesized, "MlopsTraining", "PipelineImageJobRole")
    by_action = {a: s for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert by_action["s3:PutObject"]["Resource"]["Fn::Join"][1][1] == f"/{IMAGE_OUTPUT_OBJECTS}"
    assert "Artifacts" in json.dumps(by_action["s3:PutObject"]["Resource"])
    assert [r["Fn::Join"][1][1] for r in by_action["s3:GetObject*"]["Resource"] if "Fn::Join" in r] == [
        f"/{RUN_OBJECTS}"
    ]
    assert not [a for a in by_action if a.startswith("dynamodb:") or a.startswith("s3:Delete")]
    # Fargate's role for it: pulls from this account's ECR, writes the image's log group
    execution = _role_statements(synthesized, "MlopsTraining", "PipelineImageExecutionRole")
    pulls = next(s for s in execution if "ecr:BatchGetImage" in s["Action"])
    assert ":repository/*" in json.dumps(pulls["Resource"]) and "AWS::AccountId" in json.dumps(pulls["Resource"])
    # Validate registers job definitions under the prefix only, and passes just these two roles
    validate = _role_statements(synthesized, "MlopsTraining", "PipelineValidateRole")
    [register] = [s for s in validate if s["Action"] == "batch:RegisterJobDefinition"]
    assert ":job-definition/mlops-training-image-*" in json.dumps(register["Resource"])
    [passes] = [s for s in validate if s["Action"] == "iam:PassRole"]
    assert sorted(r["Fn::GetAtt"][0] for r in passes["Resource"]) == sorted(
        k for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and k.startswith(("PipelineImageJobRole", "PipelineImageExecutionRole"))
    )  # fmt: skip


def test_the_gpu_queue_exists_only_with_its_context_flag(
    synthesized: Synthesized, synthesized_options: Synthesized
) -> None:
    def validate_environment(app: Synthesized) -> dict[str, str]:
        [validate] = [
            r["Properties"]["Environment"]["Variables"]
            for k, (_, r) in app.resources("AWS::Lambda::Function").items()
            if k.startswith("PipelineValidate")
        ]
        return validate

    # by default: no EC2 compute, and validate knows there is no GPU queue
    assert not [r for _, r in synthesized.resources("AWS::Batch::ComputeEnvironment").values()
                if r["Properties"]["ComputeResources"]["Type"] == "EC2"]  # fmt: skip
    assert validate_environment(synthesized)["GPU_JOBS"] == "False"
    # with mlops:gpuJobs=true: on-demand g4dn instances of the NVIDIA ECS image, in the isolated subnets
    template = synthesized_options.raw("MlopsTraining")
    [gpu] = [r["Properties"] for _, r in synthesized_options.resources("AWS::Batch::ComputeEnvironment").values()
             if r["Properties"]["ComputeResources"]["Type"] == "EC2"]  # fmt: skip
    assert gpu["ComputeResources"]["InstanceTypes"] == list(GPU_INSTANCE_TYPES)
    assert gpu["ComputeResources"]["Ec2Configuration"] == [{"ImageType": "ECS_AL2023_NVIDIA"}]
    assert gpu["ComputeResources"]["MinvCpus"] == 0
    assert validate_environment(synthesized_options)["GPU_JOBS"] == "True"
    # the training job's EC2 definition asks for a GPU, with the training job's own role
    [definition] = [r["Properties"] for k, r in template["Resources"].items()
                    if r["Type"] == "AWS::Batch::JobDefinition" and k.startswith("PipelineGpuTrainJob")]  # fmt: skip
    container = definition["ContainerProperties"]
    assert {"Type": "GPU", "Value": "1"} in container["ResourceRequirements"]
    assert container["JobRoleArn"]["Fn::GetAtt"][0].startswith("PipelineJobRole")
    # the state machine's third queue and second definition are these, and it may submit to them
    substitutions = _state_machine(synthesized_options, "MlopsTraining", "training")["DefinitionSubstitutions"]
    assert substitutions["GpuJobQueueArn"]["Fn::GetAtt"][0].startswith("PipelineGpuQueue")
    assert substitutions["GpuJobDefinitionArn"]["Ref"].startswith("PipelineGpuTrainJob")
    statements = _role_statements(synthesized_options, "MlopsTraining", "PipelineStateMachineRole")
    [submit] = [s for s in statements if s["Action"] == "batch:SubmitJob"]
    assert "PipelineGpuQueue" in json.dumps(submit["Resource"]) and "PipelineGpuTrainJob" in json.dumps(
        submit["Resource"]
    )
    # and its instances' role has no managed policy: the ECS agent's actions on clusters, the image's pulls
    [instance_role] = [r["Properties"] for k, r in template["Resources"].items()
                       if r["Type"] == "AWS::IAM::Role" and k.startswith("PipelineGpuInstanceRole")]  # fmt: skip
    assert "ManagedPolicyArns" not in instance_role


def test_a_part_of_a_large_dataset_is_counted_with_disk_for_its_files(synthesized: Synthesized) -> None:
    [function] = [r["Properties"] for k, (_, r) in synthesized.resources("AWS::Lambda::Function").items()
                  if k.startswith("PipelineCountDatasetPart")]  # fmt: skip
    assert (function["MemorySize"], function["Timeout"], function["EphemeralStorage"]) == (2048, 900, {"Size": 4096})
    # and the training state machine runs the parts as child executions of itself, reading the plan's items
    statements = _role_statements(synthesized, "MlopsTraining", "PipelineStateMachineRole")
    by_action = {a: s for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "stateMachine:mlops-training" in json.dumps(by_action["states:StartExecution"]["Resource"])
    assert "execution:mlops-training/*" in json.dumps(by_action["states:DescribeExecution"]["Resource"])
    reads = [json.dumps(s["Resource"]) for s in statements if "s3:GetObject*" in s["Action"]]
    assert any("DataPlaneArtifacts" in resources for resources in reads)


def test_the_gateway_endpoints_reach_the_platforms_buckets_and_table_only(synthesized: Synthesized) -> None:
    endpoints = {
        k: r["Properties"] for k, r in synthesized.raw("MlopsTraining")["Resources"].items()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
    }  # fmt: skip
    by_service = {json.dumps(p["ServiceName"]): p["PolicyDocument"]["Statement"] for p in endpoints.values()}
    [s3] = [statements for name, statements in by_service.items() if ".s3" in name]
    [dynamodb] = [statements for name, statements in by_service.items() if ".dynamodb" in name]
    # S3: the data, artifacts and capture buckets, and ECR's layer bucket for image pulls; nothing else
    buckets = json.dumps(s3[0]["Resource"])
    assert all(name in buckets for name in ("DataPlaneData", "DataPlaneArtifacts", "DataPlaneCapture"))
    assert len(s3[0]["Resource"]) == 6 and "s3:DeleteObject" not in json.dumps(s3)
    assert "starport-layer-bucket/*" in json.dumps(s3[1]["Resource"]) and s3[1]["Action"] == "s3:GetObject"
    # DynamoDB: reads of the registry table only
    [statement] = dynamodb
    assert statement["Action"] == ["dynamodb:GetItem", "dynamodb:Query"]
    assert "DataPlaneRegistry" in json.dumps(statement["Resource"])


def test_a_dataset_query_runs_in_an_encrypted_work_group_reading_the_datasets_and_unloading_under_queries(
    synthesized: Synthesized,
) -> None:
    template = synthesized.raw("MlopsTraining")
    [group] = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Athena::WorkGroup"]
    configuration = group["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    result = configuration["ResultConfiguration"]
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert f"/{ATHENA_RESULTS}" in json.dumps(result["OutputLocation"])
    # the state machine's RunQuery names this work group and the datasets database
    substitutions = _state_machine(synthesized, "MlopsTraining", "training")["DefinitionSubstitutions"]
    assert substitutions["DatasetsWorkGroup"] == group["Name"]
    assert "Datasets" in json.dumps(substitutions["DatasetsDatabaseName"])
    statements = _role_statements(synthesized, "MlopsTraining", "PipelineStateMachineRole")
    by_action = {a: s for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert by_action["athena:StartQueryExecution"]["Resource"]["Fn::Join"][1][-1] == f":workgroup/{group['Name']}"
    # reads: the datasets' objects; puts: the queries' folder and the work group's output, nothing else
    puts = [json.dumps(r) for s in statements if "s3:PutObject" in s["Action"] for r in s["Resource"]]
    assert len(puts) == 2
    assert any(f"/{QUERY_OBJECTS}" in r for r in puts) and any(f"/{ATHENA_RESULTS}*" in r for r in puts)
    reads = [json.dumps(r) for s in statements if "s3:GetObject*" in s["Action"] for r in s["Resource"]]
    assert any(f"/{DATASETS}*" in r for r in reads)
    assert not [a for a in by_action if a.startswith("s3:Delete")]
    glue = by_action["glue:GetTable"]["Resource"]
    assert "Datasets" in json.dumps(glue) and "Features" not in json.dumps(glue)
