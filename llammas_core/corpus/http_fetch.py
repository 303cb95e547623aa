"""One HTTP GET for the crawler: connections pinned to an already-checked IP, an overall deadline
per request (PageTimeout), and the Response it returns with the exact request headers sent.
Redirects are not followed here; the crawler treats a target as a new URL.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from llammas_core.corpus.crawl import CrawlConfig


def request_target(parts: SplitResult) -> str:
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an already-checked IP while sending the real host name in the Host header."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.ip = ip
        self.raw_sock: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.raw_sock = socket.create_connection((self.ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an already-checked IP; the certificate is still verified against the host name."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.ip = ip
        self.tls = ssl.create_default_context()
        self.raw_sock: socket.socket | None = None

    def connect(self) -> None:
        self.raw_sock = raw = socket.create_connection((self.ip, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


class PageTimeout(TimeoutError):
    """A request ran past its overall deadline (timeout_seconds), however fast each read was."""


class _Deadline:
    """Shuts the connection's socket down when the request's time is up.

    A socket timeout bounds each read, so a server trickling one byte a second never trips it;
    a timer that shuts the socket down ends any read (TLS handshake, headers, chunked body) at
    once, and `check()` then turns whatever error or short body that caused into PageTimeout.
    """

    def __init__(self, conn, seconds: float) -> None:
        self.conn, self.seconds, self.expired = conn, seconds, False
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        sock = getattr(self.conn, "raw_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def check(self) -> None:
        if self.expired:
            raise PageTimeout(f"request took longer than {self.seconds:g} s in all")

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.timer.cancel()
        if exc_type is not None and self.expired:
            raise PageTimeout(f"request took longer than {self.seconds:g} s in all") from exc
        return False


@dataclass
class Response:
    url: str
    ip: str
    date: datetime
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    version: int  # 10 or 11, as http.client reports it
    headers: list[tuple[str, str]]
    body: bytes = b""
    too_large: bool = False

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    @property
    def media_type(self) -> str:
        return self.header("Content-Type").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.header("Content-Type").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip("\"'") or None
        return None


def fetch(
    url: str, ip: str, cfg: CrawlConfig, max_bytes: int, read_body: Callable[[Response], bool] = lambda r: True
) -> Response:
    """GET `url` from `ip`; read at most `max_bytes` of the body, and only if `read_body` says so.

    Redirects are not followed here: the caller treats the target as a new URL, so it passes
    the same allow-list, robots and address checks as any link.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn_cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = conn_cls(parts.hostname, port, ip, cfg.timeout_seconds)
    # Send every header explicitly (http.client then adds none), so the WARC request record is exact.
    # Identity encoding keeps bodies parseable and the size limit meaningful.
    request_headers = [
        ("Host", parts.netloc),
        ("User-Agent", cfg.user_agent),
        ("Accept", ", ".join(cfg.content_types) + ", */*;q=0.1"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ]
    date = datetime.now(timezone.utc)
    try:
        with _Deadline(conn, cfg.timeout_seconds) as deadline:
            conn.request("GET", request_target(parts), headers=dict(request_headers))
            resp = conn.getresponse()
            out = Response(url, ip, date, request_headers, resp.status, resp.reason, resp.version, resp.getheaders())
            if not read_body(out):
                return out
            declared = out.header("Content-Length")
            if declared.isdigit() and int(declared) > max_bytes:
                out.too_large = True  # don't download what we would throw away
                return out
            out.body = resp.read(max_bytes + 1)  # one byte more tells "exactly max" from "over"
            deadline.check()  # a shut-down socket can also look like a clean (short) end of body
            out.too_large = len(out.body) > max_bytes
            return out
    finally:
        conn.close()
