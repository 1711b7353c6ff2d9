import numpy as np
import pytest
import torch
from metrics_helpers import noise_generator

from digan.data.base import DataError
from digan.metrics.c3d import C3D, CONVS, FCS, C3DProbabilities, inception_score, load_c3d, mean_clip
from digan.metrics.evaluation import evaluate
from digan.metrics.protocols import PROTOCOLS


@pytest.fixture(scope="module")
def c3d_files(tmp_path_factory):
    """Randomly initialised C3D weights in the TGAN chainer npz layout, and a mean clip like mean2.npz."""
    d = tmp_path_factory.mktemp("c3d")
    torch.manual_seed(0)
    net = C3D()
    arrays = {}
    for name, _, _ in CONVS + FCS:
        layer = getattr(net, name)
        arrays[f"{name}/W"] = layer.weight.detach().numpy().astype(np.float16)  # halves the file; loaded as float32
        arrays[f"{name}/b"] = layer.bias.detach().numpy().astype(np.float16)
    np.savez(d / "conv3d_deepnetA_ucf.npz", **arrays)
    mean = np.random.default_rng(0).uniform(80, 120, (1, 3, 16, 128, 171)).astype(np.float32)
    np.savez(d / "mean2.npz", mean=mean)
    return d / "conv3d_deepnetA_ucf.npz", d / "mean2.npz", mean


def test_inception_score_math():
    assert inception_score(np.full((10, 101), 1 / 101)) == (pytest.approx(1.0), 0.0)
    assert inception_score(np.eye(101)[:20])[0] == pytest.approx(20.0, rel=1e-6)  # 20 sure, distinct classes
    mean, std = inception_score(np.eye(101)[np.arange(40) % 10], splits=4)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_mean_clip_is_the_centre_crop(c3d_files):
    _, mean_path, mean = c3d_files
    m = mean_clip(mean_path)
    assert m.shape == (3, 16, 112, 112)
    # 128x171 -> centre 128x128 (columns 21..148) -> centre 112x112 (+8).
    np.testing.assert_array_equal(m.numpy(), mean[0, :, :, 8:120, 29:141])


@pytest.mark.slow
def test_is_pipeline_with_random_weights(c3d_files):
    weights, mean, _ = c3d_files
    scorer = C3DProbabilities(weights, mean, "cpu", batch=2)
    clips = noise_generator()([1, 2], 16)
    probs = scorer(clips)
    assert probs.shape == (2, 101)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-9)
    assert not np.allclose(probs[0], probs[1])
    assert scorer.detector.name == "c3d-ucf101-tgan" and len(scorer.detector.sha256) == 64

    from dataclasses import replace

    tiny = replace(PROTOCOLS["isv2048_ucf"], name="is2", num_fake=2, splits=2)  # StyleGAN-V: std over splits
    PROTOCOLS["is2"] = tiny
    try:
        (r,) = evaluate(noise_generator(), None, ["is2"], c3d=scorer, progress=False, batch=2)
    finally:
        del PROTOCOLS["is2"]
    assert r["metric"] == "is2" and r["num_fake"] == 2 and r["splits"] == 2
    assert r["is"] == pytest.approx(1.0) and r["is_std"] == pytest.approx(0.0)  # one clip per split: IS is 1
    assert r["detector"] == "c3d-ucf101-tgan" and r["frames"] == 16


def test_missing_or_wrong_files_name_what_is_needed(tmp_path, c3d_files):
    with pytest.raises(DataError, match="conv3d_deepnetA_ucf.npz and mean2.npz"):
        load_c3d(None, None)
    with pytest.raises(DataError, match="not found: .*nope.npz"):
        load_c3d(tmp_path / "nope.npz", c3d_files[1])
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="not a C3D weights file"):
        load_c3d(tmp_path / "other.npz", c3d_files[1])


def test_pool5_windows_round_up_like_caffe():
    net = C3D().eval()
    seen = {}
    net.fc6.register_forward_pre_hook(lambda m, inp: seen.update(fc6_in=inp[0]))
    net.conv5b.register_forward_hook(lambda m, inp, out: seen.update(conv5b=out))
    with torch.inference_mode():
        net(torch.randn(1, 3, 16, 112, 112))
    h = torch.relu(seen["conv5b"])  # (1, 512, 2, 7, 7)
    pooled = seen["fc6_in"].view(1, 512, 1, 4, 4)
    assert torch.equal(pooled[:, :, 0, 3, 3], h[:, :, :, 6, 6].amax(dim=2))  # the last window holds column 6 alone
    assert torch.equal(pooled[:, :, 0, 0, 0], h[:, :, :, 0:2, 0:2].amax(dim=(2, 3, 4)))
