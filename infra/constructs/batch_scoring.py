"""BatchScoring: plan, a Distributed Map of scoring jobs (the training image: in Lambda for a small chunk, in
Batch for a large one), publish."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.lambda_factory import LambdaFactory
from infra.constructs.resources import PlatformResources
from infra.constructs.training import TrainingPipeline, allow_batch_jobs, allow_distributed_map, asl_state_machine
from mlcore.catalog import (
    BATCH_SCHEDULE,
    BATCH_SCORING,
    DATA_BUCKET,
    JOB_QUEUE,
    REPORT_FAILURE,
    SCORE_CHUNK,
    SCORING_JOB,
    SCORING_JOB_DEFINITION,
    START_SCHEDULED_BATCHES,
)

# What the schedule's state machine receives from its tick (the start step's input).
TICK_INPUT = {"event_id": events.EventField.event_id, "at": events.EventField.time}


class BatchScoring(Construct):
    """Scores the files under a prefix with a registered version: `mlops batch predict`, or a spec's schedule."""

    functions: dict[str, lambda_.IFunction]
    state_machine: sfn.StateMachine
    schedule: sfn.StateMachine  # the tick's: starts the batches whose batch.schedule fired
    tick: events.Rule

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: TrainingPipeline,
        factory: LambdaFactory,
        resources: PlatformResources,
        state_machine_name: str,
        tick: str,
    ) -> None:
        super().__init__(scope, construct_id)
        _, job_definition = pipeline.job_definition_for(SCORING_JOB, "Score", "ScoreJobRole", resources)
        scorer = factory.create_from_image(
            self, SCORING_JOB, pipeline.image, pipeline.vpc, pipeline.jobs_security_group
        )
        self.functions = {SCORE_CHUNK: scorer}
        for name in BATCH_SCORING.functions:
            if name == REPORT_FAILURE:
                self.functions[name] = pipeline.functions[name]
            elif name not in self.functions:
                self.functions[name] = factory.create(self, name)
        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            machine=BATCH_SCORING,
            functions=self.functions,
            resources=resources,
            arns={
                JOB_QUEUE: pipeline.job_queue.job_queue_arn,
                SCORING_JOB_DEFINITION: job_definition.job_definition_arn,
            },
            state_machine_name=state_machine_name,
        )
        allow_batch_jobs(self.state_machine, [pipeline.job_queue.job_queue_arn, job_definition.job_definition_arn])
        # The Distributed Map reads the plan's chunk list, and runs each chunk as a child execution.
        allow_distributed_map(self.state_machine, state_machine_name, resources, DATA_BUCKET)
        self._schedule(factory, resources.with_batch(self.state_machine), tick)

    def _schedule(self, factory: LambdaFactory, resources: PlatformResources, tick: str) -> None:
        """The tick: a rule, every `tick`, runs the state machine that starts the batches whose schedule fired."""
        start = factory.with_resources(resources).create(self, START_SCHEDULED_BATCHES)
        self.functions[START_SCHEDULED_BATCHES] = start
        self.schedule = asl_state_machine(
            self, "Schedule", machine=BATCH_SCHEDULE, functions=self.functions, resources=resources
        )
        self.tick = events.Rule(
            self,
            "Tick",
            description="Starts the batch scoring of every model whose batch.schedule is due",
            schedule=events.Schedule.expression(tick),
            targets=[targets.SfnStateMachine(self.schedule, input=events.RuleTargetInput.from_object(TICK_INPUT))],
        )
