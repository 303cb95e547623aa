"""Credentials never enter configs, logs, results or artifacts.

Secrets come from the environment (boto3's credential chain, `api_key_env` variables). A URL with
userinfo (`http://user:pass@host`) in a config is refused: it would otherwise be stored with the
run's parameters in the Prefect database and printed in error lines. `scrub` is the second line of
defence for text that leaves the process (log lines, error messages, artifacts).
"""

from __future__ import annotations

import logging
import re

from llammas_core.errors import ConfigError

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


def scrub(text: str) -> str:
    """The text with credentials in URLs, key=value pairs and bearer tokens replaced by ***."""
    if not text:
        return text
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
