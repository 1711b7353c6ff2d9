"""Fitting a snapshot to a real video (GAN inversion), and the fit file that `digan generate --fit` renders.

DIGAN's generator maps a content code w and a motion code z_M to a continuous
video v(x, y, t) (DIGAN Sec. 3.1). Inverting it for a user's clip gives that
clip as such a function, which then renders at another frame rate, past its
end or at another size like any generated video (docs/invert.md).

Stage 1 fits the latents: w (one code for every layer, or one per layer, the
w+ of Image2StyleGAN, Abdal et al. 2019) and z_M, by Adam on the mean squared
error plus a structure term, 1 - SSIM (Wang et al. 2004), which needs no
downloaded weights. Several starts (the mean w, then random seeds) run
together as one batch; after a fraction of the steps the best continues
alone. Stage 2, optional, is pivotal tuning (Roich et al. 2021): the latents
stay fixed as the pivot and a copy of the generator's synthesis network is
fine-tuned on the clip; the snapshot's generator is never modified.

Frame k of a fitted clip sits at clip time t = k / (C - 1), C the snapshot's
training clip length: consecutive input frames are consecutive training
frames, and the clip's own frame rate becomes the fit's training rate.

A fit is a folder: `fit.safetensors` (w, z_M, the fitted times and, when
tuned, the tuned synthesis weights) and `fit.json` (the snapshot it belongs
to, by path and SHA-256, the source clip, its frame rate, the options and the
scores), both written atomically, the JSON last.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..data.clips import to_float_video
from ..models import Generator, VideoCode
from ..sampling.options import RenderOptions
from ..sampling.render import render_code, seed_w
from ..timebase import Timebase, clip_times
from ..utils.memory import Part, train_pixel_bytes
from .scores import fit_loss, frame_scores

FIT_STREAM = 2  # random starts draw from (seed, FIT_STREAM); sampling uses streams 0 and 1
W_SAMPLES = 1000  # content seeds whose w give the mean w and its spread
FIT_PIXELS = 2**16  # pixels (starts x frames x H x W) through one forward and backward pass
CANDIDATE_BATCH = 8  # candidate starts scored at once


@dataclass(frozen=True)
class FitOptions:
    """How a clip is fitted (`fit_clip`); `digan invert` sets them from its options."""

    steps: int = 300  # Adam steps on the latents
    starts: int = 4  # the mean w and the best starts - 1 candidates, run together until `select`
    candidates: int = 32  # random latents ranked by their loss before the first step
    select: float = 0.25  # fraction of the steps after which only the best start continues
    lr: float = 0.1  # Adam step size of the latents (w in units of its spread over seeds)
    wplus: bool = False  # one w per layer (w+) instead of one w for all
    structure: float = 1.0  # weight of 1 - SSIM beside the multi-scale MSE
    tune_steps: int = 0  # pivotal tuning: Adam steps on a copy of the synthesis network (0: off)
    tune_lr: float = 3e-4  # its step size (Roich et al. 2021)
    seed: int = 0  # seeds the random starts

    def __post_init__(self):
        if self.steps < 1 or self.starts < 1 or self.tune_steps < 0:
            raise ValueError("a fit needs at least one step and one start, and tune_steps >= 0")
        if not (0 <= self.select <= 1 and self.lr > 0 and self.tune_lr > 0 and self.structure >= 0):
            raise ValueError("select must lie in [0, 1], lr and tune_lr be positive and structure >= 0")


@dataclass
class Fit:
    """A clip as latents of a snapshot (and, when tuned, its own synthesis weights)."""

    w: torch.Tensor  # [1, w_dim], or [1, num_ws, w_dim] for w+
    z_motion: torch.Tensor  # [1, motion_dim]
    t: torch.Tensor  # [N] clip times of the fitted frames
    fps: float  # the clip's frame rate: its frame k shows at k / fps seconds
    clip_frames: int  # the snapshot's training clip length (t = k / (clip_frames - 1))
    tuned: dict[str, torch.Tensor] | None = None  # synthesis weights after pivotal tuning
    meta: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.t)

    @property
    def timebase(self) -> Timebase:
        """The fit's time base: a training clip of the snapshot played at the clip's own frame rate."""
        return Timebase(self.clip_frames, self.fps)

    def generator(self, G: Generator) -> Generator:
        """G itself, or a copy with the tuned synthesis weights (G is left as it is)."""
        if self.tuned is None:
            return G
        tuned = copy.deepcopy(G)
        state = {k: v.to(next(G.parameters()).device) for k, v in self.tuned.items()}
        tuned.synthesis.load_state_dict(state)
        return tuned

    @torch.no_grad()
    def code(self, G: Generator) -> VideoCode:
        """The fitted video's INR for `self.generator(G)`."""
        device = next(G.parameters()).device
        return G.synthesis.prepare(self.w.to(device), self.z_motion.to(device))


