"""Rehearse a config before renting GPUs: the same stages, references, formats and S3 store, at toy size.

`rehearse(config_path, root, endpoint_url, run)` writes the overlaid config (overlay.rehearsal_config;
a `scaling` section: rehearsal/scaling.py) and its inputs (fixtures), then calls `run(config_file)` (the
CLI runs the pipeline flow, or the scaling flow of a scaling-only config) and returns what ran, the final
manifest URI and the wall time. The S3 endpoint is any S3-compatible server; `llammas rehearse` starts
moto's on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import yaml

from llammas_core.rehearsal.overlay import SIZES, rehearsal_config

__all__ = ["rehearse", "rehearsal_config", "SIZES"]


def rehearse(config_path: str | Path, root: str | Path, endpoint_url: str, run: Callable[[str], str],
             log: Callable[[str], None] = print) -> dict:
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    t0 = time.time()
    cfg, notes = rehearsal_config(raw, root, endpoint_url)
    out = root / f"rehearsal-{Path(config_path).stem}.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    prepared = time.time() - t0
    for note in notes:
        log(f"[rehearse] {note}")
    log(f"[rehearse] inputs and tiny models ready in {prepared:.0f} s; config: {out}")
    t1 = time.time()
    uri = run(str(out))
    return {"config": str(out), "output": uri, "notes": notes, "prepare_seconds": round(prepared, 1),
            "run_seconds": round(time.time() - t1, 1), "seconds": round(time.time() - t0, 1)}
