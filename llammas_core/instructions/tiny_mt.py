"""Tiny MarianMT translation models built offline, for tests, the demo and benchmarks.

`build_tiny_marian` trains a SentencePiece model on the given texts (seconds), builds a
random-init MarianMTModel around it and saves both with save_pretrained, so the real
`hf_seq2seq` backend loads it exactly like an OPUS-MT checkpoint (MarianTokenizer reads
source.spm / target.spm / vocab.json). Its translations are meaningless, but by default it stops:
a bias on its EOS logit is calibrated (tiny_mt_eos) so greedy output is about as long as the source
(`eos_ratio=None` builds one that never stops, for tests of truncation).

Vocabulary layout follows OPUS-MT: `</s>`=0, `<unk>`=1, then the SentencePiece pieces, and
`<pad>` as the LAST id. CTranslate2's Marian converter drops a trailing `<pad>` (Marian starts
the decoder from a zero embedding instead), so a vocab with `<pad>` elsewhere would not convert.
`<pad>` is also listed in bad_words_ids (as in OPUS-MT's generation config) so HF never emits
it and greedy output equals CTranslate2's.

`convert_to_ctranslate2` runs CTranslate2's own TransformersConverter on such a folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

from llammas_core.errors import ConfigError
from llammas_core.threads import model_lock

__all__ = ["build_tiny_marian", "build_tiny_m2m100", "build_tiny_nllb", "convert_to_ctranslate2", "MARIAN_SHAPES"]

# Named shapes: "tiny" for unit tests, "small"/"base" for CPU benchmarks, "big" ~ OPUS-MT big.
MARIAN_SHAPES: dict[str, dict] = {
    "tiny": dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                 decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128),
    "small": dict(d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                 decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048),
    "big": dict(d_model=1024, encoder_layers=6, decoder_layers=6, encoder_attention_heads=16,
                decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096),
    # NLLB-200-distilled-600M's dimensions (12+12 layers, d 1024, ffn 4096, vocab 256,206) in Marian
    # form: the same matmul cost per token, for GPU throughput projections (use pad_vocab_to=256206)
    "nllb-600m": dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                      decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096),
}


def _train_spm(texts: Iterable[str], model_prefix: Path, vocab_size: int) -> Path:
    import sentencepiece as spm

    lines = [" ".join(t.split()) for t in texts if t and t.strip()]
    if not lines:
        raise ConfigError("build_tiny_marian needs some non-empty texts to train SentencePiece on")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,  # small corpora may not support vocab_size pieces
        eos_id=0, unk_id=1, bos_id=-1, pad_id=-1,  # OPUS-MT layout: </s>=0, <unk>=1
        byte_fallback=False,
        minloglevel=2,
        num_threads=1,
    )
    return model_prefix.with_suffix(".model")


def build_tiny_marian(
    texts_src: Iterable[str],
    texts_tgt: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 1000,
    shape: str | dict = "tiny",
    max_position: int = 512,
    seed: int = 0,
    init_std: float = 0.3,
    pad_vocab_to: int | None = None,
    src_lang: str = "en",
    tgt_lang: str = "et",
    eos_ratio: float | None = 1.0,
) -> Path:
    """Train a shared SentencePiece model on texts_src + texts_tgt, build a random-init
    MarianMTModel of `shape` (a MARIAN_SHAPES name or a dict of MarianConfig fields), save
    model + tokenizer to out_dir with save_pretrained. Returns out_dir.
    pad_vocab_to: add never-produced filler tokens so the vocabulary (and the output softmax)
    has a real model's size, for benchmarks; <pad> stays last.
    eos_ratio: calibrate the EOS bias on texts_src for this median output/source token ratio (None: none)."""
    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims = MARIAN_SHAPES[shape] if isinstance(shape, str) else dict(shape)
    texts_src = list(texts_src)
    with tempfile.TemporaryDirectory() as tmp:
        texts = texts_src + list(texts_tgt)
        spm_path = _train_spm(texts, Path(tmp) / "spm", vocab_size)
        sp = spm.SentencePieceProcessor(model_file=str(spm_path))
        vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
        for i in range(len(vocab), (pad_vocab_to or 0) - 1):
            vocab[f"<unused{i}>"] = i
        vocab["<pad>"] = len(vocab)  # last id: see module docstring
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        shutil.copy(spm_path, Path(tmp) / "source.spm")
        shutil.copy(spm_path, Path(tmp) / "target.spm")
        with warnings.catch_warnings():  # Marian's optional punctuation normaliser (sacremoses)
            warnings.filterwarnings("ignore", message=".*sacremoses.*")
            tokenizer = MarianTokenizer(
                source_spm=str(Path(tmp) / "source.spm"),
                target_spm=str(Path(tmp) / "target.spm"),
                vocab=str(Path(tmp) / "vocab.json"),
                source_lang=src_lang,
                target_lang=tgt_lang,
            )
        tokenizer.save_pretrained(out)
    pad_id, eos_id = vocab["<pad>"], vocab["</s>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        max_position_embeddings=max_position,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        decoder_start_token_id=pad_id,
        forced_eos_token_id=None,
        share_encoder_decoder_embeddings=True,
        scale_embedding=True,
        activation_function="swish",
        init_std=init_std,  # larger than the usual 0.02 so random outputs depend on the input
        **dims,
    )
    with model_lock(), torch.random.fork_rng(devices=[]):  # the seed owns the generator (llammas_core.threads)
        torch.manual_seed(seed)
        model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        decoder_start_token_id=pad_id,
        bad_words_ids=[[pad_id]],
        num_beams=1,
        min_new_tokens=1,  # as CTranslate2 (min_decoding_length=1): an EOS-calibrated model never answers ""
    )
    if eos_ratio is not None:
        from llammas_core.instructions.tiny_mt_eos import calibrate_eos

        calibrate_eos(model, tokenizer, texts_src or texts, ratio=eos_ratio)
    model.save_pretrained(out)
    return out


def convert_to_ctranslate2(model_dir: str | Path, out_dir: str | Path, quantization: str | None = None,
                           force: bool = True) -> Path:
    """Convert a transformers seq2seq folder (e.g. from build_tiny_marian, or an OPUS-MT/NLLB
    checkpoint on disk) into a CTranslate2 model folder with CTranslate2's converter.
    quantization: None (float32 weights; pick compute_type at load time), "int8", "float16", ...
    The tokenizer files are copied along so the ctranslate2 backend needs only this folder."""
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:  # pragma: no cover - ctranslate2 is a project dependency
        raise ConfigError("converting to CTranslate2 needs the 'ctranslate2' package") from exc
    model_dir, out = Path(model_dir), Path(out_dir)
    copy = [p.name for p in model_dir.iterdir()
            if p.is_file() and (p.suffix in {".spm", ".model"} or p.name in {
                "vocab.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                "sentencepiece.bpe.model", "generation_config.json"})]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sacremoses.*")
        TransformersConverter(str(model_dir), copy_files=copy, load_as_float16=False).convert(
            str(out), quantization=quantization, force=force)
    return out


def build_tiny_m2m100(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 1000, seed: int = 0,
                      init_std: float = 0.3, eos_ratio: float | None = 1.0) -> Path:
    """A random-init M2M100ForConditionalGeneration with an M2M100Tokenizer (SentencePiece trained on
    `texts`, fairseq layout <s>=0 <pad>=1 </s>=2 <unk>=3, then the pieces, then the `__xx__` language
    tokens): tests the forced-BOS language handling that M2M100 and NLLB-200 share.
    Not convertible to CTranslate2 as is: under transformers 5 the M2M100Tokenizer no longer lists its
    language tokens in special_tokens_map, which CTranslate2's M2M100 loader reads for the vocabulary."""
    import sentencepiece as spm
    from transformers import M2M100Tokenizer

    out, texts = Path(out_dir), list(texts)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spm_path = _train_spm(texts, Path(tmp) / "spm", vocab_size)
        sp = spm.SentencePieceProcessor(model_file=str(spm_path))
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in vocab:
                vocab[piece] = len(vocab)
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        shutil.copy(spm_path, Path(tmp) / "sentencepiece.bpe.model")
        tokenizer = M2M100Tokenizer(vocab_file=str(Path(tmp) / "vocab.json"),
                                    spm_file=str(Path(tmp) / "sentencepiece.bpe.model"), src_lang="en", tgt_lang="et")
        tokenizer.save_pretrained(out)
    # ids: the pieces, then the 100 `__xx__` language tokens, then fairseq's made-up words
    n_vocab = tokenizer.encoder_size + len(tokenizer.lang_code_to_id) + tokenizer.num_madeup_words
    return _save_random_m2m100(n_vocab, out, seed, init_std, tokenizer, texts, eos_ratio)


