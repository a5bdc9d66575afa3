"""Reading submissions fairly: which files, whose, which lesson, and the notebook the grader runs.

Honest learners hand in notebooks in every state: renamed (``alice.ipynb``), pasted into a new notebook
that lost the course's metadata, saved by a browser as ``.json`` or ``.txt``, one folder per student with
the same file name (an LMS export), with a first draft's ``check`` call left above the final answer.
Everything here reads the *content* when names and metadata say nothing, and never executes it.
"""
from __future__ import annotations

import ast
import copy
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from ..exercises import check_cell_id

__all__ = ["find_submissions", "read_notebook", "student_name", "identify_lesson", "merge_checks",
           "SERVER_CELL", "code_of", "answer_code"]

CHECK_CALL = re.compile(r"\bcheck\s*\(")
CHECK_ID = re.compile(r"""\bcheck\(\s*["'](\d+)\.(\d+)["']""")
EXERCISE_HEADING = re.compile(r"\bExercise\s+(\d+)\.(\d+)\s*:")
SERVER = "__fusion_course_answers__"
# The grader's first cell: the answer server (its text) in a namespace of its own.
SERVER_CELL = (f"{SERVER} = dict(__name__='fusion_course_answer_server')\n"
               f"exec(compile(SOURCE, '<fusion-course answer server>', 'exec'), {SERVER})")


# ----------------------------------------------------------------------------- files
def _looks_like_notebook(path: Path) -> bool:
    """A cheap sniff for notebooks saved under another extension: JSON with notebook keys near the top."""
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and (b'"cells"' in head or b'"nbformat"' in head)


def find_submissions(paths: Sequence[str | Path]) -> list[Path]:
    """Files named on the command line, and under named folders every ``*.ipynb`` plus any file that sniffs
    as a notebook (hidden folders such as ``.ipynb_checkpoints`` skipped)."""
    if not paths:
        raise UsageError("no submissions given; name notebooks or folders of notebooks, e.g. `fusion-course grade submissions/`")
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.is_file()
                            and not any(part.startswith(".") for part in q.relative_to(p).parts)
                            and (q.suffix == ".ipynb" or _looks_like_notebook(q)))
        else:
            raise UsageError(f"no such file or folder: {p}")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise UsageError(f"no notebooks (*.ipynb) found in {', '.join(str(p) for p in paths)}")
    return unique


