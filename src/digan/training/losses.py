"""DIGAN's objective: non-saturating logistic loss on both discriminators, lazy R1.

Read phase by phase as in StyleGAN2 (Karras et al. 2020, App. B):
Gmain  L_G = softplus(-D_motion(fake pair)) + softplus(-D_image(fake frames))   (DIGAN Eq. 4, equal weights)
Dmain  L_D = softplus(D(fake)) + softplus(-D(real)), for both D
Dreg   gamma/2 * |grad_x D(x_real)|^2 for both D, every `d_reg_interval` steps, scaled by it
No path-length regulariser (the authors set its weight to 0).

A phase can run in micro-batches (`batch_gpu`, StyleGAN2-ADA's name) whose gradients add up to the whole
batch's: every random draw is made for the whole batch first, each part's loss is its share of the whole
batch's mean, and the parts keep the minibatch-standard-deviation groups of the discriminators whole
(`micro_batches`), so no group mixes samples that the whole batch would not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TrainingConfig
from ..data.clips import pair_times, sample_pair_indices
from ..models import DiganDiscriminators, Generator, motion_input, stack_apart, unstack
from . import augment


def micro_batches(batch: int, batch_gpu: int | None, group: int) -> list[torch.Tensor] | None:
    """Indices of the micro-batches of a batch of `batch` samples, `batch_gpu` at a time (None: the whole batch).

    The discriminators' minibatch standard deviation groups sample n with n + k * (batch / group)
    (`models.discriminator.minibatch_stddev`); a micro-batch takes whole columns of that (group, batch / group)
    grid, in an order in which its own groups are the same sets. So `batch_gpu` must divide `batch` and be
    a multiple of `group`.
    """
    if batch_gpu is None or batch_gpu >= batch:
        if batch_gpu is not None and batch_gpu > batch:
            raise ValueError(f"`batch_gpu` {batch_gpu} is larger than the batch of each process ({batch})")
        return None
    if batch_gpu < 1 or batch % batch_gpu:
        raise ValueError(f"`batch_gpu` {batch_gpu} does not divide the batch of each process ({batch})")
    if batch_gpu % group:
        raise ValueError(
            f"`batch_gpu` {batch_gpu} must be a multiple of the discriminators' minibatch-stddev group "
            f"({group}), so that a micro-batch keeps the groups the whole batch forms"
        )
    columns, width = batch // group, batch_gpu // group
    rows = torch.arange(group)[:, None] * columns
    return [(rows + start + torch.arange(width)[None]).flatten() for start in range(0, columns, width)]


@dataclass
class Fakes:
    """The random draws of a batch of fake pairs: latents, pair times, the augmentation of the pairs."""

    z: torch.Tensor
    z_motion: torch.Tensor
    t: torch.Tensor  # (B, 2), t1 <= t2
    aug: augment.Draw | None = None


class DiganLoss:
    """`dtype` bf16: the generator's per-pixel MLP and the discriminators run under autocast;
    logits, losses and R1 stay float32. `batch_gpu`: micro-batches of this many clips (None: whole batches)."""

    def __init__(
        self,
        G: Generator,
        D: DiganDiscriminators,
        cfg: TrainingConfig,
        dtype: torch.dtype = torch.float32,
        batch_gpu: int | None = None,
    ):
        self.G, self.D, self.cfg, self.dtype, self.batch_gpu = G, D, cfg, dtype, batch_gpu

    def parts(self, batch: int, split: bool = True) -> list[torch.Tensor | None]:
        """The index of each micro-batch of a phase ([None]: the whole batch at once)."""
        if not split or self.batch_gpu is None:
            return [None]
        return micro_batches(batch, self.batch_gpu, self.D.cfg.mbstd_group) or [None]

    # ---------------------------------------------------------------- draws

    def fake_times(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        """Times `[B, 2]` of fake pairs, t1 <= t2, from the same quantised pair indices as real pairs (data/clips.py),
        so real and fake dt share one distribution."""
        k1, k2 = sample_pair_indices(rng, batch, self.cfg.clip_frames)
        return torch.from_numpy(pair_times(k1, k2, self.cfg.clip_frames))

    def augmentation(self, batch: int, size, g: torch.Generator) -> augment.Draw | None:
        """DiffAugment's draw for `batch` pairs of `size` (H, W) frames, or None without augmentation."""
        if not self.cfg.diffaugment:
            return None
        return augment.draw(self.cfg.diffaugment, batch, tuple(size), g, g.device)

    def draw_fakes(self, batch: int, rng: np.random.Generator, g: torch.Generator) -> Fakes:
        device = next(self.G.parameters()).device
        z = torch.randn(batch, self.G.z_dim, generator=g, device=device)
        z_motion = torch.randn(batch, self.G.motion_dim, generator=g, device=device)
        t = self.fake_times(batch, rng).to(device)
        size = (self.G.resolution,) * 2 if self.cfg.diffaugment else None
        return Fakes(z, z_motion, t, self.augmentation(batch, size, g))

    # ---------------------------------------------------------------- pieces

    def render_fakes(
        self, fakes: Fakes, index: torch.Tensor | None = None, update_w_avg: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render only the two frames of each fake pair: `[b, 2, 3, R, R]` and dt `[b]`."""
        pick = (lambda x: x) if index is None else (lambda x: x[index.to(x.device)])
        t = pick(fakes.t)
        code = self.G.prepare(pick(fakes.z), pick(fakes.z_motion), update_w_avg=update_w_avg)
        return self.G.render(code, t, precision=self.dtype), t[:, 1] - t[:, 0]

    @staticmethod
    def augmented(pair: torch.Tensor, aug: augment.Draw | None, index: torch.Tensor | None) -> torch.Tensor:
        return pair if aug is None else aug.apply(pair, None if index is None else index.to(pair.device))

    def scores(self, motion_in: torch.Tensor, frames: torch.Tensor, mixed: bool = True):
        """(motion D of `[b, 7, H, W]`, image D of `[2b, 3, H, W]`) in float32; `mixed`: D in `self.dtype`."""
        with torch.autocast(frames.device.type, dtype=self.dtype, enabled=mixed and self.dtype != torch.float32):
            motion, image = self.D.motion(motion_in), self.D.image(frames)
        return motion.float(), image.float()

    def logits(
        self,
        pair: torch.Tensor,
        dt: torch.Tensor,
        aug: augment.Draw | None,
        index: torch.Tensor | None = None,
        mixed: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(motion logits `[b]`, image logits `[2b]`) of augmented pairs, float32; `mixed`: D in `self.dtype`."""
        pair = self.augmented(pair, aug, index)
        return self.scores(motion_input(pair, dt), pair.flatten(0, 1), mixed)

    def fake_and_real_logits(
        self,
        fake: torch.Tensor,
        fake_dt: torch.Tensor,
        fake_aug: augment.Draw | None,
        real: torch.Tensor,
        real_dt: torch.Tensor,
        real_aug: augment.Draw | None,
        index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """(fake motion, fake image, real motion, real image) logits, each D called once on fakes and reals
        together where that scores each exactly as alone (`models.stack_apart`: the minibatch-stddev groups
        never mix fake and real), else twice. One call of twice the batch costs far less than two."""
        fake, real = self.augmented(fake, fake_aug, index), self.augmented(real, real_aug, index)
        group = self.D.cfg.mbstd_group
        motion_in = stack_apart(motion_input(fake, fake_dt), motion_input(real, real_dt), group)
        frames = stack_apart(fake.flatten(0, 1), real.flatten(0, 1), group)
        if motion_in is None or frames is None:
            return (
                *self.scores(motion_input(fake, fake_dt), fake.flatten(0, 1)),
                *self.scores(motion_input(real, real_dt), real.flatten(0, 1)),
            )
        motion, image = self.scores(motion_in, frames)
        (fake_motion, real_motion), (fake_image, real_image) = unstack(motion, group), unstack(image, group)
        return fake_motion, fake_image, real_motion, real_image

    @staticmethod
    def share(x: torch.Tensor, whole: int, index: torch.Tensor | None) -> torch.Tensor:
        """This part's share of the whole batch's mean of `x` (its mean when the part is the whole batch)."""
        return x.mean() if index is None else x.sum() / whole

    # ---------------------------------------------------------------- phases, part by part

    def generator_parts(
        self, batch: int, rng: np.random.Generator, g: torch.Generator, split: bool = True
    ) -> Iterator[dict]:
        """Gmain: make D(G(z)) look real to both discriminators; the running mean of w follows the batch's w."""
        fakes = self.draw_fakes(batch, rng, g)
        parts = self.parts(batch, split)
        if parts != [None]:
            with torch.no_grad():  # the running mean of w once, from the whole batch, as one part would
                self.G.mapping(fakes.z, update_w_avg=True)
        for index in parts:
            pair, dt = self.render_fakes(fakes, index, update_w_avg=index is None)
            motion, image = self.logits(pair, dt, fakes.aug, index)
            loss_motion = self.share(F.softplus(-motion), batch, index)
            loss_image = self.share(F.softplus(-image), 2 * batch, index)
            yield {"loss": loss_motion + loss_image, "G_motion": loss_motion, "G_image": loss_image}

    def discriminator_parts(
        self,
        real: torch.Tensor,
        real_dt: torch.Tensor,
        rng: np.random.Generator,
        g: torch.Generator,
        split: bool = True,
    ) -> Iterator[dict]:
        """Dmain: real pairs up, fake pairs (rendered without a graph) down."""
        batch = real.shape[0]
        fakes = self.draw_fakes(batch, rng, g)
        real_aug = self.augmentation(batch, real.shape[-2:], g)
        for index in self.parts(batch, split):
            with torch.no_grad():
                fake, fake_dt = self.render_fakes(fakes, index)
            part, part_dt = (real, real_dt) if index is None else (real[index], real_dt[index])
            fake_motion, fake_image, real_motion, real_image = self.fake_and_real_logits(
                fake, fake_dt, fakes.aug, part, part_dt, real_aug, index
            )
            loss_motion = self.share(F.softplus(fake_motion), batch, index) + self.share(
                F.softplus(-real_motion), batch, index
            )
            loss_image = self.share(F.softplus(fake_image), 2 * batch, index) + self.share(
                F.softplus(-real_image), 2 * batch, index
            )
            yield {
                "loss": loss_motion + loss_image,
                "D_motion": loss_motion,
                "D_image": loss_image,
                "real_motion_score": self.share(real_motion, batch, index),
                "fake_motion_score": self.share(fake_motion, batch, index),
            }

    def r1_parts(
        self, real: torch.Tensor, real_dt: torch.Tensor, g: torch.Generator, split: bool = True
    ) -> Iterator[dict]:
        """Dreg: lazy R1 on both D with respect to the real frames (before augmentation), times the interval.

        The authors take the motion D's gradient with respect to its 7-channel
        input (the dt plane too) and the image D's after augmentation; here both
        are with respect to the real frames, the data the penalty is about.
        """
        batch = real.shape[0]
        real_aug = self.augmentation(batch, real.shape[-2:], g)
        for index in self.parts(batch, split):
            part = (real if index is None else real[index]).detach().requires_grad_(True)
            part_dt = real_dt if index is None else real_dt[index]
            motion, image = self.logits(part, part_dt, real_aug, index, mixed=False)  # R1 in float32
            (grad_motion,) = torch.autograd.grad(motion.sum(), part, create_graph=True)
            (grad_image,) = torch.autograd.grad(image.sum(), part, create_graph=True)
            r1_motion = self.share(grad_motion.square().sum(dim=(1, 2, 3, 4)), batch, index)
            r1_image = self.share(grad_image.square().sum(dim=(2, 3, 4)), 2 * batch, index)  # per frame
            penalty = (r1_motion + r1_image) * (self.cfg.r1_gamma / 2)
            yield {"loss": penalty * self.cfg.d_reg_interval, "r1_motion": r1_motion, "r1_image": r1_image}

    # ---------------------------------------------------------------- a phase of a whole batch at once

    def generator_loss(self, batch: int, rng: np.random.Generator, g: torch.Generator) -> dict[str, torch.Tensor]:
        (out,) = self.generator_parts(batch, rng, g, split=False)
        return out

    def discriminator_loss(
        self, real: torch.Tensor, real_dt: torch.Tensor, rng: np.random.Generator, g: torch.Generator
    ) -> dict[str, torch.Tensor]:
        (out,) = self.discriminator_parts(real, real_dt, rng, g, split=False)
        return out

    def r1_loss(self, real: torch.Tensor, real_dt: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
        (out,) = self.r1_parts(real, real_dt, g, split=False)
        return out