class FitDiverged(FloatingPointError):
    """The fit's loss or latents became NaN or infinite: it stopped and nothing was saved; one line for the user."""


def _finite_losses(losses: torch.Tensor) -> torch.Tensor:
    """Losses `[B]` of the live starts with NaN as +inf, so that a diverged start is never the best one
    (`torch.argmin` and `min` would pick a NaN)."""
    return torch.nan_to_num(losses, nan=math.inf)


def check_finite(fit: "Fit") -> None:
    """FitDiverged unless every tensor of the fit is finite: what `load_fit` refuses is never saved."""
    tensors = {
        "w": fit.w,
        "z_motion": fit.z_motion,
        "t": fit.t,
        **{f"synthesis.{k}": v for k, v in (fit.tuned or {}).items()},
    }
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise FitDiverged(
            f"the fit holds NaN or inf in {', '.join(bad[:3])}{' and more' if len(bad) > 3 else ''}: "
            "it diverged and was not saved"
        )


@dataclass
class FitResult:
    fit: Fit
    losses: list[float]  # at each latent step (before its update): the loss of the best live start
    start_loss: float  # the loss of the kept start at the first step
    tune_losses: list[float]  # at each tuning step (before its update)
    frames: np.ndarray  # uint8 [N, R, R, 3]: the fit rendered at the fitted times
    scores: dict  # frame_scores of the input against `frames`
    seconds: float


@torch.no_grad()
def w_statistics(G: Generator) -> tuple[torch.Tensor, float]:
    """Mean w `[w_dim]` and the spread of w around it (RMS per dimension) over W_SAMPLES content seeds."""
    w = seed_w(G, range(W_SAMPLES))
    mean = w.mean(0)
    return mean, float((w - mean).square().mean().sqrt())


