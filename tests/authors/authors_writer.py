"""Writes pickles in the structure of the DIGAN authors' network snapshots, from this project's networks.

For tests and benchmarks/convert_memory.py: no code of the authors is used or
needed. The structure follows the fixture's README and what its pickle stream
shows (`pickletools.dis`): a dict with `training_set_kwargs`, `G`, `D`, `G_ema`,
`augment_pipe`; every network a call of `torch_utils.persistence.
_reconstruct_persistent_obj(meta)` whose meta holds the class name, the
module's source text and the object's state; tensors as `_rebuild_tensor_v2`
of `_load_from_bytes(legacy torch.save bytes)`, parameters wrapped in
`_rebuild_parameter`; omegaconf nodes, EasyDicts, torch distributions and numpy
scalars as NEWOBJ/BUILD or REDUCE records of their classes.

`snapshot_records` builds the objects (tests may edit them), `dump` writes them.
The names and attributes of their modules are written here independently of
`digan.authors` (tests/authors/test_writer.py compares them with the fixture).
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import struct
from pathlib import Path

import torch

MODULE_SRC = "# module source of the synthetic writer; a safe reader keeps it as text\n"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Global:
    """A reference to a global by name (STACK_GLOBAL / GLOBAL), whether or not it can be imported here."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle wants the function of a REDUCE to be callable
        raise TypeError(f"{self.module}.{self.name} is a name for the pickle stream only")

    def __reduce_ex__(self, protocol):
        return self.name  # a string: pickle saves the object as a global (`AuthorsPickler.save_global`)


FAKE_CLASSES: dict[type, tuple[str, str]] = {}


def fake_class(module: str, name: str, base: type = object) -> type:
    """A class that pickles as `module.name`: instances become NEWOBJ + BUILD of their __dict__."""
    cls = type(name, (base,), {})
    FAKE_CLASSES[cls] = (module, name)
    return cls


DictConfig = fake_class("omegaconf.dictconfig", "DictConfig")
ContainerMetadata = fake_class("omegaconf.base", "ContainerMetadata")
Metadata = fake_class("omegaconf.base", "Metadata")
AnyNode = fake_class("omegaconf.nodes", "AnyNode")
EasyDict = fake_class("dnnlib.util", "EasyDict", dict)
Sequential = fake_class("torch.nn.modules.container", "Sequential")
ModuleList = fake_class("torch.nn.modules.container", "ModuleList")
Beta = fake_class("torch.distributions.beta", "Beta")
Dirichlet = fake_class("torch.distributions.dirichlet", "Dirichlet")


class AuthorsPickler(pickle._Pickler):
    """The pure-Python pickler, writing `Global`s and fake classes by their recorded names."""

    def __init__(self, file, protocol: int = 4, persistent=None):
        super().__init__(file, protocol=protocol)
        self.persistent = persistent

    def persistent_id(self, obj):
        return self.persistent(obj) if self.persistent is not None else None

    def save_global(self, obj, name=None):
        if isinstance(obj, Global):
            module, qualname = obj.module, obj.name
        elif obj in FAKE_CLASSES:
            module, qualname = FAKE_CLASSES[obj]
        else:
            return super().save_global(obj, name)
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)


# --- Tensors ---------------------------------------------------------------------------------------------------

STORAGE_NAMES = {
    torch.float32: "FloatStorage",
    torch.float16: "HalfStorage",
    torch.float64: "DoubleStorage",
    torch.int64: "LongStorage",
    torch.int32: "IntStorage",
    torch.uint8: "ByteStorage",
    torch.bool: "BoolStorage",
}


class StorageMark:
    """Stands for the storage inside the legacy save; pickled as a persistent id."""


