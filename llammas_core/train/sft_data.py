"""Instruction-tuning data: chat records, the Llammas chat template, assistant-only labels.

Format (Llammas / Tulu style):

    <s><|system|>\\n{system}\\n<|user|>\\n{user}\\n<|assistant|>\\n{answer}</s>\\n<|user|>\\n...

Loss only on assistant tokens: each assistant turn's content and the EOS that closes it.

Labels are found in character space, which works for any prefix-stable chat template (the
tokenizer's own one too, no `{% generation %}` markers needed): for each assistant turn the
conversation is rendered up to the turn with the generation prompt and up to the end of the turn;
the characters in between are the assistant span. The whole conversation is then tokenized once
(`add_special_tokens=False`, as `apply_chat_template` does) with offsets, and a token is labelled
when it starts inside an assistant span. Tokenizers without offsets (non-fast) fall back to
tokenizing the prompt / assistant segments separately.

Collators and token-budget batching of the encoded examples: llammas_core.train.batching.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from llammas_core.errors import ConfigError, InputError
from llammas_core.train.cpt_data import iter_records

CHAT_EXTS = (".json", ".jsonl", ".jsonl.gz", ".parquet")
IGNORE_INDEX = -100
PAD_TOKEN = "<pad>"

# Llammas chat format as a Jinja template. Messages are joined by "\n"; every assistant turn ends
# with eos_token; the generation prompt is "<|assistant|>\n". BOS is written by the template
# (apply_chat_template tokenizes with add_special_tokens=False) when the tokenizer has one.
DEFAULT_CHAT_TEMPLATE = (
    "{%- if bos_token %}{{ bos_token }}{% endif -%}"
    "{%- for message in messages -%}"
    "{%- if not loop.first %}{{ '\\n' }}{% endif -%}"
    "{%- if message['role'] == 'system' -%}"
    "{{ '<|system|>\\n' + message['content'] }}"
    "{%- elif message['role'] == 'user' -%}"
    "{{ '<|user|>\\n' + message['content'] }}"
    "{%- if message['input'] is defined and message['input'] %}{{ '\\n\\n' + message['input'] }}{% endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<|assistant|>\\n' + message['content'] + eos_token }}"
    "{%- else -%}"
    "{{ raise_exception('unsupported chat role: ' + message['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{%- if messages %}{{ '\\n' }}{% endif -%}"
    "{{ '<|assistant|>\\n' }}"
    "{%- endif -%}"
)

ROLE_ALIASES = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "bot": "assistant", "model": "assistant",
    "system": "system",
}

__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "SFTStats",
    "load_chat_records",
    "to_chat_record",
    "prepare_tokenizer",
    "encode_chat",
    "encode_chats",
    "SFTDataset",
]


@dataclass
class SFTStats:
    """Counts from reading and encoding chat data (all records ever seen by the object)."""

    records_read: int = 0
    dropped_invalid: int = 0          # not a chat / alpaca / sharegpt record, bad roles or content
    dropped_no_assistant: int = 0     # no non-empty assistant turn
    kept: int = 0
    truncated: int = 0                # cut to max_length (overflow="truncate") and kept
    dropped_too_long: int = 0         # longer than max_length with overflow="drop"
    dropped_no_label_after_truncation: int = 0  # truncation removed every assistant token
    tokens: int = 0
    label_tokens: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- records


def _s(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def to_chat_record(record) -> dict | None:
    """A record as {"messages": [...], **metadata}, or None when it has no recognisable shape.

    Accepts {"messages": [{"role", "content"}]}, ShareGPT {"conversations": [{"from", "value"}]}
    and Alpaca {"instruction", "input", "output"} (user content = instruction, with the input apart in
    the user turn's `input` when non-empty: the default template writes instruction + "\\n\\n" + input,
    the Alpaca one a `### Input:` block; assistant = output). Alpaca fields are stripped of surrounding whitespace.
    Other keys are kept as metadata.
    """
    if not isinstance(record, dict):
        return None
    meta = {k: v for k, v in record.items() if k not in ("messages", "conversations", "instruction", "input", "output")}
    if "messages" in record or "conversations" in record:
        raw = record.get("messages") if "messages" in record else record.get("conversations")
        if not isinstance(raw, list):
            return None
        messages = []
        for m in raw:
            if not isinstance(m, dict):
                return None
            role = ROLE_ALIASES.get(str(m.get("role", m.get("from", ""))).lower())
            content = m.get("content", m.get("value"))
            if role is None or not isinstance(content, str):
                return None
            messages.append({"role": role, "content": content})
            if role == "user" and isinstance(m.get("input"), str) and m["input"]:
                messages[-1]["input"] = m["input"]  # an Alpaca-style turn: its input apart (x-LLaMA)
        return {"messages": messages, **meta}
    if "instruction" in record and "output" in record:
        instruction, inp, output = _s(record.get("instruction")), _s(record.get("input")), _s(record.get("output"))
        if not instruction and not inp:
            return None
        user = {"role": "user", "content": instruction, **({"input": inp} if inp else {})}
        return {"messages": [user, {"role": "assistant", "content": output}], **meta}
    return None


def _has_assistant(messages: list[dict]) -> bool:
    return any(m["role"] == "assistant" and m["content"].strip() for m in messages)


def load_chat_records(source: str, stats: SFTStats | None = None) -> Iterator[dict]:
    """Chat records from a JSON list / JSONL / Parquet file, a folder, or a manifest's data/ shards.

    Yields {"messages": [...], ...metadata}; Alpaca and ShareGPT records are converted on read.
    Records without a non-empty assistant turn are skipped and counted in
    `stats.dropped_no_assistant`; unrecognisable records are skipped and counted in
    `stats.dropped_invalid`. Raises InputError at call time when nothing is readable, and at the
    end when no record at all was usable.
    """
    stats = stats if stats is not None else SFTStats()
    records = iter_records(source, CHAT_EXTS)

    def gen():
        usable = 0
        for raw in records:
            stats.records_read += 1
            rec = to_chat_record(raw)
            if rec is None:
                stats.dropped_invalid += 1
                continue
            if not _has_assistant(rec["messages"]):
                stats.dropped_no_assistant += 1
                continue
            usable += 1
            yield rec
        if usable == 0:
            raise InputError(
                f"{source}: no usable chat records ({stats.records_read} read, {stats.dropped_invalid} "
                f"unrecognised, {stats.dropped_no_assistant} without an assistant turn)"
            )

    return gen()


# --------------------------------------------------------------------------- tokenizer


RESERVED_PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<unused0>", "<|endoftext|>")


def prepare_tokenizer(tokenizer, chat_template: str | None = None, need_pad: bool = True):
    """Make a tokenizer ready for SFT; returns (tokenizer, added_tokens).

    - no EOS token -> ConfigError (the model could never learn to stop);
    - chat template: `chat_template` when given (it overrides), else the tokenizer's own, else
      DEFAULT_CHAT_TEMPLATE; set on the tokenizer so save_pretrained stores it
      (chat_template.jinja) and training/eval render identically;
    - pad token: only when `need_pad` (padded batches; padding-free packing needs none). A missing pad,
      or one equal to EOS (that would mask EOS out of padded labels and the model never learns to stop),
      is replaced by an existing token that is not EOS: the unknown token (Llama-2's <unk>: the
      vocabulary stays 32000), else a reserved token (<|finetune_right_pad_id|>, <|reserved_special_token_0|>,
      <unused0>, ...). Only when there is none is "<pad>" added (`added_tokens` = 1; the trainer then
      grows the embeddings to a multiple of 64, llammas_core.train.modeling.grow_embeddings). Pad
      positions never carry a label or attention, so reusing a token is safe.
    """
    if tokenizer.eos_token is None or tokenizer.eos_token_id is None:
        raise ConfigError(
            "tokenizer has no EOS token: SFT needs one to end assistant turns (set eos_token in the tokenizer config)"
        )
    if chat_template:
        tokenizer.chat_template = chat_template
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    added = 0
    if need_pad and (tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id):
        vocab = tokenizer.get_vocab()
        candidates = ([tokenizer.unk_token] if tokenizer.unk_token else []) + list(RESERVED_PAD_CANDIDATES)
        reuse = next((t for t in candidates if t in vocab and vocab[t] != tokenizer.eos_token_id), None)
        if reuse is not None:
            tokenizer.pad_token = reuse
        else:
            added = tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
        if tokenizer.pad_token_id == tokenizer.eos_token_id:  # pragma: no cover - defensive
            raise ConfigError("could not give the tokenizer a pad token distinct from EOS")
    return tokenizer, added


# --------------------------------------------------------------------------- encoding


def _render(tokenizer, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def _assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    full = _render(tokenizer, messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        if i == 0:
            try:
                prefix = _render(tokenizer, [], True)
            except Exception:  # templates that refuse an empty conversation
                prefix = ""
        else:
            prefix = _render(tokenizer, messages[:i], True)
        upto = full if i == len(messages) - 1 else _render(tokenizer, messages[: i + 1], False)
        if not (upto.startswith(prefix) and full.startswith(upto)):
            raise ConfigError(
                "chat template is not prefix-stable (rendering a conversation prefix does not give a "
                "prefix of the full rendering), so assistant tokens cannot be located; use "
                "DEFAULT_CHAT_TEMPLATE or a template without history rewriting"
            )
        if len(upto) > len(prefix):
            spans.append((len(prefix), len(upto)))
    return full, spans


def _labels_from_offsets(ids: list[int], offsets, spans) -> list[int]:
    """Label a token when it starts inside an assistant span (spans sorted, disjoint)."""
    labels = [IGNORE_INDEX] * len(ids)
    k = 0
    for j, (start, _end) in enumerate(offsets):
        while k < len(spans) and start >= spans[k][1]:
            k += 1
        if k == len(spans):
            break
        if spans[k][0] <= start:
            labels[j] = ids[j]
    return labels


def _tokenize_with_offsets(tokenizer, texts: list[str]):
    """(ids, offsets) per text from one batched call, or None when the tokenizer has no offsets."""
    try:
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)
    except (NotImplementedError, TypeError, ValueError):
        return None
    offsets = enc.get("offset_mapping")
    if offsets is None:
        return None
    return list(zip(enc["input_ids"], offsets))


def _encode_segments(tokenizer, text: str, spans) -> tuple[list[int], list[int]]:
    ids: list[int] = []
    labels: list[int] = []
    pos = 0
    for start, end in spans + [(len(text), len(text))]:
        if start > pos:
            seg = tokenizer(text[pos:start], add_special_tokens=False)["input_ids"]
            ids += seg
            labels += [IGNORE_INDEX] * len(seg)
        if end > start:
            seg = tokenizer(text[start:end], add_special_tokens=False)["input_ids"]
            ids += seg
            labels += seg
        pos = end
    return ids, labels


def _check_encode_args(tokenizer, overflow: str) -> None:
    if overflow not in ("truncate", "drop"):
        raise ConfigError(f"overflow must be 'truncate' or 'drop', got {overflow!r}")
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("tokenizer has no chat template: call prepare_tokenizer first")


def _render_record(record, tokenizer, stats: SFTStats) -> tuple[str, list[tuple[int, int]]] | None:
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        stats.dropped_invalid += 1
        return None
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last < 0:
        stats.dropped_no_assistant += 1
        return None
    messages = [{k: m[k] for k in ("role", "content", "input") if m.get(k) is not None} for m in messages[: last + 1]]
    text, spans = _assistant_spans(tokenizer, messages)
    lost = next((m["input"] for m in messages if m.get("input") and m["input"] not in text), None)
    if lost is not None:
        raise ConfigError(f"the chat template drops a user turn's `input` field ({lost[:60]!r}): use one that writes it "
                          "(ALPACA_CHAT_TEMPLATE's `### Input:`, or the default), or instructions.mixture.prompts.style weighted")
    if not spans:
        stats.dropped_no_assistant += 1
        return None
    return text, spans


def _finish(ids: list[int], labels: list[int], max_length: int, overflow: str, stats: SFTStats) -> dict | None:
    if len(ids) > max_length:
        if overflow == "drop":
            stats.dropped_too_long += 1
            return None
        ids, labels = ids[:max_length], labels[:max_length]
        # The first label never enters the loss (shifted), so require one after position 0.
        if all(lab == IGNORE_INDEX for lab in labels[1:]):
            stats.dropped_no_label_after_truncation += 1
            return None
        stats.truncated += 1
    stats.kept += 1
    stats.tokens += len(ids)
    stats.label_tokens += sum(1 for lab in labels[1:] if lab != IGNORE_INDEX)
    return {"input_ids": ids, "labels": labels}


def encode_chats(records: list[dict], tokenizer, max_length: int, overflow: str = "truncate",
                 stats: SFTStats | None = None) -> list[dict | None]:
    """encode_chat over a list, tokenizing all conversations in one batched call (faster)."""
    _check_encode_args(tokenizer, overflow)
    stats = stats if stats is not None else SFTStats()
    rendered = [_render_record(r, tokenizer, stats) for r in records]
    todo = [x for x in rendered if x is not None]
    tokenized = _tokenize_with_offsets(tokenizer, [t for t, _ in todo]) if todo else []
    out: list[dict | None] = []
    k = 0
    for item in rendered:
        if item is None:
            out.append(None)
            continue
        text, spans = item
        if tokenized is not None:
            ids, offsets = tokenized[k]
            ids, labels = list(ids), _labels_from_offsets(ids, offsets, spans)
        else:
            ids, labels = _encode_segments(tokenizer, text, spans)
        k += 1
        out.append(_finish(ids, labels, max_length, overflow, stats))
    return out


def encode_chat(record: dict, tokenizer, max_length: int, overflow: str = "truncate",
                stats: SFTStats | None = None) -> dict | None:
    """Tokenize one chat record with assistant-only labels.

    Returns {"input_ids": list[int], "labels": list[int]} where labels are -100 on every
    system/user/template token and equal input_ids on assistant content and the EOS closing each
    assistant turn. Messages after the last assistant turn are dropped (they would carry no loss).
    Longer than max_length: overflow="truncate" keeps the first max_length tokens, "drop" returns
    None. None also when no assistant token survives or the record has no assistant turn.
    Counts go to `stats` when given.
    """
    return encode_chats([record], tokenizer, max_length, overflow, stats)[0]


class SFTDataset(torch.utils.data.Dataset):
    """Map-style dataset of encoded chat examples.

    Built from chat records (e.g. load_chat_records(...)); every record is encoded once up front
    and stored compactly (int32 tokens + a label mask in one flat array, offsets per example).
    Items are {"input_ids": LongTensor[n], "labels": LongTensor[n]}. `lengths` feeds
    batching.TokenBudgetBatchSampler; `stats` holds the counts (kept, dropped_no_assistant, truncated,
    dropped_too_long, ...), including those of load_chat_records when its stats object is passed.
    """

    def __init__(self, records: Iterable[dict], tokenizer, max_length: int, overflow: str = "truncate",
                 stats: SFTStats | None = None):
        self.stats = stats if stats is not None else SFTStats()
        self.max_length = max_length
        tokens: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        lengths: list[int] = []
        _check_encode_args(tokenizer, overflow)
        for ex in self._encoded(records, tokenizer, max_length, overflow):
            ids = np.asarray(ex["input_ids"], dtype=np.int32)
            tokens.append(ids)
            masks.append(np.asarray([lab != IGNORE_INDEX for lab in ex["labels"]], dtype=np.bool_))
            lengths.append(len(ids))
        self.lengths = lengths
        self._offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]) if lengths else np.zeros(1, np.int64)
        self._tokens = np.concatenate(tokens) if tokens else np.zeros(0, np.int32)
        self._mask = np.concatenate(masks) if masks else np.zeros(0, np.bool_)

    def _encoded(self, records, tokenizer, max_length, overflow, chunk: int = 512):
        buf: list[dict] = []
        for rec in records:
            buf.append(rec)
            if len(buf) >= chunk:
                yield from (e for e in encode_chats(buf, tokenizer, max_length, overflow, self.stats) if e is not None)
                buf = []
        if buf:
            yield from (e for e in encode_chats(buf, tokenizer, max_length, overflow, self.stats) if e is not None)

    @classmethod
    def from_source(cls, source: str, tokenizer, max_length: int, overflow: str = "truncate") -> "SFTDataset":
        stats = SFTStats()
        return cls(load_chat_records(source, stats), tokenizer, max_length, overflow, stats)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += len(self)
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        ids = torch.from_numpy(self._tokens[a:b].astype(np.int64))
        labels = ids.clone()
        labels[~torch.from_numpy(self._mask[a:b])] = IGNORE_INDEX
        return {"input_ids": ids, "labels": labels}
