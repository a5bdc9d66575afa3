"""`fusion-course site [--out DIR]`: the course as a static website, built from the stored notebooks.

Lesson 00 is the home page; the lessons follow in order, grouped by level in the sidebar, each with its
exercise page, previous / next links, full-text search, equations, figures and tables as the notebook
stored them. No notebook is executed and none is modified: Sphinx with MyST-NB reads copies in a
temporary folder (``fusion_course/site/`` holds the configuration and the page preparation).

The site works offline: every script, font and stylesheet is inside DIR (MathJax included), and the
build fails if a page would load anything from elsewhere. Serve a whole room from a laptop with

    fusion-course site --out site/ && python -m http.server --directory site/ 8000

Options:
  --out DIR   where to write the site (default: site/); it is created if needed
  --quiet     print only the summary line
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..cli import CommandParser, parse_command
from ..errors import UsageError

EXTRA_HINT = "the site needs the 'site' extra: pip install -e '.[site]'"
TOOLS = {"sphinx": "sphinx", "myst_nb": "myst-nb", "sphinx_book_theme": "sphinx-book-theme",
         "mathjax": "django-static-mathjax"}
MATHJAX_FILE = "tex-mml-chtml.js"
# The parts of MathJax's es5 folder a page can load: the TeX input, the HTML output and its fonts,
# the menu and the accessibility extensions (loaded on demand). The other combined builds are left out.
MATHJAX_PARTS = (MATHJAX_FILE, "input", "output/chtml", "a11y", "ui", "sre", "adaptors")
# An address a page would fetch by itself: a script, a stylesheet, an image, a font, a frame.
_EXTERNAL_HTML = re.compile(r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)"
                            r"|<link\b[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)", re.I)
_EXTERNAL_CSS = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^\"')]+)|@import\s+[\"']((?:https?:)?//[^\"']+)", re.I)


def parse_args(argv: list[str]) -> argparse.Namespace | None:
    """The options, or None once ``--help`` has been printed."""
    parser = CommandParser(prog="fusion-course site", description=__doc__.split("\n\nOptions:")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("site"), metavar="DIR",
                        help="where to write the site (default: site/); it is created if needed")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    return parse_command(parser, argv)


def mathjax_dir() -> Path:
    """MathJax 3's browser build, as the django-static-mathjax package ships it (no Django needed)."""
    spec = importlib.util.find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5" if spec and spec.origin else None
    if folder is None or not (folder / MATHJAX_FILE).is_file():
        raise UsageError(f"{EXTRA_HINT} (MathJax's files were not found)")
    return folder


