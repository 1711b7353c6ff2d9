"""The authors' network tensors, renamed and reshaped into this project's state dicts.

Each of this project's tensors has exactly one source in the file (`generator_sources`,
`discriminator_sources`); every tensor of the file is used, or is a copy of the
fixed [1, 3, 3, 1] resampling filter that this project builds itself. Anything
missing, left over or of another shape is an error. Layer attributes the file
records (activation, gains, down-sampling) are checked against the layers they
are loaded into.

The pixel grid: their grid at a scale of size S has y = 1 - 2(i + 1)/S for row i,
this project's (docs/conventions.md) y = 1 - 2i/S, so their y is ours minus 2/S.
y enters only through each scale's spatial phase Omega p + b: at our coordinates
their embedding has the phase b - (2/S) Omega_y, where Omega_y = sigma times the
y rows of the scale's `xy_affine` map of w. That map is affine in w, so the
shift folds exactly into the phase rows of `xy_affine` (`fold_pixel_grid`), and
the default render of a converted generator at its training size is the
authors' frame, with no change to the renderer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models import DiganDiscriminators, Generator
from ..models.discriminator import DiscriminatorConfig
from ..models.generator import FMMLinear, GeneratorConfig, ToRGB
from ..models.layers import EqualConv2d, EqualLinear, lowpass_filter
from .configuration import attr, expect, fuser_paths
from .pickle_reader import Record, Refused, module_tensors, submodule

PARAMS = ("weight", "bias")


def generator_sources(cfg: GeneratorConfig) -> dict[str, str]:
    """This project's generator tensor name -> the authors' tensor name it is read from."""
    src = {"mapping.w_avg": "mapping.w_avg"}
    for i in range(cfg.mapping_layers):
        for p in PARAMS:
            src[f"mapping.layers.{i}.{p}"] = f"mapping.fc{i}.{p}"
    for s, path in enumerate(fuser_paths(cfg.block_resolutions, cfg.input_resolution)):
        for p in PARAMS:
            src[f"synthesis.embeddings.{s}.xy_affine.{p}"] = f"{path}.xyaffine.{p}"
            src[f"synthesis.embeddings.{s}.motion_affine.{p}"] = f"{path}.affine.{p}"
            for j in (0, 1):
                src[f"synthesis.embeddings.{s}.motion_mlp.{j}.{p}"] = f"{path}.motion_mlp.{j}.{p}"
    k = 0
    last = cfg.block_resolutions[-1]
    for b, res in enumerate(cfg.block_resolutions):
        # their first block has only conv1 (StyleGAN2's first block starts from its input, not a lower block)
        layers = ["conv1"] if res == 4 else ["conv0", "conv1"]
        layers += [f"extra_convs.{j}" for j in range(cfg.extra_layers)] if res == last else []
        for layer in layers:
            for p in (*PARAMS, "affine.weight", "affine.bias"):
                src[f"synthesis.layers.{k}.{p}"] = f"synthesis.b{res}.{layer}.{p}"
            k += 1
        for p in (*PARAMS, "affine.weight", "affine.bias"):
            src[f"synthesis.torgb.{b}.{p}"] = f"synthesis.b{res}.torgb.{p}"
    return src


def discriminator_sources(cfg: DiscriminatorConfig) -> dict[str, str]:
    """This project's discriminator tensor name -> the authors' (`OurDiscriminator`) tensor name."""
    src = {}
    for theirs, ours in (("videoD", "motion"), ("imageD", "image")):
        for p in PARAMS:
            src[f"{ours}.from_rgb.{p}"] = f"{theirs}.b{cfg.resolution}.fromrgb.{p}"
            for i, res in enumerate(2**k for k in range(int(math.log2(cfg.resolution)), 2, -1)):
                for layer in ("conv0", "conv1"):
                    src[f"{ours}.blocks.{i}.{layer}.{p}"] = f"{theirs}.b{res}.{layer}.{p}"
            for layer in ("conv", "fc", "out"):
                src[f"{ours}.{layer}.{p}"] = f"{theirs}.b4.{layer}.{p}"
        for i, res in enumerate(2**k for k in range(int(math.log2(cfg.resolution)), 2, -1)):
            src[f"{ours}.blocks.{i}.skip.weight"] = f"{theirs}.b{res}.skip.weight"
    return src


def fold_pixel_grid(state: dict[str, torch.Tensor], cfg: GeneratorConfig, sign: float = -1.0) -> None:
    """Shift each scale's y by sign * 2/S through the phase rows of its `xy_affine` (module docstring), in place.

    sign -1 turns the authors' weights into ours; +1 is the inverse. Rows of `xy_affine`: 2n frequencies
    interleaved (x, y) per feature, then n phases (`CoordEmbedding.prepare`).
    """
    n = cfg.fourier_features
    for s, size in enumerate(cfg.scale_resolutions):
        shift = sign * 2.0 * cfg.sigma(s) / size
        for p in PARAMS:
            key = f"synthesis.embeddings.{s}.xy_affine.{p}"
            folded = state[key].clone()
            folded[2 * n :] += shift * folded[1 : 2 * n : 2]
            state[key] = folded


def convert_tensors(
    theirs: dict[str, torch.Tensor], sources: dict[str, str], shapes: dict[str, tuple[int, ...]], what: str
) -> dict[str, torch.Tensor]:
    """Our state dict from theirs by `sources`; a 1x1 convolution's [o, i, 1, 1] becomes [o, i]."""
    assert set(sources) == set(shapes), sorted(set(sources) ^ set(shapes))[:3]
    state, used = {}, set()
    for ours, name in sources.items():
        t = theirs.get(name)
        if t is None:
            raise Refused(f"{what} has no tensor {name} (this project's {ours})")
        shape = shapes[ours]
        if tuple(t.shape) == (*shape, 1, 1):
            t = t.reshape(shape)
        if tuple(t.shape) != shape:
            raise Refused(f"{what}.{name} has shape {list(t.shape)}; this project's {ours} needs {list(shape)}")
        if not t.is_floating_point():
            raise Refused(f"{what}.{name} holds {t.dtype}, not floating-point values")
        t = t.float().contiguous()
        if t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()  # a view into a larger storage: a tensor of its own (safetensors writes no shared memory)
        state[ours] = t
        used.add(name)
    lowpass = lowpass_filter()
    for name, t in theirs.items():
        if name not in used and name.split(".")[-1] == "resample_filter":
            # their layers store the [1, 3, 3, 1] filter; this project builds it (and nearest upsampling in the
            # generator never reads it)
            if tuple(t.shape) != (4, 4) or not torch.allclose(t.float(), lowpass, rtol=0, atol=1e-7):
                raise Refused(f"{what}.{name} is not the [1, 3, 3, 1] resampling filter this project uses")
            used.add(name)
    left = [name for name in theirs if name not in used]
    if left:
        raise Refused(
            f"{what} has {len(left)} tensors this project's networks have no place for, e.g. {left[0]} "
            f"{list(theirs[left[0]].shape)}"
        )
    return state


