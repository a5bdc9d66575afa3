"""The `fusion-course` command: help, unknown commands, and `python -m fusion_course`."""
from __future__ import annotations

import subprocess
import sys

from fusion_course.cli import COMMANDS, main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fusion_course", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for name in ("train", "grade", "build-exercises", "bench", "lab"):
        assert name in out.stdout


def test_unknown_subcommand_exits_nonzero_with_the_list_and_no_traceback():
    out = run("trian")
    assert out.returncode == 2
    assert "unknown command 'trian'" in out.stderr
    assert all(name in out.stderr for name in COMMANDS)
    assert "Traceback" not in out.stderr + out.stdout


def test_no_subcommand_exits_nonzero_with_a_clear_message():
    out = run()
    assert out.returncode == 2
    assert "no command given" in out.stderr
    assert "Traceback" not in out.stderr


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("fusion-course")
    assert exe, "the console script is not on PATH: install the course with pip install -e ."
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("fusion_course ")


def test_usage_errors_become_messages(monkeypatch, capsys):
    import types

    from fusion_course.errors import UsageError

    def boom(argv):
        raise UsageError("no such folder 'x'; pass a folder of notebooks")

    fake = types.ModuleType("fake_cmd")
    fake.main = boom
    monkeypatch.setitem(sys.modules, "fake_cmd", fake)
    monkeypatch.setitem(COMMANDS, "fake", ("fake_cmd", "a fake command"))
    assert main(["fake"]) == 2
    assert "fusion-course fake: error: no such folder 'x'" in capsys.readouterr().err
