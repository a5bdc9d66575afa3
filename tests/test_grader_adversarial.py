"""`fusion-course grade` against cheats, hostile code and honest-but-awkward submissions.

Kept apart from tests/test_grader.py (the honest room): every cheat here answers wrong, attacks the grader
one way, and must earn no mark; every awkward honest case must get its marks; a grader killed halfway
must leave valid reports of what it had finished, and nothing running.

The fixture lesson 99 (tests/fixtures/course) has plain-Python checks, so these tests spend their time on
the grader, not on torch.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from fusion_course.checks import EXTRA_CHECKS_ENV
from fusion_course.exercises import build_exercise
from fusion_course.grading import grade
from fusion_course.grading import notebooks as nbs
from fusion_course.grading.flags import private_access, similar_pairs
from fusion_course.grading.reports import safe_cell

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "course"
FIX_SOLUTIONS = FIXTURE / "solutions"
LESSON_03 = ROOT / "solutions" / "03_fusion_block.ipynb"     # a real lesson: an nn.Module answer, torch checks
SOLVED_1 = "def weighted_sum(values, weights):\n    return sum(w * v for w, v in zip(weights, values))"
SOLVED_2 = "class Gate:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return min(max(x, 0), self.k)"
WRONG_1 = "def weighted_sum(values, weights):\n    return 1.0"
WRONG_2 = "class Gate:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return x"
CELL_S, NOTEBOOK_S = 20.0, 60.0


def _exercise() -> nbformat.NotebookNode:
    return build_exercise(FIX_SOLUTIONS / "99_fixture.ipynb")[0]


def _index(nb, ex: str, kind: str) -> int:
    for i, c in enumerate(nb.cells):
        fc = c.metadata.get("fusion_course", {})
        if (kind == "check" and fc.get("check") == ex) or (kind == "exercise" and ex in fc.get("exercise", [])):
            return i
    raise LookupError(ex)


def _answered(first: str, second: str, *, before: str = "") -> nbformat.NotebookNode:
    """The exercise notebook with both answers filled in and, optionally, an attack cell after the imports."""
    nb = copy.deepcopy(_exercise())
    nb.cells[_index(nb, "99.1", "exercise")].source = first
    nb.cells[_index(nb, "99.2", "exercise")].source = second
    if before:
        at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import check" in c.source) + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(before))
    return nb


# ----------------------------------------------------------------------------- the cheats
PATCH_HELPERS = """
import sys
import fusion_course.checks as c
import fusion_course.checks._tools as t
passing = {"99.1": lambda *a: "ok", "99.2": lambda *a: "ok"}
c._lesson_checks = lambda lesson: dict(passing)
c._run = lambda exercise, answer: print(f"✔ Exercise {exercise} passed")
c._grade_check = lambda exercise, *answer: print(f"✔ Exercise {exercise} passed")
c.check = c._grade_check
for name, module in list(sys.modules.items()):
    if name.startswith("fusion_course.checks") and hasattr(module, "CHECKS"):
        module.CHECKS.update(passing)
"""
NOOP_FAIL = """
import builtins
import fusion_course.checks._tools as t
for name in ("fail", "require", "assert_close", "assert_shape", "assert_tensor", "assert_finite"):
    setattr(t, name, lambda *a, **k: None)
class Harmless(Exception):
    pass
builtins.AssertionError = Harmless
"""
IMPORT_HOOK = """
import sys, types, importlib.abc, importlib.machinery
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("fusion_course.checks.") and name.endswith("lesson99"):
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.CHECKS = {"99.1": lambda *a: "ok", "99.2": lambda *a: "ok"}
sys.meta_path.insert(0, Finder())
for name in [n for n in sys.modules if n.startswith("fusion_course.checks.") and n.endswith("lesson99")]:
    del sys.modules[name]
"""
FAKE_PACKAGE = """
import os, sys
fake = 'def check(*a, **k):\\n    print("✔ passed")\\n_grade_check = check\\n_run = check\\n' \\
       'def _lesson_checks(lesson):\\n    return {"99.1": check, "99.2": check}\\nEXTRA_CHECKS_ENV = "X"\\n'
