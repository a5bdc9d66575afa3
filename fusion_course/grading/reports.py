"""The grader's outputs: ``grades.csv``, ``grades.json``, ``report.html`` and one feedback file per student.

All of them are rewritten after every graded submission, each through a temporary file and an atomic
rename, so a crash or Ctrl-C leaves valid files holding every row graded so far (and ``--resume`` can pick
up from ``grades.json``). The CSV is safe to open in a spreadsheet: a cell that starts with ``= + - @``, a
tab or a carriage return is prefixed with ``'`` so it is shown, not executed. Feedback files hold each
exercise's status and the check's message, which never contains the reference code.
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from ..exercises import exercise_key

__all__ = ["write_reports", "read_previous", "safe_cell", "COLOURS"]

COLOURS = {"passed": "#c8f0c8", "failed": "#ffd2cc", "error": "#ffb3b3", "timeout": "#ffe0a0",
           "not attempted": "#e4e4e4", "not run": "#f4f4f4"}


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text (no formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _columns(grades: Sequence[Any]) -> list[str]:
    return sorted({ex for g in grades for ex in g.exercises}, key=exercise_key)


def write_reports(grades: Sequence[Any], out: Path) -> dict[str, Path]:
    """Write every report for ``grades`` into ``out``; returns their paths."""
    from .flags import describe_flags

    out.mkdir(parents=True, exist_ok=True)
    columns = _columns(grades)
    paths = {"csv": out / "grades.csv", "json": out / "grades.json", "html": out / "report.html",
             "feedback": out / "feedback"}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", "student", "lesson", "status", *columns, "total", "max", "flags"])
    for g in grades:
        w.writerow([safe_cell(v) for v in [g.file, g.student, g.lesson, g.status,
                                           *(g.exercises.get(ex, {}).get("status", "") for ex in columns),
                                           g.total, g.max, describe_flags(g.flags)]])
    _atomic_write(paths["csv"], buf.getvalue())
    _atomic_write(paths["json"], json.dumps({"exercises": columns, "submissions": [asdict(g) for g in grades]},
                                            indent=1, ensure_ascii=False) + "\n")
    _atomic_write(paths["html"], _html(grades, columns))
    paths["feedback"].mkdir(exist_ok=True)
    for g in grades:
        _atomic_write(paths["feedback"] / feedback_name(g, grades), feedback(g))
    return paths


def read_previous(out: Path) -> list[dict[str, Any]]:
    """The rows of an earlier run's ``grades.json`` (empty if there is none or it is unreadable)."""
    try:
        data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
        rows = data["submissions"]
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    except (OSError, ValueError, KeyError, TypeError):
        return []


# ----------------------------------------------------------------------------- feedback
def feedback_name(g: Any, grades: Sequence[Any]) -> str:
    """``feedback/<student>.md``; the file's name is added when two rows share a student."""
    base = re.sub(r"[^\w.-]+", "_", g.student).strip("._") or "student"
    if sum(other.student == g.student for other in grades) > 1:
        base += "__" + (re.sub(r"[^\w.-]+", "_", Path(g.file).stem).strip("._") or "file")
    return base[:120] + ".md"


def feedback(g: Any) -> str:
    """What the learner may read: each exercise's status and the check's message."""
    lines = [f"# Feedback: {g.student}", "", f"Notebook: `{Path(g.file).name}`" + (f", lesson {g.lesson}" if g.lesson else ""), ""]
    if not g.exercises:
        lines += [f"This notebook was not graded: {g.status}. {g.message}".rstrip(), ""]
        return "\n".join(lines) + "\n"
    lines += [f"**Score: {g.total} / {g.max}**", ""]
    if g.message:
        lines += [g.message, ""]
    for ex in sorted(g.exercises, key=exercise_key):
        r = g.exercises[ex]
        lines += [f"## Exercise {ex}: {r['status']}", ""]
        if r.get("message"):
            lines += ["```text", r["message"].replace("```", "'''"), "```", ""]
    return "\n".join(lines) + "\n"


