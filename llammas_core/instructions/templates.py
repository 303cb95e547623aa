"""Instruction templates: translation tasks from bitext pairs, and prompts for Alpaca-shaped records.

Translation tasks (written for llammas after the two recipes; see ../shared/docs/recipes.md):
- `llammas`: English templates, either with the source in a separate input field (p_has_input,
  0.85) or inline in the instruction; for p_target_instruction (0.05) of the records the
  instruction is written in the target language (Estonian templates; a language without its own
  templates falls back to English); p_reverse of the pairs become target->source tasks.
- `xllama`: 33 English instructions, always English -> X, source in the input field (as x-LLaMA's
  Alpaca-prompted CoIT data).
Choices are made with a per-pair RNG seeded by (seed, pair index), so a record's template does
not depend on which other pairs were sampled.

Prompts: an Alpaca-shaped record (instruction, input, output) becomes the user turn through one
of a few weighted open-instruct-style templates in the instruction's language.
"""

from __future__ import annotations

import random

from llammas_core.instructions.config import TemplatesConfig
from llammas_core.languages import english_name, prompt_templates, translation_templates

# Translation-task templates in each language (llammas style), with the language names they use, live in the
# language registry (llammas_core/languages/languages.yaml: instructions.translate_input/_inline/names).
# x-LLaMA's 33 English instructions are the recipe's, not language data: they stay here.
XLLAMA_EN = [
    "Translate the following sentences from {src} to {tgt}.",
    "Translate the following text from {src} into {tgt}.",
    "Translate this sentence from {src} to {tgt}.",
    "Please translate the following {src} text into {tgt}.",
    "Translate the given {src} sentence into {tgt}.",
    "What is the {tgt} translation of the following {src} sentence?",
    "Provide the {tgt} translation of the text below.",
    "Convert the following {src} text to {tgt}.",
    "Render the following sentence in {tgt}.",
    "Give a {tgt} translation of this {src} passage.",
    "Translate the input text into {tgt}.",
    "Can you translate this {src} text into {tgt}?",
    "Write the {tgt} version of the following sentence.",
    "Translate from {src} to {tgt}.",
    "Translate the sentence below into {tgt}.",
    "I need this {src} text in {tgt}. Please translate it.",
    "Produce a faithful {tgt} translation of the following {src} text.",
    "Help me translate this sentence into {tgt}.",
    "Express the following {src} sentence in {tgt}.",
    "How would this {src} sentence be written in {tgt}?",
    "Translate the {src} input into fluent {tgt}.",
    "Turn this {src} text into {tgt}.",
    "Translate the text into {tgt} and keep the meaning unchanged.",
    "Your task is to translate the following sentence from {src} to {tgt}.",
    "Give the {tgt} equivalent of this text.",
    "Please provide an accurate {tgt} translation.",
    "Translate to {tgt}.",
    "Rewrite the following {src} sentence in {tgt}.",
    "Translate this passage into {tgt}.",
    "Offer a {tgt} rendering of the following {src} text.",
    "Translate the following {src} sentence; answer in {tgt}.",
    "What does the following {src} text say in {tgt}?",
    "Translate the sentence into natural {tgt}.",
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
        k = rng.randrange(len(XLLAMA_EN))
        instruction = XLLAMA_EN[k].format(src=english_name(a_lang), tgt=english_name(b_lang))
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


def to_messages(rec: dict, seed: int, system_prompt: str | None = None) -> list[dict]:
    """Chat messages of an internal record (see sources.Record)."""
    if rec["kind"] == "chat":
        messages = [dict(m) for m in rec["messages"]]
    else:
        # seeded by content: the same record gets the same prompt whatever its id or position
        rng = random.Random(f"{seed}:{rec['instruction']}\x1f{rec['input']}")
        language = rec.get("instruction_language") or rec.get("language", "en")
        user = prompt_user_turn(rec["instruction"], rec["input"], language, rng)
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": rec["output"].strip()}]
    if system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages
