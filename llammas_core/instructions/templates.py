"""Instruction templates: translation tasks from bitext pairs, and prompts for Alpaca-shaped records.

Translation tasks (written for llammas after the two recipes; see ../shared/docs/recipes.md):
- `llammas`: English templates, either with the source in a separate input field (p_has_input,
  0.85) or inline in the instruction; for p_target_instruction (0.05) of the records the
  instruction is written in the target language (Estonian templates; a language without its own
  templates falls back to English); p_reverse of the pairs become target->source tasks.
- `xllama`: x-LLM's 33 English instructions verbatim, instruction = pair index mod 33 (x-LLM's record
  key mod 33), always English -> X, source in `input`, target in `output` (x-LLaMA's CoIT data; rendered
  with Stanford Alpaca's prompt_input by train.config.ALPACA_CHAT_TEMPLATE).
Llammas choices are made with a per-pair RNG seeded by (seed, pair index), so a record's template does
not depend on which other pairs were sampled.

Prompts (`to_messages`): an Alpaca-shaped record (instruction, input, output) becomes the user turn
through one of a few weighted open-instruct-style templates in the instruction's language (Llammas),
or keeps instruction and input apart for Stanford Alpaca's prompt (x-LLaMA: mixture.prompts.style alpaca).
"""

from __future__ import annotations

import random

from llammas_core.instructions.config import TemplatesConfig
from llammas_core.languages import english_name, prompt_templates, translation_templates

# Translation-task templates in each language (llammas style), with the language names they use, live in the
# language registry (llammas_core/languages/languages.yaml: instructions.translate_input/_inline/names).
# x-LLaMA's 33 English instructions are the recipe's, not language data: they stay here.
# x-LLM data/translation/translation.py `_INSTRUCTIONS` (NJUNLP/x-LLM @ 0bc91a2), verbatim: train record k takes
# instruction k % 33 (the test split always the first); {source_lang}/{target_lang} are English names.
XLLAMA_EN = [
    "Translate the following sentences from {source_lang} to {target_lang}.",
    "What do the following sentences mean in {target_lang}?",
    "Please provide the {target_lang} translation for the following sentences.",
    "Convert the subsequent sentences from {source_lang} into {target_lang}.",
    "Render the listed sentences in {target_lang} from their original {source_lang} form.",
    "Transform the upcoming sentences from {source_lang} language to {target_lang} language.",
    "Change the given sentences from {source_lang} to {target_lang} format.",
    "Turn the following sentences from their {source_lang} version to the {target_lang} version.",
    "Adapt the mentioned sentences from {source_lang} to the {target_lang} language.",
    "Transpose the next sentences from the {source_lang} format to the {target_lang} format.",
    "Switch the specified sentences from their {source_lang} form to {target_lang} form.",
    "Reinterpret the ensuing sentences from {source_lang} to {target_lang} language.",
    "Modify the forthcoming sentences, converting them from {source_lang} to {target_lang}.",
    "How can the subsequent sentences be interpreted in {target_lang}?",
    "What is the meaning of these sentences when translated to {target_lang}?",
    "In the context of {target_lang}, what do the upcoming sentences signify?",
    "How would you express the meaning of the following sentences in {target_lang}?",
    "What is the significance of the mentioned sentences in {target_lang}?",
    "In {target_lang}, what do the given sentences convey?",
    "When translated to {target_lang}, what message do these sentences carry?",
    "What is the intended meaning of the ensuing sentences in {target_lang}?",
    "How should the following sentences be comprehended in {target_lang}?",
    "In terms of {target_lang}, what do the next sentences imply?",
    "Kindly furnish the {target_lang} translation of the subsequent sentences.",
    "Could you supply the {target_lang} translation for the upcoming sentences?",
    "Please offer the {target_lang} rendition for the following statements.",
    "I'd appreciate it if you could present the {target_lang} translation for these sentences.",
    "Can you deliver the {target_lang} translation for the mentioned sentences?",
    "Please share the {target_lang} version of the given sentences.",
    "It would be helpful if you could provide the {target_lang} translation of the ensuing sentences.",
    "Kindly submit the {target_lang} interpretation for the next sentences.",
    "Please make available the {target_lang} translation for the listed sentences.",
    "Can you reveal the {target_lang} translation of the forthcoming sentences?",
]
assert len(XLLAMA_EN) == 33


