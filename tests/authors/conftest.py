"""Fixtures of the authors' snapshot tests: the files the authors' code wrote (../shared/fixtures, not in the
repository) and small synthetic snapshots of this project's networks (authors_writer.py)."""

from pathlib import Path

import pytest
from authors_helpers import tiny_networks

from digan.config import Preset, get_preset

# ../shared/fixtures/authors-snapshot beside the repository root (tests/authors -> tests -> root -> its parent)
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "authors-snapshot"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not (FIXTURES / "snapshot-small.pkl").exists():
        pytest.skip(f"{FIXTURES} is absent: the authors' snapshot fixture is not on this machine")
    return FIXTURES


@pytest.fixture(scope="session")
def authors_small(fixtures):
    """The fixture's snapshot, read and converted once."""
    from digan.authors import read_snapshot

    return read_snapshot(fixtures / "snapshot-small.pkl")


@pytest.fixture(scope="session")
def tiny_preset_authors() -> Preset:
    """tiny-32 at a quarter of its widths: every feature of the format (three scales, an extra layer, a fine sigma)."""
    preset = get_preset("tiny-32")
    return preset.override(
        [
            "generator.channel_base=256",
            "generator.channel_max=16",
            "discriminator.channel_base=64",
            "discriminator.channel_max=16",
            "generator.z_dim=16",
            "generator.w_dim=16",
            "generator.motion_dim=16",
            "generator.fourier_features=4",
            "generator.input_resolution=8",
        ]
    )


@pytest.fixture()
def tiny_snapshot(tmp_path, tiny_preset_authors):
    """A synthetic authors' snapshot of random tiny networks: (path, preset, G state, D state)."""
    from authors_writer import write_snapshot

    G, D = tiny_networks(tiny_preset_authors)
    path = write_snapshot(tmp_path / "network-snapshot-000120.pkl", tiny_preset_authors, G, D)
    return path, tiny_preset_authors, G, D
