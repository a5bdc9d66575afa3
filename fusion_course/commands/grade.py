"""`fusion-course grade`: grade a folder of submitted exercise notebooks.

usage: fusion-course grade PATH... [--out DIR] [--solutions DIR] [--timeout-per-cell S]
                           [--timeout-per-notebook S] [--memory-gb G] [--jobs N] [--lesson NN]
                           [--resume] [--retry-crashed] [--lms canvas|moodle] [--lms-assignment NAME]
                           [--no-progress]

PATH: notebooks or folders of notebooks (searched recursively; files with another extension are taken when
their content is a notebook). Each submission runs on a temporary copy in its own kernel; the course's
checks run in the grader's worker, on plain data from the kernel, never in the submission's process. Every
row is written to grades.csv, grades.json, report.html and feedback/<student>.md in --out as soon as it is
graded; --resume keeps the rows of files already graded there. A file that a grading run died on (it killed
the grader) is set aside on the next run, marked `review` with no mark, and graded again only with
--retry-crashed; the run ends by listing the files set aside. --lms canvas|moodle also writes the LMS's
gradebook import file (ids from Canvas's or Moodle's download names) and needs-attention.csv for the rows
that cannot be tied to an id. Submissions are untrusted code: for a room
of strangers run this inside a container without network, as an unprivileged user, e.g.

  docker run --rm --network none -v "$PWD":/course -w /course fusion-course \\
      fusion-course grade submissions/ --out grades/

The command is a small supervisor: it checks the input, then grades in a child process and starts that child
again (with --resume) when a submission killed it, so one command gets through a room with a killer in it.
Exit status 0 when grading completed (whatever the grades), 2 for bad input.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter

from ..cli import CommandParser, parse_command

CHILD_ENV = "FUSION_COURSE_GRADE_CHILD"   # set in the grading child the supervisor starts
MAX_RESTARTS = 50                         # each restart sets a file aside or grades a suspect: progress


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="fusion-course grade", description="Grade submitted exercise notebooks.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Writes grades.csv, grades.json, report.html and feedback/<student>.md into --out, "
                                       "after every graded submission.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="submitted notebooks or folders of them")
    p.add_argument("--out", default="grades", metavar="DIR", help="where to write the reports (default: grades)")
    p.add_argument("--solutions", default=None, metavar="DIR",
                   help="the course's solution notebooks (default: ./solutions, else the course's own)")
    p.add_argument("--timeout-per-cell", type=float, default=180.0, metavar="S",
                   help="seconds one cell may run before it is interrupted (default: 180)")
    p.add_argument("--timeout-per-notebook", type=float, default=900.0, metavar="S",
                   help="seconds a whole submission may run, kernel start included (default: 900)")
    p.add_argument("--memory-gb", type=float, default=4.0, metavar="G",
                   help="hard memory limit of each kernel in GiB (RLIMIT_DATA; 0 for none; default: 4)")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="submissions graded in parallel (default: 2)")
    p.add_argument("--lesson", default=None, metavar="NN", help="grade only this lesson; report others as 'other lesson'")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows of --out/grades.json for files that have not changed; grade the rest")
    p.add_argument("--retry-crashed", action="store_true",
                   help="grade again the files a dead grading run left set aside (they may kill the grader again)")
    p.add_argument("--lms", choices=("canvas", "moodle"), default=None,
                   help="also write the LMS's import file: canvas-grades.csv or moodle-grades.csv, and needs-attention.csv")
    p.add_argument("--lms-assignment", default=None, metavar="NAME",
                   help="Canvas: the assignment column's heading as the gradebook shows it, e.g. 'Lesson 01 (1234)' "
                        "(default: 'fusion-course lesson NN')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = parse_command(_parser(), argv)
    if args is None:     # --help
        return 0
    from ..grading import grade
    from ..grading.room import preflight, set_aside

    if os.environ.get(CHILD_ENV) != "1" and sys.platform.startswith("linux"):
        preflight(args.paths, out_dir=args.out, solutions_dir=args.solutions, jobs=args.jobs, lesson=args.lesson,
                  timeout_per_cell=args.timeout_per_cell, timeout_per_notebook=args.timeout_per_notebook)
        return _supervise(argv)
    _no_trace()
    try:
        grades = grade(args.paths, out_dir=args.out, solutions_dir=args.solutions,
                       timeout_per_cell=args.timeout_per_cell, timeout_per_notebook=args.timeout_per_notebook,
                       jobs=args.jobs, memory_gb=args.memory_gb, lesson=args.lesson, progress=not args.no_progress,
                       resume=args.resume, retry_crashed=args.retry_crashed)
    except KeyboardInterrupt:
        print(f"fusion-course grade: interrupted; the rows graded so far are in {args.out}/ "
              "(run again with --resume to finish)", file=sys.stderr)
        return 130
    width = max(len(g.file) for g in grades)
    for g in grades:
        counts = Counter(r["status"] for r in g.exercises.values())
        detail = ", ".join(f"{n} {s}" for s, n in counts.items())
        score = f"{g.total}/{g.max}" if g.max else "-"
        flags = f"  [{', '.join(sorted({f['kind'] for f in g.flags}))}]" if g.flags else ""
        print(f"{g.file:<{width}}  {score:>5}  {g.status}" + (f" ({detail})" if detail else "") + flags)
    print(f"wrote {args.out}/grades.csv, {args.out}/grades.json, {args.out}/report.html, {args.out}/feedback/")
    if args.lms:
        _export(grades, args.out, args.lms, args.lms_assignment)
    aside = set_aside(grades)
    if aside:
        print(f"\nset aside ({len(aside)}): a grading run died while grading these files; they have no mark. Read "
              "them before grading them again with --retry-crashed (inside a container):")
        for g in aside:
            print(f"  {g.file}  ({g.student}): {g.message}")
    return 0


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the supervisor dies (so a killed command leaves nothing)."""
    from ..grading.linux import PR_SET_PDEATHSIG, prctl

    prctl(PR_SET_PDEATHSIG, 9)


