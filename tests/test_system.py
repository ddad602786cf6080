"""The process's use of the machine: the allocator tuning of ``xaibench run`` (README, Memory)."""

import subprocess
import sys

import pytest

# A 200 MB block freed: with glibc's defaults it is unmapped at once (the resident memory drops
# by 200 MB, and the next call faults its pages in again); tuned, the heap keeps it for reuse.
REUSE = """
import numpy as np
from xaibench._system import tune_allocator

def resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

print(tune_allocator())
a = np.ones(200 * 2**20 // 8)
held = resident_mb()
del a
print(held - resident_mb())
"""


def freed_mb(setting: str) -> tuple[str, float]:
    """Whether the allocator was tuned, and the MB handed back to the OS by freeing the block."""
    done = subprocess.run(
        [sys.executable, "-c", REUSE],
        env={"XAIBENCH_MALLOC": setting, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    applied, freed = done.stdout.split()
    return applied, float(freed)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_the_tuned_allocator_keeps_freed_memory_and_can_be_turned_off():
    applied, freed = freed_mb("")
    if applied == "False":
        pytest.skip("not glibc: the allocator is left alone")
    assert applied == "True" and freed < 20  # kept in the heap for the next call
    applied, freed = freed_mb("default")
    assert applied == "False" and freed > 180  # glibc's defaults: unmapped at once


def test_worker_processes_get_the_same_settings_in_their_environment(monkeypatch):
    from xaibench._system import _ALLOCATOR, allocator_environment

    env = allocator_environment()
    assert env["MALLOC_ARENA_MAX"] == "1"
    assert sorted(int(v) for v in env.values()) == sorted(_ALLOCATOR.values())
    monkeypatch.setenv("XAIBENCH_MALLOC", "default")
    assert allocator_environment() == {}
