"""Prompt functions of the shipped lm-eval task YAMLs (same code as lm_eval/tasks/xcopa/utils.py; the engine
binds doc_to_text to a language's connectives from the language registry, as utils.doc_to_text_<lang> does)."""


def convert_choice(choice):
    return choice[0].lower() + choice[1:]


def doc_to_text(doc, connector):
    # Drop the period
    conn = connector[doc["question"]]
    return doc["premise"].strip()[:-1] + f" {conn}"


def doc_to_choice(doc):
    return [convert_choice(doc["choice1"]), convert_choice(doc["choice2"])]
