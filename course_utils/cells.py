"""Which cells of a notebook run when its exercises are checked outside Jupyter.

The course's grader and the student's table of exercises (``course_utils.progress``)
both run a notebook's setup cell (its first code cell), then the cells that define an exercise's
function, and the cells that hold nothing but imports, definitions and constants; every other cell
(one that computes, trains, plots or calls ``check``) is skipped. This module decides which, once.
"""
from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

import nbformat

__all__ = ["python_only", "definitions_only", "bound_names", "exercise_cells", "setup_cell"]

_AST_LOCK = threading.Lock()


def python_only(source: str) -> str:
    """Drop IPython magics and shell lines (``%matplotlib inline``, ``!pip ...``), which plain ``exec`` cannot run."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _parse(source: str):
    """``ast.parse``, one thread at a time: with two grading threads parsing at once, CPython 3.11.7
    raised "SystemError: AST constructor recursion depth mismatch" here (see cpython gh-106905), which
    scored a whole notebook 0."""
    with _AST_LOCK:
        return ast.parse(source)


def _constant(node) -> bool:
    """A literal, or a container / arithmetic of literals: ``3``, ``-1e-8``, ``1 / 255``, ``("a", 2)``."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _constant(k) for k in node.keys) and all(_constant(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _constant(node.left) and _constant(node.right)
    return False


def _names_only(target) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(_names_only(e) for e in target.elts)


def definitions_only(source: str) -> bool:
    """Whether a cell's top-level statements are only imports, function / class definitions and
    assignments of constants to names (and at least one of them). Such a cell (a student's helper
    function, say) is run when checking; a cell that computes, trains or plots is not."""
    try:
        tree = _parse(python_only(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if not tree.body:
        return False
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # a docstring
            continue
        if isinstance(node, ast.Assign) and all(_names_only(t) for t in node.targets) and _constant(node.value):
            continue
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and (node.value is None or _constant(node.value)):
            continue
        return False
    return True


def _target_names(target) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def bound_names(source: str) -> set[str]:
    """The names a cell binds at its top level: ``def`` and ``class``, assignments (``f = lambda ...``,
    ``f = Helpers.f``), imports. A cell that does not parse: its top-level ``def name(`` lines."""
    try:
        tree = _parse(python_only(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, flags=re.M))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names |= _target_names(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names |= _target_names(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
    return names


def exercise_cells(nb, exercises) -> list[tuple[str, str]]:
    """The student's code cells to run, in order, as ``(label, source)``: those that bind an exercise's
    function at their top level (``def name(``, or ``name = <a lambda, a staticmethod, ...>``:
    ``bound_names``), whatever else they hold, and those that hold only definitions
    (``definitions_only``: imports, functions, classes, constants), e.g. a helper in its own cell. They
    run after the setup cell; every other cell (one that computes, trains, plots or calls the
    self-check) is skipped. The label ``cell N`` counts every cell of the notebook, Markdown too, from 1."""
    wanted = {ex.function for ex in exercises}
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        if bound_names(cell.source) & wanted or definitions_only(cell.source):
            cells.append((f"cell {i + 1}", cell.source))
    return cells


def setup_cell(notebook) -> str:
    """The source of a notebook's setup cell, its first code cell (``notebook``: a path or a read notebook)."""
    nb = nbformat.read(notebook, as_version=4) if isinstance(notebook, (str, Path)) else notebook
    return next(c.source for c in nb.cells if c.cell_type == "code")
