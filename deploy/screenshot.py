"""Screenshots of the Prefect UI as a llammas user sees it, to compare before and after a change.

    python deploy/screenshot.py [--out deploy/screenshots] [--chromium chromium]

Starts a throwaway `prefect server` (temporary PREFECT_HOME, free loopback port), registers the
deployments of configs/demo.yaml with deploy/deployments.py, runs the `corpus` deployment on the
bundled demo web documents through a process worker (a temporary store, about a minute on 2 cores),
then takes headless Chromium screenshots of:

    form-<deployment>.png   the custom-run form of every deployment (corpus, instructions, train, evaluate, pipeline)
    run-corpus.png          the completed corpus run (name, tags, state, task graph, logs)
    artifact-<key>.png      its stage summary and step table
    run-corpus-again.png, task-corpus-et-again.png   the same parameters again: the stage is Cached
    run-failed.png          a corpus run whose source is missing: Failed, with its one-line message
    run-retried.png         the same run after Retry (the source arrived): Completed, the same name
    run-pipeline.png        the whole demo (corpora, tiny base, instructions, CPT, SFT, evaluation): the
                            training tasks and their loss artifacts (a few minutes on 2 cores)
    artifact-*-report.png   its evaluation report (and comparison table, loss curves)

Needs Debian's `chromium` (apt-get install chromium) or any Chrome on PATH; nothing leaves the
machine (telemetry off, the UI talks to the local server only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOL = "llammas-process"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url: str, path: str, body: dict | None = None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def start_server(home: Path, port: int) -> tuple[subprocess.Popen, dict]:
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"{url}/api",
           "PREFECT_UI_API_URL": f"{url}/api", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db"}
    env.pop("LLAMMAS_REPO", None)
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if api(f"{url}/api", "/health") is True:
                return proc, env
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    sys.exit(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")


def run(env: dict, *args: str, timeout: float = 600) -> None:
    r = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def shrink(png: Path) -> None:
    """A 256-colour palette: the UI's flat colours survive, the file is a third of the size."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as im:
        small = im.convert("RGB").quantize(256)
    small.save(png, optimize=True)


def shoot(chromium: str, url: str, png: Path, profile: Path, height: int = 1000, width: int = 1400) -> None:
    # --virtual-time-budget lets the single-page app fetch from the API and render before the shot
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
           "--virtual-time-budget=20000", f"--screenshot={png}", url]
    subprocess.run(cmd, capture_output=True, timeout=180)
    if not png.is_file():
        sys.exit(f"no screenshot of {url}")
    shrink(png)
    print(f"{png}  <-  {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "deploy" / "screenshots"))
    parser.add_argument("--chromium", default=next((c for c in ("chromium", "chromium-browser", "google-chrome")
                                                    if shutil.which(c)), None))
    args = parser.parse_args(argv)
    if not args.chromium:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="llammas-shots-") as tmp:
        tmp = Path(tmp)
        (tmp / "home").mkdir()
        port = free_port()
        server, env = start_server(tmp / "home", port)
        url = f"http://127.0.0.1:{port}"
        try:
            run(env, "-m", "deploy.deployments", "--config", "configs/demo.yaml", "--work-pool", POOL)
            deployments = {d["name"]: d for d in api(f"{url}/api", "/deployments/filter", {})}
            params = dict(deployments["corpus"]["parameters"])
            params["corpus"] = {**params["corpus"], "sources": [
                {"name": "demo-web", "kind": "jsonl", "paths": ["demo/web/docs.jsonl", "demo/web/bad.jsonl"]}],
                "executor": {"kind": "local", "tasks": 1, "workers": 1}}
            params["store"] = {"uri": f"file://{tmp}/store", "work_dir": str(tmp / "work")}
            runs = []
            for _ in range(2):  # the second run reuses the committed stage: its task shows Cached
                flow_run = api(f"{url}/api", f"/deployments/{deployments['corpus']['id']}/create_flow_run",
                               {"parameters": params})
                run(env, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once")
                state = api(f"{url}/api", f"/flow_runs/{flow_run['id']}")["state"]
                print(f"corpus run: {state['name']}: {state.get('message') or ''}")
                runs.append(flow_run["id"])

            profile = tmp / "chromium"
            for name in ("corpus", "instructions", "train", "evaluate", "pipeline"):
                if name in deployments:
                    shoot(args.chromium, f"{url}/deployments/deployment/{deployments[name]['id']}/run",
                          out / f"form-{name}.png", profile, height=2000)
            shoot(args.chromium, f"{url}/runs/flow-run/{runs[0]}", out / "run-corpus.png", profile)
            artifacts = api(f"{url}/api", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [runs[0]]}}})
            for artifact in artifacts:
                if artifact.get("key"):  # the stage summary and the step table
                    shoot(args.chromium, f"{url}/artifacts/artifact/{artifact['id']}",
                          out / f"artifact-{artifact['key']}.png", profile, width=1800)
            again = api(f"{url}/api", "/task_runs/filter", {"flow_runs": {"id": {"any_": [runs[1]]}}})
            shoot(args.chromium, f"{url}/runs/flow-run/{runs[1]}", out / "run-corpus-again.png", profile)
            for task_run in again:
                shoot(args.chromium, f"{url}/runs/task-run/{task_run['id']}",
                      out / f"task-{task_run['name']}-again.png", profile)
            failed_and_retried(args.chromium, url, env, deployments["corpus"]["id"], params, tmp, out, profile)
            pipeline(args.chromium, url, env, deployments.get("pipeline"), tmp, out, profile)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


