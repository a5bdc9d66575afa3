"""The package keeps the shape docs/architecture.md describes, read from the source with ``ast``.

* no import cycle: a module that imports, at import time, a module that imports it back sees a half-built
  module (an AttributeError at import, depending on which one is imported first);
* no private name (``_x``) imported from another subpackage: a private name is free to change, so one
  subpackage must not lean on another's;
* no function or method longer than 80 lines: one function, one job (a class may be longer);
* every module named in docs/architecture.md, so the page stays the map of the package.

One private import crosses subpackages on purpose: the grader's worker loads a lesson's check functions with
``fusion_course.checks._lesson_checks``. The grader's security tests attack that very name (a submission that
replaces it must earn nothing), so it stays private: a learner is not invited to call it.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fusion_course"
EXEMPT_MODULES: tuple[str, ...] = ()
PRIVATE_IMPORTS_ALLOWED = {("fusion_course.grading.worker_process", "_lesson_checks")}
LONG_FUNCTIONS_ALLOWED: set[tuple[str, str]] = set()
MAX_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def exempt(module: str) -> bool:
    return bool(EXEMPT_MODULES) and module.startswith(EXEMPT_MODULES)


def _subpackage(module: str) -> str:
    """``fusion_course.fusion.align`` -> ``fusion``; a top-level module is its own subpackage."""
    return module.split(".")[1] if "." in module else ""


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _import_time_nodes(tree: ast.Module) -> list[ast.stmt]:
    """The statements run when the module is imported: top level, inside try/if, not in functions."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]
        else:
            out.append(node)
    return out


def imports(module: str, *, import_time_only: bool) -> list[tuple[str, str]]:
    """``(target module, imported name)`` for every import of a course module by ``module``."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = _import_time_nodes(tree) if import_time_only else list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name in modules()]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [node.module or ""]).rstrip(".")
            else:
                base = node.module or ""
            if not base.startswith("fusion_course"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "") if sub in modules() else (base, alias.name))
    return [(target, name) for target, name in found if target in modules() and target != module]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_reader_finds_what_it_should():
    """The helpers see a known import, a known cycle and a known long function (so the checks can fail)."""
    assert ("fusion_course.fusion.layers", "ConvBNAct") in imports("fusion_course.fusion.block", import_time_only=True) \
        or ("fusion_course.fusion.layers", "") in imports("fusion_course.fusion.block", import_time_only=True)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert any(name == "fit" for name, _ in _long_functions("fusion_course.train", limit=40))


def test_no_import_cycle():
    edges = {m: {t for t, _ in imports(m, import_time_only=True) if not exempt(t)}
             for m in modules() if not exempt(m)}
    assert _cycles(edges) == [], "modules that import each other at import time"


def test_no_private_name_crosses_subpackages():
    crossing = [f"{m} imports {name} from {target}"
                for m in modules() if not exempt(m)
                for target, name in imports(m, import_time_only=False)
                if not exempt(target) and name.startswith("_") and not name.startswith("__")
                and _subpackage(target) != _subpackage(m) and (m, name) not in PRIVATE_IMPORTS_ALLOWED]
    assert crossing == [], "make the name public, or keep its use inside its subpackage"


def _long_functions(module: str, *, limit: int) -> list[tuple[str, int]]:
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_is_longer_than_80_lines():
    long = [f"{m}.{name}: {n} lines" for m in modules() if not exempt(m)
            for name, n in _long_functions(m, limit=MAX_LINES) if (m, name) not in LONG_FUNCTIONS_ALLOWED]
    assert long == [], f"split these into named steps of at most {MAX_LINES} lines"


def test_docs_name_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = {m: f"{path.parent.name}/" if path.name == "__init__.py" else path.name for m, path in modules().items()}
    missing = [m for m, name in named.items() if not exempt(m) and name not in page]
    assert missing == [], "docs/architecture.md: add each module with its one job"
