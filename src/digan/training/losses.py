"""DIGAN's objective: non-saturating logistic loss on both discriminators, lazy R1.

Read phase by phase as in StyleGAN2 (Karras et al. 2020, App. B):
Gmain  L_G = softplus(-D_motion(fake pair)) + softplus(-D_image(fake frames))   (DIGAN Eq. 4, equal weights)
Dmain  L_D = softplus(D(fake)) + softplus(-D(real)), for both D
Dreg   gamma/2 * |grad_x D(x_real)|^2 for both D, every `d_reg_interval` steps, scaled by it
No path-length regulariser (the authors set its weight to 0).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .augment import diff_augment
from ..config import TrainingConfig
from ..data.clips import pair_times, sample_pair_indices
from ..models import DiganDiscriminators, Generator, motion_input


class DiganLoss:
    """`dtype` bf16: the generator's per-pixel MLP and the discriminators run under autocast;
    logits, losses and R1 stay float32."""

    def __init__(self, G: Generator, D: DiganDiscriminators, cfg: TrainingConfig, dtype: torch.dtype = torch.float32):
        self.G, self.D, self.cfg, self.dtype = G, D, cfg, dtype

    def sample_fake(self, batch: int, rng: np.random.Generator, g: torch.Generator,
                    update_w_avg: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Render only the two frames of each fake pair: `[B, 2, 3, R, R]` and dt `[B]`.

        Times use the same quantised pair indices as real pairs (data/clips.py),
        so real and fake dt share one distribution.
        """
        device = next(self.G.parameters()).device
        z = torch.randn(batch, self.G.z_dim, generator=g, device=device)
        z_motion = torch.randn(batch, self.G.motion_dim, generator=g, device=device)
        t = self.fake_times(batch, rng).to(device)  # (B, 2)
        pair = self.G.render(self.G.prepare(z, z_motion, update_w_avg=update_w_avg), t, precision=self.dtype)
        return pair, t[:, 1] - t[:, 0]

    def fake_times(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        """Times `[B, 2]` of fake pairs, t1 <= t2."""
        k1, k2 = sample_pair_indices(rng, batch, self.cfg.clip_frames)
        return torch.from_numpy(pair_times(k1, k2, self.cfg.clip_frames))

    def logits(self, pair: torch.Tensor, dt: torch.Tensor, g: torch.Generator,
               mixed: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(motion logits `[B]`, image logits `[2B]`) of augmented pairs, float32; `mixed`: D in `self.dtype`."""
        if self.cfg.diffaugment:
            pair = diff_augment(pair, self.cfg.diffaugment, g)
        with torch.autocast(pair.device.type, dtype=self.dtype, enabled=mixed and self.dtype != torch.float32):
            motion, image = self.D.motion(motion_input(pair, dt)), self.D.image(pair.flatten(0, 1))
        return motion.float(), image.float()

    def generator_loss(self, batch: int, rng: np.random.Generator, g: torch.Generator) -> dict[str, torch.Tensor]:
        pair, dt = self.sample_fake(batch, rng, g, update_w_avg=True)
        motion, image = self.logits(pair, dt, g)
        loss_motion, loss_image = F.softplus(-motion).mean(), F.softplus(-image).mean()
        return {"loss": loss_motion + loss_image, "G_motion": loss_motion, "G_image": loss_image}

    def discriminator_loss(self, real: torch.Tensor, real_dt: torch.Tensor, rng: np.random.Generator,
                           g: torch.Generator) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake, fake_dt = self.sample_fake(real.shape[0], rng, g)
        fake_motion, fake_image = self.logits(fake, fake_dt, g)
        real_motion, real_image = self.logits(real, real_dt, g)
        loss_motion = F.softplus(fake_motion).mean() + F.softplus(-real_motion).mean()
        loss_image = F.softplus(fake_image).mean() + F.softplus(-real_image).mean()
        return {
            "loss": loss_motion + loss_image, "D_motion": loss_motion, "D_image": loss_image,
            "real_motion_score": real_motion.mean(), "fake_motion_score": fake_motion.mean(),
        }

    def r1_loss(self, real: torch.Tensor, real_dt: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
        """Lazy R1 on both D with respect to the real frames (before augmentation), times the interval.

        The authors take the motion D's gradient with respect to its 7-channel
        input (the dt plane too) and the image D's after augmentation; here both
        are with respect to the real frames, the data the penalty is about.
        """
        real = real.detach().requires_grad_(True)
        motion, image = self.logits(real, real_dt, g, mixed=False)  # R1 in float32: a gradient norm squared
        grad_motion, = torch.autograd.grad(motion.sum(), real, create_graph=True)
        grad_image, = torch.autograd.grad(image.sum(), real, create_graph=True)
        r1_motion = grad_motion.square().sum(dim=(1, 2, 3, 4)).mean()
        r1_image = grad_image.square().sum(dim=(2, 3, 4)).mean()  # per frame: the image D scores frames
        penalty = (r1_motion + r1_image) * (self.cfg.r1_gamma / 2)
        return {"loss": penalty * self.cfg.d_reg_interval, "r1_motion": r1_motion, "r1_image": r1_image}
