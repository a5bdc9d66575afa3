"""Exercise notebooks from one source: ``solutions/NN_<topic>.ipynb`` -> ``exercises/NN_<topic>.ipynb``.

A solution notebook marks what the learner writes between two comment lines, at any indentation::

    def fuse(maps, weights):
        \"\"\"Weighted sum of the maps (docstring and signature stay in the exercise).\"\"\"
        ### BEGIN SOLUTION 1.2: return the sum of weights[i] * maps[i]
        return sum(w * m for w, m in zip(weights, maps))
        ### END SOLUTION

and checks each exercise in a *check cell* whose whole source is one line::

    check("1.2", fuse)

The build replaces each region with ``raise NotImplementedError("Exercise 1.2: return the sum ...")``
at the BEGIN line's indentation, keeps everything else (signature, docstring, hints), clears outputs
and execution counts, tags the check cells (``metadata.tags == ["check"]`` and
``metadata.fusion_course.check == "1.2"``) and the cells holding regions
(``metadata.fusion_course.exercise == ["1.2"]``), and marks the notebook
(``metadata.fusion_course == {"lesson": "01", "kind": "exercise", ...}``). The output is a pure
function of the solution notebook (and the names of its sibling notebooks, for the links), written as
stable JSON, so ``build-exercises --check`` can tell whether ``exercises/`` drifted from ``solutions/``.

Every exercise notebook begins with a note for learners on how to work and hand in, followed by the
*name cell*, whose source starts with ``STUDENT_NAME = ""`` (the grader reads the name from it
statically, with ``ast``, before it falls back to the file name), and ends with links to the previous
and next exercise notebooks and to its lesson (``../notebooks/NN_<topic>.ipynb``).

Mistakes in the markers (unpaired or nested markers, a BEGIN without its ``N.k:`` id, an id of another
lesson, a region without a check cell or a check cell without a region) stop the build with a
:class:`BuildError` naming the notebook, the cell index and the line.

>>> src = 'def f(x):\\n    ### BEGIN SOLUTION 1.1: double x\\n    return 2 * x\\n    ### END SOLUTION\\n'
>>> print(replace_regions(src, lesson=1, where="demo, cell 0")[0])
def f(x):
    raise NotImplementedError("Exercise 1.1: double x")
<BLANKLINE>
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = [
    "BuildError", "ExerciseInfo", "NOTEBOOK_NAME", "BEGIN", "END", "CHECK_CELL", "NAME_CELL",
    "lesson_of_name", "replace_regions", "check_cell_id", "build_exercise", "render",
    "build_all", "check_all", "solution_notebooks",
]

# NN_<topic>.ipynb: the lesson number is the file name's first two digits.
NOTEBOOK_NAME = re.compile(r"^(\d{2})_[A-Za-z0-9_\-]+\.ipynb$")
BEGIN = re.compile(r"^(?P<indent>[ \t]*)###[ \t]*BEGIN[ \t]+SOLUTION\b(?P<rest>.*)$")
END = re.compile(r"^[ \t]*###[ \t]*END[ \t]+SOLUTION\b.*$")
EXERCISE_ID = re.compile(r"^[ \t]*(?P<id>(?P<lesson>\d+)\.(?P<k>\d+))[ \t]*:[ \t]*(?P<text>\S.*?)[ \t]*$")
# A check cell: exactly one line `check("N.k", <expr>)` (an optional trailing comment is allowed).
CHECK_CELL = re.compile(r"""^check\(\s*(?P<q>["'])(?P<id>\d+\.\d+)(?P=q)\s*,.*\)\s*(#.*)?$""")

HEADER_ID = "fusion-course-header"
NAME_CELL_ID = "fusion-course-student-name"
FOOTER_ID = "fusion-course-footer"
# The grader parses this line with ast: keep `STUDENT_NAME = "..."` first, the comment after it.
NAME_CELL = 'STUDENT_NAME = ""  # type your name between the quotes, e.g. STUDENT_NAME = "Ada Lovelace"'
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class BuildError(UsageError):
    """A solution notebook's markers are wrong; the message names the notebook, cell and line."""


@dataclass
class ExerciseInfo:
    """What the build learned from one solution notebook."""

    lesson: str                                   # "03"
    source: str                                   # "solutions/03_topic.ipynb"
    exercises: list[str] = field(default_factory=list)      # ["3.1", "3.2"], sorted
    instructions: dict[str, str] = field(default_factory=dict)  # id -> first region's instruction
    check_cells: dict[str, int] = field(default_factory=dict)   # id -> cell index in the exercise notebook
    warnings: list[str] = field(default_factory=list)           # not fatal: e.g. one instruction repeated


def exercise_key(ex_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ex_id.split("."))


def lesson_of_name(name: str) -> str | None:
    """``"03_cross_scale.ipynb" -> "03"``; None when the name does not follow ``NN_<topic>.ipynb``."""
    m = re.match(r"^(\d{2})_", Path(name).name)
    return m.group(1) if m else None


def _literal(text: str) -> str:
    """A double-quoted Python string literal for ``text`` (json escapes are valid Python escapes)."""
    return json.dumps(text, ensure_ascii=False)


def replace_regions(source: str, lesson: int, where: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace every solution region of one cell's source.

    Args:
        source: the code cell's source.
        lesson: the notebook's lesson number; every region id must be ``<lesson>.k``.
        where: "solutions/03_x.ipynb, cell 7", used in error messages.

    Returns:
        ``(new_source, [(id, instruction), ...])`` in order of appearance.
    """
    lines = source.split("\n")
    out: list[str] = []
    found: list[tuple[str, str]] = []
    open_at: int | None = None  # line number of the open BEGIN
    for number, line in enumerate(lines, start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at is not None:
                raise BuildError(f"{where}, line {number}: nested '### BEGIN SOLUTION' "
                                 f"(the region opened at line {open_at} has no '### END SOLUTION' before it)")
            m = EXERCISE_ID.match(begin.group("rest"))
            if not m:
                raise BuildError(f"{where}, line {number}: '### BEGIN SOLUTION' needs an exercise id and an "
                                 f"instruction, e.g. '### BEGIN SOLUTION {lesson}.1: compute the weighted sum'; "
                                 f"got {line.strip()!r}")
            if int(m.group("lesson")) != lesson:
                raise BuildError(f"{where}, line {number}: exercise id {m.group('id')} belongs to lesson "
                                 f"{int(m.group('lesson'))}, but this notebook is lesson {lesson}; "
                                 f"number it {lesson}.{m.group('k')}")
            ex_id, text = m.group("id"), m.group("text")
            found.append((ex_id, text))
            out.append(f"{begin.group('indent')}raise NotImplementedError({_literal(f'Exercise {ex_id}: {text}')})")
            open_at = number
        elif end:
            if open_at is None:
                raise BuildError(f"{where}, line {number}: '### END SOLUTION' without a '### BEGIN SOLUTION' before it")
            open_at = None
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise BuildError(f"{where}, line {open_at}: '### BEGIN SOLUTION' is never closed; "
                         "add '### END SOLUTION' after the solution code")
    return "\n".join(out), found


def check_cell_id(source: str) -> str | None:
    """The exercise id of a check cell (one line ``check("N.k", ...)``), else None."""
    text = source.strip()
    if "\n" in text:
        return None
    m = CHECK_CELL.match(text)
    if not m:
        return None
    try:  # the pattern is loose about the expression; make sure it is one valid call
        ast.parse(text)
    except SyntaxError:
        return None
    return m.group("id")


def _relative(path: Path) -> str:
    """``solutions/03_x.ipynb``: the folder and name, stable wherever the course is cloned."""
    return f"{path.parent.name}/{path.name}"


def _read_solution(path: Path) -> Any:
    """The solution notebook at ``path``; BuildError for a bad file name or a file that is not a notebook."""
    import nbformat

    if not NOTEBOOK_NAME.match(path.name):
        raise BuildError(f"{path}: a solution notebook must be named NN_<topic>.ipynb (e.g. 03_cross_scale.ipynb)")
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # not JSON, not a notebook
        raise BuildError(f"{path}: cannot read the notebook ({type(exc).__name__}: {exc})") from exc


def build_exercise(solution_path: str | Path) -> tuple[Any, ExerciseInfo]:
    """Build the exercise notebook of one solution notebook; returns ``(notebook, info)``.

    Raises :class:`BuildError` for a bad file name or bad markers.
    """
    import nbformat

    path = Path(solution_path)
    src = _read_solution(path)
    lesson = path.name[:2]
    number = int(lesson)
    rel = _relative(path)
    info = ExerciseInfo(lesson=lesson, source=rel)

    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.cells.extend(_opening_cells(path))
    region_ids: dict[str, int] = {}
    check_ids: dict[str, int] = {}
    for index, cell in enumerate(src.cells):
        where = f"{rel}, cell {index}"
        cell_id = cell.get("id") or f"cell-{index}"
        if cell.cell_type == "code":
            source, regions = replace_regions(cell.source, number, where)
            info.warnings += _repeated_instructions(regions, where)
            ex_for_check = check_cell_id(cell.source)
            new = nbformat.v4.new_code_cell(source, id=cell_id)
            meta = {k: v for k, v in cell.metadata.items() if k not in ("execution", "collapsed", "scrolled")}
            fc = dict(meta.get("fusion_course", {}))
            tags = [t for t in meta.get("tags", []) if t != "check"]
            if regions:
                ids = sorted({r[0] for r in regions}, key=exercise_key)
                for ex_id, text in regions:
                    region_ids.setdefault(ex_id, index)
                    info.instructions.setdefault(ex_id, text)
                fc["exercise"] = ids
            if ex_for_check is not None:
                if regions:
                    raise BuildError(f"{where}: a check cell cannot hold a solution region")
                if int(ex_for_check.split(".")[0]) != number:
                    raise BuildError(f"{where}, line 1: check id {ex_for_check} belongs to lesson "
                                     f"{int(ex_for_check.split('.')[0])}, but this notebook is lesson {number}")
                if ex_for_check in check_ids:
                    raise BuildError(f"{where}: exercise {ex_for_check} already has a check cell "
                                     f"(cell {check_ids[ex_for_check]}); keep one per exercise")
                check_ids[ex_for_check] = index
                fc["check"] = ex_for_check
                tags.append("check")
                info.check_cells[ex_for_check] = len(nb.cells)
            if fc:
                meta["fusion_course"] = fc
            else:
                meta.pop("fusion_course", None)
            if tags:
                meta["tags"] = tags
            else:
                meta.pop("tags", None)
            new.metadata = nbformat.from_dict(meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, id=cell_id)
            new.metadata = nbformat.from_dict(dict(cell.metadata))
            if cell.get("attachments"):
                new.attachments = cell.attachments
        else:
            new = nbformat.v4.new_raw_cell(cell.source, id=cell_id)
            new.metadata = nbformat.from_dict(dict(cell.metadata))
        nb.cells.append(new)

    _check_pairs(rel, region_ids, check_ids)
    info.exercises = sorted(check_ids, key=exercise_key)
    nb.cells.append(_closing_cell(path))
    nb.metadata = nbformat.from_dict({
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "fusion_course": {"lesson": lesson, "kind": "exercise", "source": rel, "exercises": info.exercises},
    })
    return nb, info


def _check_pairs(rel: str, region_ids: dict[str, int], check_ids: dict[str, int]) -> None:
    """Every solution region has a check cell and every check cell a region (their first cells given)."""
    missing_check = sorted(set(region_ids) - set(check_ids), key=exercise_key)
    if missing_check:
        ex = missing_check[0]
        raise BuildError(f"{rel}, cell {region_ids[ex]}: exercise {ex} has a solution region but no check cell; "
                         f"add a code cell holding only `check(\"{ex}\", <answer>)` after it")
    missing_region = sorted(set(check_ids) - set(region_ids), key=exercise_key)
    if missing_region:
        ex = missing_region[0]
        raise BuildError(f"{rel}, cell {check_ids[ex]}: check cell for exercise {ex} but no "
                         f"'### BEGIN SOLUTION {ex}: ...' region; the exercise would pass without any work")


def _repeated_instructions(regions: list[tuple[str, str]], where: str) -> list[str]:
    """A warning per exercise whose regions in one cell share one instruction (e.g. __init__ and forward)."""
    warnings = []
    for ex_id in sorted({r[0] for r in regions}, key=exercise_key):
        texts = [t for i, t in regions if i == ex_id]
        if len(texts) > 1 and len(set(texts)) < len(texts):
            warnings.append(f"{where}: the {len(texts)} regions of exercise {ex_id} repeat one instruction; give each "
                            "region its own (what __init__ builds, what forward returns) so each stub says what to do")
    return warnings


def _opening_cells(solution: Path) -> list[Any]:
    """The note on how to work and hand in, then the name cell the grader reads."""
    import nbformat

    lesson = solution.name[:2]
    note = (
        f"**Exercise notebook · lesson {lesson}.** How to work and hand in:\n\n"
        f"1. **Name your file**: save your copy as `{solution.stem}_<your name>.ipynb` (File → Save Notebook "
        "As…), and type your name between the quotes in the cell below.\n"
        "2. **Write your code** where it says `raise NotImplementedError(\"Exercise N.k: ...\")`, run that cell, "
        "then run the `check(\"N.k\", ...)` cell under it. A line starting with ✔ means the exercise passes; "
        "otherwise the check says what it expected, what came back, and gives a hint. Change your code and run "
        "both cells again, as often as you like.\n"
        "3. **Keep the check cells** as they are: grading runs the course's own checks anyway.\n"
        "4. **Save** (Ctrl+S, or ⌘S on a Mac) and **hand in** the `.ipynb` file the way your teacher asked "
        "(an upload, a shared folder). Unfinished exercises are fine: they count as not attempted."
    )
    name = nbformat.v4.new_code_cell(NAME_CELL, id=NAME_CELL_ID)
    name.metadata = nbformat.from_dict({"fusion_course": {"student_name": True}})
    return [nbformat.v4.new_markdown_cell(note, id=HEADER_ID), name]


def _neighbours(solution: Path) -> tuple[str | None, str | None]:
    """The exercise notebooks before and after this one (names of its sibling solution notebooks)."""
    names = sorted(p.name for p in solution.parent.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    i = names.index(solution.name) if solution.name in names else -1
    before = names[i - 1] if i > 0 else None
    after = names[i + 1] if 0 <= i < len(names) - 1 else None
    return before, after


def _lesson_of(solution: Path, lesson: str) -> str:
    """The lesson notebook ``notebooks/NN_*.ipynb`` next to ``solutions/`` (its usual name is the same)."""
    found = sorted((solution.parent.parent / "notebooks").glob(f"{lesson}_*.ipynb"))
    return found[0].name if len(found) == 1 else solution.name


def _title(name: str) -> str:
    """``"03_fusion_block.ipynb" -> "03 · fusion block"``."""
    return f"{name[:2]} · {Path(name).stem[3:].replace('_', ' ')}"


def _closing_cell(solution: Path) -> Any:
    """Links to the previous and next exercise notebooks and to the lesson, then where this file comes from."""
    import nbformat

    lesson = solution.name[:2]
    before, after = _neighbours(solution)
    twin = _lesson_of(solution, lesson)
    start = sorted((solution.parent.parent / "notebooks").glob("00_*.ipynb"))
    links = []
    if before:
        links.append(f"[← previous exercises: {_title(before)}]({before})")
    elif start:
        links.append(f"[← start here](../notebooks/{start[0].name})")
    links.append(f"[the lesson: {_title(twin)}](../notebooks/{twin})")
    links.append(f"[next exercises: {_title(after)} →]({after})" if after else "this is the last exercise notebook")
    text = (
        "---\n\n" + " · ".join(links) + "\n\n"
        "Finished? Save (Ctrl+S / ⌘S) and hand in this file, named with your name.\n\n"
        f"<small>Generated from `{_relative(solution)}` by `fusion-course build-exercises`.</small>"
    )
    return nbformat.v4.new_markdown_cell(text, id=FOOTER_ID)


def render(nb: Any) -> str:
    """The exact text a notebook is written as (stable: sorted keys, one-space indent, final newline)."""
    import nbformat

    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def solution_notebooks(solutions_dir: str | Path) -> list[Path]:
    """The solution notebooks of a folder (``NN_<topic>.ipynb``), sorted by name."""
    folder = Path(solutions_dir)
    if not folder.is_dir():
        raise UsageError(f"solutions folder {folder} does not exist; run from the course folder or pass --solutions DIR")
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


def _expected(solutions_dir: Path) -> dict[str, str]:
    return {p.name: render(build_exercise(p)[0]) for p in solution_notebooks(solutions_dir)}


def build_all(solutions_dir: str | Path = "solutions", out_dir: str | Path = "exercises") -> list[Path]:
    """Write every exercise notebook; remove generated exercises whose solution is gone. Returns written paths."""
    expected = _expected(Path(solutions_dir))  # build everything first: a bad marker writes nothing
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out} ({exc.strerror or exc}); "
                         "choose a folder you can write to with --out DIR") from exc
    written = []
    try:
        for name, text in expected.items():
            target = out / name
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            written.append(target)
        for stale in _stale(out, expected):
            stale.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the exercise notebooks to {out} ({exc.strerror or exc}); "
                         "choose a folder you can write to with --out DIR") from exc
    return written


def _stale(out: Path, expected: dict[str, str]) -> list[Path]:
    """Generated exercise notebooks in ``out`` with no solution any more (hand-made files are left alone)."""
    stale = []
    for p in sorted(out.glob("*.ipynb")) if out.is_dir() else []:
        if p.name in expected:
            continue
        try:
            meta = json.loads(p.read_text(encoding="utf-8")).get("metadata", {}).get("fusion_course", {})
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(meta, dict) and meta.get("kind") == "exercise":
            stale.append(p)
    return stale


def check_all(solutions_dir: str | Path = "solutions", out_dir: str | Path = "exercises") -> list[str]:
    """Differences between ``out_dir`` and what the build would write; an empty list means no drift."""
    expected = _expected(Path(solutions_dir))
    out = Path(out_dir)
    problems = []
    for name, text in expected.items():
        target = out / name
        if not target.exists():
            problems.append(f"{target}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{target}: differs from what the build would write")
    for extra in _stale(out, expected):
        problems.append(f"{extra}: no solution notebook solutions/{extra.name} (extra)")
    return problems
