"""What must not run in two threads of one process at once.

Stages fan out over threads: Prefect's thread pool runs the per-language instruction stages and the
per-model evaluations side by side. transformers is not thread-safe while it imports or builds a model:
- its lazy top-level module can hand a second thread a half-imported submodule
  (`ImportError: cannot import name 'AutoModelForCausalLM' from 'transformers'`);
- `from_pretrained` builds the model on the meta device by patching `torch.nn.Module` for the whole
  process, so a model another thread constructs meanwhile gets meta weights
  (`NotImplementedError: Cannot copy out of meta tensor`);
- a seeded random init (the tiny models) draws from torch's one global generator.

`model_lock()` serialises those sections (loading is a small part of a stage's time), and
`import_model_libraries()` does the imports once, before a stage fans out over threads.
"""

from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from typing import Iterator

_LOCK = threading.RLock()
_LIBRARIES = ("transformers", "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto")
_OPTIONAL = ("lm_eval.models.huggingface",)  # evaluation only


def import_model_libraries() -> None:
    """transformers' auto classes (and lm-eval's HF model, where installed), imported in this thread."""
    with _LOCK:
        for name in _LIBRARIES:
            importlib.import_module(name)
        for name in _OPTIONAL:
            try:
                importlib.import_module(name)
            except ImportError:  # not installed: evaluation says so when it needs it
                pass


@contextmanager
def model_lock() -> Iterator[None]:
    """Build or load a model with no other thread doing the same (see the module docstring)."""
    with _LOCK:
        import_model_libraries()
        yield


__all__ = ["model_lock", "import_model_libraries"]
