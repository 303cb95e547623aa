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
- tasks/: lm-eval task YAMLs shipped in the package (XCOPA and Belebele in any registry language) reading local files.
- config.py: EvaluateConfig, the `evaluate:` config section (models, tasks, bootstrap, contamination).
- identity.py: what enters evaluation keys (engine code version, model identity, data fingerprints).
- refs.py: `@base` / `@cpt` / `@sft` from the training lineage.
- bootstrap.py: seeded percentile CIs and paired bootstrap deltas with p-values.
- contamination_check.py: n-gram overlap of evaluation sets with each model's training data.
- report.py: report.md, self-contained report.html, scores.png.
- stage.py: run_evaluate: eval/<key> per (model, task), contamination/<key>, report/<key>; evaluate_model
  (one worker's share: one model's pairs) and assemble_report (contamination + report) for a fan-out.
- workers.py: how many models run at once and the GPU each worker holds.
"""
