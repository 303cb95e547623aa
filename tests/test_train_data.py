"""Training data: CPT streaming/mixing/packing/resume, SFT chat encoding and labels, packing-free
batches (loss identical to unpacked), tiny offline base model."""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
import torch

from llammas_core.errors import ConfigError, InputError
from llammas_core.stage import run_stage
from llammas_core.store import LocalStore
from llammas_core.train.batching import PaddedCollator, PaddingFreeCollator, TokenBudgetBatchSampler, pack_by_tokens
from llammas_core.train.cpt_data import interleave, iter_texts, pack_blocks
from llammas_core.train.sft_data import (
    DEFAULT_CHAT_TEMPLATE,
    IGNORE_INDEX,
    SFTDataset,
    SFTStats,
    encode_chat,
    load_chat_records,
    prepare_tokenizer,
)
from llammas_core.train.tiny import save_tiny_base, tiny_llama, train_tokenizer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

ET = ["Tere hommikust, kuidas läheb?", "Eesti keel on ilus ja huvitav.", "Tartu on ülikoolilinn.",
      "Ilm on täna päikeseline ning soe.", "Mul on kaks kassi ja üks koer."]
EN = ["Good morning, how are you?", "The weather is sunny today.", "I have two cats and a dog.",
      "Tartu is a university town.", "Language models learn from text."]


def corpus(n: int, base: list[str], tag: str) -> list[str]:
    return [f"{base[i % len(base)]} {tag}{i}." for i in range(n)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(corpus(300, ET, "et") + corpus(300, EN, "en"), vocab_size=400)


# --------------------------------------------------------------------------- CPT


def test_interleave_ratio_all_exhausted_deterministic():
    a = [f"a{i}" for i in range(1500)]
    b = [f"b{i}" for i in range(200)]
    out = list(interleave([a, b], [0.75, 0.25], seed=42))
    counts = Counter(x[0] for x in out)
    ratio = counts["a"] / len(out)
    assert 0.72 < ratio < 0.78, ratio
    seen = Counter(out)
    assert all(seen[x] == 1 for x in a)          # the big stream is exhausted exactly once ...
    assert all(seen[x] >= 1 for x in b)          # ... the small one at least once (restarted)
    assert seen["b0"] > 1
    assert out[-1] == "a1499"                    # stops right after the last stream ends
    # callables (restartable sources) give the same stream; seed fixes it
    assert list(interleave([lambda: iter(a), lambda: iter(b)], [0.75, 0.25], seed=42)) == out
    assert list(interleave([a, b], [0.75, 0.25], seed=7)) != out
    with pytest.raises(ConfigError):  # a one-shot generator cannot restart
        list(interleave([iter(a), iter(b)], [0.75, 0.25], seed=42))
    with pytest.raises(ConfigError):
        interleave([a, b], [1.0, 0.0], seed=1)


def test_interleave_matches_datasets():
    datasets = pytest.importorskip("datasets")

    def gen(xs):
        def g():
            for x in xs:
                yield {"text": x}
        return g

    for seed, sizes, probs in [(42, (150, 20), [0.75, 0.25]), (7, (300, 30, 1), [0.75, 0.2, 0.05])]:
        streams = [[f"{k}{i}" for i in range(n)] for k, n in zip("abc", sizes)]
        ref = datasets.interleave_datasets(
            [datasets.IterableDataset.from_generator(gen(s)) for s in streams],
            probabilities=probs, seed=seed, stopping_strategy="all_exhausted",
        )
        assert list(interleave(streams, probs, seed)) == [r["text"] for r in ref]


def test_pack_blocks_eos_between_docs_fixed_blocks_tail_dropped(tok):
    docs = corpus(40, ET, "d")
    pulled = []

    def stream():  # a generator: packing must stream it, not list it
        for d in docs:
            pulled.append(d)
            yield d

    blocks = pack_blocks(stream(), tok, 16, batch_size=4)
    first = next(blocks)
    assert len(pulled) <= 8  # lazily consumed
    blocks = [first] + list(blocks)
    expected = []
    for d in docs:
        expected += tok(d)["input_ids"] + [tok.eos_token_id]
    assert expected[0] == tok.bos_token_id and tok(docs[0])["input_ids"][-1] != tok.eos_token_id
    assert all(len(b) == 16 for b in blocks)
    assert len(blocks) == len(expected) // 16 and len(expected) % 16  # the tail really is dropped
    assert sum(blocks, []) == expected[: len(blocks) * 16]
    flat = sum(blocks, [])
    eos_at = [i for i, t in enumerate(flat) if t == tok.eos_token_id]
    assert all(flat[i + 1] == tok.bos_token_id for i in eos_at if i + 1 < len(flat))  # EOS then next doc's BOS
    assert len(eos_at) >= 30


def write_jsonl(path: Path, texts: list[str], gz: bool = False) -> str:
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "id": len(t)}) + "\n")
    return str(path)


