"""Grade one submitted notebook: run the student's code in a sandboxed process, compare in the grader.

The student's process (``grader/sandbox.py``) gets the official setup cell, the student's exercise
cells (and cells of definitions only) and the test inputs; it imports ``course_utils`` from a
student-side copy without solutions; it sends back plain data, every field of which is checked here.
Expected outputs stay in this process. A cell or an exercise that runs past its time limit, or a
process that dies (``os._exit``, out of memory, a signal) or writes garbage on its channel, costs that
cell or exercise only: the process is started again without it.
"""
from __future__ import annotations

import ast
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
from pathlib import Path

import nbformat
import numpy as np
import torch

from course_utils.checks import CaseResult, CheckResult, run_cases
from course_utils.exercises import Case, Exercise
from course_utils.expected import python_only

from . import release

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
REPO = Path(__file__).resolve().parents[1]
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
    function, say) is run when grading; a cell that computes, trains or plots is not."""
    try:
        tree = ast.parse(python_only(source))
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


def exercise_cells(nb, exercises: list[Exercise]) -> list[tuple[str, str]]:
    """The student's code cells to run, in order: those that define an exercise's function (by a
    top-level ``def name(``), whatever else they hold, and those that hold only definitions
    (``definitions_only``: imports, functions, classes, constants), e.g. a helper in its own cell.
    They run after the official setup cell; every other cell (one that computes, trains, plots or
    calls the self-check) is skipped."""
    wanted = {ex.function for ex in exercises}
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        names = set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", cell.source, flags=re.M))
        if names & wanted or definitions_only(cell.source):
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


# ---------------------------------------------------------------------------- what the student's process may send

_NON_FINITE = ("nan", "inf", "-inf")


def _is_int(x) -> bool:
    return type(x) is int  # not a bool


def _valid_value(spec) -> bool:
    """One encoded value, as ``sandbox.encode`` writes it."""
    if not isinstance(spec, dict):
        return False
    kind = spec.get("kind")
    if kind in ("tensor", "ndarray"):
        return set(spec) == {"kind", "key"} and isinstance(spec["key"], str)
    if kind == "bool":
        return set(spec) == {"kind", "value"} and type(spec["value"]) is bool
    if kind == "int":
        return set(spec) == {"kind", "value"} and _is_int(spec["value"])
    if kind == "float":
        value = spec.get("value")
        return set(spec) == {"kind", "value"} and (type(value) is float or _is_int(value) or value in _NON_FINITE)
    if kind == "other":
        return set(spec) == {"kind", "type", "repr"} and isinstance(spec["type"], str) and isinstance(spec["repr"], str)
    return False


def _valid_case(case) -> bool:
    """One call's outcome in a report."""
    if not isinstance(case, dict):
        return False
    status = case.get("status")
    if status == "not implemented":
        return set(case) == {"status"}
    if status == "error":
        return set(case) == {"status", "error_type", "error"} and isinstance(case["error_type"], str) \
            and isinstance(case["error"], str)
    if status == "returned":
        return (set(case) == {"status", "tuple", "items", "after"} and type(case["tuple"]) is bool
                and isinstance(case["items"], list) and all(_valid_value(v) for v in case["items"])
                and isinstance(case["after"], dict)
                and all(isinstance(k, str) and _valid_value(v) for k, v in case["after"].items()))
    return False


def _valid_report(report, exercise_id: str) -> bool:
    """An exercise's report: its id, whether the function exists, its parameters, one entry per call."""
    if not isinstance(report, dict) or not {"id", "defined", "params", "cases"} <= set(report) \
            or not set(report) <= {"id", "defined", "params", "cases", "unreadable"}:
        return False
    params = report["params"]
    return (report["id"] == exercise_id and type(report["defined"]) is bool
            and (params is None or (isinstance(params, list) and all(isinstance(p, str) for p in params)))
            and isinstance(report["cases"], list) and all(_valid_case(c) for c in report["cases"])
            and isinstance(report.get("unreadable", ""), str))


def event_key(event) -> tuple | None:
    """``(kind, cell or exercise id)`` of a well-formed event from the student's process, else None.

    Every field is checked (names, types, nothing more, nothing less): what the student's code
    writes on the channel is as untrusted as the rest of it, and anything malformed is garbage.
    """
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return None
    kind, keys = event["event"], set(event)
    if kind == "cell_start" and keys == {"event", "cell"} and _is_int(event["cell"]):
        return (kind, event["cell"])
    if kind == "cell_end" and keys == {"event", "cell", "error"} and _is_int(event["cell"]) \
            and (event["error"] is None or isinstance(event["error"], str)):
        return (kind, event["cell"])
    if kind == "exercise_start" and keys == {"event", "id"} and isinstance(event["id"], str):
        return (kind, event["id"])
    if kind == "exercise_end" and keys == {"event", "id", "report", "arrays"} and isinstance(event["id"], str) \
            and isinstance(event["arrays"], str) and _valid_report(event["report"], event["id"]):
        return (kind, event["id"])
    if kind == "done" and keys == {"event"}:
        return (kind, None)
    return None


def expected_events(job: dict) -> list[tuple]:
    """The events the sandbox sends for ``job``, in order, as ``event_key`` gives them."""
    sequence = []
    for index in range(len(job["cells"])):
        if index not in job["skip_cells"]:
            sequence += [("cell_start", index), ("cell_end", index)]
    for ex in job["exercises"]:
        if ex["id"] not in job["skip_exercises"]:
            sequence += [("exercise_start", ex["id"]), ("exercise_end", ex["id"])]
    return sequence + [("done", None)]


# ---------------------------------------------------------------------------- the student-side course_utils

# course_utils modules students never need: those the student bundle leaves out.
INSTRUCTOR_ONLY = tuple(Path(f).name for f in release.INSTRUCTOR_ONLY)


def prepare_student_side(repo: Path = REPO) -> str:
    """Copy what the student's process may import into a fresh folder and return it: ``course_utils``
    without its instructor-only modules, and ``data/`` without anything grader-only; no ``solutions/``,
    so that the copy's ``course_utils.paths.solutions_dir()`` is empty. The files are made read-only.
    Remove it with ``remove_student_side``."""
    from .release import GRADER_ONLY_DATA

    root = Path(tempfile.mkdtemp(prefix="grade-student-side-"))
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

    def code(folder, names):
        skip = set(junk(folder, names))
        if Path(folder) == repo / "course_utils":  # copytree passes the folders as it was given them
            skip |= {n for n in names if n in INSTRUCTOR_ONLY}
        return skip

    def data(folder, names):
        skip = set(junk(folder, names))
        rel = Path(folder).relative_to(repo / "data")
        for n in names:
            shipped = f"data/{(rel / n).as_posix()}"
            if shipped.startswith(GRADER_ONLY_DATA) or f"{shipped}/".startswith(GRADER_ONLY_DATA):
                skip.add(n)
        return skip

    try:
        shutil.copytree(repo / "course_utils", root / "course_utils", ignore=code)
        if (repo / "data").is_dir():
            shutil.copytree(repo / "data", root / "data", ignore=data)
        for path in sorted(root.rglob("*"), reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        root.chmod(0o555)
    except BaseException:
        remove_student_side(str(root))
        raise
    return str(root)


def remove_student_side(root: str) -> None:
    for folder, _, _ in os.walk(root):
        try:
            os.chmod(folder, 0o755)
        except OSError:
            pass
    shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------- running the sandbox

def run_sandbox(job: dict, limits: Limits, deadline: float, python: str = sys.executable, student_side: str | None = None):
    """Run the sandbox once. Yields events (dicts); on a timeout or a death yields one
    ``{"event": "stopped", "why": ...}`` and stops.

    Only well-formed events that come in the order the sandbox sends them are passed on. A start
    event out of that order (a student's code writing ``cell_start`` to reset the time limit) is
    ignored; anything else malformed or out of order stops the process as "garbled".
    """
    base = tempfile.mkdtemp(prefix="grade-")
    try:
        cpu_s = int(max(5, deadline - time.monotonic())) + 5
        command = [python, "-I", SANDBOX] + ([student_side] if student_side else [])
        proc = subprocess.Popen(command, cwd=base, env=_scrubbed_env(base),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                preexec_fn=_limit(limits, cpu_s), close_fds=True)
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        try:
            proc.stdin.write(pickle.dumps(job))
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        sequence = expected_events(job)
        position = 0
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
                key = event_key(event)
            except Exception:
                key = None
            if key is not None and key != sequence[position] and key[0] in ("cell_start", "exercise_start"):
                continue  # not the next step: forged by the student's code; it changes no time limit
            if key is None or key != sequence[position]:
                _kill(proc)
                yield {"event": "stopped", "why": "garbled"}
                return
            position += 1
            if key[0] in ("cell_start", "exercise_start"):
                stage_start = time.monotonic()
                stage_limit = limits.setup_s if key == ("cell_start", 0) else limits.exercise_s
            yield event
            if key[0] == "done":
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
                   official_setup: str, limits: Limits, python: str = sys.executable,
                   student_side: str | None = None) -> NotebookGrade:
    """Grade one submitted notebook.

    ``plan`` maps an exercise id to ``(cases, expected)``: the (visible or hidden) cases and the
    expected outputs computed from the solution, which never leave this process. ``student_side`` is
    the folder from ``prepare_student_side`` (``grade_all`` makes one per run); without it, this call
    makes its own.
    """
    if student_side is None:
        student_side = prepare_student_side()
        try:
            return grade_notebook(student, notebook, path, exercises, plan, official_setup, limits, python, student_side)
        finally:
            remove_student_side(student_side)
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
        # run_sandbox passes on only well-formed events in the sandbox's order (see event_key), so the
        # cell indices and exercise ids below are the job's own.
        for event in run_sandbox(job, limits, deadline, python, student_side):
            kind = event["event"]
            if kind == "cell_start":
                current = ("cell", event["cell"])
            elif kind == "cell_end":
                current = None
                if event["error"]:
                    grade.notes.append(f"Running {cells[event['cell']][0]} raised {event['error'][:300]}")
            elif kind == "exercise_start":
                current = ("exercise", event["id"])
            elif kind == "exercise_end":
                current = None
                ex = by_id.get(event["id"])
                if ex is None or ex.id in done:
                    continue
                try:
                    raw = base64.b64decode(event["arrays"], validate=True)
                    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                        arrays = {k: data[k] for k in data.files}
                    done[ex.id] = score(ex, event["report"], arrays, *plan[ex.id])
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
