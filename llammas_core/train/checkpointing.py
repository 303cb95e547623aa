"""Checkpoints: HF checkpoint-N folders completed by a COMPLETE marker written last, pruning that only
counts complete ones, a background upload to the store, and the choice of where to resume."""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from llammas_core.errors import ConfigError, TransientError
from llammas_core.train.config import TrainConfig
from llammas_core.train.dist import barrier, broadcast_from_main, is_main, say, write_json_atomic
from llammas_core.train.telemetry import METRICS_JSONL, TelemetryCallback

COMPLETE = "COMPLETE"
STATE_FILE = "llammas_state.json"
CKPT_PREFIX = "checkpoint-"


class Uploader:
    """One background thread copying complete checkpoints to a store (COMPLETE last), then pruning."""

    def __init__(self, sync_uri: str, keep_last: int):
        from llammas_core.store import open_store

        self.store = open_store(sync_uri)
        self.keep_last = keep_last
        self.q: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    self._upload(Path(item))
            except BaseException as e:  # reported at the next save / at the end
                self.error = e
            finally:
                self.q.task_done()

    def _upload(self, ckpt: Path) -> None:
        name = ckpt.name
        files = sorted(p for p in ckpt.rglob("*") if p.is_file() and p.name != COMPLETE)
        for p in files:
            self.store.put_file(p, f"{name}/{p.relative_to(ckpt).as_posix()}")
        self.store.put_file(ckpt / COMPLETE, f"{name}/{COMPLETE}")
        prune_store(self.store, self.keep_last)

    def submit(self, ckpt: Path) -> None:
        self.raise_if_failed()
        self.q.put(str(ckpt))

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise TransientError(f"checkpoint upload to {self.store.uri} failed: {self.error}")

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.raise_if_failed()


def _step_of(name: str) -> int | None:
    if not name.startswith(CKPT_PREFIX):
        return None
    try:
        return int(name[len(CKPT_PREFIX):])
    except ValueError:
        return None


