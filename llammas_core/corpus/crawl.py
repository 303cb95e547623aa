"""A small, polite, breadth-first web crawler that writes WARC files.

Politeness and safety come first, speed second: one request at a time, a minimum delay between
requests to the same host, robots.txt obeyed (RFC 9309), a domain allow-list, and size / type /
depth / page limits. By default it refuses to connect to private, loopback, link-local and other
non-public addresses, so a seed list (or a link on a crawled page) cannot make it probe the
network it runs in (SSRF).

Output: gzipped WARC files `crawl-00000.warc.gz`, `crawl-00001.warc.gz`, ... in `out_dir`, each
holding a `warcinfo` record and a `request`/`response` pair per page kept. Only 2xx responses
with an allowed content type are kept; everything else is counted in `CrawlStats.skipped`.

This module holds the config, URL handling, link extraction, the WARC writer and the crawl loop;
the address guard is in `netguard`, the single HTTP request in `http_fetch`.

Usage:
    stats = crawl(CrawlConfig(seeds=["https://et.wikipedia.org/"]), Path("warcs"))
"""

from __future__ import annotations

import http.client
import io
import time
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from llammas_core.corpus.http_fetch import PageTimeout, Response, fetch, request_target
from llammas_core.corpus.netguard import BlockedAddress, resolve_public
from llammas_core.errors import ConfigError

DEFAULT_USER_AGENT = "llammas-crawler/0.1 (+https://github.com/llammas)"
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks parsers to read at least 500 KiB
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309: follow at least five redirects for robots.txt
MAX_CRAWL_DELAY = 60.0  # honour robots.txt Crawl-delay, but a huge one must not stall the crawl


class CrawlConfig(BaseModel):
    """What to crawl and how politely."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[str] = Field(description="Start URLs (http or https).")
    allow_domains: list[str] = Field(
        default=[],
        description="Hosts that may be crawled, subdomains included. Empty: the seeds' hosts.",
    )
    max_pages: int = Field(default=100, ge=0, description="Most page requests in the whole crawl.")
    max_depth: int = Field(default=2, ge=0, description="Most links followed from a seed (0: seeds only).")
    rate_limit_seconds: float = Field(
        default=1.0, ge=0, description="Least seconds between two requests to the same host."
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="Most seconds one request may take in all (connect, headers and body); a slower page is "
        "abandoned and counted as page_timeout.")
    max_bytes: int = Field(default=5_000_000, gt=0, description="Larger responses are skipped.")
    content_types: list[str] = Field(
        default=["text/html", "application/xhtml+xml"], description="Media types kept (and parsed for links)."
    )
    user_agent: str = Field(default=DEFAULT_USER_AGENT, description="User-Agent header, also matched in robots.txt.")
    allow_loopback: bool = Field(
        default=False, description="Allow 127.0.0.0/8 and ::1 (for tests). Private ranges stay refused."
    )
    max_warc_bytes: int = Field(default=1 << 30, gt=0, description="Start a new WARC file past this size.")


@dataclass
class CrawlStats:
    fetched: int = 0  # page requests that got an HTTP response (any status)
    written: int = 0  # response records written
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    bytes: int = 0  # page body bytes received
    files: list[Path] = field(default_factory=list)  # WARC files written, in order

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# ---------------------------------------------------------------- URLs


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment, default port or user info; None if unusable."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    host = ascii_host(host)
    if host is None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    # Percent-encode what cannot go on a request line (spaces, non-ASCII); keep existing escapes.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return urlunsplit((scheme, netloc, path, query, ""))


def ascii_host(host: str) -> str | None:
    """IDNA (punycode) form of a host name: http.client needs an ASCII Host header."""
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None



def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def domain_allowed(host: str, allow_domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allow_domains)


class _LinkParser(HTMLParser):
    """Collects <a>/<area> hrefs in document order, the <base href>, and meta robots nofollow."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.base: str | None = None
        self.nofollow = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("a", "area") and a.get("href"):
            self.links.append(a["href"])
        elif tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "meta" and a.get("name", "").lower() == "robots":
            directives = {d.strip() for d in a.get("content", "").lower().split(",")}
            self.nofollow |= bool(directives & {"nofollow", "none"})