def check_tools() -> Path:
    """Fail early, in one line, when a package of the site extra is missing; returns MathJax's folder."""
    missing = [package for module, package in TOOLS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise UsageError(f"{EXTRA_HINT} (missing: {', '.join(missing)})")
    return mathjax_dir()


def check_writable(out: Path) -> Path:
    """Create DIR and prove a file can be written there, before the build starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write the site to {out}: {exc.strerror or exc}") from None
    return out.resolve()


def course_root() -> Path:
    """The clone the course is built from (the same rule as `fusion-course lab`)."""
    from .lab import course_root as lab_root

    return lab_root()


def prepare_source(root: Path, src: Path, mathjax: Path) -> int:
    """Fill ``src`` with copies of the notebooks, the configuration and MathJax; returns the page count."""
    from ..site import pages

    here = Path(__file__).resolve().parents[1] / "site"
    for folder in ("notebooks", "exercises"):
        (src / folder).mkdir(parents=True)
        for notebook in sorted((root / folder).glob("[0-9][0-9]_*.ipynb")):
            shutil.copy2(notebook, src / folder / notebook.name)
    extra = {}
    for doc in ("benchmarks.md", "operators.md", "formulas.md"):  # linked from lessons 08, 04 and 06
        if (root / "docs" / doc).is_file():
            (src / "docs").mkdir(exist_ok=True)
            shutil.copy2(root / "docs" / doc, src / "docs" / doc)
            extra.setdefault("Reference", []).append(f"../docs/{doc.removesuffix('.md')}")
    shutil.copy2(here / "conf.py", src / "conf.py")
    shutil.copytree(here / "static", src / "_static")
    for part in MATHJAX_PARTS:
        source, target = mathjax / part, src / "_static" / "mathjax" / part
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    lessons = pages.read_course(src)
    site_pages = {}
    for lesson in lessons:
        site_pages[lesson.docname] = {"lesson": vars(lesson), "kind": "lesson"}
        if lesson.exercise:
            site_pages[lesson.exercise.removesuffix(".ipynb")] = {"lesson": vars(lesson), "kind": "exercise"}
    info = {"pages": site_pages, "contents": pages.toctree(lessons, extra)}
    (src / "course_site.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return len(site_pages) + len(extra)


def run_sphinx(src: Path, html: Path) -> tuple[bool, list[str]]:
    """Build the HTML with Sphinx; returns whether it succeeded, and its warnings and errors.

    Sphinx's own messages are caught and returned, so the command prints each one once, with the
    paths inside the temporary copy shortened to the course's (``notebooks/01_....ipynb:12: ...``).
    """
    from sphinx.cmd.build import build_main

    caught = io.StringIO()
    args = ["-b", "html", "-E", "-q", "-d", str(src.parent / "doctrees"), str(src), str(html)]
    with contextlib.redirect_stderr(caught):
        status = build_main(args)
    lines = [line.replace(f"{src}/", "") for line in caught.getvalue().splitlines() if line.strip()]
    return status == 0, lines


def external_references(site: Path) -> list[str]:
    """Every address outside the site that a page or stylesheet would fetch by itself ("file: address").

    Links a reader may click (a paper on arXiv) are fine; scripts, stylesheets, fonts, images and
    frames from elsewhere are not: a room without internet would wait for them.
    """
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        pattern = _EXTERNAL_HTML if path.suffix == ".html" else _EXTERNAL_CSS
        for match in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{path.relative_to(site)}: {match.group(1) or match.group(2)}")
    return found


def write_home(site: Path) -> None:
    """``index.html`` sends the browser to lesson 00, the home page, so ``http://host:port/`` opens it."""
    (site / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Feature Fusion</title>\n"
        '<meta http-equiv="refresh" content="0; url=notebooks/00_start_here.html">\n</head>\n'
        '<body>\n<main>\n<h1>Feature Fusion</h1>\n'
        '<p><a href="notebooks/00_start_here.html">Start the course</a></p>\n</main>\n</body>\n</html>\n',
        encoding="utf-8")


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args is None:
        return 0
    mathjax = check_tools()
    root = course_root()
    out = check_writable(args.out)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fusion-site-") as tmp:
        src, html = Path(tmp) / "src", Path(tmp) / "build" / "html"
        try:
            count = prepare_source(root, src, mathjax)
        except ValueError as exc:  # a notebook without its title or level: say which rule it breaks
            raise UsageError(f"cannot build the site: {exc}") from None
        if not args.quiet:
            print(f"building {count} pages from copies of the stored notebooks (nothing is executed) ...", flush=True)
        built, warnings = run_sphinx(src, html)
        if not built:
            print("fusion-course site: error: Sphinx could not build the site:", *warnings[-20:],
                  sep="\n  ", file=sys.stderr)
            return 1
        if warnings and not args.quiet:
            print(f"{len(warnings)} Sphinx warnings:", *warnings[:20], sep="\n  ", file=sys.stderr)
        write_home(html)
        outside = external_references(html)
        if outside:
            print("fusion-course site: error: the pages would load files from outside the site:",
                  *outside[:20], sep="\n  ", file=sys.stderr)
            return 1
        shutil.copytree(html, out, dirs_exist_ok=True)
    print(f"site: {count} pages in {out} ({_size_mb(out):.1f} MB, {len(warnings)} warnings) "
          f"in {time.perf_counter() - start:.0f} s; serve it with: python -m http.server --directory {out} 8000")
    return 0
