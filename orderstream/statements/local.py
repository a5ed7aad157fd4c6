"""The statements pattern on the local stack: moto plays Step Functions, this module plays Terraform and ECS.

- *Terraform's part* (:func:`provision`, idempotent): the bucket, the bus, a VPC with a subnet and a security
  group, the ECS cluster and task definition, the activity and the state machine, rendered from the same ASL
  template Terraform uses, with ``worker_style = run_task`` (moto 5.x serves no GetActivityTask) and short
  retry intervals. moto's ASL interpreter is switched on through its config endpoint.
- *ECS's part* (:class:`EcsEmulator`): moto's RunTask records a task and runs nothing. While the execution
  runs, each task moto recorded is started here as ``orderstream <command>`` with the task definition's
  environment plus the container overrides recorded on the task (the task token and the step's input, what
  Fargate would pass), and stopped in moto when it exits. The worker then reports to moto itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from orderstream import aws
from orderstream.domain.statements import Month
from orderstream.errors import ConfigError, OrderstreamError
from orderstream.local import PROJECT_ROOT, LocalPaths
from orderstream.settings import ENV_PREFIX, StatementsSettings
from orderstream.statements import definition
from orderstream.statements.run import RunResult, follow, start
from orderstream.statements.worker import sfn_client

NAME: Final = "orderstream-statements"
CONTAINER: Final = "statements-worker"
ROLE_ARN: Final = "arn:aws:iam::123456789012:role/orderstream-statements"
LOCAL_TIMING: Final[dict[str, Any]] = {
    "max_concurrency": 4,
    "heartbeat_seconds": 120,
    "timeout_seconds": 900,
    "retry_interval_seconds": 1,
    "retry_max_attempts": 2,
    "retry_backoff_rate": 2.0,
}
"""Local values of the template's timing variables: the same retries as on AWS, seconds apart, not minutes."""


@dataclass(frozen=True)
class LocalDeployment:
    state_machine_arn: str
    cluster_arn: str
    task_definition_arn: str
    definition: str


def enable_interpreter(endpoint: str) -> None:
    """Make moto execute state machines (``execute_state_machine``), set through its config endpoint."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/moto-api/config",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as exc:
        raise OrderstreamError(f"moto at {endpoint} did not take the config change: {exc}") from None


def task_environment(settings: StatementsSettings) -> dict[str, str]:
    """The task definition's environment: this process's statements settings, as ORDERSTREAM_* variables."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is not None and not name.startswith("statements_task_"):
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    return env


def provision(settings: StatementsSettings) -> LocalDeployment:
    """What Terraform creates on AWS, in moto (each call brings it up to date)."""
    endpoint = settings.aws_endpoint_url
    if not endpoint:
        raise ConfigError("ORDERSTREAM_AWS_ENDPOINT_URL", "the local statements run needs moto's URL")
    enable_interpreter(endpoint)
    clients = {
        name: aws.client(name, region=settings.aws_region, endpoint_url=endpoint)
        for name in ("s3", "events", "ec2", "ecs", "stepfunctions")
    }
    _bucket(clients["s3"], settings.statements_bucket, settings.aws_region)
    try:
        clients["events"].describe_event_bus(Name=settings.event_bus)
    except Exception:
        clients["events"].create_event_bus(Name=settings.event_bus)
    subnet, group = _network(clients["ec2"])
    ecs, sfn = clients["ecs"], clients["stepfunctions"]
    cluster = ecs.create_cluster(clusterName=NAME)["cluster"]["clusterArn"]
    container = {
        "name": CONTAINER,
        "image": "orderstream:local",
        "essential": True,
        "command": ["statements", "task"],
        "cpu": 256,
        "memory": 512,  # moto sums container memory; Fargate reads the task's
        "environment": [{"name": k, "value": v} for k, v in sorted(task_environment(settings).items())],
    }
    task_definition = ecs.register_task_definition(
        family=NAME,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]
    activities = [a for a in sfn.list_activities()["activities"] if a["name"] == NAME]
    activity = activities[0]["activityArn"] if activities else sfn.create_activity(name=NAME)["activityArn"]
    values = definition.DefinitionVars(
        worker_style="run_task",
        activity_arn=activity,
        cluster_arn=cluster,
        task_definition_arn=task_definition,
        container_name=CONTAINER,
        subnet_ids=(subnet,),
        security_group_ids=(group,),
        event_bus_name=settings.event_bus,
        bucket=settings.statements_bucket,
        **LOCAL_TIMING,
    )
    text = definition.render(values)
    existing = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == NAME]
    if existing:
        arn = existing[0]["stateMachineArn"]
        sfn.update_state_machine(stateMachineArn=arn, definition=text, roleArn=ROLE_ARN)
    else:
        arn = sfn.create_state_machine(name=NAME, definition=text, roleArn=ROLE_ARN)["stateMachineArn"]
    return LocalDeployment(arn, cluster, task_definition, text)


