"""Time and peak memory of converting an authors' snapshot of the paper's size (`digan.authors.convert_snapshot`).

Writes a synthetic `network-snapshot-*.pkl` in the authors' structure
(tests/authors/authors_writer.py) holding random networks of the preset (the
paper's 128x128: G and G_ema 63.5M parameters each, two discriminators of
28.4M: about 700 MB), then converts it in a fresh process and reports the wall
time and that process's peak resident memory (its ru_maxrss), also as a
multiple of the file's size, beside its memory after the imports (what any
Python process with torch holds).

Both steps run in child processes of this one, which imports no torch: on
Linux a process's ru_maxrss starts from its parent's resident size when it is
started, so a parent holding the written networks would inflate the figure.

    .venv/bin/python benchmarks/convert_memory.py                    # paper-128
    .venv/bin/python benchmarks/convert_memory.py --preset small-64

Target: a peak of at most about twice the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITE = """
import sys, torch
sys.path.insert(0, {helpers!r})
from authors_writer import write_snapshot
from digan.config import get_preset
from digan.models import DiganDiscriminators, Generator
preset = get_preset({preset!r})
torch.manual_seed(0)
G, G_ema, D = Generator(preset.generator), Generator(preset.generator), DiganDiscriminators(preset.discriminator)
write_snapshot(sys.argv[1], preset, G_ema.state_dict(), D.state_dict(), G.state_dict())
"""

CONVERT = """
import json, re, resource, sys, time
import torch
torch.set_num_threads({threads})
from digan.authors import convert_snapshot
imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
convert_snapshot(sys.argv[1], sys.argv[2])
seconds = time.perf_counter() - start
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
print(json.dumps({{"seconds": seconds, "after_imports": imports, "vm_hwm": hwm}}))
"""


def run(code: str, *argv: str, threads: int) -> tuple[str, int, float]:
    """(stdout, ru_maxrss in bytes, wall seconds) of `python -c code argv...` in a child process.

    os.wait4 gives that child's own resource usage (RUSAGE_CHILDREN would take the largest of all children).
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0), err.seek(0)
        if child.returncode:
            sys.exit(f"child failed:\n{err.read()[-3000:]}")
        return out.read(), usage.ru_maxrss * 1024, wall  # ru_maxrss: kilobytes on Linux


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper-128", help="preset of the networks written (default paper-128)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the child processes")
    args = parser.parse_args(argv)
    helpers = str(Path(__file__).resolve().parents[1] / "tests" / "authors")
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "network-snapshot-004000.pkl"
        _, _, wall = run(WRITE.format(helpers=helpers, preset=args.preset), str(pkl), threads=args.threads)
        size = pkl.stat().st_size
        print(f"wrote {pkl.name}: {size / 2**20:.1f} MiB ({args.preset}) in {wall:.1f} s")

        out, peak, wall = run(
            CONVERT.format(threads=args.threads), str(pkl), str(Path(tmp) / "run"), threads=args.threads
        )
        report = json.loads(out.strip().splitlines()[-1])
        written = sum(p.stat().st_size for p in (Path(tmp) / "run").iterdir())
        imports = report["after_imports"]
        print(
            f"converted in {report['seconds']:.1f} s (process {wall:.1f} s with its imports); "
            f"wrote {written / 2**20:.1f} MiB"
        )
        print(
            f"peak RSS (ru_maxrss) {peak / 2**20:.0f} MiB = {peak / size:.2f}x the file; after the imports "
            f"{imports / 2**20:.0f} MiB = {imports / size:.2f}x, so the conversion adds {(peak - imports) / size:.2f}x "
            f"(VmHWM {report['vm_hwm'] / 2**20:.0f} MiB)"
        )


if __name__ == "__main__":
    main()
