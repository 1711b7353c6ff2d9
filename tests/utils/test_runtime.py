import os
import subprocess
import sys

import pytest
import torch

from digan.cli.main import build_parser
from digan.utils import omp, runtime


def test_the_command_sets_a_short_spin_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = (
        "import os, sys, digan.__main__; "
        "print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    # libgomp's own default is 300,000 rounds; a short count hands a shared core back within microseconds
    assert out.split() == ["True", "PASSIVE", str(omp.POLITE_SPINCOUNT)]
    assert int(out.split()[2]) <= 10_000


def test_a_wait_policy_the_user_chose_is_kept():
    for given in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "300000"}):
        env = dict(given)
        omp.wait_politely(env)
        assert env == given


def test_auto_precision_is_bf16_only_where_the_cpu_multiplies_it_natively(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512bw"})  # AVX-512 alone: bf16 is emulated
    assert runtime.resolve_precision("auto", "cpu") == torch.float32
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert runtime.resolve_precision("auto", "cpu") == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"amx_bf16"})
    assert runtime.resolve_precision("auto", "cpu") == torch.bfloat16
    assert runtime.resolve_precision("float32", "cpu") == torch.float32
    assert runtime.resolve_precision("bf16", "cpu") == torch.bfloat16  # asked for by name: emulated if need be
    # training: bf16 from 64x64 frames up, where its faster convolutions outweigh its casts (docs/speed.md)
    assert runtime.resolve_precision("auto", "cpu", training_resolution=64) == torch.bfloat16
    assert runtime.resolve_precision("auto", "cpu", training_resolution=32) == torch.float32
    assert runtime.resolve_precision("bf16", "cpu", training_resolution=32) == torch.bfloat16
    with pytest.raises(ValueError):
        runtime.resolve_precision("fp8", "cpu")


def test_every_command_that_computes_takes_the_runtime_options():
    parser = build_parser()
    for argv in (
        ["train", "--data", "shapes"],
        ["demo"],
        ["generate", "--out", "o"],
        ["interpolate", "--out", "o"],
        ["gallery", "--ckpt", "c", "--out", "o"],
        ["explore", "--ckpt", "c"],
    ):
        args = parser.parse_args([*argv, "--precision", "bf16", "--threads", "1"])
        assert (args.precision, args.threads, args.device) == ("bf16", 1, "auto")
        assert parser.parse_args(argv).precision == "auto"
    commands = parser._subparsers._group_actions[0].choices
    for command in ("invert", "evaluate", "fvd", "export"):  # float32 always; export runs on the CPU
        options = {a.dest for a in commands[command]._actions}
        assert "threads" in options and "precision" not in options
    # the study trains in the precision it is told, never `auto`: its report names the arithmetic it measured
    args = parser.parse_args(["study", "--threads", "1"])
    assert (args.precision, args.threads) == ("float32", 1)
    assert parser.parse_args(["study", "--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args(["study", "--precision", "auto"])


def test_threads_are_set_once_before_the_command_runs(monkeypatch):
    from digan.cli import main as cli
    from digan.cli import show as showcli

    calls = []
    monkeypatch.setattr(cli, "set_threads", lambda n: calls.append(("threads", n)))
    monkeypatch.setattr(showcli, "cmd_export", lambda args: calls.append(("command", args.threads)) or 0)
    assert cli.main(["export", "--ckpt", "c", "--out", "g.onnx", "--threads", "3"]) == 0
    assert calls == [("threads", 3), ("command", 3)]


# ---------------------------------------------------------------- issue 24, item 4: numbers that size work


def test_threads_are_capped_at_the_cores_this_process_may_use():
    before = torch.get_num_threads()
    try:
        assert runtime.set_threads(10**6) == omp.available_cores()  # OpenMP failed to start a million
        assert torch.get_num_threads() == omp.available_cores()
        assert runtime.set_threads(1) == 1
    finally:
        torch.set_num_threads(before)


def test_the_command_says_in_one_line_that_it_caps_threads(monkeypatch, capsys):
    from digan.cli import main as cli
    from digan.cli import show as showcli

    monkeypatch.setattr(cli, "available_cores", lambda: 2)
    monkeypatch.setattr(cli, "set_threads", lambda n: None)
    monkeypatch.setattr(showcli, "cmd_export", lambda args: 0)
    assert cli.main(["export", "--ckpt", "c", "--out", "g.onnx", "--threads", "100000"]) == 0
    assert capsys.readouterr().err == "digan: --threads 100000: this process may use 2 cores; using 2\n"


@pytest.mark.parametrize(
    "workers, cores, free, expected, why",
    [
        (4, 8, 10 * 2**30, 4, ""),
        (100_000, 8, 10 * 2**30, 8, "100000 workers asked for, but this process may use 8 cores: using 8"),
        (8, 16, 3 * 2**30, 3, "8 workers asked for, but free memory (3.0 GB) holds about 3 at 1.0 GB each: using 3"),
        (2, 16, 2**29, 0, "holds about 0 at 1.0 GB each: using 0"),
    ],
)
def test_worker_count_is_capped_by_cores_and_memory(monkeypatch, workers, cores, free, expected, why):
    monkeypatch.setattr(runtime, "available_cores", lambda: cores)
    count, said = runtime.worker_count(workers, 2**30, free=free)
    assert count == expected and why in said and (said == "") == (why == "")
