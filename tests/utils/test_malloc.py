"""`keep_freed_memory`: a freed large block is reused by the next step, not mapped and zero-filled again."""

import json
import os
import subprocess
import sys

import pytest

from digan.utils.malloc import _mallopt, keep_freed_memory

pytestmark = pytest.mark.skipif(_mallopt() is None, reason="glibc's mallopt only (Linux with glibc)")

# Steps of a training loop in a child process: each allocates and writes blocks of 36 to 64 MiB (an activation
# each) and frees them. The page faults of the last step are what every step pays once the loop has settled.
CHILD = r"""
import json, resource, sys
from digan.utils.malloc import default_malloc, keep_freed_memory
applied = {"kept": keep_freed_memory, "default": default_malloc}[sys.argv[1]]()
import torch
for step in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [torch.ones(k * 2**20) for k in (9, 12, 16, 12, 9)]  # float32: 36 to 64 MiB
    del blocks
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def child(way: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", CHILD, way], capture_output=True, text=True, env=environ, check=True)
    return json.loads(out.stdout)


def test_kept_memory_is_reused_where_glibc_maps_it_afresh():
    kept, default = child("kept"), child("default")
    assert kept["applied"] and default["applied"]
    pages = (9 + 12 + 16 + 12 + 9) * 4 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert default["faults"] >= pages * 0.9  # mapped afresh at every step: each page faulted in and zero-filled
    assert kept["faults"] < pages / 4  # the freed blocks, mostly reused (aligned requests leave some gaps)


def test_the_users_own_malloc_settings_win():
    assert not keep_freed_memory({"MALLOC_MMAP_MAX_": "65536"})
    assert not keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not keep_freed_memory({"DIGAN_KEEP_MEMORY": "0"})
    assert child("kept", MALLOC_TRIM_THRESHOLD_="131072")["applied"] is False
