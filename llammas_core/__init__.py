"""llammas core: the domain library (never imports prefect)."""

__version__ = "0.1.0"