def read_notebook(raw: bytes) -> tuple[Any | None, str]:
    """``(notebook, "")`` or ``(None, reason)``; any extension, as long as the content is a notebook."""
    import nbformat

    try:
        nb = nbformat.reads(raw.decode("utf-8-sig"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # not UTF-8, not JSON, not a notebook
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return None, f"not a Jupyter notebook ({type(exc).__name__}: {first})"
    for cell in nb.cells:   # nbformat fills these in for v4; be safe with hand-made files
        cell.setdefault("metadata", {})
        cell.setdefault("source", "")
    return nb, ""


# ----------------------------------------------------------------------------- names
def _student_cell(nb: Any) -> str | None:
    """``STUDENT_NAME = "..."`` in a code cell, read with ``ast`` (never executed)."""
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.lstrip().startswith("STUDENT_NAME"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "STUDENT_NAME" and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str) and node.value.value.strip()):
                return node.value.value.strip()[:100]
    return None


def student_name(path: Path, nb: Any | None, shared_names: Counter, lms_name: str | None = None) -> str:
    """The name field, else the notebook's ``fusion_course.student``, else the name in an LMS download name
    (``lms_name``, see :mod:`.lms`), else the folder when file names repeat, else the file name."""
    if nb is not None:
        name = _student_cell(nb)
        if name:
            return name
        meta = nb.metadata.get("fusion_course") if hasattr(nb, "metadata") else None
        if isinstance(meta, dict) and isinstance(meta.get("student"), str) and meta["student"].strip():
            return meta["student"].strip()[:100]
    if lms_name:
        return lms_name
    if shared_names[path.name] > 1 and path.parent.name:
        return path.parent.name
    return path.stem


# ----------------------------------------------------------------------------- lessons
def _lesson_of_content(nb: Any) -> str | None:
    """The lesson most check ids and exercise headings of the notebook belong to."""
    votes: Counter = Counter()
    for cell in nb.cells:
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        pattern = CHECK_ID if cell.cell_type == "code" else EXERCISE_HEADING
        for lesson, _ in pattern.findall(text):
            votes[f"{int(lesson):02d}"] += 1
        if cell.cell_type == "code":
            for lesson, _ in EXERCISE_HEADING.findall(text):   # raise NotImplementedError("Exercise 1.2: ...")
                votes[f"{int(lesson):02d}"] += 1
    return votes.most_common(1)[0][0] if votes else None


def identify_lesson(path: Path, nb: Any, names: dict[str, str]) -> tuple[str | None, str]:
    """``(lesson, note)`` from the metadata, the file name, or the content; None when nothing says."""
    meta = nb.metadata.get("fusion_course") if hasattr(nb, "metadata") else None
    from_meta = None
    if isinstance(meta, dict) and meta.get("lesson") is not None:
        try:
            from_meta = f"{int(str(meta['lesson'])):02d}"
        except ValueError:
            from_meta = None
    m = re.match(r"^(\d{2})_", path.name)
    from_name = m.group(1) if m else next((les for stem, les in names.items() if stem in path.stem), None)
    if from_meta and from_name and from_meta != from_name:
        return from_meta, f"file name says lesson {from_name}, metadata says {from_meta}: graded as {from_meta}"
    if from_meta or from_name:
        return from_meta or from_name, ""
    from_content = _lesson_of_content(nb)
    if from_content:
        return from_content, f"lesson {from_content} found from the notebook's check calls and exercise headings"
    return None, ""


# ----------------------------------------------------------------------------- merging
def _strip_check_calls(source: str) -> str:
    """Replace top-level statements that call ``check(...)`` by ``pass``: the learner's checks decide nothing."""
    if not CHECK_CALL.search(source):
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source  # it fails anyway, and says why
    lines = source.split("\n")
    for node in reversed(tree.body):
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id == "check"]
        if calls and isinstance(node, ast.Expr):
            indent = re.match(r"[ \t]*", lines[node.lineno - 1]).group(0)
            lines[node.lineno - 1:node.end_lineno] = [f"{indent}pass  # check(...) removed by the grader"]
    return "\n".join(lines)


