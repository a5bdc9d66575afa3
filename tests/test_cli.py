"""The `fusion-course` command: help, unknown commands, and `python -m fusion_course`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


# ----------------------------------------------------------------------------- bad input: one line, exit 2
def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("exc, words", [
    (FileNotFoundError(2, "No such file or directory", "data/missing.csv"), "check the path"),
    (PermissionError(13, "Permission denied", "/root/x"), "choose a path you can write to"),
    (NotADirectoryError(20, "Not a directory", "a-file/run"), "part of the path is a file"),
])
def test_path_errors_a_command_did_not_catch_become_one_line(monkeypatch, capsys, exc, words):
    import types

    def boom(argv):
        raise exc

    fake = types.ModuleType("fake_cmd")
    fake.main = boom
    monkeypatch.setitem(sys.modules, "fake_cmd", fake)
    monkeypatch.setitem(COMMANDS, "fake", ("fake_cmd", "a fake command"))
    code = main(["fake"])
    assert_one_line_error(code, capsys.readouterr().err, f"fusion-course fake: error: {exc.filename}", words)


@pytest.mark.parametrize("argv, words", [
    (["bench", "nope"], "invalid choice"),
    (["bench", "fusion", "--batch", "0"], "--batch"),
    (["bench", "fusion", "--bogus"], "unrecognized arguments"),
    (["build-exercises", "--solutions", "no/such/folder"], "does not exist"),
    (["build-exercises", "--bogus"], "unrecognized arguments"),
    (["build-exercises", "--out", "/proc/no-such-folder/exercises"], "--out"),
])
def test_bad_input_is_one_line_with_exit_2(capsys, argv, words):
    code = main(argv)
    assert_one_line_error(code, capsys.readouterr().err, words)


@pytest.mark.parametrize("command", ["train", "bench", "build-exercises", "site"])
def test_every_option_parser_answers_a_typo_in_one_line(capsys, command):
    """The commands share one parser (cli.CommandParser): a wrong option is one line and exit 2, --help exits 0."""
    assert_one_line_error(main([command, "--no-such-option"]), capsys.readouterr().err, "unrecognized arguments")
    assert main([command, "--help"]) == 0
    assert "usage: fusion-course" in capsys.readouterr().out


def test_build_exercises_finds_the_course_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build-exercises", "--check"]) == 0
    assert "exercises up to date" in capsys.readouterr().out
    assert not (tmp_path / "exercises").exists()


# ----------------------------------------------------------------------------- fusion-course lab
def test_lab_outside_a_course_is_one_line(tmp_path, monkeypatch, capsys):
    from fusion_course.commands import lab

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(lab, "START", Path("notebooks") / "no_such_start.ipynb")
    assert_one_line_error(main(["lab"]), capsys.readouterr().err, "cannot find", "course")


def test_lab_opens_the_start_notebook_with_the_browser_at_the_root_and_no_news(tmp_path, monkeypatch):
    from fusion_course.commands import lab

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    cmd = lab.lab_command(tmp_path, ["--no-browser"])
    assert f"--ServerApp.root_dir={tmp_path}" in cmd
    assert "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb?file-browser-path=/" in cmd
    assert "--LabApp.news_url=None" in cmd and cmd[-1] == "--no-browser"
    settings = [c.split("=", 1)[1] for c in cmd if c.startswith("--LabApp.user_settings_dir=")]
    assert settings and Path(settings[0]).is_relative_to(tmp_path / "data")
    news = Path(settings[0]) / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    assert json.loads(news.read_text()) == {"fetchNews": "false"}
    news.write_text(json.dumps({"fetchNews": "true"}))          # a learner's own choice is kept
    lab.settings_dir()
    assert json.loads(news.read_text()) == {"fetchNews": "true"}


def test_lab_trusts_the_course_notebooks(tmp_path, monkeypatch):
    import nbformat
    from nbformat.sign import NotebookNotary

    from fusion_course.commands import lab

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    for folder in ("notebooks", "exercises"):
        (tmp_path / folder).mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": "<b>x</b>"})])])
        nbformat.write(nb, str(tmp_path / folder / "01_x.ipynb"))
    before = (tmp_path / "notebooks" / "01_x.ipynb").read_bytes()
    assert lab.trust_notebooks(tmp_path) == 2
    assert lab.trust_notebooks(tmp_path) == 0                    # already trusted
    notary = NotebookNotary()
    for folder in ("notebooks", "exercises"):
        assert notary.check_signature(nbformat.read(str(tmp_path / folder / "01_x.ipynb"), as_version=4))
    assert (tmp_path / "notebooks" / "01_x.ipynb").read_bytes() == before   # the files are not rewritten


def test_lab_leaves_notebooks_with_stateless_widgets_untrusted(tmp_path, monkeypatch):
    """Trusted, a widget output without saved state shows "model not found"; untrusted, its PNG or text."""
    import nbformat
    from nbformat.sign import NotebookNotary

    from fusion_course.commands import lab

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "notebooks").mkdir()
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "bar"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("bar", outputs=[
        nbformat.v4.new_output("display_data", data=view)])])
    nbformat.write(nb, str(tmp_path / "notebooks" / "06_stateless.ipynb"))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}, "version_major": 2}}
    nbformat.write(nb, str(tmp_path / "notebooks" / "01_with_state.ipynb"))
    assert lab.trust_notebooks(tmp_path) == 1
    notary = NotebookNotary()
    read = lambda name: nbformat.read(str(tmp_path / "notebooks" / name), as_version=4)  # noqa: E731
    assert notary.check_signature(read("01_with_state.ipynb"))
    assert not notary.check_signature(read("06_stateless.ipynb"))
