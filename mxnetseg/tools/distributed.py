"""Process-group setup: one process per listed GPU (``--ctx 0 1 2 3``), ``torchrun`` (env://,
multi-node), or a single CPU/GPU process."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "launch", "under_torchrun", "cleanup"]


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(ctx=None, local_index: int = 0) -> DistInfo:
    """Set up this process. ``ctx``: GPU ids or None/[] for the CPU. Under torchrun the
    environment decides rank/world; with ``launch`` each spawned process passes its index."""
    ctx = list(ctx or [])
    if ctx and not torch.cuda.is_available():
        raise RuntimeError(f"--ctx {' '.join(map(str, ctx))} asks for GPUs but CUDA is not "
                           f"available here; leave --ctx out to train on the CPU")
    if under_torchrun():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        gpu = (ctx[local] if local < len(ctx) else local) if ctx else None
    elif len(ctx) > 1:
        rank, world, local, gpu = local_index, len(ctx), local_index, ctx[local_index]
    else:
        rank, world, local, gpu = 0, 1, 0, (ctx[0] if ctx else None)
    device = torch.device("cpu")
    if gpu is not None:
        torch.cuda.set_device(gpu)
        device = torch.device("cuda", gpu)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world,
                                device_id=device if device.type == "cuda" else None)
    return DistInfo(rank, world, local, device)


def _spawned(index, fn, ctx, args, cpu_world=None):
    if cpu_world:   # CPU processes join a gloo group through the environment, as under torchrun
        os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(cpu_world))
    fn(*args, ctx=ctx, local_index=index)


def launch(fn, ctx, *args, cpu_procs: int = 1):
    """Run ``fn(*args, ctx=ctx, local_index=i)``: in this process, or in one process per GPU
    when several are listed and we are not already under torchrun. ``cpu_procs`` > 1 (no
    ``ctx``) spawns that many CPU processes in a gloo group: the multi-GPU path, on the CPU."""
    ctx = list(ctx or [])
    if cpu_procs > 1 and ctx:
        raise ValueError(f"{cpu_procs} CPU processes and GPUs {ctx} at once: choose one")
    nprocs = len(ctx) if ctx else int(cpu_procs)
    if nprocs > 1 and not under_torchrun():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        import signal
        import torch.multiprocessing as mp
        # Ctrl-C reaches every process of the terminal's group: the workers save and exit, the
        # parent waits for them; a SIGTERM sent to the parent alone is passed on to them
        procs = mp.spawn(_spawned, args=(fn, ctx, args, None if ctx else nprocs), nprocs=nprocs,
                         join=False)
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, lambda *_: [
            os.kill(p.pid, signal.SIGTERM) for p in procs.processes if p.is_alive()])
        try:
            while not procs.join():
                pass
        except mp.ProcessExitedException as err:   # a worker exited on purpose (its message
            code = err.exit_code                    # is printed): return its exit code
            raise SystemExit(code if code > 0 else 128 - code) from None
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return None
    return fn(*args, ctx=ctx, local_index=0)


def cleanup():
    if dist.is_initialized():
        dist.destroy_process_group()
