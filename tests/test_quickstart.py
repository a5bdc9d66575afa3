"""The README's Quick start: exactly two commands, and the first one really opens the course.

The first command runs verbatim in a subprocess. JupyterLab reads its port, token and browser settings from a
temporary config folder (JUPYTER_CONFIG_DIR), so nothing is added to the command; the test fetches the start
notebook from the server, then stops it.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Quick start' section"
    blocks = re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", section.group(1), re.S)
    assert len(blocks) == 1, f"the Quick start must hold one fenced shell block, found {len(blocks)}"
    return [line for line in blocks[0].splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_quick_start_has_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    assert "lab" in commands[0] and "pip install" in commands[0]
    assert commands[1] == "python -m pytest"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert quickstart_commands()[1] in [line.strip() for line in ci]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_first_command_opens_the_start_notebook(tmp_path):
    port, token = _free_port(), "quickstart-test-token"
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"port": port, "port_retries": 0, "token": token, "open_browser": False, "ip": "127.0.0.1"},
    }))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(quickstart_commands()[0], shell=True, cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks/00_start_here.ipynb?token={token}&content=0"
        deadline, last = time.time() + 240, None
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    info = json.load(response)
                    assert info["name"] == "00_start_here.ipynb"
                    page = urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/lab/tree/notebooks/00_start_here.ipynb?token={token}", timeout=10)
                    assert page.status == 200 and b"JupyterLab" in page.read()
                    return
            except (OSError, ValueError) as exc:
                last = exc
                time.sleep(1)
        pytest.fail(f"JupyterLab did not serve the start notebook (last error {last}); log:\n"
                    + (tmp_path / "lab.log").read_text()[-3000:])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
