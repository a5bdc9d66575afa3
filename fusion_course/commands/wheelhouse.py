"""`fusion-course wheelhouse`: a folder of the course's pinned wheels, for a room without internet.

usage: fusion-course wheelhouse --out DIR [--platform linux|macos|windows|all] [--python X.Y]...
                                [--extras dev] [--torch-index URL] [--constraints FILE] [--dry-run]

For each platform, ``pip download`` fetches binary wheels of the course's dependencies at the versions of
``.ci/constraints.txt`` into ``DIR/<platform>/`` (for each ``--python`` version; the default is the Python
running the command), plus setuptools and wheel (the editable install builds the course with them). The teacher copies DIR to a USB stick or serves it on the room's network; each learner then
installs with no internet, from the course folder:

  python -m pip install --no-index --find-links DIR/linux -e ".[dev]" -c .ci/constraints.txt

(``DIR/macos`` or ``DIR\\windows`` elsewhere). DIR/README.txt repeats the commands for each platform.

PyTorch: PyPI serves CPU builds for macOS (Apple silicon) and Windows, but for Linux only the CUDA build,
which pulls about 3 GB of NVIDIA libraries. A teacher who can reach PyTorch's own index adds
``--torch-index https://download.pytorch.org/whl/cpu``: on Linux, torch and torchvision then come as their
``+cpu`` builds (``torch==X`` in the constraints matches ``X+cpu``), everything else from PyPI.
``--dry-run`` prints the pip commands and downloads nothing.

Every folder, the machine's own OS included, is downloaded with the target's ``--platform`` tags, so that it
suits any learner's machine of that OS rather than only ones like the teacher's (a download for the running
interpreter would take unpinned dependencies' newest wheels, e.g. a manylinux_2_34 build that an older glibc
cannot install). pip matches ``--platform`` tags exactly, so a level missing from the list hides a wheel: PyPI's
torch 2.15 for Linux needs nvidia-cudnn-cu13, whose wheels are tagged ``manylinux_2_27`` only, and a download
with 2_17 and 2_28 alone stops at "from versions: 0.0.0a0". :data:`PLATFORMS` therefore lists every manylinux
level from 2_17 to 2_28.

Another OS than the one running the command: ``pip download --platform`` picks the target's wheels, but
evaluates the environment markers of dependencies (``; platform_system == "Linux"``) for the machine it runs
on (pypa/pip#4304, #10050), so a Windows download from Linux would chase Linux-only packages and miss
Windows-only ones. Those downloads therefore run pip with the target OS's marker values
(:data:`MARKERS`, :func:`pip_as`).

Exit status 0 when every download succeeded, 1 when pip failed, 2 for bad input.
"""
from __future__ import annotations

import argparse
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..cli import CommandParser, parse_command
from ..errors import UsageError

# pip's --platform tags per learner's OS. pip matches manylinux tags exactly, so Linux lists every glibc level
# from 2.28 (torch's) down to 2.17: NVIDIA's wheels for torch use 2_27, 2_25 and 2_18 too. macOS names one
# recent version (pip adds the older compatible ones itself).
# PyTorch publishes no macOS x86_64 wheels any more: Apple silicon only.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux": (*(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)), "manylinux2014_x86_64"),
    "macos": ("macosx_14_0_arm64",),
    "windows": ("win_amd64",),
}
# PEP 508 marker values of each target OS (and its CPU), for pip_as().
MARKERS: dict[str, dict[str, str]] = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
}
PYPI = "https://pypi.org/simple"
BUILD_TOOLS = ("setuptools>=68", "wheel")


@dataclass(frozen=True)
class Step:
    """One pip command of the plan, and what it is for."""

    what: str
    argv: tuple[str, ...]

    def shell(self) -> str:
        return shlex.join(self.argv)


