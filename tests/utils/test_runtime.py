import os
import subprocess
import sys

import pytest
import torch

from digan.utils import omp, runtime
from digan.cli.main import build_parser


def test_the_command_sets_a_short_spin_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = ("import os, sys, digan.__main__; "
            "print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))")
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
    with pytest.raises(ValueError):
        runtime.resolve_precision("fp8", "cpu")


def test_every_command_that_computes_takes_the_runtime_options():
    parser = build_parser()
    for argv in (["train", "--data", "shapes"], ["demo"], ["generate", "--out", "o"], ["interpolate", "--out", "o"],
                 ["gallery", "--ckpt", "c", "--out", "o"], ["explore", "--ckpt", "c"]):
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
    from digan.cli import main as cli, show as showcli

    calls = []
    monkeypatch.setattr(cli, "set_threads", lambda n: calls.append(("threads", n)))
    monkeypatch.setattr(showcli, "cmd_export", lambda args: calls.append(("command", args.threads)) or 0)
    assert cli.main(["export", "--ckpt", "c", "--out", "g.onnx", "--threads", "3"]) == 0
    assert calls == [("threads", 3), ("command", 3)]
