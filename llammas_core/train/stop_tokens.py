"""Stop tokens from the chat template: what generation_config.eos_token_id must hold after SFT.

A model tuned on a chat template learns to end its turn with the template's assistant-turn terminator:
EOS for the Llammas and Alpaca templates, `<|im_end|>` for ChatML (Qwen), `<|eot_id|>` for Llama 3,
`<end_of_turn>` for Gemma. If generation stops only at the tokenizer's EOS, a ChatML model never stops.
The terminator is found by rendering a one-turn conversation and reading the special token right after
the assistant content (whitespace skipped); it is kept together with the tokenizer's EOS and any ids
already in the model's generation_config (e.g. Llama 3's multi-id list). The vocabulary is never changed.
"""

from __future__ import annotations

from llammas_core.errors import ConfigError

_MARK = "Qz7LlammasAssistantTurn7zQ"

__all__ = ["stop_token_ids", "template_terminator", "set_generation_stop"]


def _special_tokens(tokenizer) -> dict[str, int]:
    """Special token string -> id (named specials and added tokens flagged special)."""
    out: dict[str, int] = {}
    for tok in getattr(tokenizer, "all_special_tokens", []) or []:
        tid = tokenizer.convert_tokens_to_ids(tok)
        if isinstance(tid, int) and tid >= 0:
            out[str(tok)] = tid
    for tid, added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            out[str(added.content)] = int(tid)
    return out


def _render_one_turn(tokenizer, template: str) -> str:
    tries = (
        [{"role": "user", "content": "Tere!"}, {"role": "assistant", "content": _MARK}],
        [{"role": "system", "content": "Abiline."}, {"role": "user", "content": "Tere!"},
         {"role": "assistant", "content": _MARK}],
    )
    last: Exception | None = None
    for messages in tries:
        try:
            return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
        except Exception as e:  # templates that require a system message, raise on roles, ...
            last = e
    raise ConfigError(f"cannot render a one-turn conversation with the chat template: {type(last).__name__}: {last}")


def template_terminator(tokenizer, chat_template: str | None = None) -> int | None:
    """The id of the special token that closes an assistant turn in the chat template (None when the
    template writes no special token right after the assistant content, or there is no template)."""
    template = chat_template or getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    rendered = _render_one_turn(tokenizer, template)
    at = rendered.find(_MARK)
    if at < 0:
        raise ConfigError("the chat template drops the assistant message content; cannot find its turn terminator")
    suffix = rendered[at + len(_MARK):].lstrip()
    specials = _special_tokens(tokenizer)
    matches = [s for s in specials if s and suffix.startswith(s)]
    if not matches:
        return None
    return specials[max(matches, key=len)]


def _as_list(ids) -> list[int]:
    if ids is None:
        return []
    if isinstance(ids, int):
        return [ids]
    return [int(i) for i in ids]


def _dedup(ids) -> list[int]:
    out: list[int] = []
    for i in ids:
        if i is not None and i not in out:
            out.append(int(i))
    return out


def stop_token_ids(tokenizer, chat_template: str | None = None) -> list[int]:
    """[template terminator, tokenizer EOS], de-duplicated (the terminator first when it differs)."""
    return _dedup([template_terminator(tokenizer, chat_template), tokenizer.eos_token_id])


def set_generation_stop(model, tokenizer, chat_template: str | None = None) -> list[int]:
    """Set model.generation_config (and model.config) eos_token_id to the stop ids: the template's
    terminator, the tokenizer's EOS and the ids the generation_config already had (multi-id lists are
    kept); an int when there is one id, else a list. pad_token_id: the tokenizer's pad, else the
    existing one, else the first stop id (no token is added). Returns the stop ids."""
    from transformers import GenerationConfig

    gen = getattr(model, "generation_config", None) or GenerationConfig()
    ids = _dedup(stop_token_ids(tokenizer, chat_template) + _as_list(gen.eos_token_id))
    if not ids:
        raise ConfigError("no stop token: the tokenizer has no EOS and the chat template no turn terminator")
    eos = ids[0] if len(ids) == 1 else ids
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = gen.pad_token_id if gen.pad_token_id is not None else ids[0]
    gen.eos_token_id = eos
    gen.pad_token_id = pad
    if tokenizer.bos_token_id is not None:
        gen.bos_token_id = tokenizer.bos_token_id
    model.generation_config = gen
    model.config.eos_token_id = eos
    model.config.pad_token_id = pad
    return ids
