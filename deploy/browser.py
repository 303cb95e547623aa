"""A headless Chromium driven over the DevTools protocol (websockets, already a Prefect dependency):
type into the Prefect UI's forms and read what the page shows, as a user would (tests/test_deploy_forms.py).
deploy/screenshot.py only takes pictures; this one clicks and types."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, chromium: str, profile: Path, width: int = 1400, height: int = 1000):
        from websockets.sync.client import connect

        port = _free_port()
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
             f"--remote-debugging-port={port}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                    page = next(t for t in json.loads(r.read()) if t["type"] == "page")
                break
            except (OSError, StopIteration, ValueError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.3)
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict] = []  # DevTools events seen while waiting for replies (Network.*, ...)

    def send(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"page never satisfied: {expression[:120]}")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def key(self, key: str, code: int | None = None, text: str | None = None, modifiers: int = 0) -> None:
        extra = {"windowsVirtualKeyCode": code} if code else {}
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, modifiers=modifiers,
                  **({"text": text} if text else {}), **extra)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key, modifiers=modifiers, **extra)

    def type(self, text: str) -> None:
        for ch in text:
            self.key(ch, text=ch)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
