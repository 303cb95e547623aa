"""Evaluation: did the model learn the language?

One concept a file:
- spec.py: ModelSpec / TaskSpec (pydantic), what to evaluate and how.
- models.py: validate_model / load_model (clear errors before any weights load).
- engine.py: validate_task / run_task -> TaskResult (results.json + samples.jsonl).
- lmeval.py: log-likelihood multiple-choice tasks through lm-evaluation-harness in-process.
- generation.py: batched left-padded generation (few-shot prompt or chat template).
- flores.py: FLORES translation tasks scored with sacrebleu (BLEU, chrF++, optional spBLEU/COMET).
- qa.py: SQuAD-format extractive QA (EM, F1, answer-in-output accuracy).
- metrics.py: corpus-level aggregation over any subset of samples (for bootstrap).
- tasks/: lm-eval task YAMLs shipped in the package (XCOPA-et, Belebele est_Latn) reading local files.
"""
