"""This project's network configurations, rebuilt from what an authors' snapshot records about its networks.

Every number comes from the file: the constructor arguments of `G_ema` and `D`
(`_init_kwargs`, with the generator node `cfg` of their config and its
`${...}` references resolved against that node) and the attributes their
modules stored (Fourier scale and motion sigma of each coordinate embedding,
the mapping network's learning-rate multiplier and w_avg beta, the
minibatch-stddev group). A setting this project's networks cannot express is
refused in one line that names it.
"""

from __future__ import annotations

import collections
import math
import re
from typing import Any

from ..config import Preset, TrainingConfig
from ..models import DiscriminatorConfig, GeneratorConfig
from .pickle_reader import (
    ANY,
    MAX_DEPTH,
    EasyDict,
    PersistentObject,
    Record,
    Refused,
    children,
    module_tensors,
    submodule,
)

CLIP_FRAMES = 16  # the authors' datasets cut 16-frame clips (n_frames is not a setting of their config)


def init_kwargs(record: Record, name: str, positional: bool = False) -> dict:
    """A network record's constructor keywords; unless `positional`, it must have been built from keywords alone."""
    state = record.state if isinstance(record.state, dict) else {}
    kwargs, args = state.get("_init_kwargs"), state.get("_init_args")
    if not isinstance(kwargs, dict) or (args not in ((), [], None) and not positional):
        raise Refused(f"{name} ({record.kind}) does not record its constructor keywords (_init_kwargs)")
    return kwargs


