"""The Sphinx extension of the course's website.

Sphinx with MyST-NB turns each stored notebook into a page without running it. Two steps happen in
between, both on the text Sphinx has read, never on a notebook file:

* ``source-read``: the notebook becomes what its page shows (``pages.prepare_notebook``): the box with
  level, exercises and the command that opens it; notes in place of live widgets; on the home page, the
  table of contents that the sidebar and the previous / next links come from;
* ``doctree-read``: every figure's ``<img>`` gets its alt text (``pages.figure_alts``), matched through
  the file name MyST-NB gives an image, which is the SHA-256 of its bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes

from . import pages


def _page(app, docname: str) -> tuple[pages.Lesson, str] | None:
    """The lesson a page belongs to and its kind ("lesson" or "exercise"), or None for other pages."""
    info = app.config.course_pages.get(docname)
    if not info:
        return None
    return pages.Lesson(**info["lesson"]), info["kind"]


def on_source_read(app, docname: str, source: list[str]) -> None:
    page = _page(app, docname)
    if page is None:
        return
    lesson, kind = page
    nb = json.loads(source[0])
    contents = app.config.course_contents if docname == app.config.root_doc else None
    pages.prepare_notebook(nb, lesson, kind=kind, contents=contents)
    source[0] = json.dumps(nb)


def on_doctree_read(app, doctree: nodes.document) -> None:
    docname = app.env.docname
    if _page(app, docname) is None:
        return
    nb = json.loads(Path(app.env.doc2path(docname)).read_text(encoding="utf-8"))
    alts = pages.figure_alts(nb)
    for image in doctree.findall(nodes.image):
        key = Path(image.get("uri", "")).stem
        if not image.get("alt") and key in alts:
            image["alt"] = alts[key]


def setup(app) -> dict:
    app.add_config_value("course_pages", {}, "env")
    app.add_config_value("course_contents", "", "env")
    app.connect("source-read", on_source_read)
    app.connect("doctree-read", on_doctree_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