def build_tiny_nllb(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 1000, seed: int = 0,
                    init_std: float = 0.3, eos_ratio: float | None = 1.0) -> Path:
    """A random-init NLLB-200-style model: M2M100ForConditionalGeneration with an NllbTokenizer (a
    Metaspace BPE trained on `texts` with `tokenizers`, <s>=0 <pad>=1 </s>=2 <unk>=3, plus NLLB's
    202 language tokens such as est_Latn). Converts with CTranslate2 like a real NLLB checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import NllbTokenizer

    out, texts = Path(out_dir), list(texts)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bpe.train_from_iterator([t for t in texts if t], trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False))
    model_json = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    tokenizer = NllbTokenizer(vocab=model_json["vocab"], merges=merges, src_lang="eng_Latn", tgt_lang="est_Latn")
    tokenizer.save_pretrained(out)
    return _save_random_m2m100(len(tokenizer), out, seed, init_std, tokenizer, texts, eos_ratio)


def _save_random_m2m100(vocab_size: int, out: Path, seed: int, init_std: float, tokenizer, texts: list[str],
                        eos_ratio: float | None) -> Path:
    """A 2+2-layer, 64-wide random M2M100 (the NLLB architecture too) saved beside its tokenizer, its EOS
    bias calibrated for `eos_ratio` (translating into the tokenizer's tgt_lang) unless None. The lm_head is
    untied from the embeddings so one hidden unit can carry that bias (see tiny_mt_eos)."""
    import torch
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration

    config = M2M100Config(
        vocab_size=vocab_size, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=512,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, init_std=init_std,
        scale_embedding=True, tie_word_embeddings=False,
    )
    with model_lock(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = M2M100ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                               decoder_start_token_id=2, num_beams=1)
    if eos_ratio is not None:
        from llammas_core.instructions.tiny_mt_eos import calibrate_eos, reserve_eos_unit

        reserve_eos_unit(model)
        calibrate_eos(model, tokenizer, [t for t in texts if t], ratio=eos_ratio,
                      forced_bos=tokenizer.convert_tokens_to_ids(tokenizer.tgt_lang))
    model.save_pretrained(out)
    return out
