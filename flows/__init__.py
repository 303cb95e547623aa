"""Prefect flows composing the tasks, and the `llammas` CLI. Every process that runs a flow (the CLI,
a deployment's worker) scrubs credentials from its log records."""

from llammas_core.secrets import install_log_scrubber

install_log_scrubber()
