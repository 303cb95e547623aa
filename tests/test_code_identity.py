"""Code changes reach the output: a stage's key covers its family's code (AST, without docs) and library
versions; a docs-only change recomputes nothing; a training stage warns and reuses unless recomputed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

from llammas_core import code_identity as ci
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore
from tests.conftest import REPO


def test_fingerprint_ignores_comments_docstrings_and_layout(tmp_path):
    def fp(name, text):
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return ci.file_fingerprint(p)

    base = fp("a.py", '''
        """Module doc."""
        def f(x):
            """Doc."""
            return x + 1  # a comment
        ''')
    same = fp("b.py", '''
        """Another module doc, longer."""


        def f(x):
            # only comments and docs differ
            return x + 1
        ''')
    other = fp("c.py", '''
        def f(x):
            return x + 2
        ''')
    assert base == same != other


_RUN = """
import json, sys
from pathlib import Path
import llammas_core
from llammas_core.instructions.config import InstructionsConfig
from llammas_core.instructions.stage import run_instructions
from llammas_core.store import LocalStore
cfg = InstructionsConfig.model_validate(json.loads(Path(sys.argv[1]).read_text()))
r = run_instructions(LocalStore(sys.argv[2]), cfg, sys.argv[3], lambda s: None)
print(json.dumps({"package": llammas_core.__file__, "uri": r.manifest_uri, "skipped": r.skipped}))
"""


def test_editing_protect_py_recomputes_the_instructions_stage(tmp_path):
    """A copy of the package; a comment/docstring edit of instructions/protect.py reuses the stage, a
    one-byte code edit makes a new one (a fixed bug must not hand out the stale stage)."""
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "llammas_core", pkg / "llammas_core", ignore=shutil.ignore_patterns("__pycache__"))
    bitext = REPO / "demo" / "instructions" / "bitext"
    (tmp_path / "alpaca.json").write_text(json.dumps([{"instruction": "Name a colour.", "input": "", "output": "Blue."}]))
    (tmp_path / "cfg.json").write_text(json.dumps({
        "name": "code-id", "sources": [{"name": "alp", "paths": [str(tmp_path / "alpaca.json")]}],
        "bitext": [{"name": "demo", "format": "moses", "paths": [str(bitext / "demo.en"), str(bitext / "demo.et")]}],
        "mixture": {"seed": 1, "components": [{"name": "alpaca_en", "pool": "alp"},
                                              {"name": "translation", "pool": "bitext", "max_records": 5}]}}))

    def run() -> dict:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pkg), "HOME": str(tmp_path)}
        proc = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path / "cfg.json"), str(tmp_path / "store"),
                               str(tmp_path / "work")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["package"].startswith(str(pkg))  # the copy runs, not the repository
        return out

    first = run()
    protect = pkg / "llammas_core" / "instructions" / "protect.py"
    source = protect.read_text()
    protect.write_text(source.replace('"""', '"""Edited docs. ', 1) + "\n# a comment only\n")
    docs_only = run()
    assert docs_only == {**first, "skipped": True}
    code = protect.read_text()
    i = code.index("re.compile(")  # one byte of a pattern: what the stage computes may differ
    protect.write_text(code[:i] + code[i:].replace("re.compile(r\"", "re.compile(r\" ?", 1))
    assert protect.read_text() != code
    edited = run()
    assert not edited["skipped"] and edited["uri"] != first["uri"]


def _body(ctx):
    (ctx.out_dir / "x.txt").write_text("x")
    return {}


def test_training_stage_warns_reuses_and_recomputes_on_request(tmp_path, monkeypatch):
    store, logs = LocalStore(tmp_path / "store"), []
    first = run_stage(store, "cpt", {"lr": 1}, [], _body, tmp_path / "work", log=logs.append)
    assert first.manifest["code"]["files"]["train/trainer.py"] and not first.skipped
    real = ci.code_identity

    def changed(stage, root=ci.ROOT):
        ident = real(stage, root)
        return ident and ci.CodeIdentity(stage, {**ident.files, "train/trainer.py": "edited"}, ident.libraries)

    monkeypatch.setattr("llammas_core.stage.code_identity", changed)
    reused = run_stage(store, "cpt", {"lr": 1}, [], _body, tmp_path / "work", log=logs.append)
    assert reused.skipped and reused.manifest_uri == first.manifest_uri and reused.code_changes == ["train/trainer.py"]
    assert any("WARNING: stage cpt reused" in line and "train/trainer.py" in line and "--recompute cpt" in line
               for line in logs)
    fresh = run_stage(store, "cpt", {"lr": 1}, [], _body, tmp_path / "work", log=logs.append, recompute=True)
    assert not fresh.skipped and fresh.manifest_uri != first.manifest_uri
    again = run_stage(store, "cpt", {"lr": 1}, [], _body, tmp_path / "work", log=logs.append)
    assert again.skipped and again.manifest_uri == fresh.manifest_uri and not again.code_changes
    # a data stage recomputes at once
    tok = run_stage(store, "tokenize", {"b": 1}, [], _body, tmp_path / "work")
    monkeypatch.setattr("llammas_core.stage.code_identity",
                        lambda stage, root=ci.ROOT: real(stage, root) and ci.CodeIdentity(stage, {"train/tokenize.py": "x"}))
    assert not run_stage(store, "tokenize", {"b": 1}, [], _body, tmp_path / "work").manifest_uri == tok.manifest_uri


def test_recompute_flag_is_the_train_recompute_field():
    from flows.cli import build_parser, run_overrides
    from llammas_core.config import load_config

    args = build_parser().parse_args(["run", "pipeline", "--config", "configs/demo.yaml", "--set", "train.name=x",
                                      "--recompute", "cpt", "--recompute", "sft"])
    cfg = load_config(str(REPO / "configs" / "demo.yaml"), run_overrides(args))
    assert cfg.train.recompute == ["cpt", "sft"] and cfg.train.name == "x"
    plain = load_config(str(REPO / "configs" / "demo.yaml"), [])
    assert cfg.train.phase_view("cpt") == plain.train.phase_view("cpt")  # the flag never enters the stage key


def test_training_keys_on_input_content_not_ids(tmp_path):
    """An upstream stage recomputed with byte-identical data (e.g. a log line changed in tokenize.py)
    does not retrain: CPT/SFT key on their inputs' data files; other stages on manifest ids."""
    store = LocalStore(tmp_path / "store")
    data = [{"path": "blocks/00000.ds", "bytes": 4, "sha256": "ab" * 32}, {"path": "stats.json", "bytes": 1, "sha256": "1" * 64}]
    a = {"id": "tokenize/aaa", "stage": "tokenize", "files": data}
    b = {"id": "tokenize/bbb", "stage": "tokenize", "files": [data[0], {**data[1], "sha256": "2" * 64}]}
    first = run_stage(store, "cpt", {"lr": 1}, [a], _body, tmp_path / "work")
    assert run_stage(store, "cpt", {"lr": 1}, [b], _body, tmp_path / "work").manifest_uri == first.manifest_uri
    c = {**b, "files": [{**data[0], "sha256": "cd" * 32}]}
    assert run_stage(store, "cpt", {"lr": 1}, [c], _body, tmp_path / "work").manifest_uri != first.manifest_uri
    assert run_stage(store, "report", {}, [a], _body, tmp_path / "w").manifest_uri != \
        run_stage(store, "report", {}, [b], _body, tmp_path / "w").manifest_uri
