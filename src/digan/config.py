"""Typed options and the named presets they are filled from.

A preset fully rebuilds the networks and the training recipe; command-line
overrides replace single training fields. `paper-128` is the authors' 128x128
configuration (method.md); `small-64` and `tiny-32` scale it down for a CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field

from .models import DiscriminatorConfig, GeneratorConfig

DIFFAUGMENT = ("color", "translation")  # DiffAugment's policies (training/augment.py)
MAX_SEED = 2**63 - 1  # seeds go to numpy's generators and torch.manual_seed: a signed 64-bit int fits both


@dataclass(frozen=True)
class TrainingConfig:
    batch: int = 64  # clips (real frame pairs) per step; authors: 8 GPUs x 8
    kimg: float = 25000.0  # length of training, in thousands of clips seen
    lr: float = 0.0025  # Adam lr before the lazy-regularisation correction
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 1.0  # R1 weight on both discriminators
    d_reg_interval: int = 16  # lazy R1: every this many D steps, scaled by it
    g_reg_interval: int = 4  # no G regulariser; kept for the lr/beta correction (authors)
    ema_kimg: float | None = None  # G_ema half-life in kimg; None: batch * 10 / 32
    ema_rampup: float | None = 0.05  # half-life at most this fraction of clips seen; None: no ramp
    clip_frames: int = 16  # frames in a training clip; t = k / (clip_frames - 1)
    clip_stride: int = 1  # source frames between consecutive clip frames
    diffaugment: str = "color,translation"
    mirror: bool = True  # horizontal flip of whole clips with p = 1/2
    seed: int = 0
    snap_kimg: float = 50.0  # snapshot, samples and metrics every this many kimg
    sample_seeds: int = 16  # videos in the periodic sample grid
    fvd_clips: int = 0  # clips for periodic FVD at each snapshot (0: off)

    def __post_init__(self):
        positive = (
            "batch",
            "kimg",
            "lr",
            "eps",
            "d_reg_interval",
            "g_reg_interval",
            "snap_kimg",
            "sample_seeds",
            "clip_stride",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive, got {value}")
        if not (math.isfinite(self.r1_gamma) and self.r1_gamma >= 0):
            raise ValueError(f"`r1_gamma` must be 0 or more, got {self.r1_gamma}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"`betas` must be two numbers in [0, 1), got {self.betas}")
        for name in ("ema_kimg", "ema_rampup"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive or None, got {value}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"`seed` must be a seed from 0 to {MAX_SEED}, got {self.seed}")
        if self.clip_frames < 2:
            raise ValueError(f"`clip_frames` must be at least 2 (a clip spans t = 0..1), got {self.clip_frames}")
        if self.fvd_clips < 0 or self.fvd_clips == 1:
            raise ValueError(f"`fvd_clips` must be 0 (off) or at least 2, got {self.fvd_clips}")
        unknown = [p for p in self.diffaugment.replace(" ", "").split(",") if p and p not in DIFFAUGMENT]
        if unknown:
            raise ValueError(
                f"unknown `diffaugment` policy {', '.join(unknown)}: use a comma list of "
                f"{', '.join(DIFFAUGMENT)}, or '' for none"
            )

    @property
    def ema_half_life_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32


@dataclass(frozen=True)
class Preset:
    name: str
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self):
        if self.generator.resolution != self.discriminator.resolution:
            raise ValueError(
                f"generator.resolution {self.generator.resolution} and discriminator.resolution "
                f"{self.discriminator.resolution} differ: both are the training `size`"
            )

    @property
    def resolution(self) -> int:
        return self.generator.resolution

    def sizes(self) -> tuple[int, int]:
        """The smallest and largest training size of these networks (powers of two): at least the input grid
        and 8 (the discriminators' 4x4 epilogue after a block), and at most the smaller channel_base, past
        which a block would have no channels."""
        largest = 2 ** int(math.log2(min(self.generator.channel_base, self.discriminator.channel_base)))
        return max(8, self.generator.input_resolution), largest

    def at_size(self, size: int) -> "Preset":
        """The same networks and recipe trained at `size` x `size` (widths follow channel_base / size)."""
        if size == self.resolution:
            return self
        smallest, largest = self.sizes()
        if size & (size - 1) or not smallest <= size <= largest:
            raise ValueError(
                f"preset {self.name} cannot train at `size` {size}: use a power of two from {smallest} "
                f"to {largest} (its own is {self.resolution})"
            )
        return dataclasses.replace(
            self,
            generator=dataclasses.replace(self.generator, resolution=size),
            discriminator=dataclasses.replace(self.discriminator, resolution=size),
        )

    def replace_training(self, **overrides) -> "Preset":
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, training=dataclasses.replace(self.training, **given))

    def override(self, assignments: "list[str] | tuple[str, ...]") -> "Preset":
        """This preset with fields replaced by `section.field=value` strings, e.g. `generator.temporal_sigma=0.5`.

        The sections are generator, discriminator and training; values are read as the field's
        current type (`none` clears an optional field). The name stays: a run records its whole preset,
        so a resume with other values is refused (run.py), and the study report prints the assignments.
        """
        parts = {section: getattr(self, section) for section in ("generator", "discriminator", "training")}
        for text in assignments:
            key, sep, value = text.partition("=")
            section, _, name = key.strip().partition(".")
            if not sep or section not in parts:
                raise ValueError(
                    f"cannot read '{text}': use section.field=value with section generator, "
                    "discriminator or training, e.g. training.lr=0.004"
                )
            part = parts[section]
            fields = {f.name for f in dataclasses.fields(part)}
            if name not in fields:
                raise ValueError(f"'{text}': {section} has no field '{name}' (it has {', '.join(sorted(fields))})")
            try:
                parsed = parse_field(value.strip(), getattr(part, name))
                parts[section] = dataclasses.replace(part, **{name: parsed})
            except (TypeError, ValueError) as e:
                raise ValueError(f"'{text}': {e}") from None
        try:  # what concerns several fields is checked once all are set (both resolutions, say)
            return dataclasses.replace(self, **parts)
        except ValueError as e:
            raise ValueError(f"'{' '.join(assignments)}': {e}") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preset":
        """The preset `to_dict` wrote, read as data from a file: every field is checked against its declared
        type first (a ValueError naming it), so a crafted file is one line, not a traceback."""
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            raise ValueError("a preset is an object with a name")
        return cls(
            name=d["name"],
            generator=GeneratorConfig(**typed_fields(GeneratorConfig, d.get("generator"), "generator")),
            discriminator=DiscriminatorConfig(
                **typed_fields(DiscriminatorConfig, d.get("discriminator"), "discriminator")
            ),
            training=TrainingConfig(**typed_fields(TrainingConfig, d.get("training"), "training")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


MAX_INT = 2**63 - 1  # integers read from a file: what a signed 64-bit int (numpy, torch) holds


def typed_fields(cls, values, section: str) -> dict:
    """`values` (parsed JSON) as keyword arguments of the dataclass `cls`, each checked against its declared
    type: int (not bool, |x| <= MAX_INT), float (finite; an int is taken), bool, str, a tuple of them, or
    None where the type allows it. ValueError names the first field that is not."""
    if not isinstance(values, dict):
        raise ValueError(f"{section} is {_shown(values)}, not an object")
    hints = typing.get_type_hints(cls)
    unknown = [k for k in values if k not in hints]
    if unknown:
        raise ValueError(f"{section} has no field {unknown[0]!r}")
    return {name: _typed(value, hints[name], f"{section}.{name}") for name, value in values.items()}


def _typed(value, kind, where: str):
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError(f"{where} is null")
    kind = next(k for k in options if k is not type(None))
    if typing.get_origin(kind) is tuple:
        parts = typing.get_args(kind)
        if not isinstance(value, (list, tuple)) or len(value) != len(parts):
            raise ValueError(f"{where} is {_shown(value)}, not a list of {len(parts)} numbers")
        return tuple(_typed(v, k, f"{where}[{i}]") for i, (v, k) in enumerate(zip(value, parts)))
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{where} is {_shown(value)}, not {WANTED.get(kind, kind.__name__)}")
    return value


WANTED = {bool: "true or false", int: "an integer from -2**63 to 2**63 - 1", float: "a finite number", str: "a string"}


def _shown(value) -> str:
    """A value as a message shows it: its JSON type, and the value when short."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        tuple: "list",
        dict: "object",
    }.get(type(value), type(value).__name__)
    text = str(value)
    return f"{kind} {text}" if len(text) <= 24 and not isinstance(value, (list, dict)) else kind


