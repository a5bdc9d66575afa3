"""`fusion-course wheelhouse`: its argument handling and the pip commands it plans (no network: --dry-run)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fusion_course import cli
from fusion_course.commands import wheelhouse as wh

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / ".ci" / "constraints.txt"


def _plan(**kw):
    args = dict(out=Path("wh"), platforms=list(wh.PLATFORMS), pythons=["3.11"], reqs=["torch>=2.4", "numpy>=1.24"],
                constraints=PINS, pip=("pip",))
    args.update(kw)
    return wh.plan(**args)


def test_every_platform_gets_binary_wheels_at_the_pinned_versions():
    steps = _plan()
    assert [s.what for s in steps] == ["linux, Python 3.11", "macos, Python 3.11", "windows, Python 3.11"]
    for step, name in zip(steps, wh.PLATFORMS):
        argv = list(step.argv)
        assert argv[:4] == ["pip", "download", "--dest", str(Path("wh") / name)]
        assert "--only-binary=:all:" in argv and argv[argv.index("-c") + 1] == str(PINS)
        platforms = [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]
        assert platforms == list(wh.PLATFORMS[name])
        assert argv[argv.index("--python-version") + 1] == "3.11" and "cp311" in argv
        assert {"torch>=2.4", "setuptools>=68", "wheel"} <= set(argv)
        assert "--index-url" not in argv                              # PyPI only unless asked


def test_linux_lists_every_manylinux_level_its_wheels_use():
    # pip matches --platform tags exactly: NVIDIA's wheels for torch 2.15 are tagged manylinux_2_27 (cudnn,
    # cublas, cusolver, cufile), 2_25 (cupti) and 2_18 (nccl); without 2_27 the download stops at cudnn.
    tags = set(wh.PLATFORMS["linux"])
    assert {f"manylinux_2_{m}_x86_64" for m in range(17, 29)} | {"manylinux2014_x86_64"} == tags


def test_the_cpu_index_is_used_for_linux_only_and_pypi_stays_for_the_rest():
    steps = _plan(torch_index="https://download.pytorch.org/whl/cpu")
    linux, macos, windows = (list(s.argv) for s in steps)
    assert linux[linux.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert linux[linux.index("--extra-index-url") + 1] == wh.PYPI
    assert "--index-url" not in macos and "--index-url" not in windows


def test_one_step_per_platform_and_python():
    steps = _plan(platforms=["linux"], pythons=["3.10", "3.12"])
    assert [s.what for s in steps] == ["linux, Python 3.10", "linux, Python 3.12"]
    assert "cp310" in steps[0].argv and "cp312" in steps[1].argv


def test_requirements_follow_the_course_and_its_extras():
    base, dev = wh.requirements([]), wh.requirements(["dev"])
    assert "torch>=2.4" in base and "nbclient>=0.9" in base and not any(r.startswith("pytest") for r in base)
    assert set(base) < set(dev) and "nbval>=0.11" in dev


def test_the_readme_gives_each_learner_one_offline_command():
    text = wh.readme(["linux", "windows"], ["dev"])
    assert "python -m pip install --no-index --find-links WHEELS/linux -e \".[dev]\" -c .ci/constraints.txt" in text
    assert "WHEELS\\windows" in text and "macos" not in text


def test_dry_run_prints_the_commands_and_downloads_nothing(tmp_path, capsys):
    out = tmp_path / "wheels"
    assert cli.main(["wheelhouse", "--out", str(out), "--platform", "macos", "--python", "3.12", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# macos, Python 3.12\n") and "macosx_14_0_arm64" in printed and sys.executable in printed
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    ([], "required: --out"),
    (["--out", "w", "--platform", "beos"], "invalid choice"),
    (["--out", "w", "--python", "2.7"], "3.10 or newer"),
    (["--out", "w", "--extras", "gpu"], "no such extra"),
    (["--out", "w", "--torch-index", "not a url"], "takes a URL"),
    (["--out", "w", "--constraints", "missing.txt"], "no constraints file"),
])
def test_bad_input_is_one_line_with_exit_2(argv, words, capsys):
    assert cli.main(["wheelhouse", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_other_platforms_run_pip_with_their_own_environment_markers():
    steps = wh.plan(Path("wh"), ["linux", "windows"], ["3.11"], ["torch>=2.4"], PINS)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    by_name = {s.what.split(",")[0]: list(s.argv) for s in steps}
    windows = by_name["windows"]
    assert windows[:6] == [sys.executable, "-m", "fusion_course.commands.wheelhouse", "pip-as", "windows", "3.11"]
    if sys.platform == "linux" and here == "3.11":
        assert by_name["linux"][:3] == [sys.executable, "-m", "pip"]


def test_pip_as_evaluates_markers_for_the_target(monkeypatch):
    from pip._vendor.packaging import markers

    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        seen["windows"] = markers.Marker('platform_system == "Windows" and python_version == "3.12"').evaluate()
        seen["linux"] = markers.Marker('platform_system == "Linux"').evaluate()
        return 0

    monkeypatch.setattr("pip._internal.cli.main.main", fake_main)
    monkeypatch.setattr(markers, "default_environment", markers.default_environment)   # restored after the test
    assert wh.pip_as("windows", "3.12", ["download", "x"]) == 0
    assert seen == {"argv": ["download", "x"], "windows": True, "linux": False}
