"""What the course's website shows on each page, worked out from the stored notebooks.

Plain functions on notebooks in nbformat's JSON layout (dicts), so they can be tested without Sphinx:

* ``read_course`` lists the lessons in order, with each one's title, level and exercise notebook;
* ``prepare_notebook`` turns a stored notebook into what its page shows: a box under the title with the
  level, the exercises and the command that opens the notebook, and a note in place of each live widget
  (a page cannot run the Fusion Simulator; it can say how to run it);
* ``figure_alts`` gives every figure its alt text: the one stored with it by
  ``fusion_course.figures.show``, or a description made from the lesson, the section and the figure.

Nothing here writes to a notebook file: the site is built from copies, and only in memory are they changed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..figures import alt_text

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SIMULATOR = "FusionSimulator"  # lesson 01's interactive panel (fusion_course.widgets)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
LEVELS = ("start", "easy", "moderate", "hard")
_LEVEL = re.compile(r"\*\*Level:\s*([A-Za-z]+)")
_NBVAL_MARKER = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")
_PROGRESS = re.compile(r"^(?P<what>[^\n|]*?):?\s+\d+%\|")
_AXES = re.compile(r"with (\d+) Axes")


@dataclass(frozen=True)
class Lesson:
    """One lesson of the course, as the site lists it."""

    number: str          # "01"
    notebook: str        # "notebooks/01_fusion_formula.ipynb", relative to the course folder
    title: str           # the notebook's first "# " heading
    level: str           # "start", "easy", "moderate" or "hard"
    exercise: str | None  # "exercises/01_fusion_formula.ipynb", or None for lesson 00

    @property
    def docname(self) -> str:
        return self.notebook.removesuffix(".ipynb")


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def title_of(nb: dict) -> str:
    """The notebook's title: its first level-1 heading."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in _text(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("the notebook has no '# ' title heading; every lesson starts with one")


def level_of(nb: dict, number: str) -> str:
    """The level a lesson states in its first lines ("**Level: easy.**"); lesson 00 is the start."""
    if number == "00":
        return "start"
    for cell in nb["cells"][:3]:
        match = _LEVEL.search(_text(cell)) if cell["cell_type"] == "markdown" else None
        if match and match.group(1).lower() in LEVELS:
            return match.group(1).lower()
    raise ValueError(f"lesson {number} does not state its level ('**Level: easy.**' under its title)")


def read_course(root: Path) -> list[Lesson]:
    """The lessons in ``root/notebooks``, in the order of their numbers."""
    lessons = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        number = path.name[:2]
        exercise = root / "exercises" / path.name
        lessons.append(Lesson(
            number=number,
            notebook=f"notebooks/{path.name}",
            title=title_of(nb),
            level=level_of(nb, number),
            exercise=f"exercises/{path.name}" if exercise.is_file() else None,
        ))
    if not lessons or lessons[0].number != "00":
        raise ValueError(f"{root / 'notebooks'} must hold the lessons, starting with 00_start_here.ipynb")
    return lessons


# --- the box under each title -------------------------------------------------------------------

def lesson_note(lesson: Lesson) -> str:
    """MyST markdown for the box under a lesson's title: level, exercises, how to run it."""
    name = Path(lesson.notebook).name
    lines = [f":::{{admonition}} {'Start here' if lesson.level == 'start' else 'Level: ' + lesson.level}",
             f":class: course-info level-{lesson.level}", ""]
    if lesson.exercise:
        lines += [f"**Exercises:** [the exercise notebook of lesson {lesson.number}](../{lesson.exercise}), "
                  "with checks that tell you when an answer is right.", ""]
    lines += [f"**Run it yourself:** in the folder you cloned the course into, run `fusion-course lab` "
              f"and open `{lesson.notebook}`, or {{download}}`download this notebook <{name}>`. "
              "This page shows the outputs stored in the notebook; nothing was re-run to make it.", ":::"]
    return "\n".join(lines)


