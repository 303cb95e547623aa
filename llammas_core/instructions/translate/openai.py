"""An LLM translator behind any OpenAI-compatible chat/completions endpoint (vLLM, TGI, hosted APIs).

One request per segment (a prompt template around it). `base_url` may list several endpoints (vLLM
servers of the same model): the segments go through one queue to `max_concurrency` senders per
endpoint, so each endpoint has at most that many requests in flight and a faster one takes more.
429, 5xx, timeouts and connection errors are retried with exponential backoff and jitter
(Retry-After honoured, capped), on whichever endpoint is free then; any other 4xx fails at once
(ConfigError for 401/403/404: wrong key, model or URL; InputError otherwise). When retries run
out the run stops with a TransientError naming the endpoint, so the orchestrator may retry the
task later and no partial output is committed.

The API key is read from the environment variable named by `api_key_env` when the client is
built; it is never put into the config, the cache identity, errors or logs.

Nothing cut passes: an answer with `finish_reason == "length"` is reported OUTPUT_TRUNCATED
(mt.py quarantines its record). The cache identity holds what the endpoint serves (its
/models entry for the model: id and root, where the server lists them) and the user-set
`model_revision`: a name alone (TGI answers `tgi` for every model) does not pin the weights.
The official `openai` client is not used: it is not a project dependency, and httpx (already
installed) gives direct control of retry classes and concurrency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading

import httpx

from llammas_core.errors import ConfigError, InputError, TransientError
from llammas_core.instructions.translate.base import OUTPUT_TRUNCATED, Translator
from llammas_core.instructions.translate.config import TranslatorConfig
from llammas_core.languages import english_name

__all__ = ["OpenAITranslator"]

log = logging.getLogger(__name__)

_MAX_RETRY_AFTER_S = 60.0


class _Retryable(Exception):
    def __init__(self, what: str, retry_after: float | None = None):
        super().__init__(what)
        self.retry_after = retry_after


class OpenAITranslator(Translator):
    def __init__(self, cfg: TranslatorConfig):
        self.cfg = cfg
        self.urls = [u.rstrip("/") + "/chat/completions" for u in cfg.endpoints()]
        self.url = self.urls[0] if len(self.urls) == 1 else ", ".join(self.urls)  # for messages
        self._key_env = cfg.api_key_env
        self.requests_sent = 0
        self.retries = 0

    def model_id(self) -> dict:
        # endpoints excluded: the same model served elsewhere translates the same
        return {"name": self.cfg.model, "revision": self.cfg.revision, "model_revision": self.cfg.model_revision,
                "served": self.served_model()}

    def _client_kwargs(self, url: str) -> dict:
        host = httpx.URL(url).host
        loopback = host in {"127.0.0.1", "localhost", "::1"}  # never through a proxy from the environment
        return {"timeout": self.cfg.timeout_s, "headers": self._headers(), "trust_env": not loopback}

    def served_model(self) -> dict | None:
        """The endpoints' /models entry for cfg.model (or their only entry): {id, root} as listed;
        None when no server lists models (then only model_revision pins the weights). Endpoints that
        list different weights are refused: their translations would differ."""
        if not hasattr(self, "_served"):
            listed = {}
            for base in self.cfg.endpoints():
                entry = self._listed_model(base.rstrip("/") + "/models")
                if entry is not None:
                    listed[base] = entry
            if len({json.dumps(e, sort_keys=True) for e in listed.values()}) > 1:
                raise ConfigError(f"translation endpoints serve different models for {self.cfg.model!r}: {listed}")
            self._served = next(iter(listed.values()), None)
            if self._served is None and not self.cfg.model_revision:
                log.warning("translation endpoint %s lists no model %r: set translator.model_revision so the "
                            "segment cache is not reused across model updates", self.url, self.cfg.model)
        return self._served

    def _listed_model(self, url: str) -> dict | None:
        try:
            resp = httpx.get(url, **self._client_kwargs(url))
        except httpx.HTTPError as exc:
            raise TransientError(f"translation endpoint {url} unreachable ({type(exc).__name__})") from None
        entries = []
        if resp.status_code == 200:
            try:
                entries = [e for e in resp.json().get("data", []) if isinstance(e, dict)]
            except (ValueError, AttributeError):
                entries = []
        match = [e for e in entries if e.get("id") == self.cfg.model] or (entries if len(entries) == 1 else [])
        return {k: match[0][k] for k in ("id", "root") if k in match[0]} if match else None

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self._key_env) if self._key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _messages(self, text: str) -> list[dict]:
        src_name, tgt_name = english_name(self.cfg.src_lang), english_name(self.cfg.tgt_lang)
        user = self.cfg.prompt_template.format(src_name=src_name, tgt_name=tgt_name, src_lang=self.cfg.src_lang,
                                               tgt_lang=self.cfg.tgt_lang, text=text)
        msgs = [{"role": "system", "content": self.cfg.system_prompt}] if self.cfg.system_prompt else []
        return msgs + [{"role": "user", "content": user}]

    def _max_tokens(self, text: str) -> int:
        if self.cfg.max_tokens:
            return self.cfg.max_tokens
        # ~4 characters per token for Latin scripts, then the same proportional cap as the NMT backends
        return int(max(len(text) / 3, 8) * self.cfg.max_ratio) + self.cfg.max_extra_tokens

    async def _attempt(self, client: httpx.AsyncClient, url: str, text: str) -> tuple[str, str | None]:
        """One request: (translation, problem), or _Retryable / a transport error (retried), or
        ConfigError / InputError (not)."""
        body = {"model": self.cfg.model, "messages": self._messages(text), "temperature": self.cfg.temperature,
                "max_tokens": self._max_tokens(text), "stream": False}
        self.requests_sent += 1
        resp = await client.post(url, json=body)
        if resp.status_code == 429 or resp.status_code >= 500:
            ra = resp.headers.get("retry-after")
            try:
                retry_after = float(ra) if ra else None
            except ValueError:
                retry_after = None
            raise _Retryable(f"HTTP {resp.status_code}", retry_after)
        if resp.status_code in (401, 403, 404):
            raise ConfigError(
                f"translation endpoint {url} answered HTTP {resp.status_code} "
                f"(check the URL, model name {self.cfg.model!r} and the key in ${self._key_env})")
        if resp.status_code >= 400:
            raise InputError(f"translation endpoint {url} refused a request: HTTP {resp.status_code}: "
                             f"{resp.text[:200]}")
        try:
            choice = resp.json()["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"malformed response ({type(exc).__name__})") from None
        if not isinstance(content, str):
            raise _Retryable("response without text content")
        return content.strip(), OUTPUT_TRUNCATED if choice.get("finish_reason") == "length" else None

    async def _run(self, segments: list[str]) -> list[tuple[str, str | None]]:
        """Every segment through a shared queue: each endpoint has max_concurrency senders, each with one
        request in flight, so a fast endpoint takes more work and none has more than its limit. A failed
        attempt goes back into the queue after its backoff, for whichever endpoint is free then."""
        n = len(segments)
        results: list[tuple[str, str | None] | None] = [None] * n
        queue: asyncio.Queue = asyncio.Queue()
        for i in range(n):
            queue.put_nowait((i, 0))
        state = {"left": n, "error": None}
        finished = asyncio.Event()
        later: set[asyncio.Task] = set()

        def fail(exc: BaseException) -> None:
            if state["error"] is None:
                state["error"] = exc
            finished.set()

        async def requeue(item: tuple[int, int], delay: float) -> None:
            await asyncio.sleep(delay)
            queue.put_nowait(item)

        async def sender(client: httpx.AsyncClient, url: str) -> None:
            while True:
                i, attempt = await queue.get()
                try:
                    results[i] = await self._attempt(client, url, segments[i])
                except (httpx.TimeoutException, httpx.TransportError, _Retryable) as exc:
                    last = str(exc) if isinstance(exc, _Retryable) else type(exc).__name__
                    if attempt >= self.cfg.max_retries:
                        fail(TransientError(f"translation endpoint {self.url} unreachable or failing after "
                                            f"{self.cfg.max_retries + 1} attempts (last: {last} from {url})"))
                        return
                    self.retries += 1
                    delay = self.cfg.backoff_s * (2 ** attempt) * (0.5 + random.random())
                    retry_after = getattr(exc, "retry_after", None)
                    if retry_after is not None:
                        delay = max(delay, min(retry_after, _MAX_RETRY_AFTER_S))
                    log.warning("translation request to %s failed (%s), retry %d/%d in %.1fs", url, last,
                                attempt + 1, self.cfg.max_retries, delay)
                    task = asyncio.ensure_future(requeue((i, attempt + 1), delay))
                    later.add(task)
                    task.add_done_callback(later.discard)
                    continue
                except Exception as exc:  # ConfigError, InputError: no retry
                    fail(exc)
                    return
                state["left"] -= 1
                if state["left"] == 0:
                    finished.set()

        k = self.cfg.max_concurrency
        clients = [httpx.AsyncClient(limits=httpx.Limits(max_connections=k, max_keepalive_connections=k),
                                     **self._client_kwargs(url)) for url in self.urls]
        senders = [asyncio.ensure_future(sender(c, url)) for c, url in zip(clients, self.urls) for _ in range(k)]
        try:
            await finished.wait()
        finally:
            for t in senders + list(later):
                t.cancel()
            await asyncio.gather(*senders, *later, return_exceptions=True)
            for c in clients:
                await c.aclose()
        if state["error"] is not None:
            raise state["error"]
        return results

    def translate(self, segments: list[str]) -> list[str]:
        return [t for t, _ in self.translate_checked(segments)]

    def translate_checked(self, segments: list[str]) -> list[tuple[str, str | None]]:
        if not segments:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run(segments))
        # called from inside an event loop (e.g. an async caller): run in a helper thread
        result: dict = {}

        def target():
            try:
                result["value"] = asyncio.run(self._run(segments))
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc

        th = threading.Thread(target=target, daemon=True)
        th.start()
        th.join()
        if "error" in result:
            raise result["error"]
        return result["value"]
