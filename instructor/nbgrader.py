"""Write an nbgrader course directory from the solution notebooks: ``python -m instructor.nbgrader --out DIR``.

The course (``make nbgrader``; README, "Teaching on a JupyterHub") holds:

* ``source/<NN_name>/<NN_name>.ipynb``: each solution notebook with nbgrader's cell metadata (schema 3), one
  assignment per notebook. The setup cell (the first code cell) is locked (a read-only cell, restored at grading);
  each cell holding ``### BEGIN SOLUTION`` is an autograded answer; each self-check cell ``check(f)`` is a locked
  autograder test worth the exercise's points in the registry (``course_utils.exercises``), with the grader's
  hidden cases inside ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` (``course_utils.checks.check_hidden``).
  Tags as in the student notebooks (``needs-exercise`` -> ``raises-exception``; ``solution-only`` cells left out),
  so that ``nbgrader generate_assignment`` writes, cell for cell, the student notebook of ``notebooks/``.
* ``hidden/<NN_name>.npz``: the hidden tests' seeds and the solution's outputs on their cases (the seeds of
  ``instructor.grade``, ``--seeds`` to change them). Outside ``source/``: never released.
* ``course_utils/`` and ``data/`` (the files git tracks): what the notebooks import and read at grading time.
* ``nbgrader_config.py``: the course id, a cell timeout that fits our notebooks, the stubs of ``make student``, and
  the grading kernels' environment: this course's ``course_utils`` first on ``PYTHONPATH``, ``COURSE_HIDDEN_TESTS``,
  one thread per kernel. The kernel is the workbook's (``optimizing-the-input``, the environment of the lock).

An exercise earns its points in nbgrader exactly when it does in ``make grade``: the visible cases (``check``) and
the hidden ones (seeds 1 and 2) all pass. ``hub/test_nbgrader.py`` checks that with the real nbgrader.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import io
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np

from course_utils.checks import HIDDEN_TESTS_ENV, save_expected
from course_utils.exercises import all_exercises, exercises_for
from course_utils.paths import solutions_dir

from .assign import KERNEL_NAME, render, solution_regions

__all__ = ["make_source_notebook", "write_course", "COURSE_ID", "SCHEMA_VERSION", "HIDDEN_SEEDS"]

COURSE_ID = "optimizing-the-input"
SCHEMA_VERSION = 3
HIDDEN_SEEDS = (1, 2)  # as instructor.grade.HIDDEN_SEEDS (not imported: grade.py pulls in the sandbox)
CELL_TIMEOUT_S = 300  # nbgrader's default is 30 s; our notebooks' longest cells take some seconds, on a busy grader more
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
REPO = Path(__file__).resolve().parents[1]

CONFIG = '''\
"""nbgrader's configuration for this course, written by `python -m instructor.nbgrader` (make nbgrader).

Run nbgrader from this folder: `nbgrader generate_assignment 01_filters`, `nbgrader autograde 01_filters`, ...
The grading kernel is the workbook's ("optimizing-the-input", the environment of requirements/lock-linux-py311.txt).
"""
import os

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = here
# Every notebook is an assignment of its own, named as the notebook: {assignments}.
c.ExecutePreprocessor.timeout = {timeout}
c.Execute.timeout = {timeout}
# The stubs of `make student` (instructor/assign.py): the release is the student notebook of notebooks/.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# The grading kernels: this course's course_utils and data/ (copied beside this file), the hidden tests' folder
# (never released), one thread each (several grade at once; results do not depend on it).
os.environ["PYTHONPATH"] = os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ[{hidden_env!r}] = os.path.join(here, "hidden")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# nbclient (under nbgrader autograde) waits for each cell's reply with one asyncio poll of the kernel's socket, as long
# as the cell's timeout. On this workbook that poll has been seen to miss its wake-up: the kernel idle, its reply sent,
# nbgrader asleep until the timeout, then the cell marked as timed out (py-spy; bench/notebooks.py met the same and
# left nbclient). Poll in short steps instead: a step that finds nothing looks again, so a missed wake-up costs half a
# second, not the cell (and not its points).
import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel

if not getattr(AsyncZMQSocketChannel.get_msg, "stepped", False):
    _get_msg = AsyncZMQSocketChannel.get_msg

    async def _stepped_get_msg(self, timeout=None, _step=0.5):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = _step if deadline is None else max(0.0, min(_step, deadline - time.monotonic()))
            try:
                return await _get_msg(self, step)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    _stepped_get_msg.stepped = True
    AsyncZMQSocketChannel.get_msg = _stepped_get_msg
'''


def _check_target(source: str) -> str | None:
    """The function a self-check cell checks: ``check(name)`` alone in the cell (comments aside), else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = tree.body[0].value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
            and len(call.args) == 1 and isinstance(call.args[0], ast.Name)):
        return call.args[0].id
    return None


def _grade_id(text: str) -> str:
    return text.replace(".", "_")


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION, "solution": solution}
    if points is not None:
        meta["points"] = points
    return meta


