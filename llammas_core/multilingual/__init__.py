"""Several target languages in one run: the per-language sections, the MuIT mixture (m-LLaMA), and the
x-LLaMA comparison (one CoIT model per language)."""