places = [os.getcwd()]
try:
    places.append(os.readlink(f"/proc/{os.getppid()}/cwd"))
except OSError:
    pass
for place in places:
    try:
        os.makedirs(os.path.join(place, "fusion_course", "checks"), exist_ok=True)
        open(os.path.join(place, "fusion_course", "__init__.py"), "w").write("")
        open(os.path.join(place, "fusion_course", "checks", "__init__.py"), "w").write(fake)
    except OSError:
        pass
for name in [n for n in sys.modules if n.startswith("fusion_course")]:
    del sys.modules[name]
sys.path.insert(0, os.getcwd())
"""
IPYTHON_HOOKS = """
ip = get_ipython()
def neutralise(lines):
    text = "".join(lines)
    if "capture" in text or "check(" in text or "serve" in text:
        return ['print("✔ Exercise passed")\\n']
    return lines
ip.input_transformers_post.append(neutralise)
ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
"""
FORGE_AND_KILL = """
import json, os, signal
line = "0" * 64 + " " + json.dumps({"kind": "exercise", "ex": "99.1", "status": "passed", "message": "", "exception": ""})
done = "0" * 64 + " " + json.dumps({"kind": "done"})
for folder in {os.getcwd(), os.path.dirname(os.getcwd()), os.environ.get("JUPYTER_RUNTIME_DIR", os.getcwd())}:
    for name in ("result.json", "state.json", "grades.json"):
        try:
            with open(os.path.join(folder, name), "w") as fh:
                json.dump({"finished": True, "exercises": {"99.1": {"status": "passed"}, "99.2": {"status": "passed"}}}, fh)
        except OSError:
            pass
ppid = os.getppid()
try:
    fds = os.listdir(f"/proc/{ppid}/fd")
except OSError:
    fds = []
