"""Cross-references resolve: every "lesson NN, section K" and every "section K" / "§K" lands on a heading "K ·".

Lessons number their sections in headings such as ``## 5 · The newsletter's own block``. A reference names
a lesson and a section (``lesson 03, section 5``, ``Lesson 06 (section 2)``, ``lesson 04 §7``); a bare
``section K`` or ``§K`` means the lesson the notebook belongs to (the lesson itself, or the lesson of an
exercise or solution notebook with the same number). Issue 24 found exercise 3.2 pointing to section 4 for
the block of section 5, and exercises 02 pointing to section 6 for the breakdown of section 7.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
FILES = [p for folder in ("notebooks", "exercises", "solutions") for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]

_HEADING = re.compile(r"^#{1,6}\s+(\d+)(?:\s+·|\.)\s", re.MULTILINE)    # "## 5 · title" (or "## 5. title")
# "lesson 03, section 5", "Lesson 06 (section 2", "lesson 04 §7", "lesson 04, sections 2–4"
_NAMED = re.compile(r"\b[Ll]esson (\d\d)(?:,\s*|\s*\(\s*|\s+)(?:sections? |§\s?)(\d+)(?:\s*[–-]\s*(\d+))?")
_BARE = re.compile(r"(?<![\w-])(?:[Ss]ections? |§\s?)(\d+)(?:\s*[–-]\s*(\d+))?")


def headings(path: Path) -> set[int]:
    """The section numbers a lesson's markdown headings carry ("## K · title")."""
    nb = nbformat.read(str(path), as_version=4)
    return {int(k) for c in nb.cells if c.cell_type == "markdown" for k in _HEADING.findall(c.source)}


def references(path: Path) -> list[tuple[int, str, int, str]]:
    """``(cell, lesson, section, text)`` for every section reference in a notebook's markdown and code."""
    own = path.name[:2]
    out = []
    for i, cell in enumerate(nbformat.read(str(path), as_version=4).cells):
        text = cell.source
        named_spans = []
        for m in _NAMED.finditer(text):
            named_spans.append(m.span())
            last = int(m.group(3) or m.group(2))
            out += [(i, m.group(1), k, m.group(0)) for k in range(int(m.group(2)), last + 1)]
        for m in _BARE.finditer(text):
            if any(a <= m.start() < b for a, b in named_spans):
                continue
            last = int(m.group(2) or m.group(1))
            out += [(i, own, k, m.group(0).strip()) for k in range(int(m.group(1)), last + 1)]
    return out


def test_patterns():
    assert [(l, k) for _, l, k, _ in _refs("see lesson 03, section 5 and Lesson 06 (section 2) and lesson 04 §7")] == \
        [("03", 5), ("06", 2), ("04", 7)]
    assert [(l, k) for _, l, k, _ in _refs("Sections 2–4 resize; the weights of section 3; §6", own="04")] == \
        [("04", 2), ("04", 3), ("04", 4), ("04", 3), ("04", 6)]
    assert _refs("a cross-section 3 and subsection 2", own="04") == []


def test_lessons_00_to_04_use_the_course_heading_style():
    for n in ("00", "01", "02", "03", "04"):
        nb = nbformat.read(str(LESSONS[n]), as_version=4)
        numbered = re.findall(r"^#{1,6}\s+\d+\S*\s", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"),
                              re.MULTILINE)
        assert numbered and all(re.match(r"^#{1,6}\s+\d+\s$", h) for h in numbered), (n, numbered)


def _refs(text: str, own: str = "99") -> list[tuple[int, str, int, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{own}_x.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]), str(path))
        return references(path)


def test_every_lesson_numbers_its_sections():
    for n, path in LESSONS.items():
        if n != "00":
            assert len(headings(path)) >= 3, f"{path.name}: fewer than 3 headings '## K · title'"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_section_reference_lands_on_a_heading(path):
    wrong = []
    for cell, lesson, section, text in references(path):
        target = LESSONS.get(lesson)
        if target is None:
            wrong.append(f"cell {cell}: '{text}' names lesson {lesson}, which does not exist")
        elif section not in headings(target):
            wrong.append(f"cell {cell}: '{text}', but {target.name} has no heading '{section} · …' "
                         f"(its sections: {sorted(headings(target))})")
    assert not wrong, f"{path.parent.name}/{path.name}:\n" + "\n".join(wrong)


# --- the frame of lessons 01-04 and their exercises (issue 24: pacing, notation, active recall) --------------

def _cells(path: Path):
    return nbformat.read(str(path), as_version=4).cells


@pytest.mark.parametrize("number", ["01", "02", "03", "04"])
def test_lessons_ask_to_predict_before_they_reveal(number):
    """At least two "Predict first" cells, each followed (directly) by the code cell whose output answers it."""
    cells = _cells(LESSONS[number])
    asks = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "**Predict first.**" in c.source]
    assert len(asks) >= 2, f"lesson {number}: {len(asks)} predict-first cells"
    for i in asks:
        assert i + 1 < len(cells) and cells[i + 1].cell_type == "code", f"lesson {number}, cell {i}: no code cell next"


@pytest.mark.parametrize("number", ["01", "02", "03", "04"])
def test_exercise_notebooks_share_one_frame(number):
    """A "Level" line at the top and a "Done" cell at the end, as in every exercise notebook."""
    solution = next((ROOT / "solutions").glob(f"{number}_*.ipynb"))
    cells = _cells(solution)
    assert "**Level:" in cells[0].source, f"{solution.name}: no Level line in its first cell"
    assert cells[-1].cell_type == "markdown" and cells[-1].source.startswith("## Done"), f"{solution.name}: no Done cell"


@pytest.mark.parametrize("path", [p for p in FILES if p.name[:2] in ("01", "02", "03", "04")],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_notation_for_raw_weights(path):
    """Raw weights are w in every lesson (lesson 01's notation); v was lessons 03-04's."""
    text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
    assert not re.search(r"relu\(v|softmax\(v\)|\bv_[ij]\b|w = \\mathrm\{relu\}\(v\)", text), path.name