def complete_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint folders (COMPLETE marker present), oldest first."""
    if not folder.is_dir():
        return []
    found = [(s, p) for p in folder.iterdir() if p.is_dir() and (s := _step_of(p.name)) is not None
             and (p / COMPLETE).is_file()]
    return [p for _, p in sorted(found)]


def prune_local(folder: Path, keep_last: int) -> None:
    """Keep the newest keep_last complete checkpoints; drop older ones and debris older than them."""
    complete = complete_checkpoints(folder)
    if not complete:
        return
    keep = complete[-keep_last:]
    oldest_kept = _step_of(keep[0].name)
    newest = _step_of(complete[-1].name)
    for p in folder.iterdir():
        s = _step_of(p.name)
        if s is None or not p.is_dir() or p in keep:
            continue
        if s < oldest_kept or ((p / COMPLETE).is_file() is False and s < newest):
            shutil.rmtree(p, ignore_errors=True)


def store_checkpoints(store) -> dict[int, bool]:
    """{step: complete} for the checkpoint-N/ prefixes in a store."""
    steps: dict[int, bool] = {}
    for key, _ in store.list(""):
        head, _, rest = key.partition("/")
        s = _step_of(head)
        if s is None:
            continue
        steps[s] = steps.get(s, False) or rest == COMPLETE
    return steps


def prune_store(store, keep_last: int) -> None:
    steps = store_checkpoints(store)
    complete = sorted(s for s, ok in steps.items() if ok)
    if not complete:
        return
    keep = set(complete[-keep_last:])
    for s, ok in steps.items():
        if s in keep:
            continue
        if s < min(keep) or (not ok and s < max(keep)):
            store.delete_prefix(f"{CKPT_PREFIX}{s}")


class CheckpointCallback(TrainerCallback):
    """After HF saved checkpoint-N: data state + metrics snapshot + COMPLETE (last), sync, prune.

    Also forces a checkpoint at the last step, so a crash during export never loses the run.
    """

    def __init__(self, run: "RunState"):
        self.run = run

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_save = True
        if control.should_save:  # log (and so check the loss for NaN) before any checkpoint is written
            control.should_log = True

    def on_save(self, args, state, control, **kwargs):
        barrier()  # every rank has written its part (rng_state_<rank>.pth)
        if is_main():
            ckpt = Path(args.output_dir) / f"{CKPT_PREFIX}{state.global_step}"
            write_json_atomic(ckpt / STATE_FILE, self.run.state_at(state))
            src = self.run.output / METRICS_JSONL
            if src.is_file():
                shutil.copyfile(src, ckpt / METRICS_JSONL)
            write_json_atomic(ckpt / COMPLETE, {"step": state.global_step, "time": time.time()})
            say(f"[{self.run.phase}] checkpoint {ckpt.name} complete")
            if self.run.uploader is not None:
                self.run.uploader.q.join()  # at most one upload in flight: older folders are free to prune
                self.run.uploader.submit(ckpt)
            prune_local(Path(args.output_dir), self.run.keep_last)
        barrier()

    def on_train_end(self, args, state, control, **kwargs):
        if is_main() and self.run.uploader is not None:
            self.run.uploader.close()
            self.run.uploader = None



@dataclass
class RunState:
    phase: str
    output: Path
    fingerprint: str
    micro: int
    accum: int
    world: int
    keep_last: int
    uploader: Uploader | None = None
    telemetry: TelemetryCallback | None = None
    extra: dict = field(default_factory=dict)

    def state_at(self, state) -> dict:
        out = {
            "phase": self.phase,
            "fingerprint": self.fingerprint,
            "global_step": state.global_step,
            "epoch": state.epoch,
            "micro_batch_size": self.micro,
            "grad_accum": self.accum,
            "world_size": self.world,
            "time": time.time(),
        }
        if self.phase == "cpt":
            out["cpt_data"] = {"samples": state.global_step * self.micro * self.accum * self.world,
                               "world_size": self.world}
        else:
            out["sft_data"] = {"epoch": int(state.epoch or 0), "global_step": state.global_step}
        if self.telemetry is not None:
            out["telemetry"] = {"tokens": self.telemetry.total_tokens, "flops": self.telemetry.total_flops}
        return out


def fingerprint_of(cfg: TrainConfig, phase: str, init_id: str) -> str:
    payload = json.dumps({"view": cfg.phase_view(phase), "init": init_id}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_resume(checkpoint_dir: Path, resume_from: str, sync_uri: str | None, local_main: bool) -> Path | None:
    """The checkpoint folder to resume from (downloaded from sync_uri when it holds a newer one).

    One decision for all ranks: rank 0 looks (local folder, store) and broadcasts; when the store holds a
    newer complete checkpoint, each node's local rank 0 downloads it and every rank then meets at one
    barrier, entered by all ranks or by none."""
    if resume_from == "none":
        return None
    if resume_from != "auto":
        p = Path(resume_from)
        if (p / COMPLETE).is_file():
            return p
        found = complete_checkpoints(p)
        if not found:
            raise ConfigError(f"--resume-from {resume_from}: no complete checkpoint there")
        return found[-1]
    decision = None
    if is_main():
        local = complete_checkpoints(checkpoint_dir)
        local_step = _step_of(local[-1].name) if local else -1
        decision = ("local", local_step) if local else ("none", -1)
        if sync_uri:
            from llammas_core.store import open_store

            remote = sorted(s for s, ok in store_checkpoints(open_store(sync_uri)).items() if ok)
            if remote and remote[-1] > local_step:
                decision = ("remote", remote[-1])
    kind, step = broadcast_from_main(decision)
    if kind == "none":
        return None
    target = checkpoint_dir / f"{CKPT_PREFIX}{step}"
    if kind == "remote":
        if local_main and not (target / COMPLETE).is_file():
            from llammas_core.store import open_store

            store = open_store(sync_uri)
            say(f"fetching checkpoint {CKPT_PREFIX}{step} from {sync_uri}", all_ranks=True)
            shutil.rmtree(target, ignore_errors=True)
            for key, _ in store.list(f"{CKPT_PREFIX}{step}/"):
                if not key.endswith("/" + COMPLETE):
                    store.get_file(key, checkpoint_dir / key)
            store.get_file(f"{CKPT_PREFIX}{step}/{COMPLETE}", target / COMPLETE)
        barrier()
    return target


def load_run_state(resume: Path | None, fingerprint: str, phase: str, micro: int, accum: int, world: int) -> dict:
    """The llammas_state.json of the checkpoint to resume from ({} for a fresh run), checked against this run:
    same config fingerprint; SFT: same batch geometry; CPT: the same samples per optimiser step (the world
    size may change when global_batch_size keeps the global batch)."""
    if resume is None:
        return {}
    saved = json.loads((resume / STATE_FILE).read_text()) if (resume / STATE_FILE).is_file() else {}
    if saved.get("fingerprint") not in (None, fingerprint):
        raise ConfigError(f"checkpoint {resume} belongs to a different run (config or initial model changed); "
                          "use another checkpoint dir or --resume-from none")
    geometry = (saved.get("micro_batch_size"), saved.get("grad_accum"), saved.get("world_size"))
    if phase == "sft" and saved and geometry != (micro, accum, world):
        raise ConfigError(f"checkpoint {resume} was written with micro {geometry[0]} x accum {geometry[1]} x world "
                          f"{geometry[2]}; now {micro} x {accum} x {world}: SFT data position cannot be mapped")
    samples = (saved.get("cpt_data") or {}).get("samples")
    if phase == "cpt" and samples is not None and samples != int(saved.get("global_step", 0)) * micro * accum * world:
        raise ConfigError(f"checkpoint {resume} consumed {samples} samples in {saved.get('global_step')} steps; "
                          f"now a step takes {micro * accum * world}: keep the global batch (optim.global_batch_size)")
    return saved
