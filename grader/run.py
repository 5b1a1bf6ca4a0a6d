"""Grade one submitted notebook: run the student's code in a sandboxed process, compare in the grader.

The student's process (``grader/sandbox.py``) gets the official setup cell, the student's exercise
cells and the test inputs; it sends back plain data. Expected outputs stay in this process. A cell or
an exercise that runs past its time limit, or a process that dies (``os._exit``, out of memory, a
signal), costs that cell or exercise only: the process is started again without it.
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import nbformat
import numpy as np
import torch

from course_utils.checks import CaseResult, CheckResult, run_cases
from course_utils.exercises import Case, Exercise

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
MAX_LINE = 256 * 1024 * 1024


@dataclass
class Limits:
    """Resource limits of one submission's process."""

    notebook_s: float = 300.0  # wall clock for the whole notebook, restarts included
    setup_s: float = 120.0  # wall clock for the setup cell
    exercise_s: float = 60.0  # wall clock for one exercise cell, or one exercise's cases
    memory_mb: int = 4096  # address space of the student's process
    file_mb: int = 256  # largest file it may write


@dataclass
class NotebookGrade:
    """The grade of one student's notebook: one CheckResult per exercise, and notes in words."""

    student: str
    notebook: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(r.score for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.points for r in self.results)


# ---------------------------------------------------------------------------- which cells to run

def exercise_cells(nb, exercises: list[Exercise]) -> list[tuple[str, str]]:
    """The code cells that define an exercise's function (by a top-level ``def name(``), in order."""
    wanted = {ex.function for ex in exercises}
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        names = set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", cell.source, flags=re.M))
        if names & wanted:
            cells.append((f"cell {i + 1}", cell.source))
    return cells


