"""Evaluation offline: FVD and KVD with the Kinetics-400 I3D, IS with the TGAN C3D, under named protocols.

    from digan.metrics import evaluate, quick_fvd, folder_distance, PROTOCOLS
    from digan.metrics import FVD, KVD   # streaming metric objects for a training loop

Protocols, their numbers and timings: docs/evaluation.md.
"""

from .distances import feature_statistics, frechet_distance, fvd, kvd
from .evaluation import evaluate, folder_distance, quick_fvd, write_jsonl
from .features import I3DFeatures, resize_clips
from .i3d import I3D
from .protocols import PROTOCOLS, Protocol, get_protocol
from .stream import FVD, KVD
from .weights import load_i3d

__all__ = [
    "FVD",
    "I3D",
    "I3DFeatures",
    "KVD",
    "PROTOCOLS",
    "Protocol",
    "evaluate",
    "feature_statistics",
    "folder_distance",
    "frechet_distance",
    "fvd",
    "get_protocol",
    "kvd",
    "load_i3d",
    "quick_fvd",
    "resize_clips",
    "write_jsonl",
]