def feedback_summary(g: Any, limit: int = 1000) -> str:
    """One paragraph for an LMS's comment box: the score, then each exercise that did not pass and why."""
    if not g.exercises:
        return f"Not graded: {g.status}. {g.message}".strip()[:limit]
    parts = [f"{g.total}/{g.max} exercises passed."]
    for ex in sorted(g.exercises, key=exercise_key):
        r = g.exercises[ex]
        if r["status"] != "passed":
            parts.append(f"{ex}: {r['status']}" + (f" ({r['message'].splitlines()[0][:200]})" if r.get("message") else "") + ".")
    return " ".join(parts)[:limit]


# ----------------------------------------------------------------------------- the page
def _row_html(g: Any, columns: list[str]) -> str:
    from .flags import describe_flags

    e = html.escape
    cells = [f"<td>{e(g.file)}</td>", f"<td>{e(g.student)}</td>", f"<td>{e(g.lesson)}</td>"]
    row_msg = g.message
    if g.cell_errors:
        row_msg += ("; " if row_msg else "") + "; ".join(
            f"cell {c['cell']}: {c['status']} {c['ename']}: {c['evalue'][:200]}" for c in g.cell_errors)
    status_cls = "ok" if g.status == "graded" else "bad"
    cells.append(f'<td class="{status_cls}">' + (f"<details><summary>{e(g.status)}</summary><div class='msg'>{e(row_msg)}</div></details>"
                                                if row_msg else e(g.status)) + "</td>")
    for ex in columns:
        r = g.exercises.get(ex)
        if r is None:
            cells.append("<td></td>")
            continue
        msg = r.get("message", "")
        inner = (f'<details><summary>{e(r["status"])}</summary><div class="msg">{e(msg)}</div></details>'
                 if msg else e(r["status"]))
        cells.append(f'<td style="background:{COLOURS.get(r["status"], "#ffffff")}" title="{e(msg)}">{inner}</td>')
    cells.append(f"<td class='num'>{g.total} / {g.max}</td>" if g.max else "<td class='num'>–</td>")
    flags = describe_flags(g.flags)
    cells.append(f"<td class='flag'>{e(flags)}</td>" if flags else "<td></td>")
    return "<tr>" + "".join(cells) + "</tr>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #bbb; padding: 4px 8px; vertical-align: top; }
th { background: #333; color: #fff; position: sticky; top: 0; }
td.num { text-align: right; font-weight: bold; }
td.bad { background: #ffe6cc; }
td.flag { background: #fff3b0; max-width: 22em; font-size: 12px; }
tr.foot td { background: #eee; font-weight: bold; }
.msg { max-width: 28em; white-space: pre-wrap; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 6px; margin: 0.5em 0 1em; max-width: 100%; }
.key { padding: 2px 6px; border: 1px solid #bbb; white-space: nowrap; }
summary { cursor: pointer; }
"""

_SCRIPT = """
function setAll(open) { document.querySelectorAll('details').forEach(d => { d.open = open; }); }
"""


def _html(grades: Sequence[Any], columns: list[str]) -> str:
    e = html.escape
    rows = [_row_html(g, columns) for g in grades]
    run = [g for g in grades if g.exercises]
    foot = "".join(
        f"<td class='num'>{sum(g.exercises.get(ex, {}).get('status') == 'passed' for g in run)}"
        f" / {sum(ex in g.exercises for g in run)}</td>" for ex in columns)
    rows.append(f"<tr class='foot'><td colspan='4'>passed / graded</td>{foot}"
                f"<td class='num'>{sum(g.total for g in run)} / {sum(g.max for g in run)}</td><td></td></tr>")
    graded = sum(bool(g.exercises) for g in grades)
    flagged = sum(bool(g.flags) for g in grades)
    legend = "".join(f'<span style="background:{c}" class="key">{s}</span>' for s, c in COLOURS.items())
    head = "".join(f"<th>{e(h)}</th>" for h in ["file", "student", "lesson", "status", *columns, "total", "flags"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>fusion-course grades</title>
<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>
<h1>Grades</h1>
<p>{len(grades)} submission(s), {graded} run, {flagged} flagged for review. Open a cell (or hover) to read the
check's message. <button type="button" onclick="setAll(true)">expand all</button>
<button type="button" onclick="setAll(false)">collapse all</button></p>
<div class="legend">{legend}</div>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<p style="font-size:12px;color:#666">Written by <code>fusion-course grade</code> on {time.strftime('%Y-%m-%d %H:%M')}.
Flags never change a mark: they say what a teacher should look at.</p>
</body></html>
"""