@torch.no_grad()
def _starts(
    G: Generator, options: FitOptions, mean: torch.Tensor, spread: float, target: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial u `[S, w_dim]` (w = mean + spread * u) and z_M `[S, motion_dim]`: the mean w with z_M = 0 (the
    mean of its prior), then the S - 1 of `options.candidates` random latents, drawn from (seed, FIT_STREAM),
    whose videos are nearest the target."""
    rng = np.random.default_rng([options.seed, FIT_STREAM])
    n = max(options.candidates, options.starts - 1)
    z = torch.from_numpy(rng.standard_normal((n, G.z_dim)).astype(np.float32)).to(mean.device)
    zm = torch.from_numpy(rng.standard_normal((n, G.motion_dim)).astype(np.float32)).to(mean.device)
    w = G.mapping(z)
    losses = torch.cat(
        [
            _loss(G, w[i : i + CANDIDATE_BATCH], zm[i : i + CANDIDATE_BATCH], target, t, options.structure)
            for i in range(0, n, CANDIDATE_BATCH)
        ]
    )
    best = torch.argsort(losses, stable=True)[: options.starts - 1]
    u = torch.cat([torch.zeros_like(mean)[None], (w[best] - mean) / spread])
    return u, torch.cat([zm.new_zeros(1, G.motion_dim), zm[best]])


def _schedule(step: int, steps: int, lr: float) -> float:
    """A short linear warm-up, then a cosine decay over the last quarter (the schedule of StyleGAN2's
    projector, Karras et al. 2020, Sec. 5)."""
    x = step / max(1, steps)
    ramp = min(1.0, (1 - x) / 0.25)
    return lr * 0.5 * (1 - math.cos(ramp * math.pi)) * min(1.0, x / 0.05 + 1 / max(1, steps))


def _chunks(videos: int, frames: int, size: int) -> list[slice]:
    """Frame ranges that keep one pass near FIT_PIXELS pixels (at least one frame)."""
    step = max(1, FIT_PIXELS // max(1, videos * size * size))
    return [slice(k, k + step) for k in range(0, frames, step)]


def _descend(G: Generator, latents, target: torch.Tensor, t: torch.Tensor, structure: float) -> torch.Tensor:
    """Loss `[B]` of videos `latents() -> (w, z_M)` on target `[1, T, 3, R, R]` at times `t [T]`, gradients
    accumulated frame chunk by frame chunk (the loss is a sum over frames)."""
    total = None
    for part in _chunks(latents.batch, len(t), G.resolution):
        w, zm = latents()
        fake = G.render(G.synthesis.prepare(w, zm), t[None, part].expand(w.shape[0], -1))
        loss = fit_loss(fake, target[:, part], structure)
        loss.sum().backward()
        total = loss.detach() if total is None else total + loss.detach()
    return total


class _Latents:
    """The parameters of stage 1: w = mean + spread * u (u `[B, w_dim]` or `[B, num_ws, w_dim]`), z_M `[B, D]`."""

    def __init__(self, u: torch.Tensor, zm: torch.Tensor, mean: torch.Tensor, spread: float):
        self.u, self.zm = u.detach().clone().requires_grad_(True), zm.detach().clone().requires_grad_(True)
        self.mean, self.spread = mean, spread

    @property
    def batch(self) -> int:
        return self.u.shape[0]

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean if self.u.ndim == 2 else self.mean[None]
        return mean + self.spread * self.u, self.zm


def _keep(opt: torch.optim.Adam, latents: _Latents, i: int, num_ws: int | None) -> tuple[torch.optim.Adam, _Latents]:
    """Continue start i alone, with its own Adam moments; with `num_ws`, as w+ (its w copied to every layer)."""

    def pick(x: torch.Tensor, is_w: bool) -> torch.Tensor:
        x = x[i : i + 1]
        return x[:, None].expand(-1, num_ws, -1).clone() if is_w and num_ws and x.ndim == 2 else x.clone()

    kept = _Latents(pick(latents.u.detach(), True), pick(latents.zm.detach(), False), latents.mean, latents.spread)
    new = torch.optim.Adam([{"params": [kept.u]}, {"params": [kept.zm]}], lr=opt.param_groups[0]["lr"])
    for old_p, new_p, is_w in ((latents.u, kept.u, True), (latents.zm, kept.zm, False)):
        state = opt.state[old_p]
        if state:
            new.state[new_p] = {
                "step": state["step"].clone(),
                "exp_avg": pick(state["exp_avg"], is_w),
                "exp_avg_sq": pick(state["exp_avg_sq"], is_w),
            }
    return new, kept


def fit_clip(
    G: Generator,
    frames: np.ndarray,
    *,
    clip_frames: int,
    fps: float,
    t: torch.Tensor | None = None,
    options: FitOptions = FitOptions(),
    progress: bool | None = None,
) -> FitResult:
    """Fit G to uint8 frames `[N, R, R, 3]` shown at times `t` (default: t_k = k / (clip_frames - 1)).

    Deterministic for given options (same device, same thread count). G is
    not modified; with `options.tune_steps` the fit holds tuned synthesis
    weights of a copy of it.
    """
    began = time.perf_counter()
    assert frames.ndim == 4 and frames.shape[1:] == (G.resolution, G.resolution, 3), (frames.shape, G.resolution)
    device = next(G.parameters()).device
    t = clip_times(len(frames), clip_frames) if t is None else torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    assert len(t) == len(frames), (len(t), len(frames))
    t = t.to(device)
    target = to_float_video(frames).to(device)[None]  # (1, N, 3, R, R)

    mean, spread = w_statistics(G)
    latents = _Latents(*_starts(G, options, mean, spread, target, t), mean, spread)
    opt = torch.optim.Adam([{"params": [latents.u]}, {"params": [latents.zm]}], lr=options.lr)
    # the starts search in W together; from `select_at` the best continues alone, in W+ when asked
    select_at = max(1, round(options.select * options.steps)) if options.starts > 1 or options.wplus else -1
    losses, first, last = [], None, None
    with tqdm(
        total=options.steps + options.tune_steps,
        desc="inverting",
        unit="step",
        leave=False,
        disable=None if progress is None else not progress,
    ) as bar:
        for step in range(options.steps):
            if step == select_at:
                best = int(torch.argmin(_finite_losses(last)))
                opt, latents = _keep(opt, latents, best, G.synthesis.num_ws if options.wplus else None)
                first = first[best : best + 1]
            lr = _schedule(step, options.steps, options.lr)
            # Adam moves every coordinate by about lr: w+ has num_ws codes moving at once, so each gets a
            # num_ws-th of the step and the video moves about as far as with one w
            opt.param_groups[0]["lr"] = lr / (G.synthesis.num_ws if latents.u.ndim == 3 else 1)
            opt.param_groups[1]["lr"] = lr
            opt.zero_grad(set_to_none=True)
            last = _descend(G, latents, target, t, options.structure)
            first = last.clone() if first is None else first
            losses.append(float(_finite_losses(last).min()))  # read at every step anyway (the progress bar)
            if not math.isfinite(losses[-1]):  # every live start: Adam would carry NaN on to the end
                raise FitDiverged(
                    f"the fit diverged at step {step + 1} of {options.steps} (its loss is NaN or "
                    "infinite) and was not saved: try a smaller `lr`"
                )
            opt.step()
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        w, z_motion = (v.detach() for v in latents())
        if latents.batch > 1:  # every start ran to the end (select = 1): keep the best
            best = int(torch.argmin(_finite_losses(_loss(G, w, z_motion, target, t, options.structure))))
            first = first[best : best + 1]
            w, z_motion = w[best : best + 1], z_motion[best : best + 1]

        tuned, tune_losses = None, []
        if options.tune_steps:
            G_tuned = copy.deepcopy(G).requires_grad_(False)
            G_tuned.synthesis.requires_grad_(True)
            tune_opt = torch.optim.Adam(G_tuned.synthesis.parameters(), lr=options.tune_lr)
            pivot = _Latents(w, z_motion, torch.zeros_like(mean), 1.0)  # w = 0 + 1 * w: the latents, held fixed
            pivot.u.requires_grad_(False)
            pivot.zm.requires_grad_(False)
            bar.set_description("tuning G")
            for step in range(options.tune_steps):
                tune_opt.zero_grad(set_to_none=True)
                tune_losses.append(float(_descend(G_tuned, pivot, target, t, options.structure)[0]))
                if not math.isfinite(tune_losses[-1]):
                    raise FitDiverged(
                        f"pivotal tuning diverged at step {step + 1} of {options.tune_steps} (its loss "
                        "is NaN or infinite) and the fit was not saved: try fewer `tune_steps`, or "
                        "fit without tuning"
                    )
                tune_opt.step()
                bar.update()
                bar.set_postfix(loss=f"{tune_losses[-1]:.4f}", refresh=False)
            tuned = {k: v.detach().cpu().clone() for k, v in G_tuned.synthesis.state_dict().items()}

    fit = Fit(
        w=w.cpu(),
        z_motion=z_motion.cpu(),
        t=t.cpu(),
        fps=float(fps),
        clip_frames=int(clip_frames),
        tuned=tuned,
        meta={"options": asdict(options)},
    )
    check_finite(fit)  # the last step's update is seen by no loss
    rendered = render_fit(G, fit, fit.t)
    scores = frame_scores(frames, rendered)
    return FitResult(fit, losses, float(first[0]), tune_losses, rendered, scores, time.perf_counter() - began)


@torch.no_grad()
def _loss(
    G: Generator, w: torch.Tensor, z_motion: torch.Tensor, target: torch.Tensor, t: torch.Tensor, structure: float
) -> torch.Tensor:
    """Loss `[B]` of fixed latents, frame chunk by frame chunk."""
    total = 0
    for part in _chunks(w.shape[0], len(t), G.resolution):
        fake = G.render(G.synthesis.prepare(w, z_motion), t[None, part].expand(w.shape[0], -1))
        total = total + fit_loss(fake, target[:, part], structure)
    return total


def render_fit(G: Generator, fit: Fit, t: torch.Tensor, options: RenderOptions = RenderOptions()) -> np.ndarray:
    """The fitted video at times `t`, uint8 `[T, H, W, 3]` (any t, any size, as `digan.sampling.render.render_code`)."""
    G = fit.generator(G)
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    return np.concatenate(list(render_code(G, fit.code(G), t, options)), axis=1)[0]


def fit_memory(G: Generator, starts: int, tune: bool = False) -> tuple:
    """What a fit holds at once, as `(build, now, hints)` for `digan.utils.memory.check`: one forward and backward
    pass of at least one frame of every start (near FIT_PIXELS pixels when frames are small) and, when
    tuning, the copy of the synthesis network with its gradients and Adam moments."""
    r = G.resolution
    weights = sum(p.numel() for p in G.synthesis.parameters()) * 4

    def build(starts: int) -> list[Part]:
        pixels = max(FIT_PIXELS, starts * r * r)  # a pass holds one frame of every start, or FIT_PIXELS
        parts = [Part("a fit step", pixels * train_pixel_bytes(G.cfg), ("starts",))]
        if tune:
            parts.append(Part("the tuned copy of G, its gradients and Adam moments", 4 * weights))
        return parts

    return build, {"starts": starts}, {"starts": lambda n: f"use `starts` {n} or less"}