def _run_once(env: dict, url: str, flow_run_id: str) -> dict:
    run(env, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=1800)
    flow_run = api(f"{url}/api", f"/flow_runs/{flow_run_id}")
    print(f"{flow_run['name']}: {flow_run['state']['name']}: {flow_run['state'].get('message') or ''}")
    return flow_run


def failed_and_retried(chromium: str, url: str, env: dict, deployment_id: str, params: dict, tmp: Path, out: Path,
                       profile: Path) -> None:
    """A corpus run on a source that is not there yet fails; the source arrives; Retry (the request the
    UI's button sends) completes the same run under the same name."""
    later = tmp / "arrives-later.jsonl"
    failing = json.loads(json.dumps(params))
    failing["corpus"]["sources"] = [{"name": "late-web", "kind": "jsonl", "paths": [str(later)]}]
    failing["store"] = {"uri": f"file://{tmp}/store-retry", "work_dir": str(tmp / "work-retry")}
    flow_run = api(f"{url}/api", f"/deployments/{deployment_id}/create_flow_run", {"parameters": failing})
    _run_once(env, url, flow_run["id"])
    shoot(chromium, f"{url}/runs/flow-run/{flow_run['id']}", out / "run-failed.png", profile)
    shutil.copyfile(REPO / "demo" / "web" / "docs.jsonl", later)
    api(f"{url}/api", f"/flow_runs/{flow_run['id']}/set_state",
        {"state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"}, "force": False})
    _run_once(env, url, flow_run["id"])
    shoot(chromium, f"{url}/runs/flow-run/{flow_run['id']}", out / "run-retried.png", profile)


def pipeline(chromium: str, url: str, env: dict, deployment: dict | None, tmp: Path, out: Path, profile: Path) -> None:
    """The demo's whole pipeline (training and the evaluation report) on a temporary store."""
    if deployment is None:
        return
    params = json.loads(json.dumps(deployment["parameters"]))
    params["config"]["store"] = {"uri": f"file://{tmp}/store-pipeline", "work_dir": str(tmp / "work-pipeline")}
    flow_run = api(f"{url}/api", f"/deployments/{deployment['id']}/create_flow_run", {"parameters": params})
    _run_once(env, url, flow_run["id"])
    shoot(chromium, f"{url}/runs/flow-run/{flow_run['id']}", out / "run-pipeline.png", profile, height=1400)
    artifacts = api(f"{url}/api", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}})
    for artifact in artifacts:
        key = artifact.get("key") or ""
        if key.endswith(("-report", "-comparison", "-loss")):
            shoot(chromium, f"{url}/artifacts/artifact/{artifact['id']}", out / f"artifact-{key}.png", profile,
                  width=1800, height=1400)


if __name__ == "__main__":
    sys.exit(main())
