"""Compute the self-checks' expected values from the solution notebooks.

For each solution notebook with registered exercises, this runs the notebook's setup cell (its
first code cell) and its exercise cells (those holding ``### BEGIN SOLUTION``) in a fresh namespace,
calls each exercise's function on its registered cases (seed 0) and stores the outputs in
``data/expected/<notebook>.npz``.

Usage::

    python -m instructor.expected            # rebuild every notebook's expected values
    python -m instructor.expected 01_filters # only this one
    python -m instructor.expected --check    # exit 1 if the stored values are out of date

"Out of date" means moved by more than ``DRIFT_SHARE`` of the exercise's self-check tolerance, in the
self-check's own measure (``max |difference| / max |expected|``): float32 round-off from another CPU,
kernel or thread count stays far below that, a changed solution does not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import numpy as np

from .assign import BEGIN
from course_utils.cells import python_only
from course_utils.checks import encode_output, expected_path, load_expected, save_expected
from course_utils.exercises import all_exercises, exercises_for
from course_utils.paths import solutions_dir

__all__ = ["python_only", "solution_functions", "compute_expected", "drift", "DRIFT_SHARE"]


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


# The drift test's tolerance, as a share of each exercise's own self-check tolerance. Float32 results
# move in the 7th digit across CPUs, kernels and thread counts (``ONEDNN_MAX_CPU_ISA``,
# ``OMP_NUM_THREADS``); a changed solution moves them far more. A tenth of the self-check's tolerance
# keeps the drift test well inside what a student's correct answer is allowed, and well above round-off.
DRIFT_SHARE = 0.1


def drift(stored, fresh, atol: float = 0.0) -> float:
    """The largest difference between stored and fresh outputs of one exercise, as the self-check measures it.

    Args:
        stored, fresh: ``[case][(kind, array)]`` lists, as ``encode_output`` makes them.

    Returns:
        ``max |fresh - stored| / max |stored|`` over the float arrays of every case (0 where the
        absolute difference is below the self-check's round-off floor or the exercise's ``atol``); ``inf``
        if a case count, kind, shape or dtype differs or an integer/boolean value is not equal.
    """
    from course_utils.checks import _ABS_FLOOR

    if len(stored) != len(fresh):
        return float("inf")
    worst = 0.0
    for s_case, f_case in zip(stored, fresh):
        if [k for k, _ in s_case] != [k for k, _ in f_case]:
            return float("inf")
        for (_, a), (_, b) in zip(s_case, f_case):
            if a.shape != b.shape or a.dtype != b.dtype:
                return float("inf")
            if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
                if not np.array_equal(a, b):
                    return float("inf")
                continue
            if a.size == 0:
                continue
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            if not np.array_equal(np.isfinite(a64), np.isfinite(b64)):
                return float("inf")
            diff = float(np.nanmax(np.abs(np.where(np.isfinite(a64), a64 - b64, 0.0))))
            if diff <= max(_ABS_FLOOR, atol):
                continue
            worst = max(worst, diff / max(float(np.nanmax(np.abs(np.where(np.isfinite(a64), a64, 0.0)))), 1e-12))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.expected", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook stems, e.g. 01_filters (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the stored values, write nothing")
    parser.add_argument("--verbose", action="store_true", help="with --check: print each exercise's drift and tolerance")
    args = parser.parse_args(argv)
    names = args.notebooks or sorted({ex.notebook for ex in all_exercises()})
    stale = []
    for name in names:
        if not exercises_for(name):
            print(f"error: notebook {name!r} has no registered exercises.", file=sys.stderr)
            return 1
        fresh = compute_expected(name)
        if args.check:
            for ex in exercises_for(name):
                try:
                    moved = drift(load_expected(name, ex.function), fresh[ex.function], ex.atol)
                except (FileNotFoundError, KeyError):
                    moved = float("inf")
                tolerance = DRIFT_SHARE * ex.rtol
                if args.verbose:
                    print(f"{name}:{ex.function}: drift {moved:.1e} (tolerance {tolerance:.0e})")
                if moved > tolerance:
                    stale.append(f"{name}:{ex.function} (moved by {moved:.1e}, tolerance {tolerance:.0e})")
        else:
            path = save_expected(name, fresh)
            print(f"wrote {Path(path).relative_to(Path(path).parents[2])} ({len(fresh)} exercises)")
    if stale:
        print("Out of date: " + ", ".join(stale) + ". Run `make expected`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