def extract_links(html: bytes, url: str, charset: str | None = None) -> list[str]:
    """Normalised http(s) links of a page, in document order, without duplicates."""
    parser = _LinkParser()
    try:
        parser.feed(html.decode(charset or "utf-8", errors="replace"))
        parser.close()
    except (LookupError, AssertionError):  # unknown charset; html.parser asserts on some garbage
        return []
    if parser.nofollow:
        return []
    base = normalize_url(parser.base, url) if parser.base else url
    links = (normalize_url(href, base or url) for href in parser.links)
    return list(dict.fromkeys(link for link in links if link))


# ---------------------------------------------------------------- WARC


def _rechunk(body: bytes) -> bytes:
    """http.client de-chunks bodies; re-frame as one chunk so the preserved
    `Transfer-Encoding: chunked` header still describes the stored payload."""
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"


class WarcRotator:
    """Writes request/response pairs into crawl-NNNNN.warc.gz, starting a new file past max_bytes.

    Files are opened lazily, so a crawl that keeps nothing writes no file; a file may exceed
    max_bytes by one record pair, since rotation happens between pairs.
    """

    def __init__(self, out_dir: Path, max_bytes: int, user_agent: str) -> None:
        self.out_dir, self.max_bytes, self.user_agent = out_dir, max_bytes, user_agent
        self.files: list[Path] = []
        self.fh = None
        self.writer: WARCWriter | None = None

    def _open(self) -> WARCWriter:
        path = self.out_dir / f"crawl-{len(self.files):05d}.warc.gz"
        self.files.append(path)
        self.fh = open(path, "wb")
        self.writer = WARCWriter(self.fh, gzip=True)
        info = {"software": "llammas-crawler", "robots": "obey", "http-header-user-agent": self.user_agent}
        self.writer.write_record(self.writer.create_warcinfo_record(path.name, info))
        return self.writer

    def write(self, r: Response) -> None:
        writer = self.writer or self._open()
        warc_date = datetime_to_iso_date(r.date.replace(tzinfo=None), use_micros=True)
        request_line = f"GET {request_target(urlsplit(r.url))} HTTP/1.1"
        req_headers = StatusAndHeaders(request_line, r.request_headers, is_http_request=True)
        request = writer.create_warc_record(
            r.url, "request", payload=io.BytesIO(b""), length=0, http_headers=req_headers
        )
        protocol = "HTTP/1.0" if r.version == 10 else "HTTP/1.1"
        resp_headers = StatusAndHeaders(f"{r.status} {r.reason}", r.headers, protocol=protocol)
        chunked = r.header("Transfer-Encoding").lower() == "chunked"
        payload = _rechunk(r.body) if chunked else r.body
        response = writer.create_warc_record(
            r.url,
            "response",
            payload=io.BytesIO(payload),
            length=len(payload),
            http_headers=resp_headers,
            warc_headers_dict={"WARC-Date": warc_date, "WARC-IP-Address": r.ip},
        )
        writer.write_request_response_pair(request, response)
        if self.fh.tell() >= self.max_bytes:
            self.close()

    def close(self) -> None:
        if self.fh:
            self.fh.close()
        self.fh, self.writer = None, None


# ---------------------------------------------------------------- crawler


class _Host:
    """Per-host state: the checked IP and when we last spoke to it."""

    def __init__(self, delay: float) -> None:
        self.ip: str | None = None
        self.blocked: str | None = None  # skip reason for every URL of this host, once known
        self.delay = delay
        self.last_request = float("-inf")


