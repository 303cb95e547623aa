"""Serve mode on the shared Prefect server (tests/deploy_server.py). Its own file, named to run after
test_deploy_forms.py and test_deploy_runs.py: serving re-registers the deployments without a pull step."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.deploy_server import REPO, _deployments, _expected_names, _stop


@pytest.mark.slow
def test_serve_mode_registers_and_polls(server):
    """Last: serving re-registers the same names without a pull step (it runs the flows itself)."""
    proc = subprocess.Popen([sys.executable, "-m", "deploy.deployments", "--serve"], cwd=REPO, env=server.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            deps = _deployments(server)
            if deps and all(d.pull_steps is None for d in deps.values()):
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(1)
        assert set(deps) == _expected_names()
        assert all(d.pull_steps is None for d in deps.values())
        assert deps["corpus/corpus-refresh"].schedules[0].schedule.cron == "0 3 * * 1"
    finally:
        _stop(proc)
