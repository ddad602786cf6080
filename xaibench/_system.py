"""What this process may use of the machine."""

from __future__ import annotations

import os
from pathlib import Path

# This process's share of the CPUs when it is one of several that compute together (a local
# worker process of ``xaibench run --workers N``: ``share_cpus``), else None.
_SHARE: int | None = None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it; its share, when it
    was given one: ``share_cpus``), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _SHARE or cpus))


def share_cpus(n: int) -> None:
    """From now on this process computes on ``n`` CPUs (``usable_cpus`` says at most ``n``): it is
    one of the processes that share the machine."""
    global _SHARE
    _SHARE = n


def available_mb() -> float | None:
    """The memory (MB) this process could still take: the kernel's estimate of what is available
    without swapping (Linux: ``MemAvailable``), less where a cgroup (v2: a container's) limit
    leaves less; None where the platform does not say."""
    try:
        with open("/proc/meminfo") as info:
            kb = next(int(line.split()[1]) for line in info if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    mb = kb / 1024
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            mb = min(mb, (int(limit) - int(used)) / 2**20)
    except OSError:
        pass
    return mb


# glibc's malloc tuned for TensorFlow on CPU (see ``tune_allocator``): mallopt's option numbers
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_ALLOCATOR = {
    _M_ARENA_MAX: 1,
    _M_MMAP_THRESHOLD: 1 << 30,
    _M_TRIM_THRESHOLD: 2 << 30,
    _M_TOP_PAD: 64 << 20,
}


MALLOC_ENV = "XAIBENCH_MALLOC"


def allocator_left_alone() -> bool:
    """Whether ``$XAIBENCH_MALLOC`` is ``default`` (leave the allocator alone); False when it is
    unset or empty. ValueError naming the variable for any other value."""
    text = os.environ.get(MALLOC_ENV, "").strip()
    if text.lower() not in ("", "default"):
        raise ValueError(
            f"{MALLOC_ENV} must be 'default' (leave the allocator alone) or unset (tune it), "
            f"got {text[:40]!r}"
        )
    return text.lower() == "default"


def allocator_environment() -> dict[str, str]:
    """The same settings as environment variables, which glibc reads when a process starts (for
    the worker processes xaibench starts); empty with ``XAIBENCH_MALLOC=default``."""
    if allocator_left_alone():
        return {}
    return {
        "MALLOC_ARENA_MAX": str(_ALLOCATOR[_M_ARENA_MAX]),
        "MALLOC_MMAP_THRESHOLD_": str(_ALLOCATOR[_M_MMAP_THRESHOLD]),
        "MALLOC_TRIM_THRESHOLD_": str(_ALLOCATOR[_M_TRIM_THRESHOLD]),
        "MALLOC_TOP_PAD_": str(_ALLOCATOR[_M_TOP_PAD]),
    }


def tune_allocator() -> bool:
    """Keep the memory TensorFlow frees for its next call instead of handing it back to the OS.

    By default glibc serves each block over 32 MB (a batch's activations at 224x224) with a
    fresh ``mmap`` and unmaps it when freed, and gives each thread its own arena: every call then
    faults in its memory again page by page, which took ~75% of a MobileNetV2 forward pass's CPU
    time at 224x224 on 2 cores, in the kernel. One arena, blocks up to 1 GiB from the heap and up
    to 2 GiB of free heap kept made the forward pass ~1.6x and the gradient ~1.45x faster at the
    same peak memory (README, Memory). Linux with glibc only; ``XAIBENCH_MALLOC=default`` leaves
    the allocator alone (another value: ValueError). Returns whether the settings were
    applied."""
    if allocator_left_alone():
        return False
    libc = _glibc()
    if libc is None:
        return False
    return all(libc.mallopt(option, value) == 1 for option, value in _ALLOCATOR.items())


def release_free_memory() -> bool:
    """Hand the memory the tuned allocator keeps free back to the OS (glibc's ``malloc_trim``),
    so that what is resident afterwards is what is in use: done between the stages whose peak
    memory is measured (``benchmark.cost.PeakMemory``), once per cell rather than per model call.
    Returns whether anything could be asked (glibc only)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _glibc():
    """This process's C library when it is glibc on Linux (musl's ``mallopt`` does nothing and
    it has no ``malloc_trim``), else None."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def torch_before_tensorflow() -> bool:
    """Import torch, and where Triton is installed (torch's CUDA builds) torch's compiler, which
    loads Triton, before TensorFlow: Triton's native module loaded after TensorFlow's crashes
    the process (a segmentation fault, seen with torch 2.14.1+cu130 and torchvision 0.29.1
    beside TensorFlow 2.21: ``import tensorflow; import torchvision``); loaded first, both work.
    True when torch is loaded (now or before); False when it is not installed or TensorFlow
    came first (too late: nothing is imported)."""
    import importlib.util
    import sys

    if "torch" in sys.modules and (
        "torch._dynamo" in sys.modules or importlib.util.find_spec("triton") is None
    ):
        return True
    if "tensorflow" in sys.modules or importlib.util.find_spec("torch") is None:
        return False
    import torch  # noqa: F401

    if importlib.util.find_spec("triton") is not None:
        import torch._dynamo  # noqa: F401 - imports Triton
    return True
