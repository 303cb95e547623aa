"""Process helpers of the trainer: rank/world from the launcher's environment, rank-0 printing,
barriers and one-decision broadcasts, atomic JSON writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def dist_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the launcher's environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return dist_env()[0] == 0


def say(msg: str, all_ranks: bool = False) -> None:
    rank, _, world = dist_env()
    if all_ranks or rank == 0:
        prefix = f"[rank {rank}] " if world > 1 else ""
        print(f"{prefix}{msg}", flush=True)


def dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def barrier() -> None:
    if dist_ready():
        torch.distributed.barrier()


def write_json_atomic(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)



def broadcast_from_main(value):
    """Rank 0's `value` on every rank (one decision for all ranks; identity without a process group)."""
    if not dist_ready():
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
