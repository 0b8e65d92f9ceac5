"""Runs the real code of deployed functions and of the Batch training job in this process."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import mlruntime
from infra.local.deploy import TRAINING_IMAGE, Deployment, LocalFunction
from mlcore.images import CONTRACT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
TRAINING_ENTRYPOINT = TRAINING_IMAGE / "entrypoint.py"
# A model's own training image, locally: the folder whose `entrypoint.py` the image runs, by repository
# name: `repository=folder[,repository=folder...]`, else containers/<repository>/ of this project.
LOCAL_IMAGES_VARIABLE = "MLOPS_LOCAL_IMAGES"
IMAGE_TIMEOUT_SECONDS = 3600
# One function runs at a time: each runs with its own environment, and os.environ is process-wide.
_environment_lock = threading.RLock()
# A job's variables that another job must not inherit: the entrypoint reads an empty one as none (a search's trial).
JOB_BLANKED = frozenset({"TRIAL"})


@contextlib.contextmanager
def environment(variables: dict[str, str], *, blank: Collection[str] = ()) -> Iterator[None]:
    """Run with `variables` set, putting back the values they replaced afterwards. Only those: another thread (a
    test, the CLI) may change other variables meanwhile, and a restored snapshot of them all would undo that.

    A variable that was not set is never removed afterwards: removing it races with any thread copying os.environ
    (botocore, moto and subprocess do), whose copy lists the keys first and then reads each, and fails on one
    removed in between (KeyError). A function's is left as it was (its template sets every variable its settings
    read, which a template test checks), and so is a job's, except those in `blank` (a job's TRIAL: its entrypoint
    reads an empty TRIAL as no trial), left empty. (Blanking every new one left a typed setting empty, BATCH_ROWS,
    which a later reader in the process could not parse.)
    """
    with _environment_lock:
        saved = {name: os.environ[name] for name in variables if name in os.environ}
        os.environ.update(variables)
        try:
            yield
        finally:
            os.environ.update(saved)
            os.environ.update({name: "" for name in variables if name in blank and name not in saved})


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class FunctionError(Exception):
    """A handler raised; carries the Lambda-style error document."""

    def __init__(self, error_type: str, message: str, trace: list[str]) -> None:
        super().__init__(f"{error_type}: {message}")
        self.document = {"errorType": error_type, "errorMessage": message, "stackTrace": trace}


def _load(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class FunctionRunner:
    """Invokes deployed functions by running their handler from the cdk.out asset folder."""

    def __init__(self, deployment: Deployment, region: str) -> None:
        self.deployment = deployment
        self.region = region
        self._modules: dict[str, ModuleType] = {}
        self._hooks: dict[str, list[Callable[[], object]]] = {}  # shutdown hooks, by the function that added them
        self.last_used: dict[str, float] = {}
        self.invocations: dict[str, int] = {}
        self.recycled: dict[str, int] = {}

    def _module(self, function: LocalFunction) -> ModuleType:
        if function.name not in self._modules:
            module_file, _ = function.handler.rsplit(".", 1)
            self._modules[function.name] = _load(
                function.code_dir / f"{module_file}.py", f"mlops_fn_{function.function}"
            )
        return self._modules[function.name]

    def invoke(self, function_name: str, event: Any) -> Any:
        """Run a function's handler on `event`; raises `FunctionError` as Lambda would report it."""
        function = self.deployment.functions[function_name.rsplit(":", 1)[-1]]
        self.invocations[function.function] = self.invocations.get(function.function, 0) + 1
        context = LambdaContext(
            function_name=function.name,
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=f"arn:aws:lambda:{self.region}:123456789012:function:{function.name}",
            log_group_name=f"/aws/lambda/{function.name}",
        )
        with environment({**function.environment, "AWS_LAMBDA_FUNCTION_NAME": function.name}):
            hooks = mlruntime.shutdown_hooks()
            try:
                handler = getattr(self._module(function), function.handler.rsplit(".", 1)[1])
                return handler(event, context)
            except Exception as exc:
                raise FunctionError(type(exc).__name__, str(exc), traceback.format_exception(exc)[-5:]) from exc
            finally:
                added = [hook for hook in mlruntime.shutdown_hooks() if hook not in hooks]
                self._hooks.setdefault(function.name, []).extend(added)
                self.last_used[function.name] = time.monotonic()

    def recycle(self, name: str) -> bool:
        """What Lambda does to a container it recycles: SIGTERM (its shutdown hooks), and a cold start next time."""
        with _environment_lock:
            module = self._modules.pop(name, None)
            if module is None:
                return False
            with environment(self.deployment.functions[name].environment):
                mlruntime.shutdown(only=self._hooks.pop(name, []))
            sys.modules.pop(module.__name__, None)
            self.recycled[name] = self.recycled.get(name, 0) + 1
            return True

    def recycle_idle(self, idle_seconds: float) -> list[str]:
        """Recycle the containers idle for `idle_seconds` or longer, as Lambda does; returns their functions."""
        now = time.monotonic()
        idle = [name for name in list(self._modules) if now - self.last_used.get(name, now) >= idle_seconds]
        return [name for name in idle if self.recycle(name)]

    def shutdown(self) -> list[str]:
        """Recycle every container (the local target stops, or is asked to flush)."""
        return [name for name in list(self._modules) if self.recycle(name)]

    def invoke_json(self, function_name: str, payload: bytes | str) -> tuple[bytes, bool]:
        """Lambda's wire contract: JSON in, JSON out, and whether the function errored."""
        try:
            result = self.invoke(function_name, json.loads(payload or "{}"))
        except FunctionError as error:
            return json.dumps(error.document).encode(), True
        return json.dumps(result).encode(), False


