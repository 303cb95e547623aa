"""The tokenize stage and CPT reading by global index: same stream as the streaming packer, same shards
on the local and the Ray executor, disjoint rank slices (gloo), exact resume beyond one pass, a run
that cannot fill its steps fails before anything is committed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from llammas_core.corpus.config import ExecutorConfig
from llammas_core.errors import InputError
from llammas_core.store import LocalStore
from llammas_core.train.config import TrainConfig
from llammas_core.train.cpt_data import interleave, iter_texts, pack_blocks
from llammas_core.train.tokenize import BlockSchedule, CPTBlocks, mixture_order, open_blocks, rank_sample, run_tokenize

WORDS = ("tere hommikust kuidas läheb mul läheb hästi aitäh väga ilus ilm täna eesti keel on ilus "
         "ja rikas kõik inimesed sünnivad vabadena").split()


def _et(i: int) -> str:
    return " ".join(WORDS[(i * 5 + k) % len(WORDS)] for k in range(8 + i % 13)) + "."


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    from llammas_core.train.tiny import save_tiny_base

    root = tmp_path_factory.mktemp("tok-kit")
    et = [_et(i) for i in range(90)]
    en = [f"the quick brown fox {i} jumps over the lazy dog" for i in range(40)]
    (root / "et").mkdir()
    for k in range(3):  # three files: three tokenize tasks
        (root / "et" / f"{k}.jsonl").write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                                                           for t in et[k * 30:(k + 1) * 30] + [""]))
    (root / "en.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in en))
    base = save_tiny_base(root / "base", et + en, vocab_size=320, hidden_size=32, layers=1, heads=2, kv_heads=1,
                          intermediate=64, max_position=256)
    return {"root": root, "base": base, "et": str(root / "et"), "en": str(root / "en.jsonl")}


def cfg_for(kit, **cpt) -> TrainConfig:
    return TrainConfig.model_validate({
        "model": {"base": kit["base"], "gradient_checkpointing": False},
        "cpt": {"sources": [kit["et"], kit["en"]], "probabilities": [0.75, 0.25], "block_size": 32, "max_steps": 20,
                **cpt},
        "sft": {"enabled": False},
        "optim": {"lr": 3e-3, "micro_batch_size": 2, "seed": 42},
        "checkpoint": {"every_steps": 5, "keep_last": 2},
        "launch": {"launcher": "python"},
        "telemetry": {"log_every_steps": 1, "report_to": []},
    })


@pytest.fixture(scope="module")
def local(kit, tmp_path_factory):
    root = tmp_path_factory.mktemp("tok-local")
    store = LocalStore(root / "store")
    res = run_tokenize(store, cfg_for(kit), root / "work", print, ExecutorConfig(kind="local", workers=2))
    return {"store": store, "root": root, "result": res}


def test_mixture_order_replays_interleave():
    counts, probs = [37, 11, 5], [0.6, 0.3, 0.1]
    src, doc = mixture_order(counts, probs, seed=7)
    ref = list(interleave([[(0, i) for i in range(37)], [(1, i) for i in range(11)], [(2, i) for i in range(5)]],
                          probs, seed=7))
    assert list(zip(src.tolist(), doc.tolist())) == ref
    assert mixture_order([4], [1.0], 0)[1].tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError):
        mixture_order([3, 0], [0.5, 0.5], 0)


def test_blocks_equal_streaming_packer_and_stage_reused(kit, local):
    from transformers import AutoTokenizer

    res = local["result"]
    m = res.manifest
    blocks = open_blocks(res.manifest_uri, local["root"] / "cache")
    tok = AutoTokenizer.from_pretrained(kit["base"])
    streams = [lambda s=s: iter_texts(s) for s in (kit["et"], kit["en"])]
    ref = list(pack_blocks(interleave(streams, [0.75, 0.25], 42), tok, 32))
    assert [blocks[b].tolist() for b in range(len(blocks))] == ref  # the same stream, never re-tokenized
    assert m["blocks"] == len(ref) > 20 and m["tokens"] == 32 * len(ref) and m["token_dtype"] == "uint16"
    assert [d["documents"] for d in m["documents"]] == [90, 40]  # empty texts skipped
    assert m["tokenizer"]["fingerprint"] in [i["id"] for i in m["inputs"]]
    per_core = m["stats"]["tokens_per_s_per_core"]
    print(f"tokenize: {m['stats']['source_tokens']} tokens, {per_core} tokens/s per core")
    assert per_core and per_core > 0
    # a second run on the same data and tokenizer reuses the shards; another seed is another stage
    again = run_tokenize(local["store"], cfg_for(kit), local["root"] / "work", print)
    assert again.skipped and again.manifest_uri == res.manifest_uri
    other = run_tokenize(local["store"], cfg_for(kit, mixture_seed=3), local["root"] / "work", print)
    assert other.manifest_uri != res.manifest_uri


@pytest.mark.slow
def test_ray_executor_gives_identical_shards(kit, local, tmp_path):
    pytest.importorskip("ray")
    store = LocalStore(tmp_path / "store")
    res = run_tokenize(store, cfg_for(kit), tmp_path / "work", print, ExecutorConfig(kind="ray", workers=2))
    a = {f["path"]: f["sha256"] for f in local["result"].manifest["files"]}
    b = {f["path"]: f["sha256"] for f in res.manifest["files"]}
    assert a == b and res.manifest["key"] == local["result"].manifest["key"]
    assert res.manifest["stats"]["executor"] == "ray"


def test_schedule_passes_and_resume_are_index_arithmetic():
    class Fake:
        block_size = 1

        def __getitem__(self, b):
            return np.array([b])

    n, world, micro, accum, steps = 29, 1, 2, 1, 20
    sched = BlockSchedule(n, seed=5)
    full = CPTBlocks(Fake(), sched, 0, world, micro, start=0, length=steps * micro * accum)
    seq = [int(full[k]["input_ids"][0]) for k in range(steps * micro)]
    assert sorted(seq[:29]) == list(range(29)) and len(set(seq[29:])) == len(seq[29:])  # each pass: no repeats
    assert seq[:29] != list(range(29))  # a permutation per pass ...
    assert seq[29:] == [int(x) for x in np.random.default_rng([5, 1]).permutation(29)[:11]]  # ... seeded (seed, pass)
    for s in (7, 15, 16):  # resuming at any step addresses the same samples, past the end of a pass too
        tail = CPTBlocks(Fake(), BlockSchedule(n, seed=5), 0, world, micro, start=s * micro * accum,
                         length=steps * micro * accum)
        assert [int(tail[k]["input_ids"][0]) for k in range((steps - s) * micro)] == seq[s * micro:]
    assert [rank_sample(k, 1, 2, 2) for k in range(6)] == [2, 3, 6, 7, 10, 11]


def _rank_reader(rank: int, world: int, uri: str, cache: str, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    blocks = open_blocks(uri, cache)
    ds = CPTBlocks(blocks, BlockSchedule(len(blocks), seed=1), rank, world, micro=2, start=0, length=8)
    mine = [(ds.global_index(k), ds[k]["input_ids"].tolist()) for k in range(len(ds))]
    gathered = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        Path(out).write_text(json.dumps(gathered))
    dist.destroy_process_group()


def test_two_ranks_read_disjoint_slices(local, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    out = tmp_path / "gathered.json"
    torch.multiprocessing.spawn(_rank_reader, args=(2, local["result"].manifest_uri, str(tmp_path / "cache"), str(out)),
                                nprocs=2, join=True)
    r0, r1 = json.loads(out.read_text())
    g0, g1 = [g for g, _ in r0], [g for g, _ in r1]
    assert not set(g0) & set(g1) and sorted(g0 + g1) == list(range(16))  # disjoint, together the global prefix
    blocks = open_blocks(local["result"].manifest_uri, tmp_path / "cache")
    sched = BlockSchedule(len(blocks), seed=1)
    for g, ids in r0 + r1:
        assert ids == blocks[sched(g)].tolist()


# ----------------------------------------------------------------------------- the trainer on token blocks


def _losses(path: Path) -> tuple[dict[int, float], dict[int, float]]:
    train, val = {}, {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        (train if "loss" in r else val)[r["step"]] = r.get("loss", r.get("eval_loss"))
    return train, val


class _Crash(Exception):
    pass


def test_resume_after_first_pass_matches_uninterrupted_run(kit, local, tmp_path):
    """The issue's case: 29 training blocks per pass, 20 steps of 2 (1.4 passes), a crash at step 16 right
    after checkpoint-15 (past the end of pass 1), resume: same losses, same validation losses, same weights."""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from llammas_core.train.trainer import train

    uri = local["result"].manifest_uri
    n = local["result"].manifest["blocks"]
    cfg = cfg_for(kit, validation_blocks=n - 29, eval_every_steps=5)

    class CrashAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 16:
                raise _Crash()

    ref = train(cfg, "cpt", tmp_path / "ref", data=uri)
    assert ref["cpt_data"]["train_blocks"] == 29 and ref["cpt_data"]["passes"] > 1.3
    with pytest.raises(_Crash):
        train(cfg, "cpt", tmp_path / "run", data=uri, extra_callbacks=[CrashAt()])
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-15" / "llammas_state.json").read_text())
    assert state["cpt_data"]["samples"] == 30 > 29  # the checkpoint lies past the first pass
    m = train(cfg, "cpt", tmp_path / "run", data=uri)
    assert m["resumed_from_step"] == 15 and m["steps"] == 20 and m["tokens"] == ref["tokens"] == 20 * 2 * 32
    (a, va), (b, vb) = _losses(tmp_path / "ref" / "metrics.jsonl"), _losses(tmp_path / "run" / "metrics.jsonl")
    assert sorted(a) == sorted(b) == list(range(1, 21))
    worst = max(abs(a[s] - b[s]) for s in a)
    assert sorted(va) == [5, 10, 15, 20] and max(abs(va[s] - vb[s]) for s in va) < 1e-5  # validation loss logged
    wa = load_file(tmp_path / "ref" / "model" / "model.safetensors")
    wb = load_file(tmp_path / "run" / "model" / "model.safetensors")
    wdiff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    print(f"resume at step 15 of 20 (pass 2): max |loss diff| {worst:.2e}, max |weight diff| {wdiff:.2e}")
    assert worst < 1e-5 and wdiff < 1e-6
    assert ref["final_eval_loss"] == pytest.approx(va[20]) and (tmp_path / "ref" / "loss.png").stat().st_size > 1000


def test_run_that_cannot_fill_its_steps_fails_and_commits_nothing(kit, local, tmp_path):
    from llammas_core.train.stage import run_cpt

    cfg = cfg_for(kit, max_epochs=1.0, max_steps=400)  # 800 samples from ~60 blocks: 13 passes
    store = local["store"]
    before = {k for k, _ in store.list("cpt/")}
    with pytest.raises(InputError, match="cannot fill 400 steps"):
        run_cpt(store, cfg, local["result"].manifest_uri, tmp_path / "work")
    assert {k for k, _ in store.list("cpt/")} == before  # no manifest, no files


def test_blocks_from_an_s3_store_are_downloaded_once_and_verified(kit, local, tmp_path, s3_endpoint, monkeypatch):
    import uuid

    from llammas_core.store import S3Store

    store = S3Store(f"s3://llammas-test/{uuid.uuid4().hex}", endpoint_url=s3_endpoint)
    res = run_tokenize(store, cfg_for(kit), tmp_path / "work", print, ExecutorConfig(kind="local", workers=2))
    assert res.manifest_uri.startswith("s3://") and res.manifest["key"] == local["result"].manifest["key"]
    remote = open_blocks(res.manifest_uri, tmp_path / "cache")
    here = open_blocks(local["result"].manifest_uri, tmp_path / "cache-local")
    assert str(remote.paths[0]).startswith(str(tmp_path / "cache"))  # a local copy, memory-mapped
    assert [remote[b].tolist() for b in range(len(remote))] == [here[b].tolist() for b in range(len(here))]
    shard = remote.paths[0]
    shard.write_bytes(b"\0" * shard.stat().st_size)  # a corrupted cached copy is detected and fetched again
    again = open_blocks(res.manifest_uri, tmp_path / "cache")
    assert again[0].tolist() == here[0].tolist()


def test_extended_vocabulary_flows_into_tokenize_and_cpt(kit, tmp_path):
    """model.extend_vocab: the vocab stage extends the base once; tokenize uses its tokenizer (fewer tokens
    for the same Estonian documents), CPT trains from its model, and both reuse the one vocab stage."""
    from llammas_core.train.stage import run_cpt

    store = LocalStore(tmp_path / "store")
    plain = run_tokenize(store, cfg_for(kit, probabilities=[1.0], sources=[kit["et"]]), tmp_path / "work", print,
                         ExecutorConfig(kind="local", workers=1))
    cfg = cfg_for(kit, probabilities=[1.0], sources=[kit["et"]], max_steps=4)
    cfg.model.extend_vocab = cfg.model.extend_vocab.model_copy(update={"enabled": True, "k": 40, "min_frequency": 1,
                                                                       "tokenizer_vocab_size": 400})
    extended = run_tokenize(store, cfg, tmp_path / "work", print, ExecutorConfig(kind="local", workers=1))
    manifests = [k for k, _ in store.list("vocab") if k.endswith("/manifest.json")]
    assert len(manifests) == 1
    vocab = store.read_json(manifests[0])
    assert vocab["vocab"]["new_token_ids"] and vocab["vocab"]["fertility_after"] < vocab["vocab"]["fertility_before"]
    assert extended.manifest["tokenizer"] != plain.manifest["tokenizer"]
    assert extended.manifest["tokens"] < plain.manifest["tokens"]
    cpt = run_cpt(store, cfg, extended.manifest_uri, tmp_path / "work", print)
    assert vocab["id"] in [i["id"] for i in cpt.manifest["inputs"]]
    assert [k for k, _ in store.list("vocab") if k.endswith("/manifest.json")] == manifests  # reused, not redone