def exercise_note(lesson: Lesson) -> str:
    """MyST markdown for the box under an exercise page's title."""
    name = Path(lesson.exercise or "").name
    return "\n".join([
        f":::{{admonition}} Exercises of lesson {lesson.number} · level: {lesson.level}",
        f":class: course-info level-{lesson.level}", "",
        f"Read [the lesson](../{lesson.notebook}) first. To do the exercises, run `fusion-course lab` in the "
        f"folder you cloned the course into and open `{lesson.exercise}` (or {{download}}`download it <{name}>`): "
        "replace each `raise NotImplementedError(...)` with your code and run the `check(...)` cell below it.",
        ":::",
    ])


def _insert_after_title(nb: dict, note: str) -> None:
    """Put ``note`` right under the notebook's ``# `` title, so the page reads title, box, lesson."""
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = _text(cell).splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# "):
                cell["source"] = "\n".join(lines[: i + 1] + ["", note, ""] + lines[i + 1:])
                return
    raise ValueError("the notebook has no '# ' title heading")


# --- live widgets become notes --------------------------------------------------------------------

def widget_note(output: dict, cell_source: str, notebook: str) -> tuple[str, str]:
    """What a page shows in place of a widget that only a running kernel can draw: (MyST markdown, plain text)."""
    plain = output.get("data", {}).get("text/plain", "")
    plain = plain if isinstance(plain, str) else "".join(plain)
    if SIMULATOR in cell_source:
        text = ("It has a slider for each weight and a choice of σ, and redraws the fused map as you move them; "
                "a web page cannot run it. To try it: in the folder you cloned the course into, run "
                f"`fusion-course lab`, open `{notebook}` and run all cells (Run → Run All Cells).")
        title = "The Fusion Simulator runs live in JupyterLab"
        return f":::{{admonition}} {title}\n:class: tip course-live\n\n{text}\n:::", f"{title}. {text}"
    progress = _PROGRESS.match(plain)
    if progress:
        what = progress.group("what").strip() or "progress"
        text = f"A progress bar ({what}) shows here while the notebook runs; its results are printed below."
    else:
        text = f"An interactive widget shows here when the notebook runs: `fusion-course lab`, then open `{notebook}`."
    return f"*{text}*", text


