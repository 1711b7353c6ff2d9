"""`--batch-gpu`: a step in micro-batches has the whole batch's gradients, and a run does not depend on it."""

import pytest
import torch

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.training.loop import Trainer, train
from digan.training.losses import micro_batches

pytestmark = pytest.mark.usefixtures("one_thread")

# DiffAugment on (its draws must be the whole batch's), R1 at every step, minibatch-stddev groups of 4
PRESET = get_preset("tiny-32").replace_training(batch=16, diffaugment="color,translation", d_reg_interval=1)


def phase_grads(batch_gpu, phase: str) -> dict[str, torch.Tensor]:
    """The gradients one phase of step 0 leaves on its network."""
    trainer = Trainer(PRESET, Shapes(32, count=16), batch_gpu=batch_gpu)
    real, real_dt = trainer.batches[0]
    loss = trainer.loss
    net, parts = {
        "G": (trainer.G, lambda: loss.generator_parts(16, *trainer.generators(0))),
        "D": (trainer.D, lambda: loss.discriminator_parts(real, real_dt, *trainer.generators(1))),
        "R1": (trainer.D, lambda: loss.r1_parts(real, real_dt, trainer.generators(2)[1])),
    }[phase]
    trainer.G.requires_grad_(phase == "G")
    trainer.D.requires_grad_(phase != "G")
    count = 0
    for out in parts():
        out["loss"].backward()
        count += 1
    assert count == 16 // (batch_gpu or 16)
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("phase", ["G", "D", "R1"])
def test_micro_batches_give_the_whole_batch_gradients(phase):
    whole = phase_grads(None, phase)
    # Float rounding, relative to the largest gradient. A first layer's weight gradient sums 16 x 32 x 32 terms,
    # in an order oneDNN picks by batch size: on an AMD EPYC, motion.from_rgb's came out 1.2e-5 apart at batch_gpu
    # 4 (of 0.13, its largest). A wrong share or a mixed stddev group moves gradients by percents.
    scale = max(g.abs().max().item() for g in whole.values())
    for batch_gpu in (4, 8):
        parts = phase_grads(batch_gpu, phase)
        assert parts.keys() == whole.keys() and whole
        for name, g in whole.items():
            torch.testing.assert_close(parts[name], g, rtol=1e-4, atol=1e-4 * scale, msg=name)


def test_micro_batches_keep_the_minibatch_stddev_groups():
    parts = micro_batches(16, 8, 4)  # the whole batch's groups: {0, 4, 8, 12}, {1, 5, 9, 13}, ...
    assert [p.tolist() for p in parts] == [[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]]
    for part in parts:  # a micro-batch of 8 groups its sample n with n + 2: the same sets
        groups = {frozenset(part[k::2].tolist()) for k in range(2)}
        assert groups <= {frozenset(range(m, 16, 4)) for m in range(4)}
    assert micro_batches(16, 16, 4) is None and micro_batches(16, None, 4) is None


@pytest.mark.parametrize(
    "batch_gpu, message", [(3, "does not divide"), (2, "multiple of the discriminators"), (32, "larger than the batch")]
)
def test_a_batch_gpu_that_cannot_split_the_batch_is_one_line(batch_gpu, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train(PRESET, "shapes", tmp_path, progress=False, batch_gpu=batch_gpu)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_a_run_does_not_depend_on_batch_gpu_beyond_rounding(tmp_path):
    runs = {}
    for batch_gpu in (None, 8):
        trainer = Trainer(PRESET, Shapes(32, count=16), batch_gpu=batch_gpu)
        runs[batch_gpu] = [{k: v.item() for k, v in trainer.step().items()} for _ in range(2)]
    for whole, split in zip(runs[None], runs[8]):
        assert whole.keys() == split.keys()
        for k in whole:
            assert split[k] == pytest.approx(whole[k], rel=1e-3, abs=1e-5), k


def test_the_memory_check_counts_a_micro_batch_not_the_batch():
    from digan.training.loop import training_memory

    def need(batch_gpu):
        build, now, _ = training_memory(PRESET, 1, batch_gpu)
        return sum(part.bytes for part in build(**now))

    step = need(None) - need(8)  # the weights are the same; the activations are half
    assert step > 0 and need(4) < need(8) < need(None)
