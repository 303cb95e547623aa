"""How many models are evaluated at once, and on which device each one runs.

The (model, task) pairs fan out by model: each worker loads one model once and runs its tasks (see
stage.evaluate_model). On a GPU box each worker holds one GPU: a worker takes a free device from the
DevicePool when it starts a model and gives it back when the model is released, so two models never
share a GPU unless more workers than GPUs were asked for. On CPU the workers share the cores.
"""

from __future__ import annotations

import queue
from contextlib import contextmanager
from typing import Iterator

__all__ = ["cuda_count", "eval_workers", "worker_devices", "DevicePool"]


def cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover
        return 0


def eval_workers(requested: int | None, n_models: int, gpus: int | None = None) -> int:
    """Models evaluated at once: `requested` when set, else one per GPU (up to the model count), and on
    CPU two (a model's own forward passes already use the cores; a second worker fills the gaps of
    tokenization, lm-eval's request building and scoring, which run on one core)."""
    gpus = cuda_count() if gpus is None else gpus
    default = gpus if gpus else 2
    return max(1, min(n_models, requested if requested else default))


def worker_devices(workers: int, gpus: int | None = None) -> list[str | None]:
    """One device per worker: cuda:0..N-1 round robin over the GPUs (more workers than GPUs share them);
    None (the model's own choice) without CUDA."""
    gpus = cuda_count() if gpus is None else gpus
    return [f"cuda:{i % gpus}" if gpus else None for i in range(workers)]


class DevicePool:
    """Devices handed out to workers, one at a time each (thread-safe)."""

    def __init__(self, devices: list[str | None]):
        if not devices:
            raise ValueError("a device pool needs at least one device (or None for the default)")
        self._free: queue.Queue[str | None] = queue.Queue()
        for d in devices:
            self._free.put(d)

    @contextmanager
    def take(self) -> Iterator[str | None]:
        device = self._free.get()
        try:
            yield device
        finally:
            self._free.put(device)