def _supervise(argv: list[str]) -> int:
    """Grade in a child process; start it again, resuming, each time something kills it.

    A submission can find its grader through ``/proc`` and kill it. The child's in-progress entries
    (:mod:`fusion_course.grading.ledger`) say which file it was grading, so each restart grades that file
    alone, then sets it aside: the room finishes, and the teacher reads which files were set aside and why.
    """
    cmd = [sys.executable, "-m", "fusion_course", "grade", *argv]
    env = {**os.environ, CHILD_ENV: "1"}
    for restart in range(MAX_RESTARTS + 1):
        child = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
        try:
            code = child.wait()
        except KeyboardInterrupt:      # the child got the same Ctrl-C: let it save its rows and say so
            child.wait()
            return 130
        if code >= 0:
            return code
        print(f"fusion-course grade: the grader was killed (signal {-code}), most likely by a submission; "
              "starting it again: the files it was grading are graded alone, then set aside", file=sys.stderr)
        if "--resume" not in cmd:
            cmd.append("--resume")
    print(f"fusion-course grade: the grader was killed {MAX_RESTARTS + 1} times; giving up. The rows graded so far "
          "are in the --out folder", file=sys.stderr)
    return 1


def _export(grades: list, out: str, system: str, assignment: str | None) -> None:
    """Write the LMS's import file and say what needs the teacher's hand."""
    from pathlib import Path

    from ..grading.lms import export

    if assignment is None:
        lessons = sorted({g.lesson for g in grades if g.lesson})
        assignment = "fusion-course lesson " + "+".join(lessons) if lessons else "fusion-course"
    done = export(grades, Path(out), system, assignment)
    print(f"wrote {done['path']} ({done['rows']} row(s)) for {system}'s import")
    if done["attention"]:
        print(f"{done['attention']} submission(s) need your attention before the import: see {done['needs_attention']}")


def _no_trace() -> None:
    """Make the grader non-dumpable: a submission running as the same user cannot trace it or read its pipes."""
    from ..grading.linux import no_trace

    no_trace()
