"""lm-eval task YAMLs shipped with llammas (package data), and their prompt functions (utils.py)."""