def _note(output: dict, cell: dict, notebook: str) -> dict:
    """A display output holding ``widget_note``'s text, as markdown for the page and plain text."""
    markdown, plain = widget_note(output, _text(cell), notebook)
    return {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": markdown, "text/plain": plain}}


def _replace_widgets(cell: dict, notebook: str) -> None:
    """Keep a widget's stored picture when it has one, else put a note in its place.

    The cell that makes the Fusion Simulator always ends with the note on running it live, even when
    its stored output is a plain picture or the notebook was saved without that cell's output.
    """
    outputs = cell.setdefault("outputs", [])
    if f"{SIMULATOR}(" in _text(cell) and not any(WIDGET_VIEW in o.get("data", {}) for o in outputs):
        outputs.append(_note({}, cell, notebook))
    for k in reversed(range(len(outputs))):  # from the end, so that inserting a note keeps k valid
        data = outputs[k].get("data", {})
        if WIDGET_VIEW not in data:
            continue
        if any(kind in data for kind in IMAGE_TYPES):
            data.pop(WIDGET_VIEW)  # the stored picture stays; the simulator's note on running it goes after
            if SIMULATOR in _text(cell):
                outputs.insert(k + 1, _note(outputs[k], cell, notebook))
        else:
            outputs[k] = _note(outputs[k], cell, notebook)


def _strip_test_markers(cell: dict) -> None:
    """``# NBVAL_IGNORE_OUTPUT`` tells the test harness what to skip; a reader does not need it."""
    lines = _text(cell).splitlines()
    kept = [line for line in lines if not _NBVAL_MARKER.match(line)]
    if len(kept) != len(lines):
        cell["source"] = "\n".join(kept)


# --- one page -------------------------------------------------------------------------------------

def toctree(lessons: list[Lesson], extra: dict[str, list[str]] | None = None) -> str:
    """MyST markdown for the book's table of contents, grouped by level, kept in lesson 00's page.

    Sphinx reads the sidebar and the previous / next links from it: lessons 00 → 08 first, then the
    exercise pages, so "next" walks the lessons in order. The captions make the levels visible.
    """
    blocks = []
    for level in LEVELS[1:]:
        names = [Path(lesson.notebook).stem for lesson in lessons if lesson.level == level]
        if names:
            blocks.append((f"{level.capitalize()} lessons", names))
    exercises = [f"../{Path(lesson.exercise).with_suffix('')}" for lesson in lessons if lesson.exercise]
    if exercises:
        blocks.append(("Exercises", exercises))
    blocks += list((extra or {}).items())
    return "\n\n".join(
        "\n".join(["```{toctree}", ":hidden:", f":caption: {caption}", "", *names, "```"])
        for caption, names in blocks
    )


def prepare_notebook(nb: dict, lesson: Lesson, *, kind: str, contents: str | None = None) -> dict:
    """The notebook as its page shows it (``kind`` is "lesson" or "exercise"); ``nb`` is changed in place.

    ``contents`` (the table of contents) goes at the end of the home page, where it is hidden: the
    sidebar shows it.
    """
    notebook = lesson.notebook if kind == "lesson" else lesson.exercise
    _insert_after_title(nb, lesson_note(lesson) if kind == "lesson" else exercise_note(lesson))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            _replace_widgets(cell, notebook)
            _strip_test_markers(cell)
    # The stored widget state would make the page load the widget libraries from the internet.
    nb.get("metadata", {}).pop("widgets", None)
    if contents:
        nb["cells"].append({"cell_type": "markdown", "id": "course-contents", "metadata": {}, "source": contents})
    return nb


# --- alt text -------------------------------------------------------------------------------------

def image_key(mime_type: str, content) -> str:
    """The name myst-nb gives an image output's file (its SHA-256), so a page's ``<img>`` can be matched."""
    text = content if isinstance(content, str) else "".join(content)
    if mime_type == "image/svg+xml":
        data = "\n".join(text.splitlines()).encode("utf-8")
    else:
        data = base64.b64decode(text)
    return hashlib.sha256(data).hexdigest()


def fallback_alt(title: str, section: str | None, number: int, plain: str) -> str:
    """A description for a figure that has none stored: where it is, and how many panels it has."""
    where = f"“{title}”" + (f", section “{section}”" if section else "")
    axes = _AXES.search(plain)
    panels = f" ({axes.group(1)} panels)" if axes and axes.group(1) != "1" else ""
    return f"Figure {number} of {where}{panels}."


def figure_alts(nb: dict) -> dict[str, str]:
    """Alt text of every image output, keyed by ``image_key``: stored with the figure, or a fallback."""
    title, section, number, alts = title_of(nb), None, 0, {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            headings = [line.lstrip("#").strip() for line in _text(cell).splitlines() if line.startswith("## ")
                        or line.startswith("### ")]
            section = headings[-1] if headings else section
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            kinds = [mime_type for mime_type in IMAGE_TYPES if mime_type in data]
            if not kinds:
                continue
            number += 1
            plain = data.get("text/plain", "")
            plain = plain if isinstance(plain, str) else "".join(plain)
            stored = next((alt_text(output, kind) for kind in kinds if alt_text(output, kind)), None)
            if stored is None and WIDGET_VIEW in data and SIMULATOR in _text(cell):
                stored = (f"The Fusion Simulator of “{title}” as the notebook stored it: a slider for each weight, "
                          "the choice of σ and the fused map. It runs live in JupyterLab.")
            # Every picture of the output gets the text: the site shows whichever one myst-nb prefers.
            for kind in kinds:
                alts[image_key(kind, data[kind])] = stored or fallback_alt(title, section, number, plain)
    return alts
