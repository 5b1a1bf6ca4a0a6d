"""Is my homework right? One table of every exercise in your notebooks: passed, wrong or not done.

    python -m course_utils.homework              # every notebook in notebooks/ (make test prints this too)
    python -m course_utils.homework 01 03_tsne   # some of them (make check NB=01)

For each notebook, a process of its own runs the cells that grading runs (``course_utils.cells``: the
setup cell, the cells that define an exercise's function, and cells of nothing but imports,
definitions and constants), then calls each exercise's function on its self-check's cases: the same
cases, with the same expected values, as the ``check(...)`` cell under the exercise (no hidden cases,
no solutions). A notebook whose code loops forever, exits or crashes its process is reported in the
table, and the other notebooks are still checked.

The exit status is 0 whatever the homework holds: it is not a grade. It is 2 for a notebook name that
matches nothing.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Row", "NotebookReport", "Timeouts", "check_notebook", "check_notebooks", "format_table", "find_notebooks", "main"]

PASSED, WRONG, NOT_DONE, ERROR, TIMED_OUT = "passed", "wrong", "not done", "error", "timed out"


@dataclass
class Row:
    """One exercise's line of the table."""

    notebook: str
    exercise: str
    function: str
    points: int
    status: str  # PASSED, WRONG, NOT_DONE, ERROR or TIMED_OUT
    detail: str = ""  # wrong: the first failing case and what is wrong with it; error / timed out: what happened

    @property
    def score(self) -> int:
        return self.points if self.status == PASSED else 0


@dataclass
class NotebookReport:
    """What checking one notebook found: a row per exercise, and notes on cells that failed to run."""

    notebook: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Timeouts:
    """Wall-clock limits, in seconds, of one notebook's process."""

    setup: float = 180.0  # starting the process and running the setup cell (imports, models, data)
    step: float = 60.0  # one other cell, or one exercise's cases
    notebook: float = 600.0  # the whole notebook, restarts included


# ---------------------------------------------------------------------------- the notebook's own process

def _one_line(exc: BaseException, label: str | None = None) -> str:
    """``Type: message`` of an exception, on one line, with the line of ``label``'s code it was raised at."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if label and not isinstance(exc, SyntaxError):
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == f"<{label}>"]
        if lines:
            text += f" (line {lines[-1]})"
    return text[:300]


def _guarded(func):
    """``func``, with ``sys.exit`` and other non-``Exception`` errors turned into an ``Exception`` of the same
    name, so that the self-check reports them as a case's error instead of ending the process."""

    @functools.wraps(func)  # keeps the signature, which the self-check compares with the exercise's
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            raise
        except BaseException as exc:
            raise type(type(exc).__name__, (Exception,), {})(str(exc)) from None

    return call


