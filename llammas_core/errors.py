"""Error kinds the orchestrator treats differently.

Deterministic errors (bad config, bad schema, missing inputs) must not be retried: the same
input fails the same way. Transient errors (network, S3 5xx, throttling) are worth a retry.
"""


class LlammasError(Exception):
    """Base class: a failure with a message meant for the user, shown without a traceback."""


class ConfigError(LlammasError):
    """The configuration is invalid or cannot work. Never retried."""


class InputError(LlammasError):
    """An input (source file, manifest, dataset) cannot be opened or has the wrong shape. Never retried."""


class IntegrityError(InputError):
    """A committed file does not match the size or sha256 its manifest recorded. Never retried."""


class LeaseBusy(LlammasError):
    """Another live run holds the stage's lease (it is computing that very stage)."""


class TransientError(LlammasError):
    """A failure that may pass on a retry (network, S3 5xx, throttling)."""


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure; used by task retry conditions."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, (LlammasError, ValueError, TypeError, KeyError)):
        return False
    try:  # botocore is optional for local-only users
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError

        if isinstance(exc, BotoConnectionError):
            return True
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or code in {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout"}
    except ImportError:
        pass
    return isinstance(exc, (ConnectionError, TimeoutError))