def write_corpus_stage(store, tmp_path, shards: list[list[str]]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def body(ctx):
        (ctx.out_dir / "data").mkdir()
        for i, texts in enumerate(shards):
            table = pa.table({"text": texts, "lang": ["et"] * len(texts)})
            pq.write_table(table, ctx.out_dir / "data" / f"{i:05d}.parquet", row_group_size=3)
        (ctx.out_dir / "stats.json").write_text("{}")
        return {"documents": sum(map(len, shards))}

    return run_stage(store, "corpus", {"t": uuid.uuid4().hex}, [], body, tmp_path / "work").manifest_uri


def test_iter_texts_corpus_manifest(tmp_path):
    shards = [corpus(7, ET, "a"), corpus(5, EN, "b") + [""]]  # the empty text is skipped
    uri = write_corpus_stage(LocalStore(tmp_path / "store"), tmp_path, shards)
    want = shards[0] + shards[1][:-1]
    assert uri.startswith("file://") and uri.endswith("/manifest.json")
    assert list(iter_texts(uri)) == want
    assert list(iter_texts(uri.rsplit("/", 1)[0])) == want                       # stage folder URI
    folder = Path(uri.removeprefix("file://")).parent
    assert list(iter_texts(str(folder / "data"))) == want                        # plain folder
    assert list(iter_texts(str(folder / "data" / "00001.parquet"))) == shards[1][:-1]

    with pytest.raises(InputError):
        iter_texts(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        iter_texts(str(tmp_path / "empty"))
    with pytest.raises(InputError):  # no such column
        list(iter_texts(uri, text_field="content"))


def test_iter_texts_s3_manifest(tmp_path, s3_endpoint, monkeypatch):
    from llammas_core.store import S3Store

    store = S3Store(f"s3://llammas-test/{uuid.uuid4().hex}", endpoint_url=s3_endpoint)
    shards = [corpus(4, ET, "s"), corpus(3, EN, "t")]
    uri = write_corpus_stage(store, tmp_path, shards)
    assert uri.startswith("s3://")
    assert list(iter_texts(uri)) == shards[0] + shards[1]
    assert list(iter_texts(uri.rsplit("/", 1)[0])) == shards[0] + shards[1]


# --------------------------------------------------------------------------- SFT


def test_alpaca_conversion_on_kit_file():
    path = SHARED_DATA / "alpaca" / "alpaca_5000.json"
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is optional)")
    raw = json.loads(path.read_text())
    stats = SFTStats()
    recs = list(load_chat_records(str(path), stats))
    no_output = sum(1 for r in raw if not r["output"].strip())
    assert stats.records_read == len(raw) == 5000
    assert stats.dropped_no_assistant == no_output and len(recs) == len(raw) - no_output
    with_input = next(r for r in raw if r["input"].strip() and r["output"].strip())
    conv = next(c for c in recs if c["messages"][0]["content"].startswith(with_input["instruction"].strip()))
    assert conv["messages"] == [
        {"role": "user", "content": with_input["instruction"].strip() + "\n\n" + with_input["input"].strip()},
        {"role": "assistant", "content": with_input["output"].strip()},
    ]
    no_input = next(r for r in raw if not r["input"].strip() and r["output"].strip())
    conv = next(c for c in recs if c["messages"][1]["content"] == no_input["output"].strip())
    assert conv["messages"][0]["content"] == no_input["instruction"].strip()


def label_runs(ex: dict) -> list[list[int]]:
    runs, cur = [], []
    for lab in ex["labels"]:
        if lab == IGNORE_INDEX:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(lab)
    return runs + ([cur] if cur else [])


def test_sft_labels_only_assistant_and_eos(tok):
    msgs = [
        {"role": "system", "content": "Ole abivalmis assistent."},
        {"role": "user", "content": "Tere! Kuidas läheb?"},
        {"role": "assistant", "content": "Tere, mul läheb hästi."},
        {"role": "user", "content": "Mis on Tartu?"},
        {"role": "assistant", "content": " Tartu on ülikoolilinn.\n"},
        {"role": "user", "content": "trailing question without answer"},
    ]
    ex = encode_chat({"messages": msgs}, tok, 512)
    assert len(ex["input_ids"]) == len(ex["labels"])
    runs = label_runs(ex)
    eos = tok.eos_token
    assert [tok.decode(r) for r in runs] == [msgs[2]["content"] + eos, msgs[4]["content"] + eos]
    assert all(r[-1] == tok.eos_token_id for r in runs)
    # labelled tokens are exactly the input tokens at those positions
    assert all(lab in (IGNORE_INDEX, i) for lab, i in zip(ex["labels"], ex["input_ids"]))
    # the prompt part equals what inference feeds (apply_chat_template + generation prompt)
    prompt = tok.apply_chat_template(msgs[:4], add_generation_prompt=True, tokenize=False)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert ex["input_ids"][: len(prompt_ids)] == prompt_ids
    text = tok.decode(ex["input_ids"])
    assert text.startswith("<s><|system|>\n") and "<|user|>\nTere! Kuidas läheb?\n<|assistant|>\nTere" in text
    assert "trailing question" not in text  # turns after the last answer carry no loss: dropped
    # single turn
    one = encode_chat({"messages": msgs[1:3]}, tok, 512)
    assert [tok.decode(r) for r in label_runs(one)] == [msgs[2]["content"] + eos]


def test_sft_overflow_and_skips_counted(tok, tmp_path):
    long = {"messages": [{"role": "user", "content": "Küsimus?"}, {"role": "assistant", "content": "pikk vastus " * 40}]}
    stats = SFTStats()
    full = encode_chat(long, tok, 4096, stats=stats)
    n = len(full["input_ids"])
    cut = encode_chat(long, tok, n - 10, "truncate", stats)
    assert len(cut["input_ids"]) == n - 10 and cut["input_ids"] == full["input_ids"][: n - 10]
    assert encode_chat(long, tok, n - 10, "drop", stats) is None
    assert encode_chat(long, tok, 5, "truncate", stats) is None  # only prompt left
    assert encode_chat({"messages": [{"role": "user", "content": "x"}]}, tok, 64, stats=stats) is None
    assert (stats.kept, stats.truncated, stats.dropped_too_long, stats.dropped_no_label_after_truncation,
            stats.dropped_no_assistant) == (2, 1, 1, 1, 1)
    with pytest.raises(ConfigError):
        encode_chat(long, tok, 64, overflow="wrap")

    path = tmp_path / "chat.jsonl"
    rows = [
        long,
        {"instruction": "Tõlgi inglise keelde", "input": "Tere", "output": "Hello", "lang": "et"},
        {"messages": [{"role": "user", "content": "no answer"}]},
        {"instruction": "Empty output", "input": "", "output": "  "},
        {"foo": "bar"},
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = SFTDataset.from_source(str(path), tok, max_length=48, overflow="truncate")
    s = ds.stats
    assert (s.records_read, s.dropped_no_assistant, s.dropped_invalid, s.kept, s.truncated) == (6, 2, 1, 3, 1)
    assert len(ds) == 3 and max(ds.lengths) == 48
    item = ds[1]
    assert item["input_ids"].dtype == torch.long and item["labels"].shape == item["input_ids"].shape
    assert tok.decode([t for t in item["labels"].tolist() if t != IGNORE_INDEX]) == "Hello" + tok.eos_token
    loader = torch.utils.data.DataLoader(ds, batch_sampler=TokenBudgetBatchSampler(ds.lengths, 64, seed=0),
                                         collate_fn=PaddingFreeCollator())
    batches = list(loader)
    assert sum(b["input_ids"].shape[1] for b in batches) == sum(ds.lengths)
    assert all(b["input_ids"].shape[1] <= 64 and b["use_cache"] is False for b in batches)
    none = tmp_path / "none.json"
    none.write_text(json.dumps([{"messages": [{"role": "user", "content": "q"}]}]))
    with pytest.raises(InputError):
        list(load_chat_records(str(none)))


def test_prepare_tokenizer_pad_eos_template(tok, tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    backend = tok.backend_tokenizer
    same = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    assert same.chat_template is None and same.pad_token_id == same.eos_token_id
    same, added = prepare_tokenizer(same)
    assert added == 0  # "<pad>" is already in this vocabulary, it only becomes the pad token
    assert same.pad_token == "<pad>" and same.pad_token_id != same.eos_token_id
    assert same.chat_template == DEFAULT_CHAT_TEMPLATE

    # a vocabulary without "<pad>" (like Llama-2's): one token is added, embeddings must grow
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer, raw.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    raw.train_from_iterator(corpus(50, EN, "x"), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    bare = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>")
    n_before = len(bare)
    model = tiny_llama(bare, layers=1)
    free, added = prepare_tokenizer(PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>"),
                                    need_pad=False)  # padding-free SFT: no pad needed, nothing added
    assert added == 0 and free.pad_token is None and len(free) == n_before
    bare, added = prepare_tokenizer(bare, chat_template="{{ messages[0]['content'] }}")
    assert added == 1 and len(bare) == n_before + 1  # no unk, no reserved token: "<pad>" is the last resort
    assert bare.chat_template == "{{ messages[0]['content'] }}"  # an explicit template wins
    assert bare.pad_token == "<pad>" and bare.pad_token_id not in (None, bare.eos_token_id)
    from llammas_core.train.trainer import grow_embeddings

    bare.chat_template = DEFAULT_CHAT_TEMPLATE  # stop ids come from the template (the one above drops replies)
    rows = model.get_input_embeddings().weight.shape[0]
    grown = grow_embeddings(model, bare)
    size = model.get_input_embeddings().weight.shape[0]
    assert size % 64 == 0 and size >= len(bare) and grown == size - rows  # a multiple of 64, never vocab+1
    assert size == model.lm_head.weight.shape[0] and model.config.pad_token_id == bare.pad_token_id
    assert grow_embeddings(model, bare) == 0

    # Llama-2-like: <unk> but no pad (32000 ids): the pad reuses <unk>, the vocabulary does not grow
    raw2 = Tokenizer(models.BPE(unk_token="<unk>"))
    raw2.pre_tokenizer, raw2.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    raw2.train_from_iterator(corpus(50, EN, "x"), trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    llama = PreTrainedTokenizerFast(tokenizer_object=raw2, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    n_llama = len(llama)
    llama_model = tiny_llama(llama, layers=1)
    llama, added = prepare_tokenizer(llama)
    assert added == 0 and llama.pad_token == "<unk>" and len(llama) == n_llama
    assert grow_embeddings(llama_model, llama) == 0 and llama_model.get_input_embeddings().weight.shape[0] == n_llama

    no_eos = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>")
    assert no_eos.eos_token is None
    with pytest.raises(ConfigError, match="EOS"):
        prepare_tokenizer(no_eos)

    same.save_pretrained(tmp_path / "tok")
    again = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert again.chat_template == DEFAULT_CHAT_TEMPLATE and again.pad_token == "<pad>"


def sum_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    lg, lb = logits[:, :-1].float(), labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1),
                                             ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((lb != IGNORE_INDEX).sum())


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_equals_unpacked(tok, attn):
    recs = [
        {"messages": [{"role": "user", "content": f"Küsimus {i}? " * (i + 1)},
                      {"role": "assistant", "content": f"Vastus {i}. " * (2 * i + 1)},
                      {"role": "user", "content": "Ja veel?"},
                      {"role": "assistant", "content": "Jah." * (i + 1)}]}
        for i in range(4)
    ]
    exs = [encode_chat(r, tok, 512) for r in recs]
    model = tiny_llama(tok, attn_implementation=attn).float()
    model.train()  # dropout is 0; the training-mode path is the one that matters
    assert model.config.use_cache  # the default that silently breaks packing without the collator's flag

    batch = PaddingFreeCollator()(exs)
    lens = [len(e["input_ids"]) for e in exs]
    assert batch["input_ids"].shape == (1, sum(lens)) and "attention_mask" not in batch
    starts = torch.tensor([0] + lens[:-1]).cumsum(0)
    assert (batch["position_ids"][0, starts] == 0).all() and (batch["labels"][0, starts] == IGNORE_INDEX).all()

    with torch.no_grad():
        out = model(**batch)
        packed, n_packed = sum_token_loss(out.logits, batch["labels"])
        sep, n_sep, sep_logits = torch.zeros(()), 0, []
        for e in exs:
            o = model(input_ids=torch.tensor([e["input_ids"]]), use_cache=False)
            loss, n = sum_token_loss(o.logits, torch.tensor([e["labels"]]))
            sep, n_sep = sep + loss, n_sep + n
            sep_logits.append(o.logits[0])
        sep_logits = torch.cat(sep_logits)
        padded = PaddedCollator(tok)(exs)
        o = model(**{k: v for k, v in padded.items() if k != "labels"}, use_cache=False)
        pad_loss, n_pad = sum_token_loss(o.logits, padded["labels"])
        naive = model(input_ids=batch["input_ids"], use_cache=False)  # packed, no position ids

    assert n_packed == n_sep == n_pad > 50
    assert torch.allclose(packed, sep, rtol=1e-5), (packed.item(), sep.item())
    assert torch.allclose(pad_loss, sep, rtol=1e-5)
    assert torch.allclose(out.loss * n_packed, sep, rtol=1e-5)  # HF's mean loss over the same tokens
    # token by token: packed logits equal the separate ones; without position_ids (naive packing)
    # later sequences see earlier ones and their logits move
    assert (out.logits[0] - sep_logits).abs().max() < 1e-4
    assert (naive.logits[0, lens[0]:] - sep_logits[lens[0]:]).abs().max() > 1e-2


def test_pack_by_tokens_and_sampler():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(5, 300) for _ in range(500)] + [700]
    packs = pack_by_tokens(lengths, 512)
    flat = sorted(i for p in packs for i in p)
    assert flat == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 512 for p in packs if len(p) > 1)
    assert [500] in packs  # the oversized example alone
    lower = -(-sum(lengths[:500]) // 512)
    assert len(packs) - 1 <= lower + 2  # FFD is near-optimal here
    assert pack_by_tokens(lengths, 512) == packs

    s = TokenBudgetBatchSampler(lengths, 512, seed=1)
    e0 = list(s)
    assert list(s) == e0 and len(e0) == len(s) == len(packs)
    s.set_epoch(1)
    assert list(s) != e0 and sorted(map(tuple, list(s))) == sorted(map(tuple, e0))
    r = [list(TokenBudgetBatchSampler(lengths, 512, seed=1, num_replicas=2, rank=k)) for k in (0, 1)]
    assert len(r[0]) == len(r[1]) == len(packs) // 2
    assert not {tuple(p) for p in r[0]} & {tuple(p) for p in r[1]}


def test_tiny_base_roundtrip(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = save_tiny_base(tmp_path / "base", corpus(100, ET, "z") + corpus(100, EN, "y"), vocab_size=320, layers=1)
    files = {p.name for p in Path(out).iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= files
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE
    assert tok.pad_token == "<pad>" and tok.pad_token_id != tok.eos_token_id
    ids = tok("Tere maailm")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] != tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Tere maailm"
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert model.config.pad_token_id == tok.pad_token_id and model.config.eos_token_id == tok.eos_token_id
    _, added = prepare_tokenizer(tok)
    assert added == 0
    chat = tok.apply_chat_template([{"role": "user", "content": "Tere"}], add_generation_prompt=True, tokenize=False)
    assert chat == "<s><|user|>\nTere\n<|assistant|>\n"
