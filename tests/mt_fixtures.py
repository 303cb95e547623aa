"""Shared helpers for the machine-translation tests: a loopback chat/completions server, test-double
translators for span logic, and sample texts. Nothing here reaches the network."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from llammas_core.instructions.translate.base import Translator
from llammas_core.instructions.translate.config import TranslatorConfig

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca" / "alpaca_5000.json"
if not ALPACA.exists():
    ALPACA = Path("/work/shared/data/alpaca/alpaca_5000.json")

TOKEN = re.compile(r"(<\s*x\s*\d+\s*>)")

# A little English and Estonian written for these tests (not evaluation data).
ENGLISH = [
    "Give three tips for staying healthy.",
    "Eat a balanced diet and make sure to include plenty of fruits and vegetables.",
    "Exercise regularly to keep your body active and strong.",
    "Get enough sleep and maintain a consistent sleep schedule.",
    "What is the capital of France?",
    "Describe the structure of an atom.",
    "Write a short story about a cat who learns to fly.",
    "Explain why the sky is blue in simple words.",
    "List five countries in Europe and their capitals.",
    "Rewrite the following sentence in the passive voice.",
    "The quick brown fox jumps over the lazy dog.",
    "Summarize the article in two sentences.",
]
ESTONIAN = [
    "Tervena püsimiseks söö tasakaalustatult ja lisa toidule palju puu- ja köögivilju.",
    "Liigu regulaarselt, et hoida keha aktiivse ja tugevana.",
    "Maga piisavalt ja hoia kindlat unerežiimi.",
    "Prantsusmaa pealinn on Pariis.",
    "Kirjuta lühike lugu kassist, kes õpib lendama.",
    "Selgita lihtsate sõnadega, miks on taevas sinine.",
]


def estonianish(text: str) -> str:
    """A deterministic 'translation' for the test doubles: each prose word gets an Estonian-looking
    ending; <xN> tokens are left as they are. Not MT: it only lets span/QE logic be checked."""
    out = []
    for part in TOKEN.split(text):
        if TOKEN.fullmatch(part):
            out.append(part)
        else:
            out.append(re.sub(r"[A-Za-z]+", lambda m: m.group(0).lower() + "ile", part))
    return "".join(out)


class FakeTranslator(Translator):
    """Test double for the span/segment logic: translates prose with `fn`, counts calls."""

    def __init__(self, fn=estonianish, name: str = "fake"):
        self.cfg = TranslatorConfig(backend="openai", model=name, beams=1)
        self.fn = fn
        self.seen: list[str] = []

    def translate(self, segments: list[str]) -> list[str]:
        self.seen += segments
        return [self.fn(s) for s in segments]


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions server on 127.0.0.1 (a thread).

    The text to translate is the part of the last user message after the first blank line (the
    default prompt template). Answers `estonianish(text)`. Misbehaviour on schedule:
    every `fail_429`-th request answers 429, every `fail_500`-th 500 (a text at most once), every `slow`-th sleeps
    `slow_s` first. Records every request (text, status) and the most requests in flight.
    `models`: the GET /v1/models listing (None: 404, like a server without it); `finish(text)`: the
    finish_reason of an answer ("stop" by default; "length" for a cut answer)."""

    def __init__(self, fail_429: int = 0, fail_500: int = 0, slow: int = 0, slow_s: float = 0.3,
                 delay_s: float = 0.0, translate=estonianish, models: list[dict] | None = None,
                 finish=lambda text: "stop"):
        self.fail_429, self.fail_500, self.slow, self.slow_s, self.delay_s = fail_429, fail_500, slow, slow_s, delay_s
        self.translate = translate
        self.models, self.finish = models, finish
        self.lock = threading.Lock()
        self.requests: list[tuple[str, int]] = []
        self.auth: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.force_status: int | None = None
        self.failed: set[str] = set()  # a text fails at most once (429/500), so retries can succeed
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                found = self.path.rstrip("/") == "/v1/models" and server.models is not None
                data = json.dumps({"object": "list", "data": server.models} if found else {"error": "no"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                user = body["messages"][-1]["content"]
                text = user.split("\n\n", 1)[1] if "\n\n" in user else user
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    k = len(server.requests) + 1
                    status = 200
                    if server.force_status:
                        status = server.force_status
                    elif text not in server.failed and server.fail_429 and k % server.fail_429 == 0:
                        status = 429
                    elif text not in server.failed and server.fail_500 and k % server.fail_500 == 0:
                        status = 500
                    if status in (429, 500):
                        server.failed.add(text)
                    server.requests.append((text, status))
                    server.auth.append(self.headers.get("Authorization"))
                counted = True
                try:
                    if server.slow and k % server.slow == 0:
                        time.sleep(server.slow_s)
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    if self.path.rstrip("/") != "/v1/chat/completions":
                        status = 404
                    if status == 200:
                        payload = {"id": f"r{k}", "object": "chat.completion", "model": body["model"],
                                   "choices": [{"index": 0, "finish_reason": server.finish(text), "message": {
                                       "role": "assistant", "content": server.translate(text)}}]}
                    else:
                        payload = {"error": {"message": "try later", "code": status}}
                    data = json.dumps(payload).encode()
                    with server.lock:  # done before the answer leaves: the client may send its next one at once
                        server.in_flight -= 1
                        counted = False
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    if counted:
                        with server.lock:
                            server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def ok_texts(self) -> list[str]:
        with self.lock:
            return [t for t, s in self.requests if s == 200]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def openai_config(url: str, **kw) -> TranslatorConfig:
    base = dict(backend="openai", model="tiny-llm", base_url=url, beams=1, max_concurrency=4, max_retries=4,
                backoff_s=0.01, timeout_s=5.0, api_key_env="LLAMMAS_TEST_MT_KEY")
    base.update(kw)
    return TranslatorConfig(**base)