def plain(value, where: str = "value", depth: int = 0) -> Any:
    """Plain JSON data (dict, list, str, number, bool, None) from what the file holds: EasyDicts and OrderedDicts
    become dicts, tuples lists, and omegaconf nodes their content (references stay unresolved)."""
    if depth > MAX_DEPTH:
        raise Refused(f"{where[:80]}...: data nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (dict, EasyDict, collections.OrderedDict)):
        return {str(k): plain(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if value is ANY:
        return "typing.Any"
    if isinstance(value, Record) and value.kind.startswith("omegaconf.") and isinstance(value.state, dict):
        if "_content" in value.state:  # DictConfig, ListConfig
            return plain(value.state["_content"], where, depth + 1)
        if "_val" in value.state:  # AnyNode and the typed value nodes
            return plain(value.state["_val"], where, depth + 1)
    raise Refused(f"{where} is a {getattr(value, 'kind', type(value).__name__)}, not plain data")


REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def resolve(value, root: dict, where: str = "cfg", depth: int = 0):
    """`value` with every `${a.b}` string replaced by the value at a.b of `root` (omegaconf interpolation)."""
    if depth > 32:
        raise Refused(f"{where}: a cycle of ${{...}} references")
    if isinstance(value, str) and "${" in value:
        match = REFERENCE.fullmatch(value)
        if match is None:
            raise Refused(f"{where} = {value!r}: only whole-value references such as '${{coords}}' can be resolved")
        target = root
        for key in match.group(1).split("."):
            if not isinstance(target, dict) or key not in target:
                raise Refused(f"{where} = {value!r} refers to a key the configuration does not have")
            target = target[key]
        return resolve(target, root, where, depth + 1)
    if isinstance(value, dict):
        return {k: resolve(v, root, f"{where}.{k}", depth) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, root, f"{where}[{i}]", depth) for i, v in enumerate(value)]
    return value


def attr(record: Record, name: str, where: str):
    if not isinstance(record.state, dict) or name not in record.state:
        raise Refused(f"{where} does not record {name}")
    return record.state[name]


def expect(value, accepted, where: str, why: str) -> None:
    if value not in accepted:
        raise Refused(f"{where} is {value!r}: {why}")


def integer(value, where: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise Refused(f"{where} is {value!r}, not a whole number of at least {minimum}")
    return value


def number(value, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise Refused(f"{where} is {value!r}, not a positive number")
    return float(value)


def only_keys(d: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(d) - known)
    if unknown:
        reads = ", ".join(sorted(known)) or "none there"
        raise Refused(f"{where}.{unknown[0]} is a setting this converter does not know (it reads {reads})")


def fuser_paths(resolutions: list[int], input_resolution: int) -> list[str]:
    """Where the coordinate embedding of each scale lives in their synthesis network: the input's, then one per
    block finer than the input grid."""
    return [f"synthesis.b{resolutions[0]}.input.input.coord_fuser"] + [
        f"synthesis.b{r}.coord_fuser" for r in resolutions if r > input_resolution
    ]


G_KWARGS = {
    "z_dim",
    "w_dim",
    "c_dim",
    "img_resolution",
    "img_channels",
    "mapping_kwargs",
    "synthesis_kwargs",
    "cfg",
    "ours",
}
CFG_KEYS = {"fp32", "upsampling_mode", "use_noise", "fmaps", "num_extra_convs", "input", "coords", "fmm"}
COORDS_KEYS = {
    "enabled",
    "per_resolution",
    "kernel_size",
    "coord_dim",
    "fallback",
    "use_full_cache",
    "global_motion",
    "motion_sigma",
    "low_res_cfg",
    "medium_res_cfg",
    "high_res_cfg",
    "res_configs",
}
RES_CFG_KEYS = {
    "predictable_emb_size",
    "use_cosine",
    "use_diagonal",
    "log_emb_size",
    "random_emb_size",
    "shared_emb_size",
    "const_emb_size",
    "fourier_scale",
}


def generator_config(G: Record, name: str = "G_ema") -> GeneratorConfig:
    """`GeneratorConfig` of an authors' `Generator` record (their `training/networks.py`)."""
    if not isinstance(G, PersistentObject) or G.class_name != "Generator":
        raise Refused(f"{name} is a {getattr(G, 'kind', type(G).__name__)}, not a generator")
    kw = init_kwargs(G, name)
    if "cfg" not in kw:
        raise Refused(
            f"{name} is a Generator without DIGAN's configuration (no cfg in its _init_kwargs): a "
            "snapshot of another model (StyleGAN2-ADA?), not of DIGAN"
        )
    only_keys(kw, G_KWARGS, f"{name}._init_kwargs")
    expect(kw.get("ours", True), (True,), f"{name}._init_kwargs.ours", "only DIGAN's own generator is supported")
    expect(kw.get("c_dim", 0), (0,), f"{name}._init_kwargs.c_dim", "conditional generators are not supported")
    expect(kw.get("img_channels", 3), (3,), f"{name}._init_kwargs.img_channels", "only RGB is supported")
    raw = plain(kw["cfg"], "cfg")
    if not isinstance(raw, dict):
        raise Refused(f"{name}._init_kwargs.cfg is not a configuration node")
    cfg = resolve(raw, raw)
    only_keys(cfg, CFG_KEYS, "cfg")
    expect(
        cfg.get("upsampling_mode"),
        ("nearest",),
        "cfg.upsampling_mode",
        "this project's generator upsamples features by nearest neighbour only",
    )
    expect(cfg.get("use_noise", False), (False,), "cfg.use_noise", "this project's generator has no noise inputs")

    resolution = integer(kw.get("img_resolution"), f"{name}._init_kwargs.img_resolution", 4)
    blocks = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
    synthesis = submodule(G, "synthesis")
    expect(
        attr(synthesis, "block_resolutions", f"{name}.synthesis"),
        (blocks,),
        f"{name}.synthesis.block_resolutions",
        f"not the blocks 4..{resolution} of a {resolution}x{resolution} generator",
    )

    inp = cfg.get("input")
    if not isinstance(inp, dict):
        raise Refused("cfg.input is missing")
    only_keys(inp, {"type", "resolution", "coord_fuser_cfg"}, "cfg.input")
    expect(inp.get("type"), ("coords",), "cfg.input.type", "this project's generator starts from coordinates only")
    input_resolution = integer(inp.get("resolution"), "cfg.input.resolution", 4)

    coords = cfg.get("coords")
    if not isinstance(coords, dict):
        raise Refused("cfg.coords is missing")
    only_keys(coords, COORDS_KEYS, "cfg.coords")
    for key, value, why in (
        ("enabled", True, "the generator needs its coordinate embeddings"),
        ("per_resolution", True, "this project embeds coordinates afresh at every scale"),
        ("kernel_size", 1, "this project's generator is a per-pixel MLP (1x1 layers)"),
        ("coord_dim", 2, "this project embeds 2-D coordinates"),
        ("fallback", False, "only the configuration of the paper is supported"),
        ("use_full_cache", False, "only the configuration of the paper is supported"),
        ("global_motion", False, "this project's motion code shifts each scale's own phases"),
    ):
        expect(coords.get(key, value), (value,), f"cfg.coords.{key}", why)

    fmm = cfg.get("fmm")
    if not isinstance(fmm, dict):
        raise Refused("cfg.fmm is missing")
    only_keys(fmm, {"enabled", "rank", "activation"}, "cfg.fmm")
    expect(fmm.get("enabled"), (True,), "cfg.fmm.enabled", "this project's layers are modulated by FMM only")
    expect(fmm.get("activation"), ("demod",), "cfg.fmm.activation", "this project demodulates FMM weights")
    rank = integer(fmm.get("rank"), "cfg.fmm.rank", 1)

    extra = cfg.get("num_extra_convs") or {}
    if not isinstance(extra, dict):
        raise Refused(f"cfg.num_extra_convs is {extra!r}, not a table of resolutions")
    extra_layers = 0
    for res, count in extra.items():
        count = integer(count, f"cfg.num_extra_convs.{res}")
        if count and str(res) != str(resolution):
            raise Refused(
                f"cfg.num_extra_convs.{res} is {count}: this project adds extra layers to the last "
                f"block ({resolution}) only"
            )
        extra_layers = count if str(res) == str(resolution) else extra_layers

    w_dim = integer(kw.get("w_dim"), f"{name}._init_kwargs.w_dim", 1)
    n, sigmas, motion_sigma, motion_dim = embedding_settings(G, name, coords, blocks, input_resolution, w_dim)

    mapping_kw = kw.get("mapping_kwargs") or {}
    only_keys(mapping_kw, {"num_layers", "lr_multiplier", "w_avg_beta"}, f"{name}._init_kwargs.mapping_kwargs")
    mapping = submodule(G, "mapping")
    layers = integer(attr(mapping, "num_layers", f"{name}.mapping"), f"{name}.mapping.num_layers", 1)
    gains = {attr(submodule(mapping, f"fc{i}"), "bias_gain", f"{name}.mapping.fc{i}") for i in range(layers)}
    if len(gains) != 1:
        raise Refused(f"{name}.mapping: its layers have different learning-rate multipliers {sorted(gains)}")
    lr_multiplier = number(gains.pop(), f"{name}.mapping.fc0.bias_gain")
    w_avg_beta = number(attr(mapping, "w_avg_beta", f"{name}.mapping"), f"{name}.mapping.w_avg_beta")
    for key, value in (("num_layers", layers), ("lr_multiplier", lr_multiplier), ("w_avg_beta", w_avg_beta)):
        expect(
            mapping_kw.get(key, value),
            (value,),
            f"{name}._init_kwargs.mapping_kwargs.{key}",
            f"the mapping network has {value}",
        )
    synthesis_kw = kw.get("synthesis_kwargs") or {}
    # num_fp16_res and conv_clamp set the precision of their CUDA path; the weights are float32 either way
    only_keys(
        synthesis_kw,
        {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture"},
        f"{name}._init_kwargs.synthesis_kwargs",
    )
    expect(
        synthesis_kw.get("architecture", "skip"),
        ("skip",),
        f"{name}._init_kwargs.synthesis_kwargs.architecture",
        "this project sums the RGB of every block (skip)",
    )
    try:
        return GeneratorConfig(
            resolution=resolution,
            input_resolution=input_resolution,
            z_dim=integer(kw.get("z_dim"), f"{name}._init_kwargs.z_dim", 1),
            motion_dim=motion_dim,
            w_dim=w_dim,
            mapping_layers=layers,
            mapping_lr_multiplier=lr_multiplier,
            channel_base=integer(
                synthesis_kw.get("channel_base"), f"{name}._init_kwargs.synthesis_kwargs.channel_base", 1
            ),
            channel_max=integer(
                synthesis_kw.get("channel_max"), f"{name}._init_kwargs.synthesis_kwargs.channel_max", 1
            ),
            extra_layers=extra_layers,
            fmm_rank=rank,
            fourier_features=n,
            spatial_sigma=sigmas[0],
            fine_sigma=None if all(s == sigmas[0] for s in sigmas) else sigmas[1],
            temporal_sigma=motion_sigma,
            w_avg_beta=w_avg_beta,
        )
    except ValueError as e:  # GeneratorConfig's own checks (e.g. an input grid above the resolution)
        raise Refused(f"{name}: {e}") from None


def embedding_settings(
    G: Record, name: str, coords: dict, blocks: list[int], input_resolution: int, w_dim: int
) -> tuple[int, list[float], float, int]:
    """(Fourier features, spatial sigma of each scale, temporal sigma, motion latent size) of the coordinate
    embeddings: settings from the config (`coords`), numbers from the modules the file holds."""
    paths = fuser_paths(blocks, input_resolution)
    scale_resolutions = [input_resolution] + [r for r in blocks if r > input_resolution]
    res_configs = coords.get("res_configs") or {}
    widths, sigmas, motion_sigmas, motion_dims = [], [], [], []
    for path, res in zip(paths, scale_resolutions):
        res_cfg = res_configs.get(str(res), res_configs.get(res))
        where = f"cfg.coords.res_configs.{res}"
        if not isinstance(res_cfg, dict):
            raise Refused(f"{where} is missing")
        only_keys(res_cfg, RES_CFG_KEYS, where)
        expect(res_cfg.get("use_cosine"), (True,), f"{where}.use_cosine", "this project embeds [sin, cos]")
        fuser = submodule(G, path)
        at = f"{name}.{path}"
        for key in ("log_emb_size", "random_emb_size", "shared_emb_size", "const_emb_size"):
            # fixed Fourier bases of INR-GAN (use_diagonal shapes the log basis only): DIGAN predicts all of them
            expect(res_cfg.get(key, 0), (0,), f"{where}.{key}", "this project predicts every frequency from w")
            expect(attr(fuser, key, at), (0,), f"{at}.{key}", "this project predicts every frequency from w")
        expect(attr(fuser, "use_cosine", at), (True,), f"{at}.use_cosine", "this project embeds [sin, cos]")
        expect(
            attr(fuser, "use_raw_coords", at),
            (False,),
            f"{at}.use_raw_coords",
            "this project feeds only the embedding, not the raw coordinates",
        )
        expect(attr(fuser, "is_modulated", at), (True,), f"{at}.is_modulated", "this project predicts frequencies")
        expect(attr(fuser, "resolution", at), (res,), f"{at}.resolution", f"not its scale's grid {res}")
        n = integer(attr(fuser, "predictable_emb_size", at), f"{at}.predictable_emb_size", 1)
        expect(res_cfg.get("predictable_emb_size"), (n,), f"{where}.predictable_emb_size", f"the module has {n}")
        widths.append(n)
        sigmas.append(number(attr(fuser, "fourier_scale", at), f"{at}.fourier_scale"))
        expect(
            res_cfg.get("fourier_scale", sigmas[-1]),
            (sigmas[-1],),
            f"{where}.fourier_scale",
            f"the module uses {sigmas[-1]}",
        )
        motion_sigmas.append(number(attr(fuser, "motion_sigma", at), f"{at}.motion_sigma"))
        motion_in = module_tensors(submodule(fuser, "affine")).get("weight")
        if motion_in is None or motion_in.ndim != 2:
            raise Refused(f"{at}.affine has no weight matrix")
        motion_dims.append(integer(motion_in.shape[1] - w_dim, f"{at}.affine's input size less w_dim", 1))
    for values, what in (
        (widths, "predictable_emb_size"),
        (motion_sigmas, "motion_sigma"),
        (motion_dims, "motion input size"),
    ):
        if len(set(values)) > 1:
            raise Refused(f"{what} differs between scales ({values}): this project uses one value for all")
    if len(set(sigmas[1:])) > 1:
        raise Refused(
            f"fourier_scale differs between the finer scales ({sigmas}): this project has one value for "
            "the input grid and one for the finer scales"
        )
    expect(
        coords.get("motion_sigma", motion_sigmas[0]),
        (motion_sigmas[0],),
        "cfg.coords.motion_sigma",
        f"the modules use {motion_sigmas[0]}",
    )
    return widths[0], sigmas, motion_sigmas[0], motion_dims[0]


D_KWARGS = {
    "block_kwargs",
    "mapping_kwargs",
    "epilogue_kwargs",
    "channel_base",
    "channel_max",
    "num_fp16_res",
    "conv_clamp",
    "c_dim",
    "img_resolution",
    "img_channels",
    "ours",
    "architecture",
    "cmap_dim",
}


def discriminator_config(D: Record, name: str = "D") -> DiscriminatorConfig:
    """`DiscriminatorConfig` of the authors' two discriminators (`OurDiscriminator`: a motion and an image D)."""
    if not isinstance(D, PersistentObject) or D.class_name != "OurDiscriminator":
        raise Refused(
            f"{name} is a {getattr(D, 'kind', type(D).__name__)}, not DIGAN's pair of discriminators "
            "(OurDiscriminator): a snapshot of another model (StyleGAN2-ADA?)"
        )
    kw = init_kwargs(D, name)
    only_keys(kw, D_KWARGS, f"{name}._init_kwargs")
    expect(kw.get("ours", True), (True,), f"{name}._init_kwargs.ours", "only DIGAN's own discriminators are supported")
    only_keys(kw.get("block_kwargs") or {}, set(), f"{name}._init_kwargs.block_kwargs")
    expect(kw.get("c_dim", 0), (0,), f"{name}._init_kwargs.c_dim", "conditional discriminators are not supported")
    expect(
        kw.get("architecture", "resnet"),
        ("resnet",),
        f"{name}._init_kwargs.architecture",
        "this project's discriminators are residual networks",
    )
    epilogue_kw = kw.get("epilogue_kwargs") or {}
    only_keys(epilogue_kw, {"mbstd_group_size", "mbstd_num_channels"}, f"{name}._init_kwargs.epilogue_kwargs")
    # num_fp16_res and conv_clamp: their half-precision path; the weights are float32 and the clamp (256) bounds
    # activations far beyond the ones a trained D produces (README of the test fixture: exactly no change)
    configs = {}
    for part, channels in (("videoD", 7), ("imageD", 3)):
        sub = submodule(D, part)
        at = f"{name}.{part}"
        if not isinstance(sub, PersistentObject) or sub.class_name != "ImageDiscriminator":
            raise Refused(f"{at} is a {sub.kind}, not a StyleGAN2 residual discriminator (ImageDiscriminator)")
        expect(attr(sub, "img_channels", at), (channels,), f"{at}.img_channels", f"it takes {channels} channels")
        expect(attr(sub, "c_dim", at), (0,), f"{at}.c_dim", "conditional discriminators are not supported")
        resolution = integer(attr(sub, "img_resolution", at), f"{at}.img_resolution", 8)
        for block in children(sub).values():
            if block.kind == "DiscriminatorBlock":
                expect(
                    attr(block, "architecture", at),
                    ("resnet",),
                    f"{at}.{block.kind}.architecture",
                    "this project's discriminators are residual networks",
                )
        mbstd = submodule(sub, "b4.mbstd")
        sub_kw = init_kwargs(sub, at, positional=True)  # (c_dim, img_resolution, img_channels) come positionally
        configs[part] = DiscriminatorConfig(
            resolution=resolution,
            channel_base=integer(sub_kw.get("channel_base", kw.get("channel_base")), f"{at}.channel_base", 1),
            channel_max=integer(sub_kw.get("channel_max", kw.get("channel_max")), f"{at}.channel_max", 1),
            mbstd_group=integer(attr(mbstd, "group_size", f"{at}.b4.mbstd"), f"{at}.b4.mbstd.group_size", 1),
            mbstd_channels=integer(attr(mbstd, "num_channels", f"{at}.b4.mbstd"), f"{at}.b4.mbstd.num_channels", 1),
        )
    if configs["videoD"] != configs["imageD"]:
        raise Refused(
            f"{name}: the motion and image discriminators differ in configuration ({configs['videoD']} and "
            f"{configs['imageD']}); this project builds both from one"
        )
    return configs["videoD"]


def clip_frames(training_set_kwargs: dict) -> int:
    """Frames of a training clip: the dataset's own setting where it records one, else their datasets' 16."""
    for key in ("n_frames", "nframes"):
        if key in training_set_kwargs:
            return integer(training_set_kwargs[key], f"training_set_kwargs.{key}", 2)
    return CLIP_FRAMES


def rebuild_preset(G_ema: Record, D: Record, training_set_kwargs: dict | None = None) -> Preset:
    """The preset that rebuilds the file's networks; training keeps the authors' recipe (TrainingConfig's defaults),
    with the clip length and horizontal flips of their dataset."""
    generator = generator_config(G_ema)
    discriminator = discriminator_config(D)
    if discriminator.resolution != generator.resolution:
        raise Refused(
            f"the discriminators take {discriminator.resolution}x{discriminator.resolution} frames and the "
            f"generator makes {generator.resolution}x{generator.resolution}"
        )
    data = training_set_kwargs or {}
    training = TrainingConfig(
        clip_frames=clip_frames(data),
        mirror=data["xflip"] if isinstance(data.get("xflip"), bool) else TrainingConfig.mirror,
    )
    return Preset(name="authors", generator=generator, discriminator=discriminator, training=training)