def _has_code(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    return any(not isinstance(node, ast.Pass) for node in tree.body)


def _learner_check_id(cell: Any) -> str | None:
    fc = cell.metadata.get("fusion_course", {}) if cell.get("metadata") else {}
    if isinstance(fc, dict) and isinstance(fc.get("check"), str):
        return fc["check"]
    return check_cell_id(cell.source)


def capture_source(canonical_source: str) -> str:
    """The grader's version of a check cell: the same call, but it only hands the answer to the grader."""
    call = canonical_source.strip()
    return f"{SERVER}['capture']" + call[len("check"):]


def _is_exercise_cell(cell: Any, ex: str, canon_exercise_cell: dict[str, str]) -> bool:
    """Is ``cell`` the learner's cell for exercise ``ex``: by the build's tag, the cell id, or its text?"""
    if cell.cell_type != "code":
        return False
    fc = cell.metadata.get("fusion_course", {})
    tagged = isinstance(fc, dict) and ex in (fc.get("exercise") or [])
    same_id = bool(canon_exercise_cell.get(ex)) and cell.get("id") == canon_exercise_cell[ex]
    return tagged or same_id or f"Exercise {ex}:" in cell.source


def _canonical_cells(canonical: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    checks, check_ids, exercise_cell = {}, {}, {}
    for cell in canonical.cells:
        fc = cell.metadata.get("fusion_course", {})
        if "check" in fc:
            checks[fc["check"]] = cell
            check_ids[cell.get("id", "")] = fc["check"]
        for ex in fc.get("exercise", []):
            exercise_cell.setdefault(ex, cell.get("id", ""))
    return checks, check_ids, exercise_cell


def merge_checks(submission: Any, canonical: Any, exercises: Sequence[str],
                 server_source: str = "") -> tuple[Any, dict[str, int], dict[str, list[int]]]:
    """The notebook the grader runs: the learner's cells, with the course's check calls turned into captures.

    Each exercise's capture goes where the learner's *last* check cell for that id is (found by the tag the
    build writes, the ``check("N.k", ...)`` line or the canonical cell's id): a draft's early check does not
    count, the answer the learner ends with does. Without a check cell it goes after the learner's exercise
    cell, else at the end. Every other ``check(...)`` call is removed; code the learner wrote into a check
    cell is kept. The first cell installs the answer server (``server_source``).

    Returns ``(notebook, {id: capture cell index}, {id: [exercise cell indices]})``.
    """
    canon_checks, canon_check_ids, canon_exercise_cell = _canonical_cells(canonical)
    cells: list[Any] = []
    last: dict[str, int] = {}
    for cell in submission.cells:
        cell = copy.deepcopy(cell)
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        ex = _learner_check_id(cell)
        if ex is None and cell.get("id") in canon_check_ids:
            ex = canon_check_ids[cell.get("id")]
        if ex is None:
            cell.source = _strip_check_calls(cell.source)
            cells.append(cell)
            continue
        rest = _strip_check_calls(cell.source)
        if _has_code(rest):  # the learner wrote code into the check cell: keep it, minus the check calls
            cell.source = rest
            cell.metadata.pop("fusion_course", None)
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "check"]
            cells.append(cell)
        if ex in canon_checks:
            last[ex] = len(cells)   # the capture goes here, unless a later check cell of the same id comes
    marks = sorted(((at, ex) for ex, at in last.items()), reverse=True)
    for at, ex in marks:
        cells.insert(at, ("check", ex))
    for ex in exercises:
        if ex in last:
            continue
        hits = [i for i, c in enumerate(cells) if not isinstance(c, tuple) and _is_exercise_cell(c, ex, canon_exercise_cell)]
        cells.insert(hits[-1] + 1 if hits else len(cells), ("check", ex))
    return _assemble(cells, canonical, canon_checks, canon_exercise_cell, exercises, server_source)


def _assemble(cells: list[Any], canonical: Any, canon_checks: dict[str, Any], canon_exercise_cell: dict[str, str],
              exercises: Sequence[str], server_source: str) -> tuple[Any, dict[str, int], dict[str, list[int]]]:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(canonical.metadata)
    if server_source:
        first = nbformat.v4.new_code_cell(SERVER_CELL.replace("SOURCE", repr(server_source)))
        first.metadata = nbformat.from_dict({"tags": ["grader"]})
        nb.cells.append(first)
    check_index: dict[str, int] = {}
    for c in cells:
        if isinstance(c, tuple):
            ex = c[1]
            new = nbformat.v4.new_code_cell(capture_source(canon_checks[ex].source))
            new.metadata = nbformat.from_dict({"tags": ["check"], "fusion_course": {"check": ex}})
            check_index[ex] = len(nb.cells)
            nb.cells.append(new)
        else:
            if c.cell_type == "code":  # the learner's stored outputs are not evidence of anything
                c.outputs, c.execution_count = [], None
            nb.cells.append(c)
    ex_cells = {ex: [i for i, c in enumerate(nb.cells)
                     if "check" not in c.metadata.get("fusion_course", {}) and _is_exercise_cell(c, ex, canon_exercise_cell)]
                for ex in exercises}
    return nb, check_index, ex_cells


# ----------------------------------------------------------------------------- code, for the flags
def _normalise(source: str) -> str:
    """Code without comments, docstrings or formatting (``ast.unparse``); the text itself if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "\n".join(line.split("#")[0].rstrip() for line in source.splitlines() if line.strip())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            if len(body) > 1:
                del body[0]
            else:
                body[0] = ast.Pass()
    return ast.unparse(tree)


def code_of(nb: Any) -> str:
    """All the notebook's code that is not a check call or the name field, normalised."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or check_cell_id(cell.source) or cell.source.lstrip().startswith("STUDENT_NAME"):
            continue
        text = _normalise(_strip_check_calls(cell.source))
        if text.strip() and text.strip() != "pass":
            parts.append(text)
    return "\n".join(parts)


def answer_code(nb: Any, canonical: Any, exercises: Sequence[str]) -> str:
    """The normalised code of the learner's exercise cells (what similarity is measured on)."""
    _, _, canon_exercise_cell = _canonical_cells(canonical)
    parts = []
    for cell in nb.cells:
        if any(_is_exercise_cell(cell, ex, canon_exercise_cell) for ex in exercises):
            parts.append(_normalise(_strip_check_calls(cell.source)))
    return "\n".join(parts)
