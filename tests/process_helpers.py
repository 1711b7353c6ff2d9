"""Other processes for the tests of locks and signals: started with a timeout, waited for, never left behind."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from digan.utils.atomic import TEMP_NAME

# `python -c DRIVER ARGS...` runs `digan ARGS...` with one library function slowed down, so that a test can
# act while the command is busy. SLOW names it as module:function; each call sleeps SLOW_S first.
DRIVER = """
import importlib, os, sys, time
module, name = os.environ["SLOW"].split(":")
module = importlib.import_module(module)
original = getattr(module, name)
def slow(*args, **kwargs):
    time.sleep(float(os.environ.get("SLOW_S", "0.5")))
    return original(*args, **kwargs)
setattr(module, name, slow)
from digan.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def digan(*args, slow: str | None = None, slow_s: float = 0.5, cwd=None) -> subprocess.Popen:
    """Start `digan ARGS` in another process (one thread), optionally with `slow` (module:function) slowed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if slow:
        env.update(SLOW=slow, SLOW_S=str(slow_s))
        argv = [sys.executable, "-c", DRIVER, *map(str, args)]
    else:
        argv = [sys.executable, "-m", "digan", *map(str, args)]
    # output to files, not pipes: a child it leaves behind (an orphaned worker) would hold a pipe open forever
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    # a process group of its own, as a shell job has: a test can signal the group (os.killpg), as `timeout`,
    # torchrun or a terminal do
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err, text=True, start_new_session=True)
    process.output_files = out, err
    return process


def python(code: str) -> subprocess.Popen:
    """Start `python -c CODE`; it says `ready` on stdout when it holds what the test needs."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(process: subprocess.Popen, timeout: float = 60) -> str:
    """The first line `process` prints (after `ready`, e.g. a PID), failing if it ends first."""
    line = process.stdout.readline()
    assert line.startswith("ready"), (line, process.stderr.read() if process.poll() is not None else "")
    return line.split(maxsplit=1)[1].strip() if " " in line.strip() else ""


def wait_until(condition, timeout: float = 60, what: str = "the condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    """Wait for `process` (killed if it takes longer); returns (exit code, stdout, stderr)."""
    files = getattr(process, "output_files", None)
    try:
        if files is None:
            out, err = process.communicate(timeout=timeout)
        else:
            process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"process did not end within {timeout} s")
    if files is not None:
        for f in files:
            f.seek(0)
        out, err = (f.read() for f in files)
    return process.returncode, out, err


def children(pid: int) -> list[int]:
    """PIDs of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def temporaries(root: Path) -> list[Path]:
    """The library's temporary files and folders anywhere under `root`."""
    return [p for p in Path(root).rglob("*") if TEMP_NAME.match(p.name)] if Path(root).exists() else []


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")