def legacy_storage_bytes(
    data: torch.Tensor,
    storage_name: str | None = None,
    numel: int | None = None,
    location: str = "cpu",
    view=None,
    little_endian: bool = True,
) -> bytes:
    """A legacy (non-zip) torch.save of one storage holding the 1-D tensor `data`: five protocol-2 pickles,
    an 8-byte element count and the raw elements. `storage_name`, `numel`, `view`: to write broken files."""
    name = storage_name or STORAGE_NAMES[data.dtype]
    count = data.numel()
    key = "94349480923408"
    out = io.BytesIO()
    info = {"protocol_version": 1001, "little_endian": little_endian, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    for obj in (LEGACY_MAGIC, 1001, info):
        pickle.dump(obj, out, protocol=2)
    mark = StorageMark()
    record = ("storage", Global("torch", name), key, location, count if numel is None else numel, view)
    AuthorsPickler(out, protocol=2, persistent=lambda obj: record if obj is mark else None).dump(mark)
    pickle.dump([key], out, protocol=2)
    out.write(struct.pack("<q", count))
    out.write(data.contiguous().view(torch.uint8).numpy().tobytes() if count else b"")
    return out.getvalue()


class StorageCall:
    def __init__(self, payload: bytes):
        self.payload = payload

    def __reduce__(self):
        return Global("torch.storage", "_load_from_bytes"), (self.payload,)


class TensorCall:
    """`_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())` of a tensor.

    A tensor on the meta device is written as a view with zero strides of a one-element storage: the
    shapes of a full-size network in a file of a few kilobytes.
    """

    def __init__(self, t: torch.Tensor, offset: int = 0, size=None, stride=None, storage: bytes | None = None):
        if t.is_meta:
            data, default_stride = torch.zeros(1, dtype=t.dtype), (0,) * t.ndim
        else:
            data, default_stride = t.detach().contiguous().flatten(), t.contiguous().stride()
        self.storage = StorageCall(storage if storage is not None else legacy_storage_bytes(data))
        self.args = (
            offset,
            tuple(t.shape) if size is None else tuple(size),
            default_stride if stride is None else tuple(stride),
        )

    def __reduce__(self):
        return Global("torch._utils", "_rebuild_tensor_v2"), (
            self.storage,
            *self.args,
            False,
            collections.OrderedDict(),
        )


class ParamCall:
    def __init__(self, t: torch.Tensor):
        self.tensor = TensorCall(t)

    def __reduce__(self):
        return Global("torch._utils", "_rebuild_parameter"), (self.tensor, True, collections.OrderedDict())


class NumpyScalar:
    """A float64 numpy scalar as numpy pickles it: scalar(dtype('f8', False, True) + its state, 8 bytes)."""

    def __init__(self, value: float, numpy2: bool):
        self.value, self.module = value, "numpy._core.multiarray" if numpy2 else "numpy.core.multiarray"

    def __reduce__(self):
        return Global(self.module, "scalar"), (NumpyDType(), struct.pack("<d", self.value))


class NumpyDType:
    def __reduce__(self):
        return Global("numpy", "dtype"), ("f8", False, True), (3, "<", None, None, None, -1, -1, 0)


class SizeCall:
    def __init__(self, dims):
        self.dims = tuple(dims)

    def __reduce__(self):
        return Global("torch", "Size"), (self.dims,)


class PersistentCall:
    """A network object as the authors' persistence writes it."""

    def __init__(self, class_name: str, state: dict, module_src: str = MODULE_SRC):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.module_src,
            "class_name": self.class_name,
            "state": self.state,
        }
        return Global("torch_utils.persistence", "_reconstruct_persistent_obj"), (meta,)


def dump(obj, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "wb") as f:
        AuthorsPickler(f, protocol=4).dump(obj)
    return path


# --- Modules ---------------------------------------------------------------------------------------------------