def _worker() -> int:
    """Run one notebook's job (read as JSON from stdin) and send one JSON line per event to stdout."""
    job = json.loads(sys.stdin.read())
    chan = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the notebook's code prints goes nowhere: the table is the output
    os.dup2(devnull, 2)
    sys.stdin = open(os.devnull)

    def send(**event):
        chan.write(json.dumps(event) + "\n")
        chan.flush()

    try:
        from course_utils.cells import python_only
        from course_utils.checks import load_expected, run_cases
        from course_utils.exercises import get_exercise

        namespace = {"__name__": "__main__"}
        for index, (label, source) in enumerate(job["cells"]):
            if index in job["skip_cells"]:
                continue
            send(event="cell_start", cell=index)
            error = None
            try:
                exec(compile(python_only(source), f"<{label}>", "exec"), namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt too: keep going
                error = _one_line(exc, label)
            send(event="cell_end", cell=index, error=error)
        for ex_id in job["exercises"]:
            if ex_id in job["skip_exercises"]:
                continue
            send(event="exercise_start", id=ex_id)
            ex = get_exercise(ex_id)
            func = namespace.get(ex.function)
            if not callable(func):
                result = {"status": "missing"}
            else:
                try:
                    result = run_cases(_guarded(func), ex, ex.cases(0), load_expected(ex.notebook, ex.function)).to_dict()
                except BaseException as exc:
                    result = {"status": "error", "message": _one_line(exc)}
            send(event="exercise_end", id=ex_id, result=result)
        send(event="done")
    except BaseException as exc:  # an error of this module's own, or of the environment
        send(event="crash", error=_one_line(exc))
    chan.close()
    os._exit(0)  # threads the notebook's code started do not hold the process open


_LIVE: set = set()  # the processes running now, killed if the table is interrupted
_STOP = threading.Event()  # set when the table is interrupted: start no more processes


def _kill(proc) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # its whole session: processes the notebook's code started too
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    proc.wait()


def _events(job: dict, cwd: Path, stages, deadline: float):
    """Start one process for ``job`` and yield its events; at the end, one ``{"event": "stopped", "why": ...}``
    unless it said ``done`` or ``crash``: ``timeout`` (the current stage ran past ``stages()``'s limit),
    ``notebook-timeout`` or ``died`` (with its exit code and the last line it wrote to stderr)."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, MPLBACKEND="Agg", COURSE_QUIET="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if _STOP.is_set():
        yield {"event": "stopped", "why": "interrupted"}
        return
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.homework", "--worker"], cwd=cwd, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                start_new_session=(os.name == "posix"))
        _LIVE.add(proc)
        lines: queue.Queue = queue.Queue()

        def read():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, daemon=True)
        try:
            reader.start()
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
            stage_start = time.monotonic()
            while True:
                now = time.monotonic()
                limit = min(stage_start + stages(), deadline)
                try:
                    line = lines.get(timeout=max(0.0, limit - now))
                except queue.Empty:
                    yield {"event": "stopped", "why": "notebook-timeout" if limit >= deadline else "timeout"}
                    return
                if line is None:
                    proc.wait()
                    stderr.seek(0)
                    last = [l for l in stderr.read()[-4000:].decode("utf-8", "replace").splitlines() if l.strip()]
                    yield {"event": "stopped", "why": "died", "code": proc.returncode, "stderr": last[-1] if last else ""}
                    return
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                stage_start = time.monotonic()
                yield event
                if event.get("event") in ("done", "crash"):
                    return
        finally:
            _kill(proc)
            _LIVE.discard(proc)
            proc.stdout.close()


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:max(0, width - 3)] + "..."


def _row(ex, result: dict, cell_errors: dict[str, str]) -> Row:
    row = Row(ex.notebook, ex.id, ex.function, ex.points, ERROR)
    status = result.get("status")
    if status == "passed":
        row.status = PASSED
    elif status == "not implemented":
        row.status = NOT_DONE
    elif status == "wrong signature":
        row.status, row.detail = WRONG, result["cases"][0]["message"]
    elif status == "failed":
        cases = result["cases"]
        index, case = next((i, c) for i, c in enumerate(cases, 1) if not c["passed"])
        row.status, row.detail = WRONG, f"case \"{case['name']}\": {case['message']}"
    elif status == "missing":
        raised = cell_errors.get(ex.function)
        row.detail = (f"`{ex.function}` is not defined: {raised}" if raised else
                      f"the notebook defines no function `{ex.function}` (was its cell deleted or renamed?)")
    else:
        row.detail = result.get("message", "the check could not run")
    return row


def check_notebook(path, timeouts: Timeouts | None = None) -> NotebookReport:
    """Check every registered exercise of one notebook on its self-check's cases, in a process of its own."""
    import nbformat

    from course_utils.cells import bound_names, exercise_cells, setup_cell
    from course_utils.exercises import exercises_for

    timeouts = timeouts or Timeouts()
    path = Path(path)
    start = time.monotonic()
    report = NotebookReport(path.stem)
    exercises = exercises_for(path.stem)
    if not exercises:
        return report
    by_id = {ex.id: ex for ex in exercises}
    done: dict[str, Row] = {}

    def fail_all(status: str, detail: str) -> NotebookReport:
        report.rows = [done.get(ex.id) or Row(ex.notebook, ex.id, ex.function, ex.points, status, detail) for ex in exercises]
        report.seconds = time.monotonic() - start
        return report

    try:
        nb = nbformat.read(path, as_version=4)
        cells = [("setup cell", setup_cell(nb))] + exercise_cells(nb, exercises)
    except Exception as exc:
        return fail_all(ERROR, f"the notebook cannot be read ({_one_line(exc)})")
    job = {"cells": cells, "skip_cells": [], "exercises": [ex.id for ex in exercises], "skip_exercises": []}
    cell_errors: dict[str, str] = {}  # function -> the error of the cell that should have defined it
    deadline = start + timeouts.notebook
    for _ in range(len(cells) + len(exercises) + 2):
        current = last = None
        stage = {"limit": timeouts.setup}
        for event in _events(job, path.parent, lambda: stage["limit"], deadline):
            kind = event.get("event")
            if kind == "cell_start":
                current = ("cell", event["cell"])
                stage["limit"] = timeouts.setup if event["cell"] == 0 else timeouts.step
            elif kind == "cell_end":
                current, last = None, ("cell", event["cell"])
                if event.get("error"):
                    label, source = cells[event["cell"]]
                    report.notes.append(f"{label} raised {event['error']}")
                    for name in bound_names(source):
                        cell_errors[name] = f"{label} raised {event['error']}"
            elif kind == "exercise_start":
                current = ("exercise", event["id"])
                stage["limit"] = timeouts.step
            elif kind == "exercise_end":
                current, last = None, ("exercise", event["id"])
                done[event["id"]] = _row(by_id[event["id"]], event.get("result", {}), cell_errors)
                job["skip_exercises"].append(event["id"])
            elif kind == "crash":
                return fail_all(ERROR, f"could not check it: {event.get('error', '?')}")
            elif kind == "stopped":
                why = event["why"]
                if why == "interrupted":
                    return fail_all(ERROR, "not checked: interrupted")
                if why == "notebook-timeout":
                    return fail_all(TIMED_OUT, f"the notebook ran past {timeouts.notebook:.0f} s before this was checked")
                words = (f"ran past {stage['limit']:.0f} s" if why == "timeout" else
                         f"ended the process (exit code {event.get('code')})")
                if current is None and last is None:
                    shown = f": {event['stderr']}" if event.get("stderr") else ""
                    return fail_all(ERROR, f"the notebook's process {words} before running any cell{shown}")
                if current is not None and current[0] == "exercise":
                    ex = by_id[current[1]]
                    status = TIMED_OUT if why == "timeout" else ERROR
                    done[ex.id] = Row(ex.notebook, ex.id, ex.function, ex.points, status, f"calling `{ex.function}` {words}")
                    job["skip_exercises"].append(ex.id)
                else:
                    index = current[1] if current is not None else last[1]  # between steps: the last one left it behind
                    if current is None and last[0] == "exercise":
                        ex = by_id[last[1]]
                        done[ex.id] = Row(ex.notebook, ex.id, ex.function, ex.points, ERROR,
                                          f"the process {words} after `{ex.function}` was checked")
                    else:
                        label, source = cells[index]
                        report.notes.append(f"{label} {words}; the cells after it ran without it")
                        for name in bound_names(source):
                            cell_errors[name] = f"{label} {words}"
                        job["skip_cells"].append(index)
                break
        if all(ex.id in done for ex in exercises):
            break
    return fail_all(ERROR, "the notebook's process kept failing")


# ---------------------------------------------------------------------------- the table

def find_notebooks(names: list[str] | None = None, folder=None) -> list[Path]:
    """The notebooks to check: every ``*.ipynb`` of ``folder`` (default ``notebooks/``), or those ``names``
    match: a number (``01``), a name (``01_filters``), a notebook's path or a folder's."""
    from course_utils.paths import notebooks_dir

    folder = Path(folder) if folder is not None else notebooks_dir()
    if not names:
        return sorted(folder.glob("*.ipynb"))
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            matches = sorted(path.glob("*.ipynb"))
        elif path.suffix == ".ipynb" and path.is_file():
            matches = [path]
        else:
            matches = [p for p in sorted(folder.glob("*.ipynb")) if p.stem == name or p.stem.startswith(f"{name}_")]
        if not matches:
            available = ", ".join(p.stem for p in sorted(folder.glob("*.ipynb")))
            raise FileNotFoundError(f"no notebook matches {name!r} (in {folder}: {available})")
        found.extend(p for p in matches if p not in found)
    return found


def check_notebooks(paths, timeouts: Timeouts | None = None, jobs: int = 1, log=None) -> list[NotebookReport]:
    """``check_notebook`` on each path, ``jobs`` at a time; a line on ``log`` as each one finishes."""
    def one(path):
        report = check_notebook(path, timeouts)
        if log is not None:
            print(f"  checked {report.notebook}: {len(report.rows)} exercise{'s' if len(report.rows) != 1 else ''}, {report.seconds:.1f} s", file=log, flush=True)
        return report

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        return list(pool.map(one, paths))
    except BaseException:  # interrupted (Ctrl-C): no notebook process outlives the table
        _STOP.set()
        for proc in list(_LIVE):
            _kill(proc)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def format_table(reports: list[NotebookReport], width: int | None = None) -> str:
    """The table, plain text: one line per exercise, then totals, the details of what is wrong and notes."""
    width = width or min(max(shutil.get_terminal_size((120, 24)).columns, 80), 160)
    rows = [r for rep in reports for r in rep.rows]
    if not rows:
        return "No exercises found in these notebooks."
    heads = ("notebook", "exercise", "function", "points", "status")
    cols = [max(len(heads[0]), *(len(r.notebook) for r in rows)), max(len(heads[1]), *(len(r.exercise) for r in rows)),
            max(len(heads[2]), *(len(r.function) for r in rows)), len(heads[3])]
    fmt = "{:<%d}  {:<%d}  {:<%d}  {:>%d}  {}" % tuple(cols)
    lines = [fmt.format(*heads), fmt.format(*("-" * c for c in cols), "-" * 6)]
    room = max(20, width - (sum(cols) + 8))
    for r in rows:
        status = r.status if not r.detail else _shorten(f"{r.status}: {r.detail}", room)
        lines.append(fmt.format(r.notebook, r.exercise, r.function, f"{r.score}/{r.points}", status))
    counts = {s: sum(r.status == s for r in rows) for s in (PASSED, WRONG, NOT_DONE, ERROR, TIMED_OUT)}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in (PASSED, WRONG, NOT_DONE))
    lines.append(f"total: {sum(r.score for r in rows)}/{sum(r.points for r in rows)} points; {shown} "
                 f"({len(rows)} exercises in {len(reports)} notebook{'s' if len(reports) != 1 else ''})")
    details = [r for r in rows if r.detail and len(f"{r.status}: {r.detail}") > room]
    if details:
        lines += ["", "In full:"] + [f"  {r.exercise} {r.function}: {r.status}: {r.detail}" for r in details]
    notes = [(rep.notebook, n) for rep in reports for n in rep.notes]
    if notes:
        lines += ["", "Cells that did not run through (grading runs the same cells):"]
        lines += [f"  {nb}: {_shorten(n, width - len(nb) - 4)}" for nb, n in notes]
    return "\n".join(lines)


_LEGEND = """\
Each exercise's function, as your notebook defines it, was run on the cases of the check cell under
it. passed: every case agrees with the solution; wrong: the first case that does not, and why (the
check cell shows every case); not done: it still raises NotImplementedError. Only the setup cell,
the cells that define your functions and cells of nothing but imports, definitions and constants are
run, as when your notebook is graded (on these cases and hidden ones of the same kind)."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.homework", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers (01), names (01_filters) or paths; default: every notebook in notebooks/")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks checked at once (default: 2)")
    parser.add_argument("--timeout", type=float, default=Timeouts.step, help="seconds for one cell or one exercise (default: 60)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker()
    try:
        paths = find_notebooks(args.notebooks)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = ", ".join(args.notebooks) if args.notebooks else "notebooks/"
    print(f"\nChecking the exercises of {where} ({len(paths)} notebook{'s' if len(paths) != 1 else ''}, "
          f"{max(1, min(args.jobs, len(paths)))} at a time)", flush=True)
    reports = check_notebooks(paths, Timeouts(step=args.timeout), jobs=args.jobs, log=sys.stdout)
    print("\n" + format_table(reports) + "\n\n" + _LEGEND, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
