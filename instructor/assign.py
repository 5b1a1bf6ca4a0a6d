"""Write the student notebooks (``notebooks/``) from the solution notebooks (``solutions/``).

In a solution notebook the body of each exercise sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's convention). The student version replaces each such region with::

    # YOUR CODE HERE
    raise NotImplementedError()

(``YOUR ANSWER HERE`` in Markdown cells). Cells tagged ``needs-exercise`` in the solutions, the ones
that call an exercise's function, are tagged ``raises-exception`` in the student version, so that
JupyterLab's *Run All* and nbval carry on past them while the exercise is unfinished. Cells tagged
``solution-only`` are left out. Outputs and execution counts are cleared.

Usage::

    python -m instructor.assign            # (re)write notebooks/ from solutions/
    python -m instructor.assign --check    # exit 1 if notebooks/ differ from what would be written
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from course_utils.paths import notebooks_dir, solutions_dir

__all__ = ["strip_solutions", "make_student_notebook", "solution_regions", "KERNEL_NAME"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB_CODE = ("# YOUR CODE HERE", "raise NotImplementedError()")
STUB_MARKDOWN = "YOUR ANSWER HERE"
KERNEL_NAME = "optimizing-the-input"
_MARKER = re.compile(r"^(\s*)(### (?:BEGIN|END) SOLUTION)\s*$")


def solution_regions(source: str, where: str = "cell") -> list[tuple[int, int, str]]:
    """Find the solution regions of a cell: a list of ``(begin_line, end_line, indent)``.

    Raises ValueError, naming ``where``, when the markers are unbalanced or nested.
    """
    regions, start, indent = [], None, ""
    for i, line in enumerate(source.splitlines()):
        m = _MARKER.match(line)
        if not m:
            if BEGIN in line or END in line:
                raise ValueError(f"{where}: line {i + 1} has a solution marker with other text on it; put "
                                 f"'{BEGIN}' and '{END}' on lines of their own.")
            continue
        if m.group(2) == BEGIN:
            if start is not None:
                raise ValueError(f"{where}: '{BEGIN}' at line {i + 1} comes before the previous region was closed.")
            start, indent = i, m.group(1)
        else:
            if start is None:
                raise ValueError(f"{where}: '{END}' at line {i + 1} has no matching '{BEGIN}'.")
            regions.append((start, i, indent))
            start = None
    if start is not None:
        raise ValueError(f"{where}: '{BEGIN}' at line {start + 1} is never closed by '{END}'.")
    return regions


def strip_solutions(source: str, cell_type: str = "code", where: str = "cell") -> str:
    """Replace every solution region of a cell's source with the student stub."""
    lines = source.splitlines()
    for begin, end, indent in reversed(solution_regions(source, where)):
        stub = [indent + s for s in STUB_CODE] if cell_type == "code" else [indent + STUB_MARKDOWN]
        lines[begin:end + 1] = stub
    return "\n".join(lines)


def make_student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (the input is not changed)."""
    nb = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "solution-only" in tags:
            continue
        where = f"{name}, cell {index}"
        cell.source = strip_solutions(cell.source, cell.cell_type, where)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if "needs-exercise" in tags:
                tags = [t for t in tags if t != "needs-exercise"]
                if "raises-exception" not in tags:
                    tags.append("raises-exception")
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k not in ("tags", "execution")}
        if tags:
            metadata["tags"] = tags
        cell.metadata = metadata
        cells.append(cell)
    nb.cells = cells
    return nb


def _is_worked_on(path: Path) -> bool:
    """A notebook someone has run (outputs or execution counts) is not silently overwritten."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return True
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")) for c in nb.cells)


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text a notebook is stored as."""
    return nbformat.writes(nb) + "\n"


def build_all(check_only: bool = False, force: bool = False, out=None) -> int:
    """Write (or with ``check_only`` compare) every student notebook; return a process exit code."""
    sources = sorted(solutions_dir().glob("*.ipynb"))
    if not sources:
        print(f"No solution notebooks found in {solutions_dir()}.", file=out)
        return 1
    notebooks_dir().mkdir(exist_ok=True)
    drifted, refused = [], []
    for src in sources:
        student = make_student_notebook(nbformat.read(src, as_version=4), src.name)
        text = render(student)
        target = notebooks_dir() / src.name
        current = target.read_text() if target.exists() else None
        if current == text:
            continue
        if check_only:
            drifted.append(target)
            continue
        if current is not None and _is_worked_on(target) and not force:
            refused.append(target)
            continue
        target.write_text(text)
        print(f"wrote {target.relative_to(target.parents[1])}", file=out)
    orphans = sorted(p.name for p in notebooks_dir().glob("*.ipynb") if not (solutions_dir() / p.name).exists())
    for name in orphans:
        print(f"note: notebooks/{name} has no solution notebook; left as it is.", file=out)
    if drifted:
        print("These student notebooks differ from their solutions; run `make student` (python -m instructor.assign): "
              + ", ".join(str(p.name) for p in drifted), file=out)
        return 1
    if refused:
        print("Not overwritten because they hold outputs (someone worked in them); move them away or pass --force: "
              + ", ".join(str(p.name) for p in refused), file=out)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report drift, write nothing (exit 1 on drift)")
    parser.add_argument("--force", action="store_true", help="overwrite student notebooks even if they hold outputs")
    args = parser.parse_args(argv)
    try:
        return build_all(check_only=args.check, force=args.force)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