class Crawler:
    def __init__(self, cfg: CrawlConfig, out_dir: Path) -> None:
        self.cfg = cfg
        self.seeds = check_seeds(cfg.seeds)
        domains = check_domains(cfg.allow_domains)
        # Seed hosts count with their subdomains too, so example.org -> www.example.org redirects work.
        self.allow_domains = domains or list(dict.fromkeys(host_of(s) for s in self.seeds))
        self.attempts = 0  # page requests made, the thing max_pages limits
        self.content_types = {t.strip().lower() for t in cfg.content_types}
        self.hosts: dict[str, _Host] = {}  # by host name: rate limit and address
        self.robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}  # by origin; None: unavailable
        self.stats = CrawlStats()
        self.warc = WarcRotator(out_dir, cfg.max_warc_bytes, cfg.user_agent)

    # -- politeness

    def _wait_turn(self, host: _Host) -> None:
        wait = host.last_request + host.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _polite_fetch(self, url: str, host: _Host, max_bytes: int, read_body=lambda r: True, ip=None) -> Response:
        self._wait_turn(host)
        try:
            return fetch(url, ip or host.ip, self.cfg, max_bytes, read_body)
        finally:
            # Counted from the end of the request, so the gap holds even for slow responses.
            host.last_request = time.monotonic()

    def _host(self, url: str) -> _Host:
        """The URL's host, its address resolved and checked once per crawl."""
        name = host_of(url)
        if name not in self.hosts:
            host = self.hosts[name] = _Host(self.cfg.rate_limit_seconds)
            try:
                host.ip = resolve_public(name, self.cfg.allow_loopback)
            except BlockedAddress:
                host.blocked = "blocked_address"
            except OSError:
                host.blocked = "dns_error"
        return self.hosts[name]

    def _robots(self, url: str, host: _Host) -> urllib.robotparser.RobotFileParser | None:
        """The robots.txt rules of the URL's origin, fetched once; None if they could not be read."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.robots:
            self.robots[origin] = self._read_robots(origin + "/robots.txt", host)
        return self.robots[origin]

    def _read_robots(self, robots_url: str, host: _Host) -> urllib.robotparser.RobotFileParser | None:
        """RFC 9309: 4xx means no rules (allow all); 5xx or no answer means disallow all (None)."""
        rp = urllib.robotparser.RobotFileParser(robots_url)
        url, ip = robots_url, host.ip
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            try:
                r = self._polite_fetch(url, host, ROBOTS_MAX_BYTES, ip=ip)
            except (OSError, http.client.HTTPException):
                break
            location = r.header("Location")
            if r.status in (301, 302, 303, 307, 308) and location:
                url = normalize_url(location, url)
                if url is None:
                    break
                try:  # a hop to another host (example.org -> www.example.org) needs its own address check
                    ip = resolve_public(host_of(url), self.cfg.allow_loopback)
                except (BlockedAddress, OSError):
                    break
                continue
            if 200 <= r.status < 300:
                rp.parse(r.body.decode("utf-8", errors="replace").splitlines())
            elif 400 <= r.status < 500:
                rp.allow_all = True
            else:
                break
            crawl_delay = rp.crawl_delay(self.cfg.user_agent)
            if crawl_delay:
                host.delay = max(host.delay, min(float(crawl_delay), MAX_CRAWL_DELAY))
            return rp
        return None

    # -- the crawl

    def _enqueue(self, links: list[str], depth: int, queue: deque, seen: set[str]) -> None:
        for link in links:
            if link in seen:
                continue
            seen.add(link)
            if domain_allowed(host_of(link), self.allow_domains):
                queue.append((link, depth))
            else:
                self.stats.skip("off_domain")

    def _keep_body(self, r: Response) -> bool:
        return 200 <= r.status < 300 and r.media_type in self.content_types

    def _visit(self, url: str, depth: int) -> tuple[list[str], int]:
        """Fetch one page and write it if kept; return the URLs to follow next and their depth."""
        host = self._host(url)
        if host.blocked:
            self.stats.skip(host.blocked)
            return [], 0
        rules = self._robots(url, host)
        if rules is None or not rules.can_fetch(self.cfg.user_agent, url):
            self.stats.skip("robots_unavailable" if rules is None else "robots")
            return [], 0
        self.attempts += 1
        try:
            r = self._polite_fetch(url, host, self.cfg.max_bytes, self._keep_body)
        except PageTimeout:
            self.stats.skip("page_timeout")
            return [], 0
        except (OSError, http.client.HTTPException):
            self.stats.skip("fetch_error")
            return [], 0
        self.stats.fetched += 1
        self.stats.bytes += len(r.body)
        if r.status in (301, 302, 303, 307, 308):
            # The target stands in for this page, so it keeps its depth; it is a new URL, so it
            # passes the allow-list, robots and address checks like any link.
            self.stats.skip("redirect")
            target = normalize_url(r.header("Location"), url) if r.header("Location") else None
            return ([target] if target else []), depth
        if not 200 <= r.status < 300:
            self.stats.skip(f"http_{r.status}")
        elif r.media_type not in self.content_types:
            self.stats.skip("content_type")
        elif r.too_large:
            self.stats.skip("too_large")
        else:
            self.warc.write(r)
            self.stats.written += 1
            if depth < self.cfg.max_depth:
                return extract_links(r.body, url, r.charset), depth + 1
        return [], 0

    def run(self) -> CrawlStats:
        queue: deque[tuple[str, int]] = deque()
        seen: set[str] = set()
        self._enqueue(self.seeds, 0, queue, seen)
        try:
            while queue and self.attempts < self.cfg.max_pages:
                url, depth = queue.popleft()
                links, link_depth = self._visit(url, depth)
                self._enqueue(links, link_depth, queue, seen)
        finally:
            self.warc.close()
        self.stats.files = list(self.warc.files)
        return self.stats


def check_seeds(seeds: list[str]) -> list[str]:
    """Normalised seeds; ConfigError naming the bad ones (the same input always fails)."""
    if not seeds:
        raise ConfigError("crawl: no seed URLs given")
    bad = [s for s in seeds if normalize_url(s) is None]
    if bad:
        raise ConfigError(f"crawl: invalid seed URL(s) {bad}: need absolute http:// or https:// URLs with a host")
    return list(dict.fromkeys(normalize_url(s) for s in seeds))


def check_domains(domains: list[str]) -> list[str]:
    """Allow-list entries as bare ASCII host names ("example.org", not "https://example.org/")."""
    domains = [d.strip().strip(".") for d in domains if d.strip(" .")]
    names = [ascii_host(d) for d in domains]
    bad = [d for d, n in zip(domains, names) if not n or any(c in n for c in "/:@ ")]
    if bad:
        raise ConfigError(f"crawl: invalid allow_domains entries {bad}: give host names like 'example.org'")
    return names


SKIP_REASONS = {
    "blocked_address": "host resolves to a non-public address",
    "dns_error": "host name does not resolve",
    "robots": "disallowed by robots.txt",
    "robots_unavailable": "robots.txt could not be read (5xx or no answer: disallow all)",
    "fetch_error": "connection failed",
    "page_timeout": "request ran past timeout_seconds",
    "off_domain": "link outside allow_domains",
    "redirect": "redirect",
    "content_type": "content type not in content_types",
    "too_large": "response over max_bytes",
}
# what a retry may cure; everything else fails the same way next time
TRANSIENT_SKIPS = {"dns_error", "fetch_error", "page_timeout", "robots_unavailable"}


def explain_empty_crawl(name: str, stats: CrawlStats) -> tuple[str, bool]:
    """(message, transient) for a crawl that kept no page: what happened to the requests."""
    reasons = ", ".join(
        f"{SKIP_REASONS.get(k, k.replace('_', ' ').replace('http ', 'HTTP '))}: {n}"
        for k, n in sorted(stats.skipped.items(), key=lambda kv: -kv[1])) or "no request was made"
    transient = any(k in TRANSIENT_SKIPS or k.startswith("http_5") for k in stats.skipped)
    return f"crawl {name} kept no page ({stats.fetched} responses); {reasons}", transient


def crawl(config: CrawlConfig, out_dir: Path) -> CrawlStats:
    """Crawl breadth-first from `config.seeds`, writing gzipped WARC files into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return Crawler(config, out_dir).run()
