"""The generator as an ONNX file: latents, times and an output grid in, frames out (`digan export`).

The graph is `Generator.prepare` then `Generator.render` with nested grids
(docs/conventions.md): the coarse scales keep their training grids, built into
the graph; the finest scale reads the coordinate grid given. So the frame
count and the output size are dynamic, and a renderer needs only onnxruntime:

    inputs   z        [B, z_dim]          content latent z_I (standard normal)
             z_motion [B, motion_dim]     motion latent z_M (standard normal)
             t        [B, T]              clip times (0..1 = a training clip; any reals)
             coords   [H, W, 2]           pixel corners, `make_coords(H, W)`: x = -1 + 2j/W, y = 1 - 2i/H
             psi      []                  truncation (1 = none)
    output   frames   [B, T, 3, H, W]     float, about [-1, 1], not clamped

The graph is captured by `torch.export` (PyTorch's ONNX exporter with `dynamo=True`, which needs
onnxscript), not by the TorchScript tracer that PyTorch deprecates. Needs the `export` extra
(`pip install -e '.[export]'`: onnx and onnxscript, and onnxruntime to run the file).
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim

from ..models import Generator
from ..models.generator import make_coords
from ..utils.atomic import atomic_write, remove_stale_temps

INPUT_NAMES = ("z", "z_motion", "t", "coords", "psi")
OUTPUT_NAME = "frames"
OPSET = 18  # the oldest the exporter writes natively: below it, its down-conversion fails on this graph
# Later opsets are converted from it (onnxscript's converter, then the onnx package's), up to the newest opset the
# installed onnx package defines (`onnx.defs.onnx_opset_version()`); past that the exporter used to log a failure
# and write opset 18 anyway, so the range is checked before, and the file's opset read back after.
CONVERTER_LOGGER = "onnxscript.version_converter"


class RenderGraph(nn.Module):
    """What the ONNX file computes: latents -> VideoCode -> frames at the given times and grid."""

    def __init__(self, G: Generator):
        super().__init__()
        self.G = G

    def forward(
        self, z: torch.Tensor, z_motion: torch.Tensor, t: torch.Tensor, coords: torch.Tensor, psi: torch.Tensor
    ) -> torch.Tensor:
        mapping = self.G.mapping
        w = mapping.layers(_normalize(z))
        w = mapping.w_avg + psi * (w - mapping.w_avg)  # truncation trick, psi an input rather than a constant
        code = self.G.synthesis.prepare(w, z_motion)
        size = (coords.shape[0], coords.shape[1])
        return self.G.synthesis(code, t, size, "nested", coords=coords)


def _normalize(z: torch.Tensor) -> torch.Tensor:
    return z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def example_inputs(G: Generator, videos: int = 2, frames: int = 3, size: int | None = None) -> tuple[torch.Tensor, ...]:
    """Inputs to trace with; the size must differ from every coarse grid so that the resizes stay in the graph.

    Every dynamic dimension must be 2 or more: torch.export fixes a dimension of size 1 at 1.
    """
    size = size or G.resolution + 8
    gen = torch.Generator().manual_seed(0)
    return (
        torch.randn(videos, G.z_dim, generator=gen),
        torch.randn(videos, G.motion_dim, generator=gen),
        torch.linspace(0, 1.5, frames).expand(videos, -1).contiguous(),
        make_coords(size, size),
        torch.tensor(1.0),
    )


def written_opset(path: str | Path) -> int:
    """The opset of an ONNX file: the version it imports of the default operator set."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def check_opset(opset: int) -> None:
    """ValueError unless the exporter can write `opset`: OPSET to the newest the installed onnx package defines;
    ImportError naming the extra when onnx or onnxscript is missing (the exporter needs both)."""
    if opset < OPSET:
        raise ValueError(f"`opset` {opset}: the exporter writes opset {OPSET} or later")
    try:
        import onnx
        import onnxscript  # noqa: F401
    except ImportError:
        raise ImportError(
            "exporting to ONNX needs the onnx and onnxscript packages: pip install -e '.[export]'"
        ) from None
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ValueError(
            f"`opset` {opset}: the exporter writes opset {OPSET} to {newest} (the newest that the "
            f"installed onnx {onnx.__version__} defines)"
        )


def export_onnx(G: Generator, path: str | Path, opset: int = OPSET) -> Path:
    """Write G (a copy on the CPU, in eval mode) to `path` as one ONNX file of opset `opset`; returns the path.

    `opset` runs from OPSET to the newest the installed onnx package defines; the file is read back before
    it takes the name `path`, and one of another opset (a conversion that failed) is refused, not written.
    """
    check_opset(opset)
    G = copy.deepcopy(G).cpu().eval().float()
    graph = RenderGraph(G).eval()
    batch, frames, height, width = Dim("batch"), Dim("frames"), Dim("height"), Dim("width")
    dynamic = {
        "z": {0: batch},
        "z_motion": {0: batch},
        "t": {0: batch, 1: frames},
        "coords": {0: height, 1: width},
        "psi": None,
    }

    def write(tmp: Path) -> None:
        # external_data=False: the weights go inside the file (by default they go to a second file named after
        # the temporary one). What is kept quiet is named, and none of it concerns this graph: the exporter
        # logs one line per torchvision operator it cannot register (torchvision is not a dependency);
        # torch.export warns about its own use of a deprecated pytree class; and the exporter warns that the
        # axis name "batch" of z_motion and t "will not be used" in favour of z's, which is also "batch".
        # Any other warning is shown.
        # The version converter logs how it converts, and a traceback when it fails: the opset read back
        # below says the one thing that matters, in one line.
        registration = logging.getLogger("torch.onnx._internal.exporter._registration")
        converter = logging.getLogger(CONVERTER_LOGGER)
        levels = registration.level, converter.level
        registration.setLevel(logging.ERROR)
        converter.setLevel(logging.CRITICAL)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
                warnings.filterwarnings(
                    "ignore",
                    message=r"# The axis name: (\w+) will not be used, since it shares "
                    r"the same shape constraints with another axis: \1\.$",
                    category=UserWarning,
                )
                torch.onnx.export(
                    graph,
                    example_inputs(G),
                    str(tmp),
                    input_names=list(INPUT_NAMES),
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=dynamic,
                    opset_version=opset,
                    dynamo=True,
                    external_data=False,
                    verbose=False,
                )
        finally:
            registration.setLevel(levels[0])
            converter.setLevel(levels[1])
        written = written_opset(tmp)
        if written != opset:
            raise ValueError(
                f"`opset` {opset}: the exporter could not convert this graph to it and wrote opset "
                f"{written}; nothing was written (opset {OPSET} is its own)"
            )

    path = Path(path)
    remove_stale_temps(path.parent, name=path.name)  # what a killed export of this file left
    atomic_write(path, write)
    return path