def setup_cell(notebook_path) -> str:
    nb = nbformat.read(notebook_path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


# ---------------------------------------------------------------------------- the student's process

def _limit(limits: Limits, cpu_s: int):
    def apply():
        os.setsid()
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        fsize = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _scrubbed_env(home: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": home,
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "COURSE_OFFLINE": "1", "COURSE_QUIET": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "MPLCONFIGDIR": os.path.join(home, ".mpl")}
    for key in ("TORCH_HOME", "COURSE_DATA_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _reader(stream, q):
    try:
        while True:
            line = stream.readline(MAX_LINE)
            if not line:
                break
            q.put(line)
    finally:
        q.put(None)


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


def run_sandbox(job: dict, limits: Limits, deadline: float, python: str = sys.executable):
    """Run the sandbox once. Yields events (dicts); on a timeout or a death yields one
    ``{"event": "stopped", "why": ...}`` and stops."""
    base = tempfile.mkdtemp(prefix="grade-")
    try:
        cpu_s = int(max(5, deadline - time.monotonic())) + 5
        proc = subprocess.Popen([python, "-I", SANDBOX], cwd=base, env=_scrubbed_env(base),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                preexec_fn=_limit(limits, cpu_s), close_fds=True)
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        try:
            proc.stdin.write(pickle.dumps(job))
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        stage_limit = limits.setup_s
        stage_start = time.monotonic()
        while True:
            wait = min(stage_start + stage_limit, deadline) - time.monotonic()
            try:
                line = q.get(timeout=max(wait, 0.01))
            except queue.Empty:
                _kill(proc)
                why = "notebook" if deadline <= stage_start + stage_limit else "stage"
                yield {"event": "stopped", "why": f"timeout-{why}"}
                return
            if line is None:
                proc.wait()
                code = proc.returncode
                yield {"event": "stopped", "why": "memory" if code == -signal.SIGKILL else (f"signal {-code}" if code < 0 else f"exit code {code}")}
                return
            try:
                event = json.loads(line)
                assert isinstance(event, dict) and isinstance(event.get("event"), str)
            except Exception:
                _kill(proc)
                yield {"event": "stopped", "why": "garbled"}
                return
            if event["event"] in ("cell_start", "exercise_start"):
                stage_start = time.monotonic()
                stage_limit = limits.setup_s if event.get("cell") == 0 else limits.exercise_s
            yield event
            if event["event"] == "done":
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                return
    finally:
        try:
            if proc.poll() is None:
                _kill(proc)
        except NameError:
            pass
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------- turning reports into CheckResults

class _Other:
    def __init__(self, type_name, shown):
        self._shown = shown
        self.__class__ = type(str(type_name) or "object", (_Other,), {})

    def __repr__(self):
        return self._shown


def _decode_value(spec: dict, arrays):
    kind = spec.get("kind")
    if kind == "tensor":
        return torch.from_numpy(np.array(arrays[spec["key"]]))
    if kind == "ndarray":
        return np.array(arrays[spec["key"]])
    if kind == "bool":
        return bool(spec["value"])
    if kind == "int":
        return int(spec["value"])
    if kind == "float":
        return float(spec["value"])
    return _Other(str(spec.get("type", "object"))[:60], str(spec.get("repr", "?"))[:120])


def _exception(type_name: str, message: str) -> Exception:
    name = type_name if re.fullmatch(r"[A-Za-z_]\w{0,59}", type_name or "") else "Exception"
    return type(name, (Exception,), {})(message)


def replay(report: dict, arrays, exercise: Exercise):
    """A stand-in for the student's function that gives back, call by call, what the student's gave."""
    calls = iter(report.get("cases", []))

    def student_function(**kwargs):
        try:
            case = next(calls)
        except StopIteration:
            raise _exception("GradingError", "the submission's process gave no answer for this case")
        status = case.get("status")
        if status == "not implemented":
            raise NotImplementedError()
        if status != "returned":
            raise _exception(str(case.get("error_type", "Exception")), str(case.get("error", "")))
        for name, spec in (case.get("after") or {}).items():
            if name in kwargs and isinstance(kwargs[name], (torch.Tensor, np.ndarray)):
                after = _decode_value(spec, arrays)
                if isinstance(kwargs[name], torch.Tensor) and isinstance(after, torch.Tensor) and after.shape == kwargs[name].shape:
                    if not torch.equal(after.to(kwargs[name].dtype), kwargs[name]):
                        kwargs[name].copy_(after)
                elif isinstance(kwargs[name], np.ndarray) and isinstance(after, np.ndarray) and after.shape == kwargs[name].shape:
                    kwargs[name][...] = after
        items = [_decode_value(spec, arrays) for spec in case.get("items", [])]
        return tuple(items) if case.get("tuple") else (items[0] if items else None)

    import inspect
    params = report.get("params")
    if isinstance(params, list) and all(isinstance(p, str) and p.isidentifier() for p in params):
        student_function.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
    student_function.__name__ = exercise.function
    return student_function


def failed(exercise: Exercise, status: str, message: str) -> CheckResult:
    return CheckResult(exercise.id, exercise.function, exercise.points, status, [CaseResult("grading", False, message)])


def hide(message: str) -> str:
    """A hidden case's message without the expected values."""
    message = re.sub(r", expected [^,()]*", "", message)
    message = re.sub(r" \(largest difference at [^)]*\)| \(got [^)]*\)", "", message)
    return message


def score(exercise: Exercise, report: dict, arrays, cases: list[tuple[str, Case]], expected: list) -> CheckResult:
    """Compare the student's answers with the expected ones, in the words of the self-checks."""
    if report.get("unreadable"):
        return failed(exercise, "failed", f"its outputs could not be sent back ({report['unreadable']})")
    if not report.get("defined"):
        return failed(exercise, "failed", f"the notebook defines no function `{exercise.function}` (was its cell deleted or renamed?)")
    func = replay(report, arrays, exercise)
    result = run_cases(func, exercise, [c for _, c in cases], expected)
    hidden = [kind == "hidden" for kind, _ in cases]
    for case, is_hidden in zip(result.cases, hidden):
        if is_hidden:
            case.name = "hidden test: " + case.name
            if not case.passed:
                case.message = hide(case.message)
    return result


# ---------------------------------------------------------------------------- one notebook

def grade_notebook(student: str, notebook: str, path, exercises: list[Exercise], plan: dict,
                   official_setup: str, limits: Limits, python: str = sys.executable) -> NotebookGrade:
    """Grade one submitted notebook.

    ``plan`` maps an exercise id to ``(cases, expected)``: the (visible or hidden) cases and the
    expected outputs computed from the solution, which never leave this process.
    """
    start = time.monotonic()
    grade = NotebookGrade(student, notebook)
    done: dict[str, CheckResult] = {}
    try:
        nb = nbformat.read(path, as_version=4)
        cells = exercise_cells(nb, exercises)
    except Exception as exc:
        reason = f"the file is not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
        grade.notes.append(f"Not graded: {reason}. Every exercise scores 0.")
        grade.results = [failed(ex, "failed", reason) for ex in exercises]
        grade.seconds = time.monotonic() - start
        return grade
    cells = [("the setup cell (the official one)", official_setup)] + cells
    job = {"cells": cells, "skip_cells": [], "skip_exercises": [],
           "exercises": [{"id": ex.id, "function": ex.function, "cases": [c.kwargs for _, c in plan[ex.id][0]]}
                         for ex in exercises]}
    deadline = start + limits.notebook_s
    by_id = {ex.id: ex for ex in exercises}
    for attempt in range(len(cells) + len(exercises) + 1):
        current = None
        for event in run_sandbox(job, limits, deadline, python):
            kind = event["event"]
            if kind == "done" and current is not None:  # not the sandbox's: the student's code wrote it
                kind, event = "stopped", {"event": "stopped", "why": "garbled"}
            if kind == "cell_start":
                current = ("cell", event.get("cell"))
            elif kind == "cell_end":
                current = None
                if event.get("error"):
                    label = cells[event["cell"]][0] if isinstance(event.get("cell"), int) and 0 <= event["cell"] < len(cells) else "a cell"
                    grade.notes.append(f"Running {label} raised {str(event['error'])[:300]}")
            elif kind == "exercise_start":
                current = ("exercise", event.get("id"))
            elif kind == "exercise_end":
                current = None
                ex = by_id.get(event.get("id"))
                if ex is None or ex.id in done:
                    continue
                try:
                    raw = base64.b64decode(event.get("arrays", ""), validate=True)
                    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                        arrays = {k: data[k] for k in data.files}
                    done[ex.id] = score(ex, event.get("report") or {}, arrays, *plan[ex.id])
                except Exception as exc:
                    done[ex.id] = failed(ex, "failed", f"the grader could not read its answers ({type(exc).__name__})")
                job["skip_exercises"].append(ex.id)
            elif kind == "done":
                break
            elif kind == "stopped":
                why = event["why"]
                words = {"timeout-stage": "ran past its time limit", "timeout-notebook": "ran past the notebook's time limit",
                         "memory": "was killed (out of memory or a signal)",
                         "garbled": "wrote garbage on the grader's channel"}.get(why, f"ended unexpectedly ({why})")
                if why == "timeout-notebook":
                    grade.notes.append(f"The notebook ran past its time limit of {limits.notebook_s:.0f} s; "
                                       "the exercises not graded by then score 0.")
                    for ex in exercises:
                        done.setdefault(ex.id, failed(ex, "failed", "not graded: the notebook ran out of time"))
                    break
                if current is None:
                    grade.notes.append(f"The process {words} between two steps.")
                    for ex in exercises:
                        done.setdefault(ex.id, failed(ex, "failed", f"not graded: the process {words}"))
                elif current[0] == "cell":
                    label = cells[current[1]][0] if isinstance(current[1], int) and 0 <= current[1] < len(cells) else "a cell"
                    limit = limits.setup_s if current[1] == 0 else limits.exercise_s
                    detail = f" ({limit:.0f} s)" if why == "timeout-stage" else ""
                    grade.notes.append(f"Running {label} {words}{detail}; it was skipped.")
                    job["skip_cells"].append(current[1])
                else:
                    ex = by_id.get(current[1])
                    if ex is not None:
                        detail = f" ({limits.exercise_s:.0f} s)" if why == "timeout-stage" else ""
                        done[ex.id] = failed(ex, "failed", f"calling `{ex.function}` {words}{detail}")
                        job["skip_exercises"].append(ex.id)
                break
        if all(ex.id in done for ex in exercises):
            break
    for ex in exercises:
        done.setdefault(ex.id, failed(ex, "failed", "not graded: the process kept failing"))
    grade.results = [done[ex.id] for ex in exercises]
    grade.seconds = time.monotonic() - start
    return grade
