"""Several training processes, started by torchrun: one per GPU (or CPU process), one global batch.

    torchrun --standalone --nproc_per_node 8 -m digan train --data ... --preset paper-128

Each process renders and discriminates `batch / world` clips of every step with
its own random streams; gradients are averaged across processes before every
optimiser step (one flattened all-reduce per phase, no DDP wrapper), so all
processes hold the same networks. Process 0 alone writes files and draws the
progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, device: str) -> "Distributed":
        """The process group torchrun describes in the environment (joined here), or one lone process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        return cls(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        """Whether this process writes files and logs."""
        return self.rank == 0

    def average_(self, tensors, sanitize: int = 0) -> None:
        """Replace each tensor by its mean over the processes: one all-reduce of them all, flattened.

        The first `sanitize` tensors (gradients) then get NaN -> 0 and +-Inf -> +-1e5 on the flat
        buffer, as the authors sanitise gradients before each optimiser step (also with one process).
        """
        tensors = list(tensors)
        if not tensors or (self.world == 1 and not sanitize):
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        if self.world > 1:
            dist.all_reduce(flat)
            flat.div_(self.world)
        flat[: sum(t.numel() for t in tensors[:sanitize])].nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)
        for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
            t.copy_(part.view_as(t))

    def average_grads_(self, module: torch.nn.Module, also=()) -> None:
        """Average and sanitise the gradients of `module`, and average the tensors `also`, in one all-reduce."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        self.average_(grads + list(also), sanitize=len(grads))

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on one (e.g. a stop request seen by one)."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device_of_group())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def check_same(self, value: torch.Tensor, what: str) -> None:
        """Fail loudly if processes disagree on a scalar (their networks drifted apart)."""
        if self.world == 1:
            return
        lo, hi = value.detach().double().reshape(1).clone(), value.detach().double().reshape(1).clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        if not torch.equal(lo, hi):
            raise RuntimeError(f"training processes disagree on {what}: {lo.item()} vs {hi.item()}")

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def device_of_group(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