class Style:
    """What shows of the writing environment: torch 1.8 (OrderedDicts, fewer hook dicts) or 2.x; numpy < 2 or >= 2."""

    def __init__(self, torch18: bool = False, numpy2: bool = False, module_src: str = MODULE_SRC):
        self.torch18, self.numpy2, self.module_src = torch18, numpy2, module_src

    def table(self, items=()):
        return collections.OrderedDict(items) if self.torch18 else dict(items)

    def hooks(self) -> dict:
        names = (
            (
                "_backward_hooks",
                "_is_full_backward_hook",
                "_forward_hooks",
                "_forward_pre_hooks",
                "_state_dict_hooks",
                "_load_state_dict_pre_hooks",
            )
            if self.torch18
            else (
                "_backward_pre_hooks",
                "_backward_hooks",
                "_is_full_backward_hook",
                "_forward_hooks",
                "_forward_hooks_with_kwargs",
                "_forward_hooks_always_called",
                "_forward_pre_hooks",
                "_forward_pre_hooks_with_kwargs",
                "_state_dict_hooks",
                "_state_dict_pre_hooks",
                "_load_state_dict_pre_hooks",
                "_load_state_dict_post_hooks",
            )
        )
        return {k: None if k == "_is_full_backward_hook" else collections.OrderedDict() for k in names}

    def module_state(self, params=None, buffers=None, modules=None, attrs=None) -> dict:
        state = {
            "training": False,
            "_parameters": self.table((k, None if v is None else ParamCall(v)) for k, v in (params or {}).items()),
            "_buffers": self.table((k, TensorCall(v)) for k, v in (buffers or {}).items()),
            "_non_persistent_buffers_set": set(),
            **self.hooks(),
            "_modules": self.table(modules or {}),
        }
        state.update(attrs or {})
        return state

    def module(
        self, class_name: str, params=None, buffers=None, modules=None, attrs=None, init_args=(), init_kwargs=None
    ) -> PersistentCall:
        state = self.module_state(params, buffers, modules, attrs)
        state.update({"_init_args": tuple(init_args), "_init_kwargs": dict(init_kwargs or {})})
        return PersistentCall(class_name, state, self.module_src)

    def container(self, cls: type, modules: list):
        obj = cls()
        obj.__dict__.update(self.module_state(modules={str(i): m for i, m in enumerate(modules)}))
        return obj

    def scalar(self, value: float) -> NumpyScalar:
        return NumpyScalar(value, self.numpy2)


def fc(style: Style, weight, bias, activation: str, lr: float = 1.0) -> PersistentCall:
    out_features, in_features = weight.shape
    return style.module(
        "FullyConnectedLayer",
        {"weight": weight, "bias": bias},
        attrs={"activation": activation, "weight_gain": style.scalar(lr / math.sqrt(in_features)), "bias_gain": lr},
        init_args=(in_features, out_features),
        init_kwargs={"activation": activation} if activation != "linear" else {"bias_init": 0},
    )


def omegaconf(value, parent=None, key=None):
    """An omegaconf 2.0-style node tree of plain data: DictConfig/AnyNode records whose parents point back."""
    if isinstance(value, dict):
        node = DictConfig()
        meta = ContainerMetadata()
        meta.__dict__.update(
            ref_type=Global("typing", "Any"),
            object_type=None,
            optional=True,
            key=key,
            flags={},
            resolver_cache=collections.defaultdict(dict),
            key_type=None,
            element_type=None,
        )
        node.__dict__.update(_metadata=meta, _parent=parent, _content={})
        node._content.update({k: omegaconf(v, node, k) for k, v in value.items()})
        return node
    leaf = AnyNode()
    meta = Metadata()
    meta.__dict__.update(
        ref_type=Global("typing", "Any"),
        object_type=None,
        optional=True,
        key=key,
        flags={},
        resolver_cache=collections.defaultdict(dict),
    )
    leaf.__dict__.update(_metadata=meta, _parent=parent, _val=value)
    return leaf


