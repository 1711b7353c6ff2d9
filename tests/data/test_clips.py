import numpy as np
import pytest
import torch

from digan.data import ClipSpec, PairBatches, open_dataset, to_float_video
from digan.data.clips import PrefetchedBatches


def test_pair_batches_read_the_clip_frames_with_their_dt():
    s = open_dataset("pendulum", 16, count=4, frames_per_video=40)
    spec = ClipSpec(frames=16, stride=2)
    pairs = PairBatches(s, spec, batch=8, seed=3, mirror=False)
    x, dt = pairs[2]
    rng = pairs.rng(2)
    windows = rng.integers(0, len(pairs.index), 8)
    from digan.data.clips import sample_pair_indices

    k1, k2 = sample_pair_indices(rng, 8, spec.frames)
    for j in range(8):
        video, start = pairs.index.window(int(windows[j]))
        clip = s.read(video, pairs.index.frame_ids(start, np.arange(16)))
        torch.testing.assert_close(x[j], to_float_video(clip[[k1[j], k2[j]]]))
    torch.testing.assert_close(dt, torch.from_numpy((k2 - k1) / 15).float())


@pytest.mark.parametrize("workers", [0, 2])
def test_prefetched_batches_are_the_batches_of_their_step(workers):
    batches = PairBatches(open_dataset("shapes", 16, count=6), ClipSpec(8), batch=3, seed=4)
    rng = torch.get_rng_state()
    with PrefetchedBatches(batches, start=5, stop=9, workers=workers) as ahead:  # resuming at step 5
        for i in range(5, 9):
            frames, dt = ahead[i]
            expected = batches[i]
            assert torch.equal(frames, expected[0]) and torch.equal(dt, expected[1])
    assert torch.equal(torch.get_rng_state(), rng)  # the training state's saved random state is left alone
    with PrefetchedBatches(batches, start=0, stop=4, workers=workers) as ahead:
        with pytest.raises(IndexError, match="batch 0 is next"):
            ahead[1]