def local_image_folder(image: str) -> Path:
    """The folder that builds an ECR image, for running its entrypoint here.

    Raises
    ------
    LookupError
        When no folder with an `entrypoint.py` stands for the image's repository, saying how to map one.
    """
    repository = image.split("/", 1)[-1].split("@", maxsplit=1)[0].split(":", maxsplit=1)[0]
    mapped = dict(pair.split("=", 1) for pair in os.environ.get(LOCAL_IMAGES_VARIABLE, "").split(",") if "=" in pair)
    folder = Path(mapped[repository]) if repository in mapped else ROOT / "containers" / repository
    if not (folder / "entrypoint.py").is_file():
        raise LookupError(
            f"no local build of the image {image}: {folder}/entrypoint.py does not exist; set "
            f"{LOCAL_IMAGES_VARIABLE}={repository}=<folder with its entrypoint.py>"
        )
    return folder


class TrainingJobRunner:
    """Runs the training image's entrypoint with a Batch job's environment.

    One job at a time: a job's environment is the process's (as in its container), so concurrent
    jobs (a search's trials) queue here, as on a compute environment with room for one.
    """

    def __init__(self) -> None:
        self.runs: list[dict[str, str]] = []
        self._entrypoint: ModuleType | None = None
        self._lock = threading.Lock()

    def run_job(self, image: str, job_environment: dict[str, str], command: list[str]) -> bool:
        """Run a Batch job: a model's own image when its job definition is the image contract's, else ours."""
        if CONTRACT_VARIABLE in job_environment:
            return self.run_image(image, job_environment)
        return self.run(job_environment, command)

    def run(self, job_environment: dict[str, str], command: list[str] | None = None) -> bool:
        """Run the entrypoint with the job definition's command (its arguments: none trains)."""
        with self._lock, environment(job_environment, blank=JOB_BLANKED):
            self.runs.append(job_environment)
            if self._entrypoint is None:
                self._entrypoint = _load(TRAINING_ENTRYPOINT, "mlops_training_entrypoint")
            try:
                # what a container prints goes to its job's log, never into the caller's output (a CLI's --json)
                with contextlib.redirect_stdout(sys.stderr):
                    return bool(self._entrypoint.main(list(command or [])) == 0)
            except Exception:  # the container would exit non-zero with its traceback in the job's log
                traceback.print_exc()
                return False

    def run_image(self, image: str, job_environment: dict[str, str]) -> bool:
        """Run a model's own image: its folder's `entrypoint.py`, in a process of its own, with the job's
        environment."""
        with self._lock:
            self.runs.append(job_environment)
            try:
                folder = local_image_folder(image)
            except LookupError as exc:
                print(exc, file=sys.stderr)
                return False
            done = subprocess.run(
                [sys.executable, str(folder / "entrypoint.py")],
                env={**os.environ, **job_environment},
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=IMAGE_TIMEOUT_SECONDS,
                check=False,
            )
            sys.stderr.write(done.stdout.decode(errors="replace"))  # the container's log
            return done.returncode == 0