def generator_node(g) -> dict:
    """The generator node of their config (`cfg` in G's constructor keywords) for a GeneratorConfig, unresolved."""
    n = g.fourier_features
    return {
        "fp32": True,
        "upsampling_mode": "nearest",
        "use_noise": False,
        "fmaps": g.channel_base / 32768,
        "num_extra_convs": {str(g.resolution): g.extra_layers},
        "input": {"type": "coords", "resolution": g.input_resolution, "coord_fuser_cfg": "${coords}"},
        "coords": {
            "enabled": True,
            "per_resolution": True,
            "kernel_size": 1,
            "coord_dim": 2,
            "fallback": False,
            "use_full_cache": False,
            "global_motion": False,
            "motion_sigma": g.temporal_sigma,
            "low_res_cfg": {"predictable_emb_size": n, "use_cosine": True, "use_diagonal": True},
            "medium_res_cfg": {"predictable_emb_size": n, "use_cosine": True},
            "res_configs": {
                str(r): "${coords.low_res_cfg}" if r <= 64 else "${coords.medium_res_cfg}"
                for r in (4, 8, 16, 32, 64, 128, 256)
            },
        },
        "fmm": {"enabled": True, "rank": g.fmm_rank, "activation": "demod"},
    }


def beta(a: float, b: float):
    """torch.distributions.Beta(a, b) as pickled: its Dirichlet's concentration tensor and torch.Size shapes."""
    dirichlet = Dirichlet()
    dirichlet.__dict__.update(
        concentration=TensorCall(torch.tensor([a, b])), _batch_shape=SizeCall(()), _event_shape=SizeCall((2,))
    )
    record = Beta()
    record.__dict__.update(_dirichlet=dirichlet, _batch_shape=SizeCall(()), _event_shape=SizeCall(()))
    return record


def lowpass() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(f, f) / 64


def unfold_pixel_grid(state: dict, g) -> dict:
    """Our xy_affine phase rows -> theirs: their y is ours - 2/S, so their phase carries + (2 sigma / S) freq_y."""
    state = dict(state)
    n = g.fourier_features
    scales = [g.input_resolution] + [r for r in block_resolutions(g) if r > g.input_resolution]
    for s, size in enumerate(scales):
        sigma = g.spatial_sigma if s == 0 or g.fine_sigma is None else g.fine_sigma
        for p in ("weight", "bias"):
            key = f"synthesis.embeddings.{s}.xy_affine.{p}"
            t = state[key]
            if not t.is_meta:
                t = t.clone()
                t[2 * n :] += (2 * sigma / size) * t[1 : 2 * n : 2]
            state[key] = t
    return state


def block_resolutions(g) -> list[int]:
    return [2**i for i in range(2, int(math.log2(g.resolution)) + 1)]


