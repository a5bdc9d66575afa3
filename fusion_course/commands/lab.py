"""`fusion-course lab`: open the course in JupyterLab on the start notebook.

It is ``jupyter lab`` serving the course's folder, set up for learners:

* the first page is ``notebooks/00_start_here.ipynb`` and the file browser stays at the course's root,
  so ``notebooks/``, ``exercises/`` and ``solutions/`` are all in sight;
* the course's notebooks are trusted first (the way ``jupyter trust`` does it), so their stored
  outputs render as they were saved (a notebook whose widget outputs lack their saved state stays
  untrusted: it then shows their picture or text instead of "model not found");
* JupyterLab's "get notified about news?" pop-up is off: the course uses its own settings folder
  (``<Jupyter data dir>/fusion-course/user-settings``) with ``fetchNews`` set to ``"false"``, and
  ``--LabApp.news_url=None`` stops the news request itself;
* ``--allow-root`` is added when run as root (workshop containers usually are), which JupyterLab
  otherwise refuses.

Any further options go to JupyterLab unchanged, e.g. ``fusion-course lab --no-browser --port 8899``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import UsageError

START = Path("notebooks") / "00_start_here.ipynb"
COURSE_FOLDERS = ("notebooks", "exercises", "solutions")
# JupyterLab reads a plugin's user settings from <user-settings>/<package>/<plugin>.jupyterlab-settings.
NEWS_SETTING = Path("@jupyterlab") / "apputils-extension" / "notification.jupyterlab-settings"


def course_root() -> Path:
    """The clone the course runs from: the working folder if it holds the notebooks, else the package's parent."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / START).is_file():
            return candidate
    raise UsageError(
        f"cannot find {START} in {Path.cwd()} or next to the installed package; "
        "run this command from the folder you cloned the course into"
    )


def trust_notebooks(root: Path) -> int:
    """Sign the course's notebooks as trusted (what ``jupyter trust`` does); returns how many were signed.

    JupyterLab renders an untrusted notebook's stored outputs only in their safest form; the course's
    own notebooks are the ones this clone shipped with, so they are trusted on start.
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    signed = 0
    for path in [p for folder in COURSE_FOLDERS for p in sorted((root / folder).glob("*.ipynb"))]:
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:  # a broken notebook is JupyterLab's to report when it is opened
            print(f"note: {path.relative_to(root)} is not a readable notebook ({type(exc).__name__})", file=sys.stderr)
            continue
        if not widgets_have_state(nb):
            continue
        try:
            if not notary.check_signature(nb):
                notary.sign(nb)
                signed += 1
        except Exception as exc:  # e.g. a read-only Jupyter data folder: open the course untrusted
            print(f"note: could not trust the course notebooks ({type(exc).__name__}: {exc}); stored outputs "
                  "show in their plain form", file=sys.stderr)
            break
    return signed


def widgets_have_state(nb) -> bool:
    """True when every stored widget output has its saved state in the notebook's metadata.

    A trusted notebook shows a widget output as the widget, which needs its saved state: without it
    JupyterLab prints "Error displaying widget: model not found". Left untrusted, the same output
    falls back to its picture or text (the Fusion Simulator stores a PNG of itself), so such a
    notebook is better left untrusted.
    """
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is not None and view.get("model_id") not in state:
                return False
    return True


def settings_dir() -> Path:
    """The course's own JupyterLab user-settings folder, with the news pop-up turned off.

    Kept out of the clone (no stray files in git) and apart from the learner's other JupyterLab
    settings (which it leaves untouched). A setting the learner changed later is kept.
    """
    from jupyter_core.paths import jupyter_data_dir

    folder = Path(jupyter_data_dir()) / "fusion-course" / "user-settings"
    news = folder / NEWS_SETTING
    if not news.exists():
        try:
            news.parent.mkdir(parents=True, exist_ok=True)
            news.write_text(json.dumps({"fetchNews": "false"}, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"note: could not write {news} ({exc.strerror or exc}); JupyterLab may ask about news",
                  file=sys.stderr)
    return folder


def lab_command(root: Path, argv: list[str]) -> list[str]:
    """The ``jupyter lab`` command line: course root, start page, settings, root permission, then ``argv``."""
    # The tree URL opens the start notebook; file-browser-path=/ keeps the browser at the course's root
    # (without it JupyterLab moves the browser to notebooks/ and exercises/ is out of sight).
    start = f"/lab/tree/{START.as_posix()}?file-browser-path=/"
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", f"--LabApp.default_url={start}",
           f"--LabApp.user_settings_dir={settings_dir()}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        cmd.append("--allow-root")
    return cmd + argv


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        raise UsageError("JupyterLab is not installed in this Python; install the course with "
                         "`python -m pip install -e .` (it brings JupyterLab), then run this again") from None
    root = course_root()
    signed = trust_notebooks(root)
    if signed:
        print(f"trusted {signed} course notebook(s)", flush=True)
    cmd = lab_command(root, argv)
    print("starting:", " ".join(cmd[2:]), flush=True)
    try:
        return subprocess.call(cmd, cwd=root)
    except KeyboardInterrupt:
        return 0
