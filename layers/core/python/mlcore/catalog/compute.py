"""Where a model's training jobs run: the job queues, and the sizes Fargate runs a job at."""

from __future__ import annotations

FARGATE, FARGATE_SPOT, EC2_GPU = "fargate", "fargate_spot", "ec2_gpu"
# The training state machine's array of queue ARNs, in this order: the validate step picks an index.
# The EC2 GPU queue exists only in a deployment with the `mlops:gpuJobs` context flag.
JOB_QUEUES = (FARGATE, FARGATE_SPOT, EC2_GPU)
# The GPU queue's instances (g4dn: NVIDIA T4): vCPUs, memory (GB) and GPUs of each. A job must fit one,
# less the GB the ECS agent keeps: one that fits none would wait in the queue forever.
GPU_INSTANCES: dict[str, tuple[int, int, int]] = {
    "g4dn.xlarge": (4, 16, 1),
    "g4dn.2xlarge": (8, 32, 1),
    "g4dn.12xlarge": (48, 192, 4),
}
GPU_INSTANCE_TYPES = tuple(GPU_INSTANCES)
MAX_GPUS = max(gpus for _, _, gpus in GPU_INSTANCES.values())
AGENT_RESERVED_GB = 1


def gpu_size_error(vcpus: float, memory_gb: float, gpu: int) -> str | None:
    """Why no instance of the GPU queue can run a job of this size (None: one can)."""
    if any(
        vcpus <= cpus and memory_gb <= memory - AGENT_RESERVED_GB and gpu <= gpus
        for cpus, memory, gpus in GPU_INSTANCES.values()
    ):
        return None
    sizes = ", ".join(
        f"{name} ({cpus} vCPUs, {memory - AGENT_RESERVED_GB} GB, {gpus} GPU)"
        for name, (cpus, memory, gpus) in GPU_INSTANCES.items()
    )
    return f"{gpu} GPU, {vcpus:g} vCPUs and {memory_gb:g} GB fit no instance of the GPU queue: {sizes}"


# Its array of the training image's job definitions: Fargate's, and the EC2 one that gets GPUs.
JOB_DEFINITIONS = (FARGATE, EC2_GPU)

# Fargate's combinations of vCPUs and memory (GB): https://docs.aws.amazon.com/batch/latest/userguide/fargate.html
FARGATE_SIZES: dict[float, tuple[float, ...]] = {
    0.25: (0.5, 1, 2),
    0.5: (1, 2, 3, 4),
    1: tuple(range(2, 9)),
    2: tuple(range(4, 17)),
    4: tuple(range(8, 31)),
    8: tuple(range(16, 61, 4)),
    16: tuple(range(32, 121, 8)),
}


def fargate_size_error(vcpus: float, memory_gb: float) -> str | None:
    """Why Fargate cannot run a job of this size (None: it can)."""
    if vcpus not in FARGATE_SIZES:
        return f"vcpus {vcpus:g} is not one of Fargate's {', '.join(f'{v:g}' for v in FARGATE_SIZES)}"
    allowed = FARGATE_SIZES[vcpus]
    if memory_gb not in allowed:
        listed = ", ".join(f"{m:g}" for m in allowed)
        return f"memory_gb {memory_gb:g} does not go with {vcpus:g} vCPUs on Fargate: one of {listed}"
    return None


def container_resources(vcpus: float, memory_gb: float, gpu: int = 0) -> list[dict[str, str]]:
    """Batch's `ResourceRequirements` for a job of this size (memory in MiB)."""
    size = [{"Type": "VCPU", "Value": f"{vcpus:g}"}, {"Type": "MEMORY", "Value": str(round(memory_gb * 1024))}]
    return [*size, {"Type": "GPU", "Value": str(gpu)}] if gpu else size
