"""Deploys a cloud assembly into the embedded AWS: every resource is read from the templates."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.asl import asl_path, render_asl
from infra.local.template import ACCOUNT, Resolver, Stack, TemplateError, load_assembly
from mlcore.catalog import FUNCTION_TAG, IMAGE_FUNCTION_TAG, JOB_FUNCTIONS, STATE_MACHINES, tagged

ROLE_NAME = "mlops-local-execution"
# The platform's training image, locally: the folder of its entrypoint (a job's Lambda function runs it too).
TRAINING_IMAGE = Path(__file__).resolve().parents[2] / "containers" / "training"


@dataclass
class LocalFunction:
    """A Lambda function as deployed: where its code is and the environment it runs with."""

    name: str
    function: str  # the functions/<name> folder it comes from (a job function: its catalog name)
    code_dir: Path
    handler: str
    environment: dict[str, str]


@dataclass
class Route:
    method: str
    path: str  # e.g. /models/{name}/predict
    function: str  # physical function name
    api_key_required: bool
    request_schema: dict[str, Any] | None = None  # the method's request model (JSON Schema draft 4)
    iam_auth: bool = False  # AuthorizationType AWS_IAM: SigV4-signed, and the caller's policies allow it
    # The API stage's ARN: IAM policies name a request by `<stage_arn>/<METHOD><path>` (execute-api:Invoke)
    stage_arn: str = ""


@dataclass
class GatewayAnswer:
    """A gateway response of the REST API: its status and body template (`$context.requestId` filled in)."""

    status: int
    template: str


@dataclass
class ScheduleRule:
    """A scheduled EventBridge rule as deployed: the local target fires it (moto does not)."""

    expression: str
    targets: list[dict[str, Any]]


@dataclass
class Deployment:
    """Physical names of what was deployed, keyed by what the rest of the local target needs."""

    region: str
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by physical name
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket
    tables: dict[str, str] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)  # logical id -> Glue database
    topics: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> arn
    job_queues: dict[str, str] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    schedules: dict[str, ScheduleRule] = field(default_factory=dict)  # by rule name
    machines: dict[str, str] = field(default_factory=dict)  # catalog state machine name -> arn
    outputs: dict[str, str] = field(default_factory=dict)  # stack output key -> value, as deployed here
    gateway_responses: dict[str, GatewayAnswer] = field(default_factory=dict)  # by response type

    def function_by_folder(self, folder: str) -> LocalFunction:
        return next(f for f in self.functions.values() if f.function == folder)


def _physical_name(stack: str, logical: str, limit: int = 63) -> str:
    return f"{stack}-{logical}".lower()[:limit].rstrip("-")


# Ref and GetAtt of each resource type, from its local name `n`, region `r` and account `a`.
_ATTRIBUTES: dict[str, dict[str, str]] = {
    "AWS::S3::Bucket": {
        "Ref": "{n}",
        "Arn": "arn:aws:s3:::{n}",
        "DomainName": "{n}.s3.amazonaws.com",
        "RegionalDomainName": "{n}.s3.{r}.amazonaws.com",
    },
    "AWS::DynamoDB::Table": {"Ref": "{n}", "Arn": "arn:aws:dynamodb:{r}:{a}:table/{n}"},
    "AWS::SNS::Topic": {"Ref": "arn:aws:sns:{r}:{a}:{n}", "TopicArn": "arn:aws:sns:{r}:{a}:{n}", "TopicName": "{n}"},
    "AWS::Lambda::Function": {"Ref": "{n}", "Arn": "arn:aws:lambda:{r}:{a}:function:{n}"},
    "AWS::StepFunctions::StateMachine": {
        "Ref": "arn:aws:states:{r}:{a}:stateMachine:{n}",
        "Arn": "arn:aws:states:{r}:{a}:stateMachine:{n}",
        "Name": "{n}",
    },
    "AWS::Batch::JobQueue": {
        "Ref": "arn:aws:batch:{r}:{a}:job-queue/{n}",
        "JobQueueArn": "arn:aws:batch:{r}:{a}:job-queue/{n}",
    },
    "AWS::Batch::JobDefinition": {"Ref": "arn:aws:batch:{r}:{a}:job-definition/{n}:1"},
    # Jobs run on the one local compute environment the deployer creates.
    "AWS::Batch::ComputeEnvironment": {
        "Ref": "arn:aws:batch:{r}:{a}:compute-environment/local",
        "ComputeEnvironmentArn": "arn:aws:batch:{r}:{a}:compute-environment/local",
    },
    "AWS::IAM::Role": {"Ref": ROLE_NAME, "Arn": "arn:aws:iam::{a}:role/" + ROLE_NAME, "RoleId": ROLE_NAME},
    "AWS::KMS::Key": {"Ref": "{n}", "Arn": "arn:aws:kms:{r}:{a}:key/{n}", "KeyId": "{n}"},
    "AWS::ApiGateway::RestApi": {"Ref": "{n}", "RootResourceId": "{n}-root"},
    "AWS::Logs::LogGroup": {"Ref": "{n}", "Arn": "arn:aws:logs:{r}:{a}:log-group:{n}:*"},
    "AWS::IAM::ManagedPolicy": {"Ref": "arn:aws:iam::{a}:policy/{n}", "PolicyArn": "arn:aws:iam::{a}:policy/{n}"},
    # Not deployed (the local target has no network to isolate), only named: a function's VpcConfig cites them.
    "AWS::EC2::SecurityGroup": {"Ref": "{n}", "GroupId": "{n}"},
}


def _attributes(stack: Stack, logical: str, resource: dict[str, Any], region: str) -> dict[str, str]:
    """What Ref and GetAtt give for a resource, named as the local deployment names it."""
    name = _physical_name(stack.name, logical)
    kind = resource["Type"]
    generic = {"Ref": "{n}", "Arn": f"arn:aws:cloudformation:{{r}}:{{a}}:{kind}/{{n}}"}
    return {k: v.format(n=name, r=region, a=ACCOUNT) for k, v in _ATTRIBUTES.get(kind, generic).items()}


class LocalDeployer:
    """Creates the assembly's resources through boto3 clients pointed at the embedded AWS."""

    def __init__(self, clients: Any, region: str) -> None:
        self.clients = clients
        self.region = region
        self.resolver = Resolver(region)
        self.deployment = Deployment(region)

    def deploy(self, outdir: Path) -> Deployment:
        self.clients("iam").create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        self.clients("batch").create_compute_environment(
            computeEnvironmentName="local",
            type="UNMANAGED",
            state="ENABLED",
            serviceRole=f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}",
        )
        for stack in load_assembly(outdir):
            for logical, resource in stack.resources.items():
                self.resolver.physical[(stack.name, logical)] = _attributes(stack, logical, resource, self.region)
            for kind, create in self._creators():
                for logical, resource in stack.of_type(kind):
                    create(
                        stack,
                        logical,
                        self.resolver.resolve(stack.name, resource.get("Properties", {})),
                        resource,
                        outdir,
                    )
            self._routes(stack)
            self._outputs(stack)
            self.resolver.add_exports(stack)
        return self.deployment

    def _creators(self) -> list[tuple[str, Any]]:
        # Order matters: what others refer to first.
        return [
            ("AWS::S3::Bucket", self._bucket),
            ("AWS::Glue::Database", self._database),
            ("AWS::Athena::WorkGroup", self._work_group),
            ("AWS::KMS::Key", self._key),
            ("AWS::DynamoDB::Table", self._table),
            ("AWS::SNS::Topic", self._topic),
            ("AWS::Batch::JobQueue", self._job_queue),
            ("AWS::Batch::JobDefinition", self._job_definition),
            ("AWS::Lambda::Function", self._function),
            ("AWS::Lambda::EventSourceMapping", self._event_source),
            ("AWS::StepFunctions::StateMachine", self._state_machine),
            ("AWS::Events::Rule", self._rule),
            ("AWS::IAM::ManagedPolicy", self._managed_policy),
        ]

    def _name(self, stack: Stack, logical: str) -> str:
        return self.resolver.physical[(stack.name, logical)]["Ref"]

    def _bucket(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        name = self._name(stack, logical)
        s3 = self.clients("s3")
        locked = {"ObjectLockEnabledForBucket": True} if props.get("ObjectLockEnabled") else {}
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name, **locked)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region}, **locked)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "ObjectLockConfiguration" in props:
            retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {
                        "DefaultRetention": {k: (int(v) if k in ("Days", "Years") else v) for k, v in retention.items()}
                    },
                },
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        self.deployment.buckets[logical] = name

    def _database(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """A Glue database keeps the name the template gives it (its Ref)."""
        name = props["DatabaseInput"]["Name"]
        self.clients("glue").create_database(DatabaseInput={"Name": name})
        self.resolver.physical[(stack.name, logical)]["Ref"] = name
        self.deployment.databases[logical] = name

    def _work_group(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """An Athena work group keeps the name the template gives it (the state machine names it so)."""
        self.clients("athena").create_work_group(
            Name=props["Name"], Description=props.get("Description", ""), Configuration={}
        )
        self.resolver.physical[(stack.name, logical)]["Ref"] = props["Name"]

    def _key(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """An HMAC key (request ids are signed with it); moto encrypts nothing, so the others are names only."""
        if not str(props.get("KeySpec", "")).startswith("HMAC"):
            return
        created = self.clients("kms").create_key(KeySpec=props["KeySpec"], KeyUsage=props["KeyUsage"])["KeyMetadata"]
        self.resolver.physical[(stack.name, logical)].update(
            {"Ref": created["KeyId"], "Arn": created["Arn"], "KeyId": created["KeyId"]}
        )

    def _table(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        name = props.get("TableName") or self._name(stack, logical)  # a name the template gives (the audit table)
        self.resolver.physical[(stack.name, logical)].update(
            {"Ref": name, "Arn": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"}
        )
        stream = props.get("StreamSpecification")
        streams = {"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}
        dynamodb = self.clients("dynamodb")
        dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **streams,
        )
        if stream:  # its ARN is known once the table exists (GetAtt StreamArn)
            arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
            self.resolver.physical[(stack.name, logical)]["StreamArn"] = arn
        self.deployment.tables[logical] = name

    def _topic(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        arn = self.clients("sns").create_topic(Name=self.resolver.physical[(stack.name, logical)]["TopicName"])[
            "TopicArn"
        ]
        self.deployment.topics[logical] = arn

    def _job_queue(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        name = self._name(stack, logical).rsplit("/", 1)[-1]
        arn = self.clients("batch").create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "local"}],
        )["jobQueueArn"]
        self.resolver.physical[(stack.name, logical)].update({"Ref": arn, "JobQueueArn": arn})
        self.deployment.job_queues[logical] = arn

    def _job_definition(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        name = self._name(stack, logical).rsplit("/", 1)[-1].rsplit(":", 1)[0]
        container = props["ContainerProperties"]
        arn = self.clients("batch").register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": "local/training",
                "command": container.get("Command", []),
                "environment": [
                    {"name": e["Name"], "value": str(e["Value"])} for e in container.get("Environment", [])
                ],
                "resourceRequirements": [
                    {"type": r["Type"], "value": str(r["Value"])} for r in container.get("ResourceRequirements", [])
                ],
            },
        )["jobDefinitionArn"]
        self.resolver.physical[(stack.name, logical)]["Ref"] = arn

    def _function(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        name = self._name(stack, logical)
        description = props.get("Description", "")
        environment = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        image = props.get("PackageType") == "Image"
        tag = IMAGE_FUNCTION_TAG if image else FUNCTION_TAG
        folder = tagged(description, tag)
        if folder is None:
            raise ValueError(f"{stack.name}/{logical} has no '{tag}<folder>' in its description")
        if image:  # a job's function: the training image's entrypoint, serving the handler the catalog names
            runtime, handler, code_dir = "python3.12", JOB_FUNCTIONS[folder].handler, TRAINING_IMAGE
        else:
            runtime, handler = props["Runtime"], props["Handler"]
            code_dir = outdir / resource["Metadata"]["aws:asset:path"]
        self.clients("lambda").create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=props["Role"],
            Handler=handler,
            Code={"ZipFile": _placeholder_zip()},
            Environment={"Variables": environment},
            Timeout=int(props.get("Timeout", 30)),
            MemorySize=int(props.get("MemorySize", 128)),
        )
        self.deployment.functions[name] = LocalFunction(
            name=name, function=folder, code_dir=code_dir, handler=handler, environment=environment
        )

    def _event_source(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """A stream's records delivered to a function (a DynamoDB stream: `hooks` runs the real handler)."""
        self.clients("lambda").create_event_source_mapping(
            FunctionName=props["FunctionName"],
            EventSourceArn=props["EventSourceArn"],
            StartingPosition=props.get("StartingPosition", "TRIM_HORIZON"),
            BatchSize=int(props.get("BatchSize", 100)),
        )

    def _state_machine(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        definition = render_asl(
            props["DefinitionString"], {k: str(v) for k, v in props.get("DefinitionSubstitutions", {}).items()}
        )
        arn = self.clients("stepfunctions").create_state_machine(
            name=self.resolver.physical[(stack.name, logical)]["Name"],
            definition=definition,
            roleArn=props["RoleArn"],
        )["stateMachineArn"]
        self.deployment.state_machines[logical] = arn
        for name in STATE_MACHINES:
            if props["DefinitionString"] == asl_path(name).read_text():
                self.deployment.machines[name] = arn

    def _rule(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """A rule as in the template: its schedule or event pattern, and its targets' inputs."""
        name = self._name(stack, logical)
        events = self.clients("events")
        trigger = (
            {"ScheduleExpression": props["ScheduleExpression"]}
            if "ScheduleExpression" in props
            else {"EventPattern": json.dumps(props["EventPattern"])}
        )
        events.put_rule(Name=name, State=props.get("State", "ENABLED"), **trigger)
        targets = [
            {"Id": t["Id"], "Arn": t["Arn"], **{k: t[k] for k in ("Input", "InputTransformer") if k in t}}
            for t in props.get("Targets", [])
        ]
        events.put_targets(Rule=name, Targets=targets)
        if "ScheduleExpression" in props:
            self.deployment.schedules[name] = ScheduleRule(props["ScheduleExpression"], targets)

    def _managed_policy(self, stack: Stack, logical: str, props: dict, resource: dict, outdir: Path) -> None:
        """A managed policy in the embedded IAM, under its own name: attach it to a user to act with it locally."""
        name = props.get("ManagedPolicyName") or self._name(stack, logical).rsplit("/", 1)[-1]
        arn = self.clients("iam").create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(props["PolicyDocument"]),
            Description=props.get("Description", ""),
        )["Policy"]["Arn"]
        self.resolver.physical[(stack.name, logical)].update({"Ref": arn, "PolicyArn": arn})

    def _outputs(self, stack: Stack) -> None:
        for key, output in stack.template.get("Outputs", {}).items():
            try:
                self.deployment.outputs[key] = str(self.resolver.resolve(stack.name, output["Value"]))
            except TemplateError:
                continue  # names something not deployed here (an API key id)

    def _routes(self, stack: Stack) -> None:
        """API Gateway methods become routes of the local HTTP API."""
        resources = dict(stack.of_type("AWS::ApiGateway::Resource"))
        apis = {logical for logical, _ in stack.of_type("AWS::ApiGateway::RestApi")}
        models = {logical: model["Properties"]["Schema"] for logical, model in stack.of_type("AWS::ApiGateway::Model")}
        for _, response in stack.of_type("AWS::ApiGateway::GatewayResponse"):
            props = response["Properties"]
            self.deployment.gateway_responses[props["ResponseType"]] = GatewayAnswer(
                status=int(props["StatusCode"]), template=props["ResponseTemplates"]["application/json"]
            )

        def path_of(ref: Any) -> str:
            if isinstance(ref, dict) and "Fn::GetAtt" in ref and ref["Fn::GetAtt"][0] in apis:
                return ""
            logical = ref["Ref"]
            props = resources[logical]["Properties"]
            return f"{path_of(props['ParentId'])}/{props['PathPart']}"

        stages = [stage["Properties"] for _, stage in stack.of_type("AWS::ApiGateway::Stage")]

        def stage_arn(props: dict[str, Any]) -> str:
            api = self.resolver.resolve(stack.name, props["RestApiId"])
            stage = next(s["StageName"] for s in stages if self.resolver.resolve(stack.name, s["RestApiId"]) == api)
            return f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{api}/{stage}"

        for _, method in stack.of_type("AWS::ApiGateway::Method"):
            props = method["Properties"]
            integration = props.get("Integration", {})
            if integration.get("Type") != "AWS_PROXY":
                continue
            uri = self.resolver.resolve(stack.name, integration["Uri"])
            function = uri.split(":function:")[1].split("/")[0]
            model = (props.get("RequestModels") or {}).get("application/json")
            path = path_of(props["ResourceId"]) or "/"
            self.deployment.routes.append(
                Route(
                    method=props["HttpMethod"],
                    path=path,
                    function=function,
                    api_key_required=bool(props.get("ApiKeyRequired")),
                    request_schema=models[model["Ref"]] if model else None,
                    iam_auth=props.get("AuthorizationType") == "AWS_IAM",
                    stage_arn=stage_arn(props),
                )
            )


def _placeholder_zip() -> bytes:
    """moto needs a code package; the local target runs the real handler from the asset folder instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The local target runs this function's handler from its cdk.out asset folder.")
    return buffer.getvalue()