def requirements(extras: list[str]) -> list[str]:
    """The installed course's dependencies, and those of ``extras`` (from its metadata, as pip reads them).

    >>> reqs = requirements(["dev"])
    >>> "torch>=2.4" in reqs and "pytest>=8.0" in reqs and "sphinx>=8.1,<10" not in reqs
    True
    """
    from importlib import metadata

    dist = metadata.distribution("fusion-course")
    known = dist.metadata.get_all("Provides-Extra") or []
    for extra in extras:
        if extra not in known:
            raise UsageError(f"--extras {extra}: the course has no such extra; choose from {', '.join(sorted(known))}")
    out = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        m = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if m is None or m.group(1) in extras:
            out.append(spec.strip().replace(" ", ""))
    return list(dict.fromkeys(out))


def _python_tag(version: str) -> tuple[str, str]:
    """``("3.11", "cp311")`` from ``3.11``; bad input is a UsageError."""
    m = re.fullmatch(r"3\.(\d{1,2})", version.strip())
    if not m or int(m.group(1)) < 10:
        raise UsageError(f"--python takes a version like 3.11 (3.10 or newer), got {version!r}")
    return version.strip(), f"cp3{m.group(1)}"


def native() -> str | None:
    """The name in :data:`PLATFORMS` of the OS running this, if it is one of them."""
    return {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform)