def _names(lang: str, table: dict[str, str]) -> str:
    return table.get(lang, lang)


def translation_record(src: str, tgt: str, index: int, src_lang: str, tgt_lang: str, corpus: str,
                       cfg: TemplatesConfig) -> dict:
    """One translation-task record (Alpaca-shaped) from a pair `src` (src_lang) -> `tgt` (tgt_lang)."""
    rng = random.Random(f"{cfg.seed}:{index}")
    a_lang, b_lang, a, b = src_lang, tgt_lang, src, tgt
    if cfg.style == "llammas" and rng.random() < cfg.p_reverse:
        a_lang, b_lang, a, b = tgt_lang, src_lang, tgt, src
    if cfg.style == "xllama":
        k = index % len(XLLAMA_EN)  # x-LLM: record key mod 33 (train split)
        instruction = XLLAMA_EN[k].format_map({"source_lang": english_name(a_lang), "target_lang": english_name(b_lang)})
        ilang, inp, template = "en", a, f"xllama-{k}"
    else:
        ilang = "en"
        inputs, inlines, names = translation_templates(ilang)
        # instructions in the dataset's target language, when the registry has templates in it
        if rng.random() < cfg.p_target_instruction and translation_templates(tgt_lang):
            ilang = tgt_lang
            inputs, inlines, names = translation_templates(tgt_lang)
        if rng.random() < cfg.p_has_input:
            k = rng.randrange(len(inputs))
            instruction, inp, template = inputs[k].format(src=_names(a_lang, names), tgt=_names(b_lang, names)), a, f"{ilang}-input-{k}"
        else:
            k = rng.randrange(len(inlines))
            instruction = inlines[k].format(src=_names(a_lang, names), tgt=_names(b_lang, names), text=a)
            inp, template = "", f"{ilang}-inline-{k}"
    return {
        "id": f"{corpus}:{index}", "source": corpus, "language": b_lang, "kind": "alpaca",
        "instruction": instruction, "input": inp, "output": b,
        "direction": f"{a_lang}-{b_lang}", "instruction_language": ilang, "template": template,
    }


# --------------------------------------------------------------------------- prompts

def prompt_user_turn(instruction: str, inp: str, language: str, rng: random.Random) -> str:
    """The user turn of an Alpaca-shaped record, in a weighted template of `language` (English fallback)."""
    table = prompt_templates(language, fallback="en")["input" if inp.strip() else "plain"]
    templates, weights = zip(*table)
    template = rng.choices(templates, weights=weights, k=1)[0]
    return template.format(instruction=instruction.strip(), input=inp.strip())


def to_messages(rec: dict, seed: int, system_prompt: str | None = None, style: str = "weighted") -> list[dict]:
    """Chat messages of an internal record (see sources.Record).

    style "weighted": instruction and input joined into one user turn by a weighted template (above);
    style "alpaca": the user turn's content is the instruction and its `input` field the input, kept
    apart so that an Alpaca chat template writes them as `### Instruction:` and `### Input:` (x-LLaMA)."""
    if rec["kind"] == "chat":
        messages = [dict(m) for m in rec["messages"]]
    elif style == "alpaca":
        user = {"role": "user", "content": rec["instruction"].strip()}
        if rec["input"].strip():
            user["input"] = rec["input"].strip()
        messages = [user, {"role": "assistant", "content": rec["output"].strip()}]
    else:
        # seeded by content: the same record gets the same prompt whatever its id or position
        rng = random.Random(f"{seed}:{rec['instruction']}\x1f{rec['input']}")
        language = rec.get("instruction_language") or rec.get("language", "en")
        user = prompt_user_turn(rec["instruction"], rec["input"], language, rng)
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": rec["output"].strip()}]
    if system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages
