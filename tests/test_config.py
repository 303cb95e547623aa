"""Configs load, validate and take `--set` overrides; mistakes are clear ConfigErrors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llammas_core.config import load_config
from llammas_core.corpus.config import default_filters
from llammas_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["demo.yaml", "llammas-et.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "configs" / name)
    assert cfg.corpus.language == "et" and cfg.train.cpt.probabilities == [0.75, 0.25]


def test_paper_scale_recipe():
    t = load_config(REPO / "configs" / "llammas-et.yaml").train
    assert (t.cpt.block_size, t.cpt.max_tokens) == (1024, 5_000_000_000)
    assert (t.cpt.optim.lr, t.cpt.optim.min_lr, t.cpt.optim.weight_decay) == (2e-5, 2e-6, 0.1)
    assert (t.sft.epochs, t.sft.optim.global_batch_size) == (3, 128)


def test_overrides_and_errors(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.yaml",
                      ["corpus.executor.tasks=7", "corpus.sources.1.paths=[a, b]", "store.uri=s3://b/p"])
    assert cfg.corpus.executor.tasks == 7 and cfg.corpus.sources[1].paths == ["a", "b"]
    assert cfg.store.uri == "s3://b/p"
    with pytest.raises(ConfigError, match="corpus.executor.kind"):
        load_config(REPO / "configs" / "demo.yaml", ["corpus.executor.kind=spark"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(REPO / "configs" / "demo.yaml", ["oops"])
    (tmp_path / "bad.yaml").write_text("corpus: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_estonian_filter_defaults_are_fineweb2():
    f = default_filters("et")
    assert f.gopher_repetition.dup_line_frac == 0.363 and f.fineweb_quality.line_punct_thr == 0.143
    assert "ning" in f.gopher_quality.stop_words and not f.c4.enabled
    assert default_filters("fi").gopher_repetition.dup_line_frac == 0.3  # datatrove's defaults elsewhere


@pytest.mark.parametrize("override, message", [
    # defect 8: a typo'd key gets a suggestion; a bad --set value names the --set, not a YAML parser state
    ("train.cpt.max_step=3", r"--set 'train\.cpt\.max_step=3': train\.cpt\.max_step: unknown key \(did you mean `max_steps`\?\)"),
    ("corpus.sources.0.pahts=[a]", r"corpus\.sources\.0\.pahts: unknown key \(did you mean `paths`\?\)"),
    ("corpus.executor.tasks=[1,", r"^--set 'corpus\.executor\.tasks=\[1,': the value is not valid YAML"),
    ("train.cpt.max_steps=abc", r"^--set 'train\.cpt\.max_steps=abc': train\.cpt\.max_steps: Input should be a valid integer"),
])
def test_config_errors_suggest_keys_and_name_the_set(override, message):
    from llammas_core.config import load_config
    from llammas_core.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "configs" / "demo.yaml", [override])


def test_a_typo_in_the_file_gets_a_suggestion_too(tmp_path):
    from llammas_core.config import load_config
    from llammas_core.errors import ConfigError

    f = tmp_path / "c.yaml"
    f.write_text((REPO / "configs" / "demo.yaml").read_text().replace("max_steps: 30", "max_stepz: 30"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(f))}: train\.cpt\.max_stepz: unknown key \(did you mean `max_steps`\?\)"):
        load_config(f)