def is_host(name: str, version: str) -> bool:
    """Whether target ``name`` with Python ``version`` is the machine running this: its OS, CPU and Python."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (name == native() and version == here
            and platform.machine().lower() == MARKERS[name]["platform_machine"].lower())


def pip_for(name: str, version: str) -> tuple[str, ...]:
    """How to run pip for target ``name`` and Python ``version``: plain pip, or :func:`pip_as` for markers."""
    if is_host(name, version):
        return (sys.executable, "-m", "pip")
    return (sys.executable, "-m", "fusion_course.commands.wheelhouse", "pip-as", name, version)


def pip_as(name: str, version: str, argv: list[str]) -> int:
    """Run pip with the environment markers of OS ``name`` and Python ``version`` (see the module's note).

    pip's vendored ``packaging`` reads the running machine's values from ``markers.default_environment()``
    whenever it evaluates a dependency's marker; replacing that function is the whole workaround.
    """
    from pip._internal.cli import main as pip_cli
    from pip._vendor.packaging import markers

    target = {**MARKERS[name], "python_version": version, "python_full_version": f"{version}.0",
              "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    here = markers.default_environment
    markers.default_environment = lambda: {**here(), **target}
    return int(pip_cli.main(argv) or 0)


def plan(out: Path, platforms: list[str], pythons: list[str], reqs: list[str], constraints: Path,
         torch_index: str | None = None, pip: tuple[str, ...] | None = None) -> list[Step]:
    """The pip commands that fill ``out``: per platform and Python, binary wheels only, at the pinned versions.

    ``pip`` replaces the pip command of every step (tests); by default each step gets :func:`pip_for`.

    >>> (step,) = plan(Path("wh"), ["windows"], ["3.11"], ["torch>=2.4"], Path("c.txt"), pip=("pip",))
    >>> step.shell()
    "pip download --dest wh/windows --only-binary=:all: --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none -c c.txt 'torch>=2.4' 'setuptools>=68' wheel"
    """
    steps = []
    for name in platforms:
        for version in pythons:
            version, abi = _python_tag(version)
            argv = [*(pip or pip_for(name, version)), "download", "--dest", str(out / name), "--only-binary=:all:"]
            for tag in PLATFORMS[name]:
                argv += ["--platform", tag]
            argv += ["--python-version", version, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
            if torch_index and name == "linux":
                argv += ["--index-url", torch_index, "--extra-index-url", PYPI]
            argv += ["-c", str(constraints), *reqs, *BUILD_TOOLS]
            steps.append(Step(f"{name}, Python {version}", tuple(argv)))
    return steps


def readme(platforms: list[str], extras: list[str]) -> str:
    """DIR/README.txt: what the folder is and the one command each learner runs."""
    extra = f"[{','.join(extras)}]" if extras else ""
    lines = ["Wheels of the fusion-course, for installing with no internet.", "",
             "In the course folder (a copy of the course's repository), inside a virtual environment, run the line",
             "for your system, with WHEELS the path of this folder (e.g. a USB stick's):", ""]
    for name in platforms:
        sep = "\\" if name == "windows" else "/"
        lines.append(f"  {name:<8} python -m pip install --no-index --find-links WHEELS{sep}{name} "
                     f"-e \".{extra}\" -c .ci/constraints.txt")
    lines += ["", "Then check the install with the README's test command (python -m pytest).", ""]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="fusion-course wheelhouse", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Download the course's pinned wheels for Linux, macOS and Windows into one folder, "
                            "for installing in a room without internet.")
    p.add_argument("--out", required=True, metavar="DIR", help="the wheelhouse folder (created; one sub-folder per platform)")
    p.add_argument("--platform", action="append", choices=[*PLATFORMS, "all"], default=None,
                   help="a learner's OS; repeat for several (default: all)")
    p.add_argument("--python", action="append", default=None, metavar="X.Y",
                   help="a learner's Python version; repeat for several (default: the one running this command)")
    p.add_argument("--extras", default="dev", metavar="LIST",
                   help="the course's extras to include, comma-separated (default: dev, for the README's test command; '' for none)")
    p.add_argument("--torch-index", default=None, metavar="URL",
                   help="an index for Linux's torch and torchvision, e.g. https://download.pytorch.org/whl/cpu (CPU builds)")
    p.add_argument("--constraints", default=None, metavar="FILE", help="pinned versions (default: the course's .ci/constraints.txt)")
    p.add_argument("--dry-run", action="store_true", help="print the pip commands; download nothing")
    return p


def main(argv: list[str]) -> int:
    args = parse_command(_parser(), argv)
    if args is None:     # --help
        return 0
    course = Path(__file__).resolve().parents[2]
    constraints = Path(args.constraints) if args.constraints else course / ".ci" / "constraints.txt"
    if not constraints.is_file():
        raise UsageError(f"no constraints file at {constraints}; run from the course's clone or pass --constraints FILE")
    platforms = list(PLATFORMS) if not args.platform or "all" in args.platform else list(dict.fromkeys(args.platform))
    pythons = args.python or [f"{sys.version_info.major}.{sys.version_info.minor}"]
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    if args.torch_index is not None and not re.match(r"^https?://\S+$", args.torch_index):
        raise UsageError(f"--torch-index takes a URL like https://download.pytorch.org/whl/cpu, got {args.torch_index!r}")
    out = Path(args.out)
    steps = plan(out, platforms, pythons, requirements(extras), constraints, torch_index=args.torch_index)
    if args.dry_run:
        for step in steps:
            print(f"# {step.what}\n{step.shell()}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for step in steps:
        print(f"fusion-course wheelhouse: {step.what} ...", file=sys.stderr)
        if subprocess.run(step.argv).returncode != 0:
            print(f"fusion-course wheelhouse: pip failed for {step.what}; the folder is incomplete. "
                  f"The command was:\n  {step.shell()}", file=sys.stderr)
            return 1
    (out / "README.txt").write_text(readme(platforms, extras), encoding="utf-8")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out}/ ({size / 2**30:.2f} GiB): copy it to a USB stick or serve it; {out}/README.txt has each "
          "learner's install command")
    return 0


if __name__ == "__main__":   # python -m fusion_course.commands.wheelhouse pip-as OS X.Y <pip arguments>
    if len(sys.argv) < 4 or sys.argv[1] != "pip-as" or sys.argv[2] not in MARKERS:
        sys.exit("usage: python -m fusion_course.commands.wheelhouse pip-as linux|macos|windows X.Y <pip arguments>")
    sys.exit(pip_as(sys.argv[2], sys.argv[3], sys.argv[4:]))
