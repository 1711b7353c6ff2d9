"""Reading the DIGAN authors' `network-snapshot-*.pkl` files as data, and converting them to this project's networks.

Nothing in such a file is run: their networks' module source is kept as text,
every other global is a stand-in that only records data (`pickle_reader`).

    from digan.authors import convert_snapshot
    convert_snapshot("network-snapshot-004000.pkl", "runs/ucf-authors")   # then digan.load_snapshot("runs/ucf-authors")
"""

from .configuration import discriminator_config, generator_config, rebuild_preset
from .convert import INIT_NAME, AuthorsSnapshot, convert_snapshot, load_init, read_snapshot
from .pickle_reader import AuthorsSnapshotError, read_pickle
from .weights import discriminator_state, fold_pixel_grid, generator_state

__all__ = [
    "INIT_NAME",
    "AuthorsSnapshot",
    "AuthorsSnapshotError",
    "convert_snapshot",
    "discriminator_config",
    "discriminator_state",
    "fold_pixel_grid",
    "generator_config",
    "generator_state",
    "load_init",
    "read_pickle",
    "read_snapshot",
    "rebuild_preset",
]
