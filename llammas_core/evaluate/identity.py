"""Identities that enter evaluation keys: the engine's code version, a model's identity, a task's
data fingerprint and the task spec as keyed.

- engine: llammas version + a hash of the engine's own source files (by AST without docstrings, so a
  docs-only change re-evaluates nothing) and task YAMLs (not the report side) + the versions of the libraries that score (lm-eval, sacrebleu, transformers, torch);
- model: its stage manifest id; a local folder by its model files' names, sizes and mtimes; a hub id
  with its revision;
- data: sha256 over the files' contents (eval sets are small), so moving the data kit or the
  repository keeps every key; a remote store URI by its listing (key, size).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from llammas_core import __version__
from llammas_core.code_identity import file_fingerprint
from llammas_core.errors import InputError
from llammas_core.evaluate.spec import ModelSpec, TaskSpec
from llammas_core.stage import is_manifest_ref, read_manifest, sha256_file

# Files of llammas_core/evaluate that do not compute results (the report side): left out of the
# engine's code version, so a change to the report does not re-evaluate anything.
_REPORT_SIDE = {"config.py", "bootstrap.py", "report.py", "contamination_check.py", "stage.py", "identity.py",
                "refs.py", "__init__.py"}
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".jinja", ".txt", ".gguf")
# Data files up to this size are fingerprinted by content (eval sets are small), bigger ones by size/mtime.
CONTENT_HASH_LIMIT = 256 << 20

__all__ = ["engine_version", "code_version", "model_identity", "data_fingerprint", "task_key_view", "resolved_dtype"]


def code_version(*modules: str) -> str:
    """llammas version + a hash of the named modules' source (e.g. the report side: a change to how
    the report is computed makes a new report stage, never a stale one)."""
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise RuntimeError(f"module {name} not found")
        h.update(name.encode() + b"\0" + file_fingerprint(Path(spec.origin)).encode() + b"\0")
    return f"{__version__}+src.{h.hexdigest()[:12]}"



def engine_version() -> str:
    """llammas version + a hash of the engine's source files and task YAMLs + scoring library versions."""
    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".yaml", ".jinja") and "__pycache__" not in p.parts \
                and not (p.parent == root and p.name in _REPORT_SIDE):
            body = file_fingerprint(p).encode() if p.suffix == ".py" else p.read_bytes()  # docs-only edits: same key
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + body + b"\0")
    libs = []
    for lib in ("lm_eval", "sacrebleu", "transformers", "torch"):
        try:
            libs.append(f"{lib}={version(lib)}")
        except PackageNotFoundError:
            libs.append(f"{lib}=none")
    return f"{__version__}+eval.{h.hexdigest()[:12]}+" + ",".join(libs)


def _local_dir(path: str) -> Path | None:
    p = Path(path[len("file://"):] if path.startswith("file://") else path).expanduser()
    return p if "://" not in path.replace("file://", "", 1) and p.is_dir() else None


def model_identity(spec: ModelSpec) -> tuple[str, dict | None]:
    """(identity, stage manifest or None). Stage: its manifest id; local folder: a fingerprint of its
    model files (name, size, mtime); otherwise a hub id with its revision."""
    if is_manifest_ref(spec.path):
        m = read_manifest(spec.path)
        return f"stage:{m['id']}", m
    folder = _local_dir(spec.path)
    if folder is not None:
        h = hashlib.sha256()
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(MODEL_FILE_SUFFIXES))
        for p in files:
            st = p.stat()
            h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return f"folder:{h.hexdigest()[:20]}", None
    return f"hub:{spec.path}@{spec.revision or ''}", None


def data_fingerprint(path: str | None) -> str | None:
    """Content identity of a task's data: sha256 over (relative name, content hash) of its files;
    a remote store URI by its listing (key, size)."""
    if path is None:
        return None
    local = Path(path[len("file://"):] if path.startswith("file://") else path).expanduser()
    if "://" in path and not path.startswith("file://"):
        from llammas_core.store import open_uri

        store, key = open_uri(path)
        listing = [(key, 0)] if store.exists(key) else list(store.list(key.rstrip("/") + "/"))
        if not listing:
            raise InputError(f"evaluation data not found: {path}")
        h = hashlib.sha256("".join(f"{k}\0{s}\n" for k, s in listing).encode())
        return f"uri:{h.hexdigest()[:20]}"
    if not local.exists():
        raise InputError(f"evaluation data not found: {path}")
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha256()
    for p in files:
        rel = p.name if local.is_file() else p.relative_to(local).as_posix()
        st = p.stat()
        digest = sha256_file(p) if st.st_size <= CONTENT_HASH_LIMIT else f"{st.st_size}:{st.st_mtime_ns}"
        h.update(f"{rel}\0{digest}\n".encode())
    return f"sha256:{h.hexdigest()[:20]}"


def resolved_dtype(spec: ModelSpec) -> str:
    from llammas_core.evaluate.models import pick_device, torch_dtype

    return str(torch_dtype(spec, pick_device(spec))).removeprefix("torch.")


def task_key_view(task: TaskSpec) -> dict:
    """The task spec as it enters the key: data paths replaced by content fingerprints."""
    view = task.model_dump(mode="json")
    data = task.data
    local = Path(data.removeprefix("file://")).expanduser() if data and ("://" not in data or data.startswith("file://")) else None
    if local is not None and local.is_file() and task.num_fewshot and not task.fewshot_data:
        # the engine takes few-shot examples from a sibling file (val/dev next to test): cover the folder
        view["data"] = [data_fingerprint(data), data_fingerprint(str(local.parent))]
    else:
        view["data"] = data_fingerprint(data)
    view["fewshot_data"] = data_fingerprint(task.fewshot_data)
    for p in ("spm_model", "comet_model"):
        if view.get(p):
            view[p] = data_fingerprint(view[p])
    view.pop("comet_python", None)
    return view


