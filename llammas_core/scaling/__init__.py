"""x-LLaMA scaling law and data allocation: pilots -> fitted curves per language -> allocation of a budget of translation pairs (stage `allocation`)."""
