"""Credentials never enter configs, logs, results or artifacts.

Secrets come from the environment (boto3's credential chain, `api_key_env` variables). A URL with
userinfo (`http://user:pass@host`) in a config is refused: it would otherwise be stored with the
run's parameters in the Prefect database and printed in error lines. `scrub` is the second line of
defence for text that leaves the process (log lines, error messages, artifacts).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from llammas_core.errors import ConfigError

NO_USERINFO = r"^[^@]*$"  # JSON-schema pattern of a URL field: no `user:password@` (checked by the Prefect server too)

# scheme://user[:password]@host  ->  scheme://***@host (up to the last @ before the host: passwords hold @ and /)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@:]+:\S*?|[^/\s@:]+)"
                       r"@(?=[^\s@/]*(?:[/\s?#]|$))")
# key=value / "key": "value" pairs whose name says secret
_KEYVAL = re.compile(
    r"(?<![A-Za-z0-9_])(?P<name>(?:aws_)?(?:secret(?:_access)?_key|session_token|api[_-]?key|password|passwd|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic|Token)\s+)?)(?P<value>[^\s\"',;&]+)"
    # a bare `token=...` only with a long, not purely numeric value (`token=5` is a tokenizer's business)
    r"|(?<![A-Za-z0-9_])(?P<tname>token[\"']?\s*[:=]\s*[\"']?)(?P<tvalue>(?=[^\s\"',;&]*[^\d\s\"',;&])[^\s\"',;&]{8,})",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def has_userinfo(url: str | None) -> bool:
    """True when a URL may carry credentials: any `@` after the scheme (a secret key may hold `/`,
    which ends urlsplit's netloc early, so the netloc alone would miss it)."""
    return bool(url) and "://" in url and "@" in url.split("://", 1)[1]


def refuse_userinfo(url: str | None, field: str) -> str | None:
    """Raise a ConfigError (without echoing the secret) when `url` carries credentials."""
    if has_userinfo(url):
        raise ConfigError(
            f"{field}: credentials in a URL are not accepted ({scrub(url)}); "
            "use the environment instead (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the api_key_env variable)"
        )
    return url


# environment variables whose values are secrets wherever they appear (an endpoint may echo a key in
# an error body: no pattern finds `... for key sk-abc`, its value does); configs add their key sources
_SECRET_ENV: set[str] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "HF_TOKEN",
                         "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY"}
_MIN_SECRET = 6  # shorter values would redact ordinary words


def register_secret_env(*names: str | None) -> None:
    """Treat the values of these environment variables (e.g. a config's `api_key_env`) as secrets."""
    _SECRET_ENV.update(n for n in names if n)


def _known_values() -> list[str]:
    values = {os.environ.get(n, "").strip() for n in _SECRET_ENV}
    return sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True)


def credential_fields(value: Any, where: str = "") -> list[str]:
    """Dotted names of every string in a config (nested dicts/lists/pydantic models) that is a URL with
    credentials, e.g. ["instructions.translator.base_url", "corpus.sources.0.paths.1"]."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in credential_fields(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [f for i, v in enumerate(value) for f in credential_fields(v, f"{where}.{i}")]
    return [where] if isinstance(value, str) and _is_url(value) and has_userinfo(value) else []


def _is_url(text: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", text.strip()) is not None


def key_env_names(value: Any) -> list[str]:
    """Every environment variable a config names as a key source (fields `api_key_env`, `*_key_env`)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in
                ([v] if str(k).endswith("key_env") and isinstance(v, str) else key_env_names(v))]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in key_env_names(v)]
    return []


def refuse_credentials(config: Any) -> None:
    """A ConfigError naming every URL field of `config` that carries credentials (values not echoed);
    also registers the config's key sources with the scrubber."""
    register_secret_env(*key_env_names(config))
    fields = credential_fields(config)
    if fields:
        raise ConfigError(
            f"credentials in a URL are not accepted: {', '.join(fields)}; use the environment instead "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the api_key_env variable)")


def scrub_exception(exc: BaseException) -> BaseException:
    """Scrub the string arguments of an exception and of its causes, in place, before it is logged,
    stored as a run state or pickled as a result; returns it for `raise`."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        try:
            e.args = tuple(scrub(a) if isinstance(a, str) else a for a in e.args)
        except Exception:  # an exception class with read-only args keeps them
            pass
        for attr in ("message", "msg", "detail"):
            if isinstance(getattr(e, attr, None), str):
                try:
                    setattr(e, attr, scrub(getattr(e, attr)))
                except Exception:
                    pass
        e = e.__cause__ or e.__context__
    return exc


def scrub(text: str) -> str:
    """The text with the values of known secrets, credentials in URLs, key=value pairs and bearer
    tokens replaced by ***."""
    if not text:
        return text
    for value in _known_values():
        text = text.replace(value, "***")
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    text = _KEYVAL.sub(lambda m: f"{m['name'] or m['tname']}***", text)
    return _BEARER.sub(r"\1***", text)


_installed = False


def install_log_scrubber() -> None:
    """Scrub every log record of this process (Prefect's API log handler included) as it is created."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.exc_info and record.exc_info[1] is not None:  # its traceback is formatted later
            scrub_exception(record.exc_info[1])
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
