"""Instruction data: machine translation of instruction sets, translation-task
instructions from bitext, and the SFT mixture (the `instructions` stage)."""
