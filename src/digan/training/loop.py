"""The training loop: phases Gmain, Dmain, Dreg per step; EMA; snapshots; exact resume.

Step i uses only generators seeded by (seed, i), so a batch, its latents and
its augmentations are a pure function of where training is. Together with the
saved networks and optimisers that makes a resumed run continue exactly as the
uninterrupted one would (on the same device and thread count).
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import (
    MAX_CLIPS,
    SNAPSHOT_GLOB,
    STATE_NAME,
    CheckpointError,
    load_state,
    render_problem,
    save_snapshot,
    save_state,
    snapshot_name,
)
from ..config import Preset
from ..data import open_dataset
from ..data.base import DataError, VideoSource, note
from ..data.clips import ClipSpec, PairBatches, PrefetchedBatches
from ..metrics.features import FEATURE_DIM, I3D_FRAME_BYTES
from ..models import DiganDiscriminators, Generator
from ..sampling.files import write_samples
from ..utils.atomic import check_output, remove_stale_temps
from ..utils.files import parse_json
from ..utils.memory import (
    FLOAT,
    GIF_COPIES,
    PARAM_COPIES_D,
    PARAM_COPIES_G,
    PREFETCH,
    WORKER_BYTES,
    Part,
    available,
    check,
    train_pixel_bytes,
)
from ..utils.runtime import describe_device, precision_name, worker_count
from ..utils.signals import Terminated
from ..version import __version__
from .distributed import Distributed
from .fvd import training_fvd
from .init import InitWeights
from .losses import DiganLoss, micro_batches
from .run import MetricsLog, differences, hold_run, read_options, resolved_options, run_name, write_options

PROGRESS_EVERY = 10  # steps between the losses shown on the progress bar, and between checks that they are finite


def lazy_adam(params, cfg, interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction (StyleGAN2 App. B): lr and betas ** (k / (k + 1))."""
    ratio = interval / (interval + 1)
    betas = tuple(b**ratio for b in cfg.betas)
    return torch.optim.Adam(params, lr=cfg.lr * ratio, betas=betas, eps=cfg.eps)


