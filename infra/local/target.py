"""`mlops local up`: the synthesized app on an embedded AWS (moto server on 127.0.0.1) with a local API."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.local import hooks
from infra.local.api import LocalApi
from infra.local.deploy import Deployment, LocalDeployer
from infra.local.events import Delivery, Scheduler
from infra.local.runner import FunctionRunner, TrainingJobRunner
from infra.local.state import LOCAL_ALERTS, LOCAL_ALERTS_QUEUE, LOCAL_OUTDIR, clear_state, write_state
from infra.local.template import ACCOUNT
from mlcore.catalog import OUTPUT_KEYS, OUTPUTS, RETRAINING

REGION = "us-east-1"
# Lambda keeps an idle container for minutes; locally a short wait makes captured traffic visible soon.
DEFAULT_IDLE_SECONDS = 10.0
# What every process talking to the local target needs: fake credentials and quiet Powertools.
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "false",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def synthesize(outdir: Path = LOCAL_OUTDIR) -> Path:
    """Synthesize the CDK app (no layer bundling: locally the code runs from the virtualenv)."""
    from infra.app import SKIP_BUNDLING, build_app

    # Asset metadata tells the local target which cdk.out folder holds each function's code.
    build_app({**SKIP_BUNDLING, "aws:cdk:enable-asset-metadata": True}, outdir=str(outdir)).synth()
    return outdir


class LocalTarget:
    """The embedded AWS with the app deployed from cdk.out, and the REST API on loopback."""

    def __init__(
        self,
        outdir: Path = LOCAL_OUTDIR,
        *,
        moto_port: int | None = None,
        api_port: int = 0,
        api_key: str | None = None,
        idle_seconds: float | None = DEFAULT_IDLE_SECONDS,
    ) -> None:
        self.outdir = outdir
        self.idle_seconds = idle_seconds
        self.moto_port = moto_port or free_port()
        self.api_port = api_port
        self.api_key = api_key
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.deployment = Deployment(REGION)
        self.functions = FunctionRunner(self.deployment, REGION)
        self.training = TrainingJobRunner()
        self.delivery = Delivery(self.client)
        self.scheduler = Scheduler(self.delivery, REGION)
        self.api: LocalApi | None = None
        self.alerts_queue: str | None = None
        self._server: Any = None
        self._stopping = threading.Event()

    def client(self, service: str) -> Any:
        make: Any = boto3.client
        return make(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def start(self, *, synth: bool = True) -> LocalTarget:
        from infra.local.server import EmbeddedAwsServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
        # moto's state machine interpreter logs, as errors, every path a state reads that is absent (a Choice's
        # optional member) and each failure it then routes: AWS shows neither; a run's history and its failure
        # report (report_failure) tell what failed.
        logging.getLogger("moto.stepfunctions.parser.asl").setLevel(logging.CRITICAL)

        if synth or not (self.outdir / "manifest.json").exists():
            synthesize(self.outdir)
        # Step Functions reaches the other services on MOTO_PORT; functions use the standard endpoint variable.
        os.environ.update({**LOCAL_ENVIRONMENT, "MOTO_PORT": str(self.moto_port), "AWS_ENDPOINT_URL": self.endpoint})
        hooks.install(self.functions, self.training, self.delivery)
        self._server = EmbeddedAwsServer("127.0.0.1", self.moto_port).start()
        deployment = LocalDeployer(self.client, REGION).deploy(self.outdir)
        self.deployment.__dict__.update(deployment.__dict__)
        self._keep_alerts()
        for name, rule in self.deployment.schedules.items():
            self.scheduler.add(name, rule.expression, rule.targets)
        self.scheduler.start()
        self.api = LocalApi(
            self.deployment.routes,
            self.functions,
            self.api_port,
            self.api_key,
            self.deployment.gateway_responses,
            fire=self.fire,
            authorize=functools.partial(hooks.iam_principal, account=ACCOUNT),
        ).start()
        if self.idle_seconds is not None:
            threading.Thread(target=self._recycle_idle, name="recycle-idle", daemon=True).start()
        self.write_state()
        return self

    def _keep_alerts(self) -> None:
        """Subscribe a queue to the alerts topic, where `mlops local alerts` reads what the platform alerted: on AWS
        the topic has the subscribers a team gives it (mail, chat); here nothing would keep a message."""
        topic = self.deployment.outputs.get(OUTPUT_KEYS["alerts_topic"])
        if not topic:
            return
        sqs = self.client("sqs")
        queue = sqs.create_queue(QueueName=LOCAL_ALERTS_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self.alerts_queue = queue

    def _recycle_idle(self) -> None:
        """Lambda recycles a container some time after its last request (SIGTERM flushes what it buffered)."""
        assert self.idle_seconds is not None
        while not self._stopping.wait(min(1.0, self.idle_seconds / 2)):
            try:
                self.functions.recycle_idle(self.idle_seconds)
            except Exception:  # a failed flush is the function's to log; the target keeps serving
                logging.getLogger(__name__).exception("recycling an idle function failed")

    def fire(self, model_name: str) -> list[str]:
        """Deliver the retraining schedule's event now, for one model (`mlops local fire MODEL`)."""
        return self.scheduler.fire(self.deployment.machines[RETRAINING.name], {"model_name": model_name})

    def stop(self) -> None:
        self._stopping.set()
        self.scheduler.stop()
        if self.api:
            self.api.stop()
        if self._server:
            self.functions.shutdown()  # flush buffered capture while the embedded AWS still runs
        if self._server:
            self._server.stop()
        hooks.uninstall()
        clear_state(self.outdir)

    def __enter__(self) -> LocalTarget:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the CLI needs ------------------------------------------------------------------
    def names(self) -> dict[str, Any]:
        """The deployment as the CLI finds it: the stacks' outputs by resource (`mlcore.catalog.OUTPUTS`)."""
        d = self.deployment
        outputs: dict[str, str | None] = {o.resource: d.outputs[o.key] for o in OUTPUTS if o.key in d.outputs}
        outputs["api_url"] = self.api.url if self.api else None  # the local API, not API Gateway's URL
        outputs[LOCAL_ALERTS] = self.alerts_queue  # what `mlops local alerts` reads
        return {
            "endpoint": self.endpoint,
            "region": REGION,
            "outputs": outputs,
            "schedules": {name: asdict(rule) for name, rule in d.schedules.items()},
            "routes": [asdict(r) for r in d.routes],
        }

    def write_state(self) -> None:
        write_state(self.names(), self.outdir)


def wait_for_execution(sfn: Any, arn: str, timeout: float = 300.0, poll: float = 0.2) -> dict[str, Any]:
    """Poll a Step Functions execution until it stops."""
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still running after {timeout} s")
        time.sleep(poll)