def _bucket(s3: Any, name: str, region: str) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except Exception as exc:
        if aws.error_code(exc)[0] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _network(ec2: Any) -> tuple[str, str]:
    """A VPC (DNS hostnames on: moto's awsvpc tasks need them), a subnet and a security group, tagged."""
    tag = [{"Name": "tag:Name", "Values": [NAME]}]
    vpcs = ec2.describe_vpcs(Filters=tag)["Vpcs"]
    if vpcs:
        vpc = vpcs[0]["VpcId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": NAME}])
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = ec2.describe_subnets(Filters=[*tag, {"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    if subnets:
        subnet = subnets[0]["SubnetId"]
    else:
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": "Name", "Value": NAME}])
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [NAME]}, {"Name": "vpc-id", "Values": [vpc]}]
    )["SecurityGroups"]
    if groups:
        group = groups[0]["GroupId"]
    else:
        group = ec2.create_security_group(GroupName=NAME, Description="statements workers", VpcId=vpc)[
            "GroupId"
        ]
    return subnet, group


@dataclass
class EcsEmulator:
    """Runs the tasks moto's RunTask recorded, as Fargate would: task definition env + container overrides."""

    ecs: Any
    cluster: str
    max_running: int = 4
    seen: set[str] = field(default_factory=set)
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    running: dict[str, tuple[subprocess.Popen[bytes], dict[str, Any]]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    _definitions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ignore_existing(self) -> None:
        """Tasks recorded before this run belong to someone else."""
        self.seen.update(self._task_arns())

    def tick(self) -> None:
        new = [arn for arn in self._task_arns() if arn not in self.seen]
        for first in range(0, len(new), 100):
            described = self.ecs.describe_tasks(cluster=self.cluster, tasks=new[first : first + 100])
            for task in described["tasks"]:
                self.seen.add(task["taskArn"])
                self.pending.append(task)
        self._reap()
        while self.pending and len(self.running) < self.max_running:
            self._start(self.pending.popleft())

    def finish(self, grace: float = 60.0) -> None:
        """Let running tasks end (the execution is over: they have nothing left to wait for), then stop them."""
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.2)
        for proc, _ in self.running.values():
            proc.kill()
            proc.wait()
        self._reap()

    def _task_arns(self) -> list[str]:
        paginator = self.ecs.get_paginator("list_tasks")
        return [arn for page in paginator.paginate(cluster=self.cluster) for arn in page["taskArns"]]

    def _container(self, task: dict[str, Any]) -> dict[str, Any]:
        arn = task["taskDefinitionArn"]
        if arn not in self._definitions:
            described = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            self._definitions[arn] = described["containerDefinitions"][0]
        return self._definitions[arn]

    def _start(self, task: dict[str, Any]) -> None:
        container = self._container(task)
        overrides: dict[str, Any] = next(
            (
                o
                for o in task.get("overrides", {}).get("containerOverrides", [])
                if o.get("name") == container["name"]
            ),
            {},
        )
        command = list(overrides.get("command") or container.get("command") or [])
        env = {
            **os.environ,
            **{e["name"]: e["value"] for e in container.get("environment", [])},
            **{e["name"]: e["value"] for e in overrides.get("environment", [])},
        }
        log_dir = LocalPaths.default().logs / "statements"
        log_dir.mkdir(parents=True, exist_ok=True)
        arn = task["taskArn"]
        with (log_dir / f"{arn.rsplit('/', 1)[-1]}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orderstream.cli", *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
            )
        step = _step_of(env.get(f"{ENV_PREFIX}STATEMENTS_TASK_INPUT", ""))
        self.running[arn] = (proc, {"task_arn": arn, "command": command, **step})

    def _reap(self) -> None:
        for arn, (proc, record) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.running[arn]
            record["exit_code"] = code
            self.records.append(record)
            self.ecs.stop_task(cluster=self.cluster, task=arn, reason=f"essential container exited ({code})")


def _step_of(raw: str) -> dict[str, Any]:
    try:
        request = json.loads(raw)
    except ValueError:
        return {"step": None}
    shard = request.get("shard") if isinstance(request, dict) else None
    return {
        "step": request.get("step") if isinstance(request, dict) else None,
        "shard": shard.get("shard") if isinstance(shard, dict) else None,
    }


def run(settings: StatementsSettings, month: Month, *, timeout: float) -> RunResult:
    """Provision, start the execution, run its ECS tasks until it ends, return the result."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _run(settings, month, timeout)
    except (BotoCoreError, ClientError) as exc:
        raise OrderstreamError(f"local statements run against {settings.aws_endpoint_url}: {exc}") from None


def _run(settings: StatementsSettings, month: Month, timeout: float) -> RunResult:
    deployment = provision(settings)
    ecs = aws.client("ecs", region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    emulator = EcsEmulator(ecs, deployment.cluster_arn, max_running=LOCAL_TIMING["max_concurrency"])
    emulator.ignore_existing()
    sfn = sfn_client(settings)
    execution = start(sfn, deployment.state_machine_arn, month)
    try:
        result = follow(sfn, execution, timeout, tick=emulator.tick, every=0.3)
    finally:
        emulator.finish()
    result.tasks = emulator.records
    return result
