"""One resolver for `@name` references: from a run's outputs, or (a flow run alone) from the store by the
identity of the config section that produced the stage."""

from __future__ import annotations

import pytest

from llammas_core.config import load_config
from llammas_core.errors import ConfigError
from llammas_core.refs import recall, refs_in, remember, resolve_standalone, substitute
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore
from tests.conftest import REPO


@pytest.fixture
def cfg():
    return load_config(REPO / "configs" / "demo.yaml")


def _commit(store, tmp_path, name: str) -> str:
    def body(ctx):
        (ctx.out_dir / "x.txt").write_text(name)
        return {}

    return run_stage(store, name, {"name": name}, [], body, tmp_path / "work", log=lambda m: None).manifest_uri


def test_refs_in_and_substitute(cfg):
    assert {"corpus", "english_corpus", "tiny_base"} <= refs_in(cfg.train)
    train = substitute(cfg.train, {"corpus": "file:///c/manifest.json", "english_corpus": "file:///e/manifest.json",
                                   "tiny_base": "file:///t/manifest.json", "instructions": "file:///i/manifest.json"})
    assert not refs_in(train)
    assert train.model.base == "file:///t/manifest.json"
    with pytest.raises(ConfigError, match=r"train refers to @tiny_base, but this run produced only @corpus"):
        substitute(cfg.train, {"corpus": "x"}, where="train")


def test_standalone_finds_what_an_earlier_flow_committed(cfg, tmp_path):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ConfigError, match=r"@corpus \(corpus stage of the `corpus` section\).*run `llammas run corpus`"):
        resolve_standalone(store, cfg, {"corpus"})
    uri = _commit(store, tmp_path, "corpus")
    remember(store, "corpus", cfg.corpus, uri)
    assert resolve_standalone(store, cfg, {"corpus"}) == {"corpus": uri}
    # the same section under another name is the same stage; another section is not
    other = cfg.corpus.model_copy(update={"language": "fi"})
    assert recall(store, "corpus", other) is None


def test_standalone_resolves_nested_references(cfg, tmp_path):
    """@base is train.model.base after its own references are resolved (here @tiny_base)."""
    store = LocalStore(tmp_path / "store")
    tiny = _commit(store, tmp_path, "tiny_base")
    remember(store, "tiny_base", cfg.tiny_base, tiny)
    assert resolve_standalone(store, cfg, {"base"}) == {"tiny_base": tiny, "base": tiny}


def test_a_deleted_stage_is_not_recalled(cfg, tmp_path):
    store = LocalStore(tmp_path / "store")
    uri = _commit(store, tmp_path, "corpus")
    remember(store, "corpus", cfg.corpus, uri)
    store.delete_prefix(uri.split("/store/", 1)[1].rsplit("/", 1)[0])
    with pytest.raises(ConfigError, match="has not been committed"):
        resolve_standalone(store, cfg, {"corpus"})


def test_a_disabled_part_needs_none_of_its_references(tmp_path):
    """Defect 7: with train.sft.enabled=false, a train run alone (and the pipeline's preflight) still
    demanded @instructions. A disabled part's references are neither checked nor resolved."""
    from llammas_core.preflight import PIPELINE_SECTIONS, preflight
    from llammas_core.refs import resolve_section

    cfg = load_config(REPO / "configs" / "demo.yaml",
                      ["train.sft.enabled=false", "instructions=null", "evaluate=null",
                       f"store.uri=file://{tmp_path}/store"])
    assert "instructions" not in refs_in(cfg.train)
    preflight(cfg, PIPELINE_SECTIONS, whole_run=True)  # no "train refers to @instructions"
    store = cfg.store.open()
    for name, section in (("corpus", cfg.corpus), ("english_corpus", cfg.english_corpus)):
        remember(store, "corpus", section, _commit(store, tmp_path, name))
    remember(store, "tiny_base", cfg.tiny_base, _commit(store, tmp_path, "tiny_base"))
    train = resolve_section(cfg, "train")
    assert not refs_in(train) and train.sft.sources == ["@instructions"]  # left as written, unused
    # the same section through the pipeline's substitution: one identity either way
    same = substitute(cfg.train, {"corpus": train.cpt.sources[0], "english_corpus": train.cpt.sources[1],
                                  "tiny_base": train.model.base, "instructions": "file:///i/manifest.json"})
    assert same == train
