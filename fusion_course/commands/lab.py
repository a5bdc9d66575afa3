"""`fusion-course lab`: open the course in JupyterLab on the start notebook.

It is ``jupyter lab`` serving the course's folder with the start notebook as its first page, plus ``--allow-root``
when run as root (workshop containers usually are), which JupyterLab otherwise refuses.
Any further options go to JupyterLab unchanged, e.g. ``fusion-course lab --no-browser --port 8899``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..errors import UsageError

START = Path("notebooks") / "00_start_here.ipynb"


def course_root() -> Path:
    """The clone the course runs from: the working folder if it holds the notebooks, else the package's parent."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / START).is_file():
            return candidate
    raise UsageError(
        f"cannot find {START} in {Path.cwd()} or next to the installed package; "
        "run this command from the folder you cloned the course into"
    )


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    root = course_root()
    # The server's root is the course folder (so links to ../exercises work); the start page is lesson 00.
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
           f"--LabApp.default_url=/lab/tree/{START.as_posix()}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        cmd.append("--allow-root")
    cmd += argv
    print("starting:", " ".join(cmd[2:]), flush=True)
    try:
        return subprocess.call(cmd, cwd=root)
    except KeyboardInterrupt:
        return 0