def generator_record(style: Style, g, state: dict, cfg: dict | None = None) -> PersistentCall:
    """Their Generator (mapping + INR synthesis) holding this project's generator state dict `state`."""
    state = unfold_pixel_grid(state, g)
    cfg = generator_node(g) if cfg is None else cfg
    cfg_node = omegaconf(cfg)
    blocks = block_resolutions(g)

    def width(res):
        return min(g.channel_base // res, g.channel_max)

    def t(name):
        return state[name]

    def sq(name):  # our [o, i] -> their 1x1 convolution [o, i, 1, 1]
        return state[name][:, :, None, None]

    mapping = style.module(
        "MappingNetwork",
        buffers={"w_avg": t("mapping.w_avg")},
        modules={
            f"fc{i}": fc(
                style, t(f"mapping.layers.{i}.weight"), t(f"mapping.layers.{i}.bias"), "lrelu", g.mapping_lr_multiplier
            )
            for i in range(g.mapping_layers)
        },
        attrs={
            "z_dim": g.z_dim,
            "c_dim": 0,
            "w_dim": g.w_dim,
            "num_ws": 0,
            "num_layers": g.mapping_layers,
            "w_avg_beta": g.w_avg_beta,
        },
        init_kwargs={"z_dim": g.z_dim, "c_dim": 0, "w_dim": g.w_dim, "num_ws": 0, "num_layers": g.mapping_layers},
    )

    def coord_fuser(s: int, res: int):
        e = f"synthesis.embeddings.{s}"
        n = g.fourier_features
        sigma = g.spatial_sigma if s == 0 or g.fine_sigma is None else g.fine_sigma
        res_cfg = cfg["coords"]["low_res_cfg"] if res <= 64 else cfg["coords"]["medium_res_cfg"]
        motion_mlp = style.container(
            Sequential,
            [
                fc(style, t(f"{e}.motion_mlp.0.weight"), t(f"{e}.motion_mlp.0.bias"), "lrelu"),
                fc(style, t(f"{e}.motion_mlp.1.weight"), t(f"{e}.motion_mlp.1.bias"), "linear"),
            ],
        )
        return style.module(
            "CoordFuser",
            modules={
                "xyaffine": fc(style, t(f"{e}.xy_affine.weight"), t(f"{e}.xy_affine.bias"), "linear"),
                "affine": fc(style, t(f"{e}.motion_affine.weight"), t(f"{e}.motion_affine.bias"), "linear"),
                "motion_mlp": motion_mlp,
            },
            attrs={
                "cfg": cfg_node._content["coords"],
                "resolution": res,
                "res_cfg": omegaconf(res_cfg),
                "log_emb_size": 0,
                "random_emb_size": 0,
                "shared_emb_size": 0,
                "predictable_emb_size": n,
                "const_emb_size": 0,
                "fourier_scale": sigma,
                "use_cosine": True,
                "use_raw_coords": False,
                "init_dist": "randn",
                "use_full_cache": False,
                "motion_sigma": g.temporal_sigma,
                "dist1": beta(2.0, 1.0),
                "dist2": beta(1.0, 2.0),
                "W_size": 2 * n,
                "b_size": n,
                "total_dim": 2 * n,
                "is_modulated": True,
                "_full_cache": None,
                "_fourier_embs_cache": None,
            },
            init_args=(cfg_node._content["coords"], g.w_dim, res),
        )

    def layer(k: int, res: int):
        L = f"synthesis.layers.{k}"
        return style.module(
            "SynthesisLayer",
            {"weight": sq(f"{L}.weight"), "bias": t(f"{L}.bias")},
            {"resample_filter": lowpass()},
            {"affine": fc(style, t(f"{L}.affine.weight"), t(f"{L}.affine.bias"), "linear")},
            {
                "cfg": cfg_node,
                "resolution": res,
                "up": 1,
                "activation": "lrelu",
                "conv_clamp": None,
                "padding": 0,
                "act_gain": math.sqrt(2),
                "instance_norm": False,
            },
        )

    synthesis_blocks = {}
    k, scale = 0, 0
    for b, res in enumerate(blocks):
        grid = max(res, g.input_resolution)
        modules = {}
        if res == 4:
            fuser = coord_fuser(0, g.input_resolution)
            coords_input = style.module("CoordsInput", modules={"coord_fuser": fuser}, attrs={"cfg": cfg_node})
            modules["input"] = style.module(
                "GenInput",
                modules={"input": coords_input},
                attrs={"cfg": cfg_node, "total_dim": 2 * g.fourier_features},
            )
        elif res > g.input_resolution:
            scale += 1
            modules["coord_fuser"] = coord_fuser(scale, res)
        absent = {} if "input" in modules else {"coord_fuser": None} if "coord_fuser" not in modules else {}
        names = ["conv1"] if res == 4 else ["conv0", "conv1"]
        for name in names:
            modules[name] = layer(k, grid)
            k += 1
        if res == blocks[-1] and g.extra_layers:
            modules["extra_convs"] = style.container(ModuleList, [layer(k + j, grid) for j in range(g.extra_layers)])
            k += g.extra_layers
        else:
            absent["extra_convs"] = None
        rgb = f"synthesis.torgb.{b}"
        modules["torgb"] = style.module(
            "ToRGBLayer",
            {"weight": sq(f"{rgb}.weight"), "bias": t(f"{rgb}.bias")},
            modules={"affine": fc(style, t(f"{rgb}.affine.weight"), t(f"{rgb}.affine.bias"), "linear")},
            attrs={"conv_clamp": None, "weight_gain": 1 / math.sqrt(width(res))},
        )
        synthesis_blocks[f"b{res}"] = style.module(
            "SynthesisBlock",
            buffers={"resample_filter": lowpass()},
            modules=modules,
            attrs={
                "cfg": cfg_node,
                "in_channels": 0 if res == 4 else width(res // 2),
                "w_dim": g.w_dim,
                "resolution": grid,
                "up": 1 if res <= g.input_resolution else 2,
                "input_resolution": g.input_resolution,
                "img_channels": 3,
                "is_last": res == blocks[-1],
                "architecture": "skip",
                "use_fp16": False,
                "channels_last": False,
                "num_conv": len(names) + (g.extra_layers if res == blocks[-1] else 0),
                "num_torgb": 1,
                **absent,
            },
        )
    synthesis = style.module(
        "SynthesisNetwork",
        modules=synthesis_blocks,
        attrs={
            "w_dim": g.w_dim,
            "cfg": cfg_node,
            "img_resolution": g.resolution,
            "img_resolution_log2": int(math.log2(g.resolution)),
            "img_channels": 3,
            "block_resolutions": blocks,
            "num_ws": 0,
        },
    )
    init_kwargs = {
        "z_dim": g.z_dim,
        "w_dim": g.w_dim,
        "mapping_kwargs": EasyDict(num_layers=g.mapping_layers),
        "synthesis_kwargs": EasyDict(
            channel_base=g.channel_base, channel_max=g.channel_max, num_fp16_res=0, conv_clamp=None
        ),
        "c_dim": 0,
        "img_resolution": g.resolution,
        "img_channels": 3,
        "ours": True,
        "cfg": cfg,
    }
    return style.module(
        "Generator",
        modules={"synthesis": synthesis, "mapping": mapping},
        attrs={
            "z_dim": g.z_dim,
            "c_dim": 0,
            "w_dim": g.w_dim,
            "img_resolution": g.resolution,
            "img_channels": 3,
            "num_ws": 0,
            "ours": True,
            "dist1": beta(2.0, 1.0),
            "dist2": beta(1.0, 2.0),
        },
        init_kwargs=init_kwargs,
    )


def conv(style: Style, weight, bias, activation: str, down: int, clamp) -> PersistentCall:
    out_channels, in_channels, k, _ = weight.shape
    return style.module(
        "Conv2dLayer",
        {"weight": weight, **({} if bias is None else {"bias": bias})},
        {"resample_filter": lowpass()},
        attrs={
            **({"bias": None} if bias is None else {}),
            "activation": activation,
            "up": 1,
            "down": down,
            "conv_clamp": clamp,
            "padding": k // 2,
            "weight_gain": 1 / math.sqrt(in_channels * k * k),
            "act_gain": math.sqrt(2) if activation == "lrelu" else 1,
        },
        init_args=(in_channels, out_channels),
        init_kwargs={"kernel_size": k, "activation": activation},
    )


def discriminator_record(style: Style, d, state: dict) -> PersistentCall:
    """Their OurDiscriminator (videoD on 7 channels, imageD on 3) holding this project's DiganDiscriminators state."""
    kwargs = {
        "block_kwargs": {},
        "mapping_kwargs": {},
        "epilogue_kwargs": {"mbstd_group_size": d.mbstd_group},
        "channel_base": d.channel_base,
        "channel_max": d.channel_max,
        "num_fp16_res": 4,
        "conv_clamp": 256,
    }

    def width(res):
        return min(d.channel_base // res, d.channel_max)

    def one(ours: str, channels: int) -> PersistentCall:
        def t(name):
            return state[f"{ours}.{name}"]

        resolutions = [2**i for i in range(int(math.log2(d.resolution)), 2, -1)]
        blocks = {}
        for i, res in enumerate(resolutions):
            modules = {}
            if i == 0:
                modules["fromrgb"] = conv(style, t("from_rgb.weight"), t("from_rgb.bias"), "lrelu", 1, 256)
            modules["conv0"] = conv(style, t(f"blocks.{i}.conv0.weight"), t(f"blocks.{i}.conv0.bias"), "lrelu", 1, 256)
            modules["conv1"] = conv(style, t(f"blocks.{i}.conv1.weight"), t(f"blocks.{i}.conv1.bias"), "lrelu", 2, 256)
            modules["skip"] = conv(style, t(f"blocks.{i}.skip.weight"), None, "linear", 2, None)
            blocks[f"b{res}"] = style.module(
                "DiscriminatorBlock",
                buffers={"resample_filter": lowpass()},
                modules=modules,
                attrs={
                    "in_channels": 0 if i == 0 else width(res),
                    "resolution": res,
                    "img_channels": channels,
                    "first_layer_idx": 0,
                    "architecture": "resnet",
                    "use_fp16": True,
                    "channels_last": False,
                    "num_layers": len(modules),
                },
            )
        mbstd = style.module(
            "MinibatchStdLayer",
            attrs={"group_size": d.mbstd_group, "num_channels": d.mbstd_channels},
            init_kwargs={"group_size": d.mbstd_group, "num_channels": d.mbstd_channels},
        )
        blocks["b4"] = style.module(
            "DiscriminatorEpilogue",
            modules={
                "mbstd": mbstd,
                "conv": conv(style, t("conv.weight"), t("conv.bias"), "lrelu", 1, 256),
                "fc": fc(style, t("fc.weight"), t("fc.bias"), "lrelu"),
                "out": fc(style, t("out.weight"), t("out.bias"), "linear"),
            },
            attrs={
                "in_channels": width(4),
                "cmap_dim": 0,
                "resolution": 4,
                "img_channels": channels,
                "architecture": "resnet",
            },
        )
        return style.module(
            "ImageDiscriminator",
            modules=blocks,
            attrs={
                "c_dim": 0,
                "img_resolution": d.resolution,
                "img_resolution_log2": int(math.log2(d.resolution)),
                "img_channels": channels,
                "block_resolutions": resolutions,
            },
            init_args=(0, d.resolution, channels),
            init_kwargs={**kwargs, "ours": True},
        )

    return style.module(
        "OurDiscriminator",
        modules={"videoD": one("motion", 7), "imageD": one("image", 3)},
        init_kwargs={**kwargs, "c_dim": 0, "img_resolution": d.resolution, "img_channels": 3, "ours": True},
    )


def snapshot_records(
    preset,
    G_ema: dict,
    D: dict,
    G: dict | None = None,
    style: Style | None = None,
    training_set_kwargs: dict | None = None,
) -> dict:
    """The objects of a snapshot: `G_ema`, `G` (default: G_ema's weights) and `D` from this project's state dicts."""
    style = style or Style()
    data = (
        training_set_kwargs
        if training_set_kwargs is not None
        else {
            "class_name": "training.dataset.ImageFolderDataset",
            "path": "data/SKY",
            "use_labels": False,
            "resolution": preset.generator.resolution,
            "max_size": 16,
            "xflip": True,
            "train": True,
        }
    )
    return {
        "training_set_kwargs": data,
        "G": generator_record(style, preset.generator, G if G is not None else G_ema),
        "D": discriminator_record(style, preset.discriminator, D),
        "G_ema": generator_record(style, preset.generator, G_ema),
        "augment_pipe": None,
    }


def write_snapshot(
    path: str | Path, preset, G_ema: dict, D: dict, G: dict | None = None, style: Style | None = None
) -> Path:
    return dump(snapshot_records(preset, G_ema, D, G, style), path)


def meta_states(preset) -> tuple[dict, dict]:
    """State dicts of the preset's generator and discriminators on the meta device: shapes only."""
    from digan.models import DiganDiscriminators, Generator

    with torch.device("meta"):
        return Generator(preset.generator).state_dict(), DiganDiscriminators(preset.discriminator).state_dict()