def make_source_notebook(solution: nbformat.NotebookNode, notebook: str) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one solution notebook (``notebook``: its stem, e.g. ``"01_filters"``).

    Raises ValueError when an exercise of the registry has no self-check cell, or has two.
    """
    exercises = {ex.function: ex for ex in exercises_for(notebook)}
    nb = nbformat.v4.new_notebook(metadata=dict(solution.metadata))
    seen_checks: dict[str, int] = {}
    first_code = True
    for index, cell in enumerate(solution.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "solution-only" in tags:
            continue
        tags = ["raises-exception" if t == "needs-exercise" else t for t in tags]
        tags = list(dict.fromkeys(tags))
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k not in ("tags", "execution", "nbgrader")}
        if tags:
            metadata["tags"] = tags
        if cell.cell_type != "code":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=metadata) if cell.cell_type == "markdown" \
                else nbformat.v4.new_raw_cell(cell.source, metadata=metadata)
            if solution_regions(cell.source, f"{notebook}, cell {index}"):
                raise ValueError(f"{notebook}, cell {index}: a {cell.cell_type} cell with a solution region would be "
                                 "graded by hand in nbgrader; this course's answers are code.")
            nb.cells.append(new)
            continue
        source = cell.source
        target = _check_target(source)
        if first_code:
            metadata["nbgrader"] = _nbgrader("setup", locked=True)
            first_code = False
        elif solution_regions(source, f"{notebook}, cell {index}"):
            defined = [name for name in exercises if f"def {name}(" in source]
            metadata["nbgrader"] = _nbgrader(f"answer_{defined[0]}" if defined else f"answer_cell_{index}", solution=True)
        elif target in exercises:
            ex = exercises[target]
            seen_checks[target] = seen_checks.get(target, 0) + 1
            metadata["nbgrader"] = _nbgrader(f"test_{_grade_id(ex.id)}", grade=True, locked=True, points=ex.points)
            source = (source.rstrip("\n") + f"\n{BEGIN_HIDDEN}\nfrom course_utils.checks import check_hidden\n"
                      f"_hidden = check_hidden({target}, {ex.id!r})  # no output: nbgrader would read a number as partial credit\n{END_HIDDEN}")
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata=metadata))
    missing = sorted(set(exercises) - set(seen_checks))
    doubled = sorted(name for name, n in seen_checks.items() if n > 1)
    if missing or doubled:
        raise ValueError(f"{notebook}: every exercise needs exactly one self-check cell `check(function)`; "
                         + (f"none for {', '.join(missing)}" if missing else f"several for {', '.join(doubled)}") + ".")
    nb.metadata.setdefault("kernelspec", {"name": KERNEL_NAME, "display_name": "Python (Optimizing the Input)",
                                          "language": "python"})
    return nb


def write_hidden_tests(notebook: str, path: Path, seeds=HIDDEN_SEEDS) -> Path:
    """The hidden tests of one notebook: the solution's outputs on the registry's cases for ``seeds``."""
    from instructor.expected import compute_expected

    outputs: dict[str, list] = {ex.function: [] for ex in exercises_for(notebook)}
    for seed in seeds:
        with contextlib.redirect_stdout(io.StringIO()):  # the solution's setup cell prints
            computed = compute_expected(notebook, seed)
        for function in outputs:
            outputs[function] += computed[function]
    return save_expected(notebook, outputs, path=path, extra={"seeds": np.asarray(seeds, dtype=np.int64)})


def _tracked(prefixes: tuple[str, ...]) -> list[str]:
    from instructor.release import shipped_files  # the files git tracks, as the student bundle ships them

    return [f for f in shipped_files() if f.startswith(prefixes)]


def write_course(out, notebooks=None, seeds=HIDDEN_SEEDS, log=print) -> Path:
    """Write the course directory ``out`` (it must not exist, or be empty) for ``notebooks`` (stems; default all)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: pass another --out, or remove it first "
                              "(it may hold a gradebook).")
    names = notebooks or sorted({ex.notebook for ex in all_exercises()})
    for name in names:
        if not (solutions_dir() / f"{name}.ipynb").exists():
            raise FileNotFoundError(f"There is no solution notebook solutions/{name}.ipynb.")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        solution = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
        source = make_source_notebook(solution, name)
        folder = out / "source" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text(render(source))
        write_hidden_tests(name, out / "hidden" / f"{name}.npz", seeds)
        log(f"wrote source/{name}/{name}.ipynb and hidden/{name}.npz")
    for rel in _tracked(("course_utils/", "data/")):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    (out / "nbgrader_config.py").write_text(CONFIG.format(course_id=COURSE_ID, timeout=CELL_TIMEOUT_S,
                                                          hidden_env=HIDDEN_TESTS_ENV, assignments=", ".join(names)))
    log(f"wrote {out}/nbgrader_config.py, course_utils/ and data/: now `cd {out}` and `nbgrader generate_assignment "
        f"{names[0]}` (README, Teaching on a JupyterHub)")
    return out


def resolve_names(args: list[str]) -> list[str]:
    """Notebook stems from ``01``, ``01_filters`` or ``solutions/01_filters.ipynb``."""
    known = sorted({ex.notebook for ex in all_exercises()})
    names = []
    for arg in args:
        stem = Path(arg).stem
        matches = [k for k in known if k == stem or k.split("_")[0] == stem]
        if len(matches) != 1:
            raise ValueError(f"{arg!r} names no graded notebook; pick from {', '.join(known)} (or their numbers).")
        names.append(matches[0])
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.nbgrader", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to include, e.g. 01 11 (default: every graded one)")
    parser.add_argument("--out", required=True, help="the course directory to write (new, or empty)")
    parser.add_argument("--seeds", default=",".join(map(str, HIDDEN_SEEDS)),
                        help="seeds of the hidden cases, comma separated (those of make grade by default; keep yours private)")
    args = parser.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        parser.error(f"--seeds takes whole numbers separated by commas, e.g. 1,2; got {args.seeds!r}.")
    if not seeds or 0 in seeds:
        parser.error("--seeds: give at least one seed, not 0 (seed 0 gives the visible self-check cases).")
    try:
        write_course(args.out, resolve_names(args.notebooks), seeds)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