for fd in fds:
    try:
        handle = os.open(f"/proc/{ppid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
        os.write(handle, (line + "\\n" + done + "\\n").encode())
        os.close(handle)
    except OSError:
        pass
os.kill(ppid, signal.SIGKILL)
"""
LYING_TENSOR = """
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("gt", "__gt__", "ne", "__ne__", "lt", "__lt__"):
            return False
        return torch.tensor(0.0).as_subclass(Liar)
def weighted_sum(values, weights):
    return torch.tensor(0.0).as_subclass(Liar)
"""
STACK_READER = """
import sys
class Gate:
    def __init__(self, k):
        self.k = k
    def __call__(self, x):
        frame = sys._getframe(1)
        while frame is not None:
            if "want" in frame.f_locals:
                return frame.f_locals["want"]
            frame = frame.f_back
        return x
"""


# A module answer that, while the check builds it, silences the helpers of every check module it can find.
PATCH_DURING_CHECK = """
import sys
from torch import nn
class FixedFusionBlock(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        for name, module in list(sys.modules.items()):
            if name.startswith("fusion_course.checks"):
                for helper in ("require", "fail", "assert_close", "assert_shape", "assert_tensor"):
                    if hasattr(module, helper):
                        setattr(module, helper, lambda *a, **k: None)
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
    def forward(self, x1, x2):
        return x1
"""


def _lesson_03_cheat() -> nbformat.NotebookNode:
    nb = build_exercise(LESSON_03)[0]
    nb.cells[_index(nb, "3.2", "exercise")].source = PATCH_DURING_CHECK
    return nb


def _spawner(pid_file: Path) -> str:
    return f"""
import os, subprocess, sys
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
code = "import os, sys, time\\nif os.fork():\\n    os._exit(0)\\nos.setsid()\\nopen(sys.argv[1], 'a').write(str(os.getpid()) + '\\\\n')\\ntime.sleep(300)"
subprocess.Popen([sys.executable, "-c", code, {str(pid_file)!r}], env={{"PATH": os.environ.get("PATH", "")}},
                 start_new_session=True).wait()
open({str(pid_file)!r}, "a").write(str(child.pid) + "\\n")
"""


def _raiser(report: Path) -> str:
    return f"""
import json, resource
soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
try:
    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    raised = True
except (ValueError, OSError):
    raised = False
json.dump({{"soft": soft, "hard": hard, "raised": raised,
           "now": resource.getrlimit(resource.RLIMIT_DATA)}}, open({str(report)!r}, "w"))
"""


CHEATS = {
    "patch_helpers": (WRONG_1, WRONG_2, PATCH_HELPERS),
    "noop_fail": (WRONG_1, WRONG_2, NOOP_FAIL),
    "import_hook": (WRONG_1, WRONG_2, IMPORT_HOOK),
    "fake_package": (WRONG_1, WRONG_2, FAKE_PACKAGE),
    "ipython_hooks": (WRONG_1, WRONG_2, IPYTHON_HOOKS),
    "forge_and_kill": (WRONG_1, WRONG_2, FORGE_AND_KILL),
    "lying_tensor": (LYING_TENSOR, STACK_READER, ""),
}


def _room(folder: Path, scratch: Path) -> None:
    folder.mkdir()
    for name, (first, second, before) in CHEATS.items():
        nbformat.write(_answered(first, second, before=before), str(folder / f"{name}_99_fixture.ipynb"))
    nbformat.write(_lesson_03_cheat(), str(folder / "patch_during_check_03.ipynb"))
    nbformat.write(_answered(SOLVED_1, SOLVED_2, before=_spawner(scratch / "pids.txt")), str(folder / "spawner_99_fixture.ipynb"))
    nbformat.write(_answered(WRONG_1, SOLVED_2, before=_raiser(scratch / "limits.json")), str(folder / "raiser_99_fixture.ipynb"))
    # honest and awkward: cells pasted into a fresh notebook (no metadata, tags or ids), a name cell
    solved = _answered(SOLVED_1, SOLVED_2)
    pasted = nbformat.v4.new_notebook()
    pasted.cells = [nbformat.v4.new_code_cell('STUDENT_NAME = "=HYPERLINK(\\"http://x\\")"')]
    pasted.cells += [nbformat.v4.new_code_cell(c.source) if c.cell_type == "code" else nbformat.v4.new_markdown_cell(c.source)
                     for c in solved.cells]
    nbformat.write(pasted, str(folder / "alice.ipynb"))
    # a first draft's check left above the final answer
    draft = _answered(SOLVED_1, SOLVED_2)
    at = _index(draft, "99.1", "exercise")
    draft.cells[at:at] = [nbformat.v4.new_code_cell(WRONG_1), nbformat.v4.new_code_cell('check("99.1", weighted_sum)')]
    nbformat.write(draft, str(folder / "draft_99_fixture.ipynb"))
    # an LMS export: one folder per student, the same file name; the two answers are copies
    for student in ("Ann Lee", "Bo Chen"):
        (folder / "lms" / student).mkdir(parents=True)
        nbformat.write(_answered(SOLVED_1.replace("w * v", "v * w"), SOLVED_2), str(folder / "lms" / student / "99_fixture.ipynb"))
    # a notebook saved under another extension, and the published solution handed in
    nbformat.write(_answered(SOLVED_1, SOLVED_2), str(folder / "dee_99_fixture.json"))
    shutil.copy(FIX_SOLUTIONS / "99_fixture.ipynb", folder / "sol_99_fixture.ipynb")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    base = tmp_path_factory.mktemp("adversarial")
    subs, out, scratch, solutions = base / "submissions", base / "grades", base / "scratch", base / "solutions"
    scratch.mkdir()
    solutions.mkdir()
    shutil.copy(FIX_SOLUTIONS / "99_fixture.ipynb", solutions)
    shutil.copy(LESSON_03, solutions)
    _room(subs, scratch)
    mp = pytest.MonkeyPatch()
    mp.setenv(EXTRA_CHECKS_ENV, str(FIXTURE / "checks"))
    mp.chdir(base)
    start = time.monotonic()
    try:
        grades = grade([subs], out_dir=out, solutions_dir=solutions, timeout_per_cell=CELL_S,
                       timeout_per_notebook=NOTEBOOK_S, jobs=2, memory_gb=2.0, progress=False)
    finally:
        mp.undo()
    return {"grades": {Path(g.file).name if "lms" not in g.file else g.student: g for g in grades}, "out": out,
            "scratch": scratch, "seconds": time.monotonic() - start, "base": base}


def _statuses(g) -> dict[str, str]:
    return {k: v["status"] for k, v in g.exercises.items()}


@pytest.mark.slow
@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_cheats_earn_no_mark(room, cheat):
    g = room["grades"][f"{cheat}_99_fixture.ipynb"]
    assert g.total == 0 and "passed" not in _statuses(g).values(), (g.status, g.message, g.exercises)


@pytest.mark.slow
def test_a_module_answer_cannot_patch_the_check_that_builds_it(room):
    g = room["grades"]["patch_during_check_03.ipynb"]
    assert (g.lesson, g.total, g.max) == ("03", 0, len(build_exercise(LESSON_03)[1].exercises))
    assert g.exercises["3.2"]["status"] == "failed" and "Exercise 3.2" in g.exercises["3.2"]["message"]
    assert {g.exercises[ex]["status"] for ex in ("3.1", "3.3")} == {"not attempted"}


@pytest.mark.slow
def test_forged_results_and_a_killed_worker_are_not_believed(room):
    g = room["grades"]["forge_and_kill_99_fixture.ipynb"]
    assert g.status == "not believed" and any(f["kind"] == "review" for f in g.flags)


@pytest.mark.slow
def test_cheats_that_reach_into_private_code_are_flagged(room):
    for cheat in ("patch_helpers", "noop_fail", "import_hook", "fake_package", "ipython_hooks", "forge_and_kill"):
        kinds = {f["kind"] for f in room["grades"][f"{cheat}_99_fixture.ipynb"].flags}
        assert "private" in kinds, cheat
    assert "private" in {f["kind"] for f in room["grades"]["patch_during_check_03.ipynb"].flags}


@pytest.mark.slow
def test_a_child_in_a_new_session_is_killed_and_the_marks_stand(room):
    g = room["grades"]["spawner_99_fixture.ipynb"]
    assert (g.total, g.max) == (2, 2)
    assert any("were still running and were killed" in f["detail"] for f in g.flags)
    pids = [int(p) for p in (room["scratch"] / "pids.txt").read_text().split()]
    assert len(pids) == 2 and not any(_alive(p) for p in pids)


@pytest.mark.slow
def test_limits_cannot_be_raised_from_inside(room):
    limits = json.loads((room["scratch"] / "limits.json").read_text())
    assert limits["soft"] == limits["hard"] == 2 * 2**30 and not limits["raised"]
    assert room["grades"]["raiser_99_fixture.ipynb"].exercises["99.2"]["status"] == "passed"


@pytest.mark.slow
def test_honest_awkward_submissions_get_their_marks(room):
    g = room["grades"]
    for name in ("alice.ipynb", "draft_99_fixture.ipynb", "dee_99_fixture.json", "Ann Lee", "Bo Chen"):
        assert (g[name].total, g[name].max, g[name].status) == (2, 2, "graded"), (name, g[name].exercises)
    assert g["alice.ipynb"].lesson == "99" and g["alice.ipynb"].student.startswith("=HYPERLINK")
    assert {g["Ann Lee"].student, g["Bo Chen"].student} == {"Ann Lee", "Bo Chen"}
    assert any("notebook saved as .json" in f["detail"] for f in g["dee_99_fixture.json"].flags)


@pytest.mark.slow
def test_flags_name_the_solution_and_the_copied_pair(room):
    g = room["grades"]
    assert [f["kind"] for f in g["sol_99_fixture.ipynb"].flags] == ["solution"]
    ann = [f["detail"] for f in g["Ann Lee"].flags if f["kind"] == "similar"]
    assert ann and "Bo Chen" in ann[0] and "identical" in ann[0]
    assert not [f for f in g["alice.ipynb"].flags if f["kind"] == "private"]


@pytest.mark.slow
def test_exports_are_safe_and_feedback_holds_no_reference_code(room):
    out = room["out"]
    rows = list(csv.reader(open(out / "grades.csv", encoding="utf-8")))
    assert not any(cell[:1] in ("=", "+", "-", "@") for row in rows for cell in row)
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
    feedback = sorted((out / "feedback").glob("*.md"))
    assert len(feedback) == len(room["grades"])
    text = "".join(p.read_text(encoding="utf-8") for p in feedback)
    assert "Exercise 99.1" in text and "zip(weights, values)" not in text and "min(max(x, 0)" not in text
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "expand all" in page and 'class="legend"' in page and str(room["base"]) not in page


def leftovers() -> list[int]:
    """Grading processes (they carry the run token) that are this test process's, or nobody's (orphans).

    Processes of a grader running in another test process at the same time are not counted.
    """
    from fusion_course.grading.worker import TOKEN_ENV

    def parent(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0

    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if TOKEN_ENV.encode() + b"=" not in entry.joinpath("environ").read_bytes() or not _alive(int(entry.name)):
                continue
        except OSError:
            continue
        pid, carriers = int(entry.name), []
        while pid > 1 and pid != os.getpid():
            carriers.append(pid)
            pid = parent(pid)
            if pid > 1 and pid != os.getpid() and not _carries_token(pid, TOKEN_ENV):
                break                     # reached a process outside grading: another run's grader
        else:
            found.append(int(entry.name))
    return found


def _carries_token(pid: int, name: str) -> bool:
    try:
        return name.encode() + b"=" in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


@pytest.mark.slow
def test_nothing_outlives_grading(room):
    assert leftovers() == []
    ours = [p for p in Path(tempfile.gettempdir()).glob("fusion-grade-*") if (p / "owner").is_file()
            and (p / "owner").read_text() == str(os.getpid())]
    assert ours == []
    stray = [p for p in Path(tempfile.gettempdir()).glob("tmp*.json") if b"fusion-course-grader" in p.read_bytes()]
    assert stray == []                                                 # kernel connection files (HMAC keys)


# ----------------------------------------------------------------------------- a killed grader
@pytest.mark.slow
def test_killed_grader_leaves_valid_partial_reports_and_resume_finishes(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    nbformat.write(_answered(SOLVED_1, SOLVED_2), str(subs / "a_99_fixture.ipynb"))
    marker = tmp_path / "slept"
    slow = f"import os, time\nif not os.path.exists({str(marker)!r}):\n    open({str(marker)!r}, 'w').close()\n    time.sleep(120)"
    nbformat.write(_answered(SOLVED_1, WRONG_2, before=slow), str(subs / "b_99_fixture.ipynb"))
    env = {**os.environ, EXTRA_CHECKS_ENV: str(FIXTURE / "checks")}
    cmd = [sys.executable, "-m", "fusion_course", "grade", str(subs), "--out", str(out), "--jobs", "1",
           "--solutions", str(FIX_SOLUTIONS), "--no-progress", "--timeout-per-cell", "200", "--timeout-per-notebook", "200"]
    grader = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (marker.exists() and (out / "grades.json").exists()):
        time.sleep(0.5)
    time.sleep(1.0)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert [r["student"] for r in rows] == ["a_99_fixture"] and rows[0]["total"] == "2"
    assert len(data["submissions"]) == 1 and "</html>" in (out / "report.html").read_text(encoding="utf-8")
    time.sleep(1.0)                                                    # the worker dies with its grader
    assert leftovers() == []
    mp = pytest.MonkeyPatch()
    mp.setenv(EXTRA_CHECKS_ENV, str(FIXTURE / "checks"))
    try:
        grades = grade([subs], out_dir=out, solutions_dir=FIX_SOLUTIONS, timeout_per_cell=CELL_S,
                       timeout_per_notebook=NOTEBOOK_S, jobs=1, progress=False, resume=True)
    finally:
        mp.undo()
    assert [(g.student, g.total) for g in grades] == [("a_99_fixture", 2), ("b_99_fixture", 1)]
    assert grades[0].seconds == data["submissions"][0]["seconds"]          # kept, not graded again
    stale = [p for p in Path(tempfile.gettempdir()).glob("fusion-grade-*") if (p / "owner").is_file()
             and (p / "owner").read_text() == str(grader.pid)]
    assert stale == []                                                 # removed by the next run


# ----------------------------------------------------------------------------- without kernels
def test_csv_cells_cannot_become_formulas():
    assert [safe_cell(v) for v in ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "\rx", "ok", 3]] == \
        ["'=1+1", "'+1", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "ok", 3]


def test_student_names_come_from_the_name_cell_the_metadata_the_folder_the_file():
    nb = nbformat.v4.new_notebook()
    shared = Counter({"99_fixture.ipynb": 2})
    assert nbs.student_name(Path("lms/Ann/99_fixture.ipynb"), nb, shared) == "Ann"
    assert nbs.student_name(Path("x/bob.ipynb"), nb, shared) == "bob"
    nb.metadata["fusion_course"] = {"student": "Cy"}
    assert nbs.student_name(Path("x/bob.ipynb"), nb, shared) == "Cy"
    nb.cells.append(nbformat.v4.new_code_cell('STUDENT_NAME = "Dee"  # your name\nimport os; os.system("no")'))
    assert nbs.student_name(Path("x/bob.ipynb"), nb, shared) == "Dee"
    nb.cells[0].source = 'STUDENT_NAME = __import__("os").getcwd()'      # never executed
    assert nbs.student_name(Path("x/bob.ipynb"), nb, shared) == "Cy"


def test_lesson_from_content_when_metadata_and_name_say_nothing():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercise 3.1: align"), nbformat.v4.new_code_cell('check("3.2", Block)')]
    lesson, note = nbs.identify_lesson(Path("mine.ipynb"), nb, {})
    assert lesson == "03" and "check calls" in note
    assert nbs.identify_lesson(Path("mine.ipynb"), nbformat.v4.new_notebook(), {}) == (None, "")


def test_files_under_other_extensions_are_found_when_they_are_notebooks(tmp_path):
    nbformat.write(_exercise(), str(tmp_path / "a.json"))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "b.ipynb.txt").write_text(nbformat.writes(_exercise()))
    assert sorted(p.name for p in nbs.find_submissions([tmp_path])) == ["a.json", "b.ipynb.txt"]


def test_the_last_check_cell_decides_where_the_answer_is_taken():
    canonical = _exercise()
    sub = _answered(SOLVED_1, SOLVED_2)
    at = _index(sub, "99.1", "exercise")
    sub.cells[at:at] = [nbformat.v4.new_code_cell(WRONG_1), nbformat.v4.new_code_cell('check("99.1", weighted_sum)')]
    merged, index, _ = nbs.merge_checks(sub, canonical, ["99.1", "99.2"])
    solved_at = next(i for i, c in enumerate(merged.cells) if c.source == SOLVED_1)
    assert index["99.1"] > solved_at and "capture']" in merged.cells[index["99.1"]].source
    assert sum("capture']" in c.source for c in merged.cells) == 2


def test_private_access_is_named_and_ordinary_code_is_not():
    assert private_access("from fusion_course.checks import check\nimport torch\nx = torch.ones(2)") == []
    assert "the course's checks" in private_access("import fusion_course.checks._tools as t")
    assert "stack frames" in private_access("import inspect\ninspect.stack()")
    assert "the garbage collector" in private_access("import gc\ngc.get_objects()")
    assert "loaded modules" in private_access("import sys\nsys.modules['x'] = 1")
    assert "the course's checks" in private_access("from fusion_course.checks.lesson06 import _ppa_reference as ppa")


def test_similar_pairs_skip_untouched_notebooks():
    code = "def f(x):\n    return x * 2 + 1"
    answers = [("a", "99", code), ("b", "99", code + " "), ("c", "99", "TEMPLATE"), ("d", "99", "TEMPLATE"),
               ("e", "01", code)]
    assert similar_pairs(answers, {"99": {"TEMPLATE"}}) == [("a", "b", 1.0)]
    assert similar_pairs(answers, {"99": {"TEMPLATE", code}}) == []