class Trainer:
    """G, both D, G_ema and their optimisers; `step()` runs one batch."""

    def __init__(
        self,
        preset: Preset,
        source: VideoSource,
        device: str | torch.device = "cpu",
        dist: Distributed | None = None,
        precision: torch.dtype = torch.float32,
        init: InitWeights | None = None,
        batch_gpu: int | None = None,
    ):
        """`precision` bf16: the G MLP and both D under autocast; the embedding, losses, R1, the weights and
        Adam stay float32 (`digan.utils.runtime`). `init`: the weights step 0 starts from (`training.init`).
        `batch_gpu`: each phase in micro-batches of this many clips, whose gradients add up to the batch's."""
        self.dist = dist or Distributed()
        if preset.training.batch % self.dist.world:
            raise ValueError(f"`batch` {preset.training.batch} does not split over {self.dist.world} processes")
        if source.resolution != preset.resolution:
            raise DataError(
                f"dataset is {source.resolution}px but preset {preset.name} trains at {preset.resolution}px"
            )
        self.preset, self.cfg, self.device = preset, preset.training, torch.device(device)
        torch.manual_seed(self.cfg.seed)  # initial weights
        self.G = Generator(preset.generator).to(self.device).train()
        self.D = DiganDiscriminators(preset.discriminator).to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if init is not None:
            init.check(preset)
            self.G.load_state_dict(init.G)
            self.G_ema.load_state_dict(init.G_ema)
            if init.D is not None:
                self.D.load_state_dict(init.D)
        self.opt_G = lazy_adam(self.G.parameters(), self.cfg, self.cfg.g_reg_interval)
        self.opt_D = lazy_adam(self.D.parameters(), self.cfg, self.cfg.d_reg_interval)
        self.loss = DiganLoss(self.G, self.D, self.cfg, precision, batch_gpu)
        self.ema_pairs = (list(self.G_ema.parameters()), list(self.G.parameters()))
        self.ema_buffers = (list(self.G_ema.buffers()), list(self.G.buffers()))
        spec = ClipSpec(self.cfg.clip_frames, self.cfg.clip_stride)
        self.local_batch = self.cfg.batch // self.dist.world  # this process's share of each step
        micro_batches(self.local_batch, batch_gpu, preset.discriminator.mbstd_group)  # a one-line ValueError if not
        data_seed = self.cfg.seed + 1_000_003 * self.dist.rank  # each process draws its own clips
        self.reals = PairBatches(source, spec, self.local_batch, seed=data_seed, mirror=self.cfg.mirror)
        self.batches: PairBatches | PrefetchedBatches = self.reals  # where step i reads its batch i
        self.step_index = 0

    @property
    def clips_seen(self) -> int:
        return self.step_index * self.cfg.batch

    def generators(self, phase: int) -> tuple[np.random.Generator, torch.Generator]:
        """The random streams of one phase of the current step."""
        key = [self.cfg.seed, self.step_index, phase] + ([self.dist.rank] if self.dist.world > 1 else [])
        rng = np.random.default_rng(key)
        g = torch.Generator(self.device).manual_seed(int(np.random.default_rng(key + [1]).integers(2**62)))
        return rng, g

    def step(self) -> dict[str, torch.Tensor]:
        """One step; returns the loss terms as 0-d tensors on the device (reading them waits for the step)."""
        real, real_dt = self.batches[self.step_index]
        real, real_dt = real.to(self.device), real_dt.to(self.device)
        stats = {}

        # Gmain: make D(G(z)) look real to both discriminators; the running mean of w is averaged with the grads.
        self.D.requires_grad_(False)
        self.G.requires_grad_(True)
        self.opt_G.zero_grad(set_to_none=True)
        self.descend(
            self.G,
            self.opt_G,
            self.loss.generator_parts(self.local_batch, *self.generators(0)),
            stats,
            also=[self.G.mapping.w_avg],
        )

        # Dmain: real pairs up, fake pairs down.
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        self.descend(self.D, self.opt_D, self.loss.discriminator_parts(real, real_dt, *self.generators(1)), stats)

        # Dreg: lazy R1 on the real frames.
        if self.cfg.r1_gamma > 0 and self.step_index % self.cfg.d_reg_interval == 0:
            self.opt_D.zero_grad(set_to_none=True)
            self.descend(self.D, self.opt_D, self.loss.r1_parts(real, real_dt, self.generators(2)[1]), stats)

        self.step_index += 1
        self.update_ema()
        return stats

    def descend(
        self, module: torch.nn.Module, opt: torch.optim.Optimizer, parts, stats: dict[str, torch.Tensor], also=()
    ) -> None:
        """Backpropagate the loss of each part (micro-batch) of a phase, average the summed gradients over
        processes and sanitise them, step; record the terms (each part's is its share of the batch's)."""
        terms: dict[str, torch.Tensor] = {}
        for out in parts:
            out["loss"].backward()
            for k, v in out.items():
                if k != "loss":
                    terms[k] = v.detach() if k not in terms else terms[k] + v.detach()
        self.dist.average_grads_(module, also)
        opt.step()
        stats.update(terms)

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema with a half-life in clips, ramped up over the first clips seen (StyleGAN2-ADA)."""
        half_life = self.cfg.ema_half_life_kimg * 1000
        if self.cfg.ema_rampup is not None:
            half_life = min(half_life, self.clips_seen * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch / max(half_life, 1e-8))
        torch._foreach_lerp_(self.ema_pairs[0], self.ema_pairs[1], 1 - beta)  # one call, not one per tensor
        torch._foreach_copy_(*self.ema_buffers)

    def state_dict(self) -> dict:
        return {
            "version": __version__,
            "preset": self.preset.to_json(),
            "step": self.step_index,
            "clips_seen": self.clips_seen,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            # every draw is seeded by (seed, step); the global states are saved for completeness
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s output; a state of other networks is a one-line CheckpointError."""
        try:
            saved = parse_json(state["preset"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError("not a training state of this library (no readable preset)") from None
        diff = differences({"preset": saved}, {"preset": self.preset.to_dict()})
        if diff:
            shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
            raise CheckpointError(f"a training state of other networks or training options ({shown})")
        step = self.checked_step(state)
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.G_ema.load_state_dict(state["G_ema"])
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(
                f"does not fit the networks of preset {self.preset.name} "
                f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})"
            ) from None
        self.step_index = step

    def checked_step(self, state: dict) -> int:
        """The state's step, checked against what else the state says of its progress: its clips seen (step x
        the preset's batch) and the steps its G optimiser has taken (one a step). A state whose step does not
        agree was not written by this library as it stands, and resuming from it would skip or repeat
        training (a crafted 10**15 ends a run at once, a negative one fails in the random streams)."""
        step, batch = state.get("step"), self.cfg.batch
        if not (isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_CLIPS // batch):
            raise CheckpointError(f"step {str(step)[:40]} is not a step count from 0 to {MAX_CLIPS // batch:,}")
        seen = state.get("clips_seen", step * batch)
        if seen != step * batch:
            raise CheckpointError(
                f"step {step} at batch {batch} is {step * batch:,} clips, but the state says "
                f"{str(seen)[:40]} clips seen: not a state this library wrote"
            )
        try:
            taken = {int(s["step"]) for s in state["opt_G"]["state"].values() if "step" in s}
        except (KeyError, TypeError, AttributeError, ValueError, RuntimeError):
            raise CheckpointError("its G optimiser state is not one this library wrote") from None
        if taken - {step}:
            raise CheckpointError(
                f"step {step}, but its G optimiser has taken {max(taken - {step}):,} steps: "
                "not a state this library wrote"
            )
        return step


def check_batches(preset: Preset, world: int = 1, batch_gpu: int | None = None) -> None:
    """That the batch splits over `world` processes and each process's share into micro-batches of `batch_gpu`
    (a one-line ValueError if not)."""
    if preset.training.batch % world:
        raise ValueError(f"`batch` {preset.training.batch} does not split over {world} processes")
    micro_batches(preset.training.batch // world, batch_gpu, preset.discriminator.mbstd_group)


def training_memory(preset: Preset, world: int = 1, batch_gpu: int | None = None) -> tuple:
    """What a training step holds at once on each process, as `(build, now, hints)` for `digan.utils.memory.check`:
    weights and optimiser state, and a step's activations over its share of the batch (2 frames a clip), or
    over a micro-batch of `batch_gpu` clips; at each snapshot, the sample grid (`sample_seeds` videos of a
    training clip, as frames, grid and GIF) and the periodic FVD's features (`fvd_clips` a side) and detector
    batch. Parameters are counted on the meta device: nothing is allocated."""
    with torch.device("meta"):
        g = sum(p.numel() for p in Generator(preset.generator).parameters())
        d = sum(p.numel() for p in DiganDiscriminators(preset.discriminator).parameters())
    weights = (g * PARAM_COPIES_G + d * PARAM_COPIES_D) * FLOAT
    smallest = max(8, preset.generator.input_resolution)
    frames = preset.training.clip_frames

    def build(batch: int, size: int, sample_seeds: int, fvd_clips: int) -> list[Part]:
        parts = [
            Part("the weights and optimiser state", weights),
            Part("a training step", batch * 2 * size * size * train_pixel_bytes(preset.generator), ("batch", "size")),
            Part(
                "the sample grid",
                sample_seeds * frames * size * size * 3 * (2 + GIF_COPIES),
                ("sample_seeds",),
                on_device=False,
            ),
        ]
        if fvd_clips:
            parts.append(
                Part(
                    "the periodic FVD", 2 * fvd_clips * FEATURE_DIM * FLOAT + 16 * 16 * I3D_FRAME_BYTES, ("fvd_clips",)
                )
            )
        return parts

    def size_hint(n: int) -> str:
        largest = 2 ** int(math.log2(n))
        return (
            f"at most `size` {largest} fits at `batch` {world}"
            if largest >= smallest
            else f"preset {preset.name} does not fit even at {smallest}x{smallest}: use a smaller preset"
        )

    hints = {
        "batch": (lambda n: f"use a `batch_gpu` of {n} or less")
        if batch_gpu
        else (lambda n: f"use `batch` {n * world} or less"),
        "size": size_hint,
        "sample_seeds": lambda n: f"use `sample_seeds` {n} or less",
        "fvd_clips": lambda n: f"use `fvd_clips` {n} or less",
    }
    now = {
        "batch": batch_gpu or preset.training.batch // world,
        "size": preset.resolution,
        "sample_seeds": preset.training.sample_seeds,
        "fvd_clips": preset.training.fvd_clips,
    }
    return build, now, hints


def loader_workers(
    preset: Preset, source: VideoSource, workers: int, dist: Distributed, device: str, batch_gpu: int | None = None
) -> int:
    """The processes that decode batches ahead (`workers` asked for): at most one per core, and as many as the
    memory a training step leaves free holds, each a process of its own with PREFETCH batches of pairs and its
    source's decode cache; said in one line when fewer than asked."""
    if workers <= 0:
        return 0
    r = preset.resolution
    each = (
        WORKER_BYTES
        + PREFETCH * (preset.training.batch // dist.world) * 2 * 3 * r * r * FLOAT
        + getattr(source, "cache_bytes", 0)
    )
    free = available("cpu")
    if free is not None and not device.startswith("cuda"):  # the step's own memory is on this host too
        build, now, _ = training_memory(preset, dist.world, batch_gpu)
        free = max(0, free - int(sum(p.bytes for p in build(**now))))
    count, why = worker_count(workers, each, "loader workers", free)
    if why and dist.main:
        note(f"train: {why}")
    return count


@dataclass
class RunInfo:
    run_dir: Path
    resumed_from: int
    clips_seen: int
    snapshots: list[Path]
    interrupted: bool = False
    main: bool = True  # this process wrote the files (process 0 of several)
    signal: int | None = None  # what stopped an interrupted run: signal.SIGINT (Ctrl-C) or signal.SIGTERM


class TrainingDiverged(FloatingPointError):
    """A loss or a weight became NaN or infinite, or G_ema renders absurd values: training stopped without saving
    anything of the steps since the last good snapshot, whose snapshot and training state the run directory
    keeps. `info` is where it stopped (`info.clips_seen`); the message is one line meant for the user."""

    def __init__(self, message: str, info: RunInfo):
        super().__init__(message)
        self.info = info


def finite_weights(*modules: torch.nn.Module) -> torch.Tensor:
    """Whether every floating weight and buffer of `modules` is finite: a 0-d bool on their device, not read."""
    tensors = [t for m in modules for t in m.state_dict().values() if t.is_floating_point()]
    return torch.stack([torch.isfinite(t).all() for t in tensors]).all()


def divergence(trainer: Trainer, stats: "StepStats", weights: bool) -> str | None:
    """What shows this process's run diverged, or None: a loss term since the last snapshot that is NaN or
    infinite (one read from the device); with `weights` (before anything is saved), also a weight of the
    networks, and a G_ema that `load_snapshot` would refuse (`checkpoint.render_problem`)."""
    ok = stats.finite()
    if weights:
        ok = ok & finite_weights(trainer.G, trainer.D, trainer.G_ema)
    if not bool(ok):  # read once more, for the message
        names = [k for k, v in stats.sums.items() if not bool(torch.isfinite(v))]
        networks = (("G", trainer.G), ("D", trainer.D), ("G_ema", trainer.G_ema))
        names += [f"the weights of {name}" for name, module in networks if not bool(finite_weights(module))]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        plural = len(names) > 1 or names[0].startswith("the weights")
        return f"{shown} {'are' if plural else 'is'} NaN or infinite"
    problem = render_problem(trainer.G_ema) if weights else None
    return None if problem is None else f"G_ema {problem}"


def _diverged_message(run_dir: Path, saved: int, problem: str | None, info: RunInfo) -> str:
    """One line: where training diverged and why, what the run directory keeps (the training state of `saved`
    clips seen, and the last snapshot up to it), and how to go on."""
    problem = problem or "a loss of another process is NaN or infinite"  # the networks are the same on all
    head = f"training diverged by {info.clips_seen / 1000:g} kimg: {problem}; stopped without saving"
    if not saved:
        return f"{head}: nothing was saved in {run_dir}, and the same command would diverge again; use a smaller `lr`"
    last = [p for p in sorted(run_dir.glob(SNAPSHOT_GLOB)) if p.stem <= snapshot_name(saved)]
    return (
        f"{head}: {run_dir} keeps its training state of {saved / 1000:g} kimg"
        + (f" and snapshot {last[-1].stem}" if last else "")
        + ", from which the same command would diverge again; start anew in another `out` with a smaller `lr`"
        + (f", or from {last[-1].with_suffix('.safetensors')} with `init`" if last else "")
    )


def train(
    preset: Preset,
    data: str,
    out: str | Path = "runs",
    *,
    source: VideoSource | None = None,
    data_options: dict | None = None,
    device: str = "cpu",
    run_dir: Path | None = None,
    progress: bool = True,
    fvd=None,
    dist: Distributed | None = None,
    workers: int = 2,
    precision: torch.dtype = torch.float32,
    init: InitWeights | None = None,
    batch_gpu: int | None = None,
) -> RunInfo:
    """Train until `preset.training.kimg` in `out/<data>-<preset>` (or `run_dir`); resumes when it holds a
    training state.

    `data` names the dataset (a built-in name or a path, `open_dataset`); `source` is that dataset already
    opened (else it is opened here, with `data_options`, after the memory check). `data_options` are recorded
    so that a resume checks them. `precision` (float32 or bf16, `Trainer`) is recorded too: a resume must use
    the run's. `fvd` is called as `fvd(G_ema) -> dict` at each snapshot and its numbers are logged with the
    losses; by default, a quick FVD of `preset.training.fvd_clips` clips when that is set. `workers`
    processes decode the next batches while a step runs (0: on the training thread); they change when a
    batch is decoded, not what it holds. `dist` defaults to the process group torchrun describes, joined
    here and left at the end. `init` (`training.init.init_weights`): the weights a new run starts from;
    recorded, and checked by a resume. `batch_gpu`: micro-batches of this many clips per process (a setting
    of the machine, like `workers`: the gradients are the batch's up to float rounding). The run directory
    is held from the start (`run.hold_run`): a second `train` of the same run is refused with the holder's PID.
    """
    own_group = dist is None
    dist = dist or Distributed.from_env(str(device))
    run_dir = Path(run_dir) if run_dir is not None else Path(out) / run_name(data, preset)
    try:
        if dist.world > 1 and str(device) == "cuda":
            device = f"cuda:{dist.local_rank}"  # one GPU per process
        check_batches(preset, dist.world, batch_gpu)
        if init is not None:
            init.check(preset)
        check(
            f"training {preset.name} at {preset.resolution}x{preset.resolution}, batch {preset.training.batch}",
            *training_memory(preset, dist.world, batch_gpu),
            str(device),
        )
        data_options = dict(data_options or {})
        with hold_run(run_dir, dist):
            if source is None:
                source = open_dataset(data, preset.resolution, **data_options)
            workers = loader_workers(preset, source, workers, dist, str(device), batch_gpu)
            if fvd is None and preset.training.fvd_clips:
                fvd = training_fvd(source, preset, preset.training.fvd_clips, device=str(device))
            return _train(
                preset,
                source,
                data,
                out,
                device=device,
                run_dir=run_dir,
                progress=progress,
                fvd=fvd,
                data_options=data_options,
                dist=dist,
                workers=workers,
                precision=precision,
                init=init,
                batch_gpu=batch_gpu,
            )
    finally:
        if own_group and dist.world > 1:
            torch.distributed.destroy_process_group()


def _train(
    preset: Preset,
    source: VideoSource,
    data: str,
    out: str | Path,
    *,
    device,
    run_dir: Path | None,
    progress: bool,
    fvd,
    data_options: dict,
    dist: Distributed,
    workers: int,
    precision: torch.dtype,
    init: InitWeights | None,
    batch_gpu: int | None,
) -> RunInfo:
    run_dir = Path(run_dir) if run_dir is not None else Path(out) / run_name(data, preset)
    options = resolved_options(
        preset, data, source, data_options, precision_name(precision), None if init is None else init.record()
    )
    state_path = run_dir / STATE_NAME
    if dist.main:
        check_output(state_path)  # refused now (a link, a FIFO), not after the first snapshot's steps
        stale = remove_stale_temps(run_dir)  # left by a killed write: a partial state can be gigabytes
        if stale:
            note(
                f"{run_dir}: removed {len(stale)} temporary file{'s' if len(stale) > 1 else ''} left by an "
                "interrupted write"
            )

    trainer = Trainer(preset, source, device, dist, precision, init, batch_gpu)
    if state_path.exists():
        saved = read_options(run_dir)
        diff = differences(saved, options) if saved is not None else []
        if diff:
            shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
            raise CheckpointError(
                f"{run_dir} holds a run with other options ({shown}); "
                "run it with those, or choose another `out` to start anew"
            )
        try:
            trainer.load_state_dict(load_state(state_path))
        except CheckpointError as e:
            raise CheckpointError(str(e) if str(e).startswith(str(state_path)) else f"{state_path}: {e}") from None
    dist.barrier()  # every process has read the old options before process 0 writes the new ones
    if dist.main:  # only now, when nothing can refuse the run: a refused one leaves no empty folder behind
        run_dir.mkdir(parents=True, exist_ok=True)
        write_options(run_dir, options)
    resumed_from = trainer.clips_seen
    if resumed_from and dist.main:
        note(f"resuming from {resumed_from / 1000:g} kimg in {run_dir}")

    cfg = preset.training
    snapshot_extra = {"data": data}
    source_fps = getattr(source, "fps", None) or (data_options or {}).get("fps")
    if source_fps:  # the clips' frame rate, so that sampling can speak in seconds (timebase.Timebase)
        snapshot_extra["train_fps"] = source_fps / cfg.clip_stride
    total_steps = int(math.ceil(cfg.kimg * 1000 / cfg.batch))
    total = total_steps * cfg.batch
    snap_every = max(1, int(round(cfg.snap_kimg * 1000 / cfg.batch)))
    log = MetricsLog(run_dir) if dist.main else None
    if log is not None:
        log.keep_until(resumed_from / 1000)  # lines of snapshots whose state was not saved are written again
    snapshots: list[Path] = []
    stats = StepStats()  # since the last snapshot
    device_text = describe_device(trainer.device, dist.world)  # for the log: a model card says what trained it

    bar = tqdm(
        total=total, initial=trainer.clips_seen, unit="clip", disable=not (progress and dist.main), dynamic_ncols=True
    )
    stopping = diverged = False
    problem = None  # what showed this process that the run diverged
    saved_clips = resumed_from  # clips seen of the training state on disk (0: none)

    def healthy(weights: bool) -> bool:
        """No process has seen a divergence (`divergence`; all of them stop together). Every PROGRESS_EVERY
        steps (the losses), and before anything is saved (the networks too)."""
        nonlocal problem
        problem = divergence(trainer, stats, weights)
        return not dist.any(problem is not None)

    batches = PrefetchedBatches(
        trainer.reals, trainer.step_index, total_steps, workers, pin_memory=trainer.device.type == "cuda"
    )
    with StopRequest(announce=dist.main) as stop, batches:
        trainer.batches = batches
        while trainer.clips_seen < total and not stopping:
            step = trainer.step()
            stats.add(step)
            bar.update(cfg.batch)
            snapshot_due = trainer.step_index % snap_every == 0 or trainer.clips_seen >= total
            if (trainer.step_index % PROGRESS_EVERY == 0 or snapshot_due) and not healthy(weights=snapshot_due):
                diverged = True  # nothing of these steps is saved: the run directory keeps its last good state
                break
            if trainer.step_index % PROGRESS_EVERY == 0 and not bar.disable:  # reading a loss waits for the device
                g, d = torch.stack([step["G_motion"] + step["G_image"], step["D_motion"] + step["D_image"]]).tolist()
                bar.set_postfix(kimg=f"{trainer.clips_seen / 1000:.2f}", G=f"{g:.3f}", D=f"{d:.3f}", refresh=False)
            if snapshot_due:
                dist.check_same(sum(p.double().sum() for p in trainer.G_ema.parameters()), "G_ema")
                if dist.main:
                    # Everything of this snapshot before the state that moves past it: a kill in between
                    # resumes from the previous state and writes them again, identical (the log keeps one line).
                    path = save_snapshot(run_dir, trainer.G_ema, preset, trainer.clips_seen, snapshot_extra)
                    snapshots.append(path)
                    write_samples(
                        trainer.G_ema,
                        preset,
                        run_dir / path.stem.replace("snapshot-", "samples-"),
                        snapshot_extra.get("train_fps"),
                    )
                    record = {
                        "kimg": trainer.clips_seen / 1000,
                        **stats.means(),
                        "clips_per_s": stats.steps * cfg.batch / stats.seconds(),
                        "device": device_text,
                    }
                    if fvd is not None:
                        record.update(fvd(trainer.G_ema))
                    log.write(record)
                    save_state(state_path, trainer.state_dict())
                saved_clips = trainer.clips_seen
                stats = StepStats()
            stopping = dist.any(stop.requested)  # all processes stop after the same step
        if stopping and not healthy(weights=True):
            diverged = True
        elif stopping and dist.main:
            # between two steps: the saved state continues exactly; the same command resumes here
            save_state(state_path, trainer.state_dict())
    trainer.batches = trainer.reals
    dist.barrier()
    bar.close()
    info = RunInfo(
        run_dir,
        resumed_from,
        trainer.clips_seen,
        snapshots,
        interrupted=stopping,
        main=dist.main,
        signal=stop.signal if stopping else None,
    )
    if diverged:
        raise TrainingDiverged(_diverged_message(run_dir, saved_clips, problem, info), info)
    return info


class StepStats:
    """Means of the loss terms over steps, summed on the device and read once, when logged (nanoGPT).

    R1 terms exist only on R1 steps, so each term counts its own steps.
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.steps = 0
        self.start = time.perf_counter()

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for k, v in stats.items():
            v = v.double()  # float64 sums, as Python floats were: the logged means do not change
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1
        self.steps += 1

    def finite(self) -> torch.Tensor:
        """Whether every loss term since the start is finite: a 0-d bool on the device, not read (a NaN or
        inf in one step makes its sum NaN or inf; float32 terms cannot overflow a float64 sum)."""
        if not self.sums:
            return torch.tensor(True)
        return torch.isfinite(torch.stack(list(self.sums.values()))).all()

    def means(self) -> dict[str, float]:
        totals = torch.stack(list(self.sums.values())).tolist() if self.sums else []  # one sync
        return {k: total / self.counts[k] for k, total in zip(self.sums, totals)}

    def seconds(self) -> float:
        return max(time.perf_counter() - self.start, 1e-9)


class StopRequest:
    """Turns Ctrl-C / SIGTERM into a request to stop after the current step (said on stderr when `announce`);
    `signal` records which. A second one stops at once: KeyboardInterrupt, or `Terminated` for SIGTERM."""

    def __init__(self, announce: bool = True):
        self.announce = announce

    def __enter__(self) -> "StopRequest":
        self.requested = False
        self.signal: int | None = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.requested, self.signal = True, signum
        if self.announce:
            note(
                "stopping after this step and saving the training state (Ctrl-C again stops at once, "
                "losing the steps since the last snapshot)"
            )

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
