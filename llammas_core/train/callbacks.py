"""Small TrainerCallbacks: fail fast on a non-finite loss, stop before the wall-clock limit, and a
testing aid that slows steps down."""

from __future__ import annotations

import math
import time

import torch
from transformers import TrainerCallback

from llammas_core.train.dist import dist_ready, say
from llammas_core.train.launch import NonFiniteLossError


class NonFiniteLossCallback(TrainerCallback):
    """Fail fast: a NaN/inf loss or gradient norm in a log raises NonFiniteLossError.

    The check runs at every log (logging_steps = telemetry.log_every_steps, 1 by default), before
    Trainer saves a checkpoint of that step, so no checkpoint ever holds the diverged weights.
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        for key in ("loss", "grad_norm"):
            value = logs.get(key)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"non-finite {key} ({value}) at step {state.global_step} (lr {logs.get('learning_rate')}): "
                    "training stopped. Lower the learning rate or warm up longer, check the data, use bf16 not fp16; "
                    "resume from the last checkpoint after fixing.")



class DeadlineCallback(TrainerCallback):
    """Checkpoint and stop before LLAMMAS_DEADLINE (epoch seconds) so the wall-clock kill loses nothing."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.hit = False
        self._t = None
        self._step_s = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t is not None:
            self._step_s = max(self._step_s * 0.9, time.perf_counter() - self._t)
        flag = torch.tensor([1.0 if time.time() + 2 * self._step_s >= self.deadline else 0.0], device=args.device)
        if dist_ready():
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() > 0 and state.global_step < state.max_steps:
            self.hit = True
            control.should_save = True
            control.should_training_stop = True
            say(f"deadline near: checkpointing at step {state.global_step} and stopping")


class DebugSleepCallback(TrainerCallback):
    """Testing aid (LLAMMAS_DEBUG_STEP_SLEEP seconds per step): makes kill-and-resume tests deterministic."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)
