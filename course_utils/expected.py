"""Compute the self-checks' expected values from the solution notebooks.

For each solution notebook with registered exercises, this runs the notebook's setup cell (its
first code cell) and its exercise cells (those holding ``### BEGIN SOLUTION``) in a fresh namespace,
calls each exercise's function on its registered cases (seed 0) and stores the outputs in
``data/expected/<notebook>.npz``.

Usage::

    python -m course_utils.expected            # rebuild every notebook's expected values
    python -m course_utils.expected 01_filters # only this one
    python -m course_utils.expected --check    # exit 1 if the stored values are out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import numpy as np

from .assign import BEGIN
from .checks import encode_output, expected_path, load_expected, save_expected
from .exercises import all_exercises, exercises_for
from .paths import solutions_dir

__all__ = ["python_only", "solution_functions", "compute_expected"]


def python_only(source: str) -> str:
    """Drop IPython magics and shell lines, which plain ``exec`` cannot run."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def solution_functions(notebook: str) -> dict:
    """Run a solution notebook's setup cell and exercise cells; return the resulting namespace."""
    path = solutions_dir() / f"{notebook}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"There is no solution notebook {path}.")
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    if not code_cells:
        raise ValueError(f"{path.name} has no code cells.")
    chosen = [code_cells[0]] + [c for c in code_cells[1:] if BEGIN in c.source]
    namespace: dict = {"__name__": f"solution_{notebook}"}
    for cell in chosen:
        exec(compile(python_only(cell.source), f"<{path.name}>", "exec"), namespace)
    return namespace


def compute_expected(notebook: str, seed: int = 0) -> dict[str, list]:
    """Return ``{function: [encoded outputs per case]}`` computed with the solution's functions."""
    namespace = solution_functions(notebook)
    outputs = {}
    for ex in exercises_for(notebook):
        func = namespace.get(ex.function)
        if not callable(func):
            raise ValueError(f"Exercise {ex.id}: solutions/{notebook}.ipynb defines no function `{ex.function}`.")
        outputs[ex.function] = [encode_output(func(**case.kwargs)) for case in ex.cases(seed)]
    return outputs


def _same(stored, fresh) -> bool:
    if len(stored) != len(fresh):
        return False
    for s_case, f_case in zip(stored, fresh):
        if [k for k, _ in s_case] != [k for k, _ in f_case]:
            return False
        for (_, a), (_, b) in zip(s_case, f_case):
            if a.shape != b.shape or a.dtype != b.dtype or not np.allclose(a, b, rtol=1e-6, atol=1e-9):
                return False
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.expected", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook stems, e.g. 01_filters (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the stored values, write nothing")
    args = parser.parse_args(argv)
    names = args.notebooks or sorted({ex.notebook for ex in all_exercises()})
    stale = []
    for name in names:
        if not exercises_for(name):
            print(f"error: notebook {name!r} has no registered exercises.", file=sys.stderr)
            return 1
        fresh = compute_expected(name)
        if args.check:
            for function, cases in fresh.items():
                try:
                    ok = _same(load_expected(name, function), cases)
                except (FileNotFoundError, KeyError):
                    ok = False
                if not ok:
                    stale.append(f"{name}:{function}")
        else:
            path = save_expected(name, fresh)
            print(f"wrote {Path(path).relative_to(Path(path).parents[2])} ({len(fresh)} exercises)")
    if stale:
        print("Out of date: " + ", ".join(stale) + ". Run `make expected`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
