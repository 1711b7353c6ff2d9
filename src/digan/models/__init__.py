"""The networks: pure nn.Modules that take and return tensors (no optimiser, loss or I/O)."""

from .discriminator import DiganDiscriminators, Discriminator, DiscriminatorConfig, motion_input, stack_apart, unstack
from .generator import Generator, GeneratorConfig, VideoCode

__all__ = [
    "DiganDiscriminators",
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "VideoCode",
    "motion_input",
    "stack_apart",
    "unstack",
]
