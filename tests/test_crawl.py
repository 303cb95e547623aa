"""The polite crawler against a small site served on 127.0.0.1 from a thread."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from warcio.archiveiterator import ArchiveIterator

from llammas_core.corpus.crawl import (
    CrawlConfig,
    crawl,
    domain_allowed,
    extract_links,
    normalize_url,
)
from llammas_core.corpus.netguard import is_blocked_ip
from llammas_core.errors import ConfigError


def page(title: str, *links: str) -> bytes:
    anchors = "".join(f'<a href="{href}">{href}</a>' for href in links)
    return f"<!doctype html><html><head><title>{title}</title></head><body>{anchors}</body></html>".encode()


PAGES = {
    "/": page(
        "home",
        "a.html",
        "/b.html",
        "/private/secret.html",  # disallowed by robots.txt
        "/img.png",  # wrong content type
        "/big.html",  # over max_bytes
        "/missing.html",  # 404
        "/moved",  # redirect to /e.html
        "a.html#top",  # same page as a.html once the fragment is dropped
        "http://other.example/",  # off the allow-list
        "mailto:someone@example.org",
    ),
    "/a.html": page("a", "c.html", "/"),
    "/b.html": page("b (chunked)", "/"),
    "/c.html": page("c", "d.html"),  # depth 2: its link to d (depth 3) must not be followed
    "/d.html": page("d"),
    "/e.html": page("e"),
    "/private/secret.html": page("secret"),
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
MAX_BYTES = 10_000
BIG = b"<html><body>" + b"x" * (5 * MAX_BYTES) + b"</body></html>"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send(self, status: int, ctype: str, body: bytes, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the crawler hung up after max_bytes
            pass

    def drip(self, data: bytes) -> None:
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(1.0)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.log.append((self.path, time.monotonic(), self.headers.get("User-Agent")))
        if self.path == "/robots.txt":
            self.send(server.robots_status, "text/plain", ROBOTS if server.robots_status == 200 else b"")
        elif self.path == "/img.png":
            self.send(200, "image/png", PNG)
        elif self.path == "/big.html":
            self.send(200, "text/html", BIG, length=False)  # no Content-Length: the reader must stop
        elif self.path == "/b.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            body = PAGES["/b.html"]
            for chunk in (body[:20], body[20:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/slow.html":  # headers at once, then the body at 1 byte/s
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "60")
            self.end_headers()
            self.drip(b"<html>" + b"x" * 54)
        elif self.path == "/slow-headers.html":  # even the status line trickles in
            self.drip(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok")
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/e.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path in PAGES:
            self.send(200, "text/html; charset=utf-8", PAGES[self.path])
        else:
            self.send(404, "text/html", b"not found")


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.log, server.lock, server.robots_status = [], threading.Lock(), 200
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield server
    server.shutdown()
    server.server_close()


def paths(server) -> list[str]:
    return [path for path, _, _ in server.log]


def config(server, **kw) -> CrawlConfig:
    kw = {"seeds": [server.url], "rate_limit_seconds": 0.0, "max_bytes": MAX_BYTES, "allow_loopback": True, **kw}
    return CrawlConfig(**kw)


def read_warcs(files) -> list:
    records = []
    for path in files:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                body = rec.content_stream().read()
                records.append((rec.rec_type, rec.rec_headers, rec.http_headers, body))
    return records


# ---------------------------------------------------------------- address checks (no network)


@pytest.mark.parametrize(
    "ip, blocked",
    [
        ("10.0.0.1", True),
        ("192.168.1.1", True),
        ("172.16.0.1", True),
        ("169.254.1.1", True),  # link-local (cloud metadata lives at 169.254.169.254)
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("fe80::1", True),
        ("fc00::1", True),
        ("224.0.0.1", True),  # multicast
        ("0.0.0.0", True),
        ("240.0.0.1", True),  # reserved
        ("100.64.0.1", True),  # carrier-grade NAT, not global
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        # IPv6 forms that carry a blocked IPv4 address
        ("2002:7f00:1::1", True),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", True),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::1", True),  # 6to4 of 169.254.169.254
        ("2002:5db8:d822::1", False),  # 6to4 of 93.184.216.34
        ("::ffff:10.0.0.1", True),  # IPv4-mapped
        ("::127.0.0.1", True),  # IPv4-compatible
        ("::10.0.0.1", True),
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b::5db8:d822", False),  # NAT64 of a public address: how DNS64 networks reach IPv4 sites
        ("64:ff9b:1::c0a8:101", True),  # local-use NAT64 of 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),  # Teredo, client 127.0.0.1 (obfuscated)
    ],
)
def test_blocked_ip(ip, blocked):
    assert is_blocked_ip(ip) is blocked


def test_allow_loopback_does_not_extend_to_tunnelled_loopback():
    for ip in ("2002:7f00:1::1", "64:ff9b::7f00:1", "::127.0.0.1"):
        assert is_blocked_ip(ip, allow_loopback=True), ip


def test_allow_loopback_allows_loopback_only():
    assert not is_blocked_ip("127.0.0.1", allow_loopback=True)
    assert not is_blocked_ip("127.8.9.10", allow_loopback=True)
    assert not is_blocked_ip("::1", allow_loopback=True)
    for ip in ("10.0.0.1", "192.168.1.1", "169.254.1.1", "0.0.0.0"):
        assert is_blocked_ip(ip, allow_loopback=True)


# ---------------------------------------------------------------- URLs and links


def test_normalize_url():
    assert normalize_url("HTTP://Example.COM:80/a b?q=1#frag") == "http://example.com/a%20b?q=1"
    assert normalize_url("https://example.com") == "https://example.com/"
    assert normalize_url("../x.html#y", "https://example.com/a/b/c.html") == "https://example.com/a/x.html"
    assert normalize_url("https://example.com:8443/") == "https://example.com:8443/"
    for bad in ("ftp://example.com/", "mailto:a@b.c", "javascript:void(0)", "http://", "not a url",
                "http://user:pw@example.com/", "http://example.com:99999/"):
        assert normalize_url(bad) is None, bad


def test_domain_allowed_includes_subdomains_only():
    assert domain_allowed("example.org", ["example.org"])
    assert domain_allowed("www.example.org", ["example.org"])
    assert not domain_allowed("badexample.org", ["example.org"])
    assert not domain_allowed("example.org.evil.com", ["example.org"])


def test_extract_links_order_base_and_nofollow():
    html = b'<base href="/dir/"><a href="x.html">x</a><a href="/y#f">y</a><a href="x.html">again</a>'
    assert extract_links(html, "http://h.org/p") == ["http://h.org/dir/x.html", "http://h.org/y"]
    assert extract_links(b'<meta name="robots" content="noindex, nofollow"><a href="/x">x</a>', "http://h.org/") == []


@pytest.mark.parametrize(
    "seeds", [[], ["ftp://example.com/"], ["example.com"], ["http://"], ["https://ok.org/", "nope"]]
)
def test_invalid_seeds_raise_config_error(seeds, tmp_path):
    with pytest.raises(ConfigError):
        crawl(CrawlConfig(seeds=seeds), tmp_path)


def test_invalid_allow_domains_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="allow_domains"):
        crawl(CrawlConfig(seeds=["https://ok.org/"], allow_domains=["https://ok.org/"]), tmp_path)


# ---------------------------------------------------------------- crawling the local site


def test_crawl_site(site, tmp_path):
    stats = crawl(config(site, max_depth=2, rate_limit_seconds=0.2), tmp_path)

    # Breadth-first, deterministic, each URL once, robots.txt first and once.
    assert paths(site) == [
        "/robots.txt", "/",
        "/a.html", "/b.html", "/img.png", "/big.html", "/missing.html", "/moved",  # depth 1
        "/c.html", "/e.html",  # depth 2, and the redirect target (keeps depth 1)
    ]
    assert "/private/secret.html" not in paths(site)  # robots.txt honoured
    assert "/d.html" not in paths(site)  # beyond max_depth
    assert {ua for _, _, ua in site.log} == {CrawlConfig.model_fields["user_agent"].default}

    # Rate limit: consecutive requests to the host at least rate_limit_seconds apart.
    times = [t for _, t, _ in site.log]
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.2

    assert stats.fetched == 9
    assert stats.written == 5
    assert stats.skipped == {
        "robots": 1, "content_type": 1, "too_large": 1, "http_404": 1, "redirect": 1, "off_domain": 1,
    }
    assert stats.files == [tmp_path / "crawl-00000.warc.gz"]

    records = read_warcs(stats.files)
    assert records[0][0] == "warcinfo"
    responses = {h.get_header("WARC-Target-URI"): (http, body) for kind, h, http, body in records if kind == "response"}
    want = {site.url + p.lstrip("/"): PAGES[p] for p in ("/", "/a.html", "/b.html", "/c.html", "/e.html")}
    assert {uri: body for uri, (_, body) in responses.items()} == want  # chunked b.html decodes too
    http, _ = responses[site.url]
    assert http.get_statuscode() == "200" and http.get_header("Content-Type") == "text/html; charset=utf-8"

    requests = [(h, http) for kind, h, http, _ in records if kind == "request"]
    assert len(requests) == 5
    for h, http in requests:
        assert h.get_header("WARC-Target-URI") in want and h.get_header("WARC-Date")
        assert h.get_header("WARC-Concurrent-To")
        assert http.protocol == "GET" and http.get_header("User-Agent").startswith("llammas-crawler/")


def test_loopback_refused_by_default(site, tmp_path):
    stats = crawl(config(site, allow_loopback=False), tmp_path)
    assert site.log == []  # not even robots.txt
    assert stats.skipped == {"blocked_address": 1} and stats.written == 0
    assert list(tmp_path.iterdir()) == []


def test_depth_zero_fetches_seeds_only(site, tmp_path):
    stats = crawl(config(site, max_depth=0), tmp_path)
    assert paths(site) == ["/robots.txt", "/"]
    assert stats.written == 1


def test_max_pages(site, tmp_path):
    stats = crawl(config(site, max_pages=3), tmp_path)
    assert paths(site) == ["/robots.txt", "/", "/a.html", "/b.html"]
    assert stats.fetched == 3 and stats.written == 3


def test_content_types_configurable(site, tmp_path):
    cfg = config(site, seeds=[site.url + "img.png", site.url], max_depth=0, content_types=["image/png"])
    stats = crawl(cfg, tmp_path)
    assert stats.written == 1 and stats.skipped == {"content_type": 1}
    [(_, body)] = [(h, b) for kind, h, _, b in read_warcs(stats.files) if kind == "response"]
    assert body == PNG


@pytest.mark.parametrize("status, secret_fetched", [(404, True), (500, False)])
def test_robots_unavailable(site, tmp_path, status, secret_fetched):
    """4xx robots.txt: allow all. 5xx: the host is off limits."""
    site.robots_status = status
    stats = crawl(config(site, seeds=[site.url + "private/secret.html"], max_depth=0), tmp_path)
    assert ("/private/secret.html" in paths(site)) is secret_fetched
    if not secret_fetched:
        assert paths(site) == ["/robots.txt"] and stats.skipped == {"robots_unavailable": 1}


def test_warc_rotation(site, tmp_path):
    stats = crawl(config(site, max_depth=1, max_warc_bytes=1), tmp_path)
    assert stats.written == 4  # /, a, b, e
    assert stats.files == [tmp_path / f"crawl-{i:05d}.warc.gz" for i in range(4)]
    for path in stats.files:
        kinds = [kind for kind, *_ in read_warcs([path])]
        assert kinds[0] == "warcinfo" and sorted(kinds[1:]) == ["request", "response"]


# ---------------------------------------------------------------- deadlines and empty crawls


@pytest.mark.parametrize("path", ["slow.html", "slow-headers.html"])
def test_page_deadline_covers_the_whole_request(site, tmp_path, path):
    """A server sending 1 byte/s never trips a per-read timeout; the page's deadline ends it."""
    start = time.monotonic()
    stats = crawl(config(site, seeds=[site.url + path], max_depth=0, timeout_seconds=2), tmp_path)
    took = time.monotonic() - start
    assert stats.skipped == {"page_timeout": 1} and stats.written == 0
    assert 1.8 < took < 4, took  # abandoned at about the limit (robots.txt is fast), not after 60 s