def check_layers(record: Record, model: nn.Module, sources: dict[str, str], what: str) -> None:
    """The layer attributes the file records match the layers of `model` their weights go to."""
    for path, module in model.named_modules():
        if not isinstance(module, (EqualLinear, EqualConv2d, FMMLinear, ToRGB)):
            continue
        their_path = sources[f"{path}.weight"].rsplit(".", 1)[0]
        layer = submodule(record, their_path)
        at = f"{what}.{their_path}"

        def close(key: str, value: float) -> None:
            stored = attr(layer, key, at)
            if type(stored) not in (int, float) or not math.isclose(stored, value, rel_tol=1e-6):
                raise Refused(f"{at}.{key} is {stored!r}; this project's {path} uses {value}")

        if isinstance(module, (EqualLinear, EqualConv2d)):
            activation = "lrelu" if module.activation else "linear"
            expect(
                attr(layer, "activation", at),
                (activation,),
                f"{at}.activation",
                f"this project's {path} is {activation}",
            )
            close("weight_gain", module.weight_gain)
        if isinstance(module, EqualLinear):
            close("bias_gain", module.lr_multiplier)
        if isinstance(module, EqualConv2d):
            expect(
                attr(layer, "down", at),
                (2 if module.down else 1,),
                f"{at}.down",
                f"this project's {path} {'halves' if module.down else 'keeps'} the size",
            )
        if isinstance(module, FMMLinear):
            expect(attr(layer, "activation", at), ("lrelu",), f"{at}.activation", "this project's layers are lrelu")
            expect(attr(layer, "up", at), (1,), f"{at}.up", "this project upsamples between blocks only")
            expect(attr(layer, "instance_norm", at), (False,), f"{at}.instance_norm", "this project has none")
        if isinstance(module, ToRGB):
            close("weight_gain", module.style_gain)


def meta_model(make):
    with torch.device("meta"):
        return make()


def generator_state(G: Record, cfg: GeneratorConfig, what: str = "G_ema") -> dict[str, torch.Tensor]:
    """This project's `Generator` state dict from an authors' generator record, pixel grid folded in."""
    model = meta_model(lambda: Generator(cfg))
    sources = generator_sources(cfg)
    check_layers(G, model, sources, what)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = convert_tensors(module_tensors(G), sources, shapes, what)
    fold_pixel_grid(state, cfg)
    return state


def discriminator_state(D: Record, cfg: DiscriminatorConfig, what: str = "D") -> dict[str, torch.Tensor]:
    """This project's `DiganDiscriminators` state dict from the authors' `OurDiscriminator` record."""
    model = meta_model(lambda: DiganDiscriminators(cfg))
    sources = discriminator_sources(cfg)
    check_layers(D, model, sources, what)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return convert_tensors(module_tensors(D), sources, shapes, what)