def parse_field(text: str, current):
    """A config value from text, read as the type of `current`: bool, int, float, str, tuple or None."""
    if text.lower() == "none":
        return None
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true or false, got '{text}'")
        return text.lower() in ("true", "1")
    if isinstance(current, tuple):
        return tuple(parse_field(p, current[0] if current else 0.0) for p in text.split(",") if p.strip())
    if isinstance(current, str):
        return text
    if isinstance(current, int):
        return int(text)
    value = float(text)  # floats, and optional fields now None (all of them are floats)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got '{text}'")
    return value


PRESETS: dict[str, Preset] = {
    # The authors' 128x128 configuration: 63.5M-parameter G, two 28.4M Ds, batch 64.
    "paper-128": Preset(
        name="paper-128",
        generator=GeneratorConfig(),
        discriminator=DiscriminatorConfig(),
    ),
    # Same architecture at half the size: G a quarter of the widths, D an eighth.
    "small-64": Preset(
        name="small-64",
        generator=GeneratorConfig(
            resolution=64,
            input_resolution=16,
            z_dim=256,
            motion_dim=256,
            w_dim=256,
            channel_base=8192,
            channel_max=256,
            fourier_features=64,
        ),
        discriminator=DiscriminatorConfig(resolution=64, channel_base=4096, channel_max=256),
        training=TrainingConfig(batch=16, kimg=2000.0, snap_kimg=20.0),
    ),
    # For CPUs, tests and the demo: each departure from a plain scale-down (input grid, sigmas, temporal
    # sigma, no DiffAugment, R1, lr, widths) won FVD per CPU-minute in docs/study.md, which gives the figures.
    # For a small set of your own videos, pass --diffaugment color,translation.
    "tiny-32": Preset(
        name="tiny-32",
        generator=GeneratorConfig(
            resolution=32,
            input_resolution=16,
            z_dim=128,
            motion_dim=128,
            w_dim=128,
            channel_base=1024,
            channel_max=64,
            fourier_features=32,
            spatial_sigma=math.sqrt(10) / 4,
            fine_sigma=math.sqrt(10),
            temporal_sigma=1.0,
        ),
        discriminator=DiscriminatorConfig(resolution=32, channel_base=256, channel_max=64),
        training=TrainingConfig(
            batch=16, kimg=200.0, snap_kimg=5.0, ema_kimg=1.0, sample_seeds=16, diffaugment="", r1_gamma=0.05, lr=0.005
        ),
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown `preset` '{name}': expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