def test_empty_crawl_is_not_committed(site, tmp_path):
    from llammas_core.corpus.config import SourceConfig
    from llammas_core.corpus.stage import run_crawl
    from llammas_core.errors import InputError, TransientError
    from llammas_core.store import LocalStore

    store = LocalStore(tmp_path / "store")
    refused = SourceConfig(name="site", kind="crawl", crawl=CrawlConfig(seeds=[site.url, site.url + "a.html"]))
    with pytest.raises(InputError, match=r"crawl 'site' \(crawl/\w+\) kept no page.*non-public address: 2"):
        run_crawl(store, refused, tmp_path / "work", log=lambda m: None)
    assert not list((tmp_path / "store").rglob("manifest.json"))

    # unreachable (nothing listens there): worth a retry, and also not committed
    down = SourceConfig(name="down", kind="crawl", crawl=config(site, seeds=["http://127.0.0.1:9/"]))
    with pytest.raises(TransientError, match="crawl 'down'.*robots.txt could not be read"):
        run_crawl(store, down, tmp_path / "work", log=lambda m: None)
    assert not list((tmp_path / "store").rglob("manifest.json"))

    ok = SourceConfig(name="site", kind="crawl", crawl=config(site, max_depth=0))
    assert run_crawl(store, ok, tmp_path / "work", log=lambda m: None).manifest["records"] == 1
