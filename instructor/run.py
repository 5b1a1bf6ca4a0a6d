"""Grade one submitted notebook: run the student's code in a sandboxed process, compare in the grader.

The student's process (``instructor/sandbox.py``) runs in a bubblewrap sandbox (``instructor/jail.py``) that
holds only the interpreter, the virtual environment, a read-only student-side ``course_utils`` +
``data/`` made for that process alone, and a size-limited working directory; at most
``Limits.processes`` processes, every one of them killed when it ends. It gets the official setup
cell, the student's exercise cells (and cells of definitions only) and the test inputs; it sends
back plain data, every field of which is checked here, within bounds on one message, one case and
the whole process. Expected outputs stay in this process. A cell or an exercise that runs past its
time limit (checked on every message, not only when the channel is quiet), or a process that dies
(``os._exit``, out of memory, a signal, a kill), sends too much or writes garbage on its channel,
costs that cell or exercise only: the process is started again without it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import queue
import re
import resource
import shutil
import signal
import stat
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

from course_utils.cells import bound_names, definitions_only, exercise_cells, python_only, setup_cell  # noqa: F401 (re-exported)
from course_utils.checks import CaseResult, CheckResult, run_cases
from course_utils.exercises import Case, Exercise

from . import jail, release

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


@dataclass
class Limits:
    """Resource limits of one submission's process."""

    notebook_s: float = 300.0  # wall clock for the whole notebook, restarts included
    setup_s: float = 120.0  # wall clock for the setup cell
    exercise_s: float = 60.0  # wall clock for one exercise cell, or one exercise's cases
    memory_mb: int = 4096  # address space of each of the student's processes
    file_mb: int = 256  # largest file it may write
    work_mb: int = 512  # everything it writes in its working directory (a tmpfs), together
    processes: int = 64  # processes and threads at once (a pids control group where the grader can make one)
    message_mb: int = 64  # the arrays of one exercise's answers (raw .npz bytes after the event line)
    case_mb: int = 16  # the arrays of one case's answer
    output_mb: int = 256  # everything one process sends on the channel
    notebook_mb: int = 64  # the submitted notebook file
    notebook_memory_mb: int = 4096  # all the notebook's processes, files in its tmpfs, /dev/shm and memfds (memory cgroup)
    cpus: float = 1.0  # CPU quota of the notebook's processes together, in cores (cpu cgroup)
    shm_mb: int = 64  # the sandbox's /dev/shm
    event_kb: int = 1024  # one event line on the channel (the JSON; arrays come apart, see message_mb)
    cell_kb: int = 256  # a student cell larger than this is neither parsed by the grader nor run


@dataclass
class NotebookGrade:
    """The grade of one student's notebook: one CheckResult per exercise, and notes in words."""

    student: str
    notebook: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    grading_failed: str | None = None  # why the grader could not grade it (not the student's doing), if so

    @property
    def total(self) -> int:
        return sum(r.score for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.points for r in self.results)


# ---------------------------------------------------------------------------- which cells to run
# course_utils.cells decides (setup cell, exercise cells, cells of definitions only): the student's table
# of exercises (course_utils.progress) runs the same cells, from the same code.

# ---------------------------------------------------------------------------- the student's process

def _limit(limits: Limits, cpu_s: int, groups: "jail.ControlGroups", box: "jail.Sandbox | None" = None):
    def apply():
        os.setsid()
        groups.enter()
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        fsize = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if box is not None:
            box.enter()  # last: drop root for the sandbox's own uid
    return apply


def _scrubbed_env(home: str, isolated: bool = False) -> dict:
    env = {"PATH": "/usr/bin:/bin" if isolated else os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": home,
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "COURSE_OFFLINE": "1", "COURSE_QUIET": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "MPLCONFIGDIR": os.path.join(home, ".mpl")}
    for key in ("TORCH_HOME",) if isolated else ("TORCH_HOME", "COURSE_DATA_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _reader(stream, q, event_bytes: int, payload_bytes: int, total_bytes: int):
    """Put each event from the student's process on ``q`` as ``(line, payload)``: an event line of at most
    ``event_bytes`` and, for an ``exercise_end`` whose ``"arrays"`` is a byte count, that many raw bytes
    that follow it (at most ``payload_bytes``). Then ``None`` at the end of the stream, or ``("too much",
    what)`` (and stop reading) once a line, a payload or the whole stream goes over its bound. The
    queue is short: the student's process waits while the grader reads, and the grader holds few
    messages at once."""
    sent = 0
    try:
        while True:
            line = stream.readline(event_bytes + 1)
            if not line:
                break
            sent += len(line)
            if len(line) > event_bytes and not line.endswith(b"\n"):
                q.put(("too much", "message"))
                return
            if sent > total_bytes:
                q.put(("too much", "output"))
                return
            payload = b""
            size = _payload_size(line)
            if size:
                if size > payload_bytes:
                    q.put(("too much", "message"))
                    return
                sent += size
                if sent > total_bytes:
                    q.put(("too much", "output"))
                    return
                payload = stream.read(size)
                if len(payload) != size:
                    break
            q.put((line, payload))
    finally:
        q.put(None)


def _payload_size(line: bytes) -> int:
    """The byte count of the arrays that follow an ``exercise_end`` line, else 0 (the line is checked later)."""
    if b'"exercise_end"' not in line:
        return 0
    try:
        event = json.loads(line)
    except Exception:
        return 0
    size = event.get("arrays") if isinstance(event, dict) and event.get("event") == "exercise_end" else None
    return size if type(size) is int and size > 0 else 0


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
            and _is_int(event["arrays"]) and event["arrays"] >= 0 and _valid_report(event["report"], event["id"]):
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

def prepare_student_side(repo: Path = REPO) -> str:
    """Copy what one student's process may import into a fresh folder and return it: ``course_utils/``
    whole (it holds only what students import: the instructor's tools live in ``instructor/``), and ``data/`` without anything grader-only; no
    ``solutions/``, so that the copy's ``course_utils.paths.solutions_dir()`` is empty. The files are
    made read-only (and the sandbox mounts the folder read-only). ``run_sandbox`` makes one for each
    process it starts, so that nothing a process does to its copy reaches another. Remove it with
    ``remove_student_side``."""
    from .release import GRADER_ONLY_DATA

    root = Path(tempfile.mkdtemp(prefix="grade-student-side-"))
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

    def data(folder, names):
        skip = set(junk(folder, names))
        rel = Path(folder).relative_to(repo / "data")
        for n in names:
            shipped = f"data/{(rel / n).as_posix()}"
            if shipped.startswith(GRADER_ONLY_DATA) or f"{shipped}/".startswith(GRADER_ONLY_DATA):
                skip.add(n)
        return skip

    try:
        shutil.copytree(repo / "course_utils", root / "course_utils", ignore=junk)
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

CANCEL = threading.Event()  # set (by the grader's SIGINT / SIGTERM handler) to stop every sandbox at once


def _steps(job: dict) -> list[tuple[tuple, tuple]]:
    """The steps the sandbox runs for ``job``, in order, each as its (start, end) events (``event_key``)."""
    steps = [(("cell_start", i), ("cell_end", i)) for i in range(len(job["cells"])) if i not in job["skip_cells"]]
    steps += [(("exercise_start", ex["id"]), ("exercise_end", ex["id"])) for ex in job["exercises"]
              if ex["id"] not in job["skip_exercises"]]
    return steps


def run_sandbox(job: dict, limits: Limits, deadline: float, python: str = sys.executable, isolated: bool = True):
    """Run the sandbox once. Yields events (dicts, an ``exercise_end`` with its raw ``payload``); on a
    timeout, a death, too much output or a cancelled run yields one ``{"event": "stopped", "why": ...}``
    and stops.

    With ``isolated`` (the default) the process runs under bubblewrap (``jail.Sandbox``: an unprivileged
    uid, a seccomp filter); without, as a plain child process of this user with the resource limits only.
    Either way it gets a fresh student-side copy of its own and control groups (``jail.ControlGroups``:
    processes, memory, CPU) whose processes are all killed when this generator ends.

    The grader runs the clock: the sandbox runs step *i* (a cell, an exercise) only when this side writes
    ``go`` on its stdin, and each step's time limit starts when that ``go`` is written; the student's
    cells after the setup cell share one budget (``exercise_s`` for all of them together). Nothing the
    process writes starts or restarts a clock. Only well-formed events in the sandbox's order are passed
    on; a start event out of that order is ignored, anything else malformed or out of order stops the
    process as "garbled". The time limits are checked on every event and at least every quarter second.
    A process that ends before its first event (no student code has run then) is
    ``{"why": "never-started", "detail": <the last line bwrap or Python wrote on stderr>}``.
    """
    base = tempfile.mkdtemp(prefix="grade-")
    student_side = None
    box = None
    groups = None
    proc = None
    err = None
    try:
        student_side = prepare_student_side()
        cpu_s = int(max(5, deadline - time.monotonic())) + 5
        if isolated:
            extra = tuple(p for p in [os.environ.get("TORCH_HOME")] if p)
            box = jail.Sandbox(python, SANDBOX, student_side, limits.work_mb, extra, shm_mb=limits.shm_mb)
            command, home, fds = box.argv, jail.WORK, box.fds
        else:
            command, home, fds = [python, "-I", SANDBOX, student_side], base, []
        groups = jail.ControlGroups(limits.processes, limits.notebook_memory_mb, limits.cpus, box.uid if box else None)
        err = open(os.path.join(base, "stderr.log"), "w+b")
        proc = subprocess.Popen(command, cwd=base, env=_scrubbed_env(home, isolated),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, pass_fds=fds,
                                preexec_fn=_limit(limits, cpu_s, groups, box), close_fds=True)
        if box is not None:
            box.close()  # the child holds its descriptors now
        q: queue.Queue = queue.Queue(maxsize=4)  # a full queue holds the student's process back
        reader = threading.Thread(target=_reader, args=(proc.stdout, q, limits.event_kb * 1024, limits.message_mb * MB,
                                                        limits.output_mb * MB), daemon=True)
        reader.start()
        steps = _steps(job)

        def go() -> bool:
            try:
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

        try:
            blob = pickle.dumps(job)
            proc.stdin.write(len(blob).to_bytes(8, "big") + blob)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        step, started, seen_any = 0, False, False
        cells_deadline = None

        stage_kind = "stage"
        stage_end = time.monotonic() + limits.setup_s
        if steps and steps[0][0] != ("cell_start", 0):
            stage_end = time.monotonic() + limits.exercise_s
        go()
        exited_at = None
        while True:
            now = time.monotonic()
            if CANCEL.is_set():
                _kill(proc)
                yield {"event": "stopped", "why": "cancelled"}
                return
            if now >= min(stage_end, deadline):  # on every event, not only when the channel is quiet
                _kill(proc)
                why = "notebook" if deadline <= stage_end else stage_kind
                yield {"event": "stopped", "why": f"timeout-{why}"}
                return
            try:
                item = q.get(timeout=max(0.01, min(0.25, stage_end - now, deadline - now)))
            except queue.Empty:
                # Without the sandbox a process left behind can hold the channel open after the student's
                # process died: a death is seen by its exit status too, not only by the end of the channel.
                if proc.poll() is not None:
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 1.0:
                        item = None
                    else:
                        continue
                else:
                    continue
            if isinstance(item, tuple) and item and item[0] == "too much":
                _kill(proc)
                yield {"event": "stopped", "why": f"too-much-{item[1]}"}
                return
            if item is None:
                _kill(proc)
                code = proc.returncode
                if isolated and code is not None and code > 128:  # bwrap reports a signal as 128 + its number
                    code = -(code - 128)
                if not seen_any:
                    yield {"event": "stopped", "why": "never-started", "detail": _last_line(err, code)}
                    return
                yield {"event": "stopped", "why": "memory" if code == -signal.SIGKILL else (f"signal {-code}" if code < 0 else f"exit code {code}")}
                return
            line, payload = item
            try:
                event = json.loads(line)
                key = event_key(event)
            except Exception:
                key = None
            expected = ("done", None) if step >= len(steps) else steps[step][1 if started else 0]
            if key is not None and key != expected and key[0] in ("cell_start", "exercise_start"):
                continue  # not the next step: forged by the student's code; it changes no time limit
            if key is None or key != expected:
                _kill(proc)
                yield {"event": "stopped", "why": "garbled"}
                return
            seen_any = True
            if key[0] in ("cell_start", "exercise_start"):
                started = True
            elif key[0] in ("cell_end", "exercise_end"):
                started, step = False, step + 1
                # The next step's clock starts now, when the grader tells the sandbox to run it.
                now = time.monotonic()
                if step < len(steps) and steps[step][0][0] == "cell_start":
                    first = cells_deadline is None
                    if first:
                        cells_deadline = now + limits.exercise_s  # the student's cells, together
                    stage_end, stage_kind = cells_deadline, "stage" if first else "cells"
                else:
                    stage_end, stage_kind = now + limits.exercise_s, "stage"
                if key[0] == "exercise_end":
                    event["payload"] = payload
                yield event
                go()
                continue
            yield event
            if key[0] == "done":
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                return
    finally:
        if proc is not None and proc.poll() is None:
            _kill(proc)
        if groups is not None:
            groups.close()
        if box is not None:
            box.cleanup()
        if proc is not None:  # let the reader see the end of the channel (it may wait on the full queue)
            for _ in range(400):
                if not reader.is_alive():
                    break
                try:
                    while True:
                        q.get_nowait()
                except queue.Empty:
                    pass
                reader.join(0.01)
        if err is not None:
            err.close()
        if student_side is not None:
            remove_student_side(student_side)
        shutil.rmtree(base, ignore_errors=True)


def _last_line(err, code) -> str:
    """The last line the process wrote on stderr before it sent anything (bwrap's or Python's own words)."""
    try:
        err.flush()
        size = err.seek(0, os.SEEK_END)
        err.seek(max(0, size - 4000))
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    except (OSError, ValueError):
        lines = []
    return (lines[-1] if lines else f"exit code {code}, nothing on stderr")[:300]


# ---------------------------------------------------------------------------- turning reports into CheckResults

class SandboxFailure(RuntimeError):
    """The sandbox could not run at all (no student code ran): a failure of the grading, not of the student."""


class Cancelled(Exception):
    """The run was interrupted (``CANCEL``): this notebook was not graded."""


BIG_DECODE = 1 << 20  # larger notebooks and payloads are decoded one at a time, across the grading threads
_DECODE_LOCK = threading.Lock()


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


HIDDEN_ERROR = "(the message of an error in a hidden case is not shown)"


def replay(report: dict, arrays, exercise: Exercise, hidden: list[bool] | None = None):
    """A stand-in for the student's function that gives back, call by call, what the student's gave.

    An error's message is cut to 300 characters; in a hidden case (``hidden[i]``) only its type is
    kept, since the student's code could write the hidden inputs into it."""
    calls = iter(enumerate(report.get("cases", [])))
    hidden = hidden or []

    def student_function(**kwargs):
        try:
            index, case = next(calls)
        except StopIteration:
            raise _exception("GradingError", "the submission's process gave no answer for this case")
        status = case.get("status")
        if status == "not implemented":
            raise NotImplementedError()
        if status != "returned":
            message = HIDDEN_ERROR if index < len(hidden) and hidden[index] else str(case.get("error", ""))[:300]
            raise _exception(str(case.get("error_type", "Exception"))[:60], message)
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


def _case_bytes(case: dict, arrays) -> int:
    specs = list(case.get("items", [])) + list((case.get("after") or {}).values())
    return sum(int(arrays[s["key"]].nbytes) for s in specs if s.get("kind") in ("tensor", "ndarray") and s["key"] in arrays)


def score(exercise: Exercise, report: dict, arrays, cases: list[tuple[str, Case]], expected: list,
          case_bytes: int | None = None) -> CheckResult:
    """Compare the student's answers with the expected ones, in the words of the self-checks."""
    if report.get("unreadable"):
        return failed(exercise, "failed", f"its outputs could not be sent back ({report['unreadable'][:200]})")
    if not report.get("defined"):
        return failed(exercise, "failed", f"the notebook defines no function `{exercise.function}` (was its cell deleted or renamed?)")
    if case_bytes is not None:
        for i, case in enumerate(report.get("cases", [])):
            if case.get("status") == "returned" and _case_bytes(case, arrays) > case_bytes:
                return failed(exercise, "failed", f"its answer to case {i + 1} holds more than {case_bytes // MB} MB of "
                                                  "arrays, more than the grader accepts for one case")
    hidden = [kind == "hidden" for kind, _ in cases]
    func = replay(report, arrays, exercise, hidden)
    result = run_cases(func, exercise, [c for _, c in cases], expected)
    for case, is_hidden in zip(result.cases, hidden):
        if is_hidden:  # whether it passed and a category: no student text, no number that depends on the answer
            case.name = "hidden test"
            case.message = "passed" if case.passed else category(case.message)
    return result


_CATEGORIES = [("raises NotImplementedError", "not implemented"), ("raised ", "wrong: it raised an error"),
               ("should be ", "wrong type"), ("should return", "wrong type"), ("has shape", "wrong shape"),
               ("has dtype", "wrong dtype"), ("changed its input", "wrong: it changed its input in place"),
               ("", "wrong value")]


def category(message: str) -> str:
    """What kind of failure a case's message reports, in a few fixed words (for a hidden case)."""
    message = re.sub(r"^(the output |output \d+ )", "", message)
    return next(words for start, words in _CATEGORIES if message.startswith(start))


# ---------------------------------------------------------------------------- reading a submission

def read_bounded(path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` (a symbolic link, a FIFO
    or a device is refused without being opened for reading, or read from)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"it is larger than {max_bytes // MB} MB")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"it is larger than {max_bytes // MB} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _text(source) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list):
        return "".join(s if isinstance(s, str) else str(s) for s in source)
    return "" if source is None else str(source)


def load_notebook(raw: bytes):
    """A notebook from its JSON, as Jupyter would open it: missing metadata, cell sources that are
    lists (of anything), null or numbers are normalized (nbformat's own reader would refuse some of
    them); a notebook of format 3 is converted by nbformat."""
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("its JSON is not an object")
    if isinstance(data.get("nbformat"), int) and data["nbformat"] < 4:
        return nbformat.reads(raw.decode("utf-8"), as_version=4)
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise ValueError("it has no list of cells")
    kept = []
    for cell in cells:
        if isinstance(cell, dict):
            kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
            kept.append(nbformat.NotebookNode(cell_type=kind, source=_text(cell.get("source")), metadata={}))
    return nbformat.NotebookNode(cells=kept, metadata={}, nbformat=4, nbformat_minor=5)


def load_arrays(raw: bytes, max_bytes: int) -> dict:
    """The arrays of an ``.npz`` sent by the student's process: stored (not compressed) members of at
    most ``max_bytes`` in all, read without pickles."""
    import zipfile
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        infos = z.infolist()
        if any(i.compress_type != zipfile.ZIP_STORED for i in infos) or sum(i.file_size for i in infos) > max_bytes:
            raise ValueError("compressed or oversized arrays")
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# ---------------------------------------------------------------------------- one notebook

def grade_notebook(student: str, notebook: str, path, exercises: list[Exercise], plan: dict,
                   official_setup: str, limits: Limits, python: str = sys.executable,
                   isolated: bool = True) -> NotebookGrade:
    """Grade one submitted notebook.

    ``plan`` maps an exercise id to ``(cases, expected)``: the (visible or hidden) cases and the
    expected outputs computed from the solution, which never leave this process. ``isolated``: run
    the student's process under bubblewrap (``grader.jail``).
    """
    start = time.monotonic()
    grade = NotebookGrade(student, notebook)
    done: dict[str, CheckResult] = {}
    try:
        raw = read_bounded(path, limits.notebook_mb * MB)
        with _DECODE_LOCK if len(raw) > BIG_DECODE else contextlib.nullcontext():
            nb = load_notebook(raw)
        del raw
        for i, cell in enumerate(nb.cells):  # never parsed here (nor run): an AST costs hundreds of times its text
            if cell.get("cell_type") == "code" and len(cell.source) > limits.cell_kb * 1024:
                grade.notes.append(f"cell {i + 1} is larger than {limits.cell_kb} KB ({len(cell.source) // 1024} KB): "
                                   "it was not run (the grader reads no cell that large).")
                cell.source = ""
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
    words_for = {"timeout-stage": "ran past its time limit", "timeout-notebook": "ran past the notebook's time limit",
                 "timeout-cells": "ran past the time limit of the student's cells together",
                 "memory": "was killed (out of memory or a signal)",
                 "garbled": "wrote garbage on the grader's channel",
                 "too-much-message": f"sent more than {limits.message_mb} MB in one message to the grader",
                 "too-much-output": f"sent more than {limits.output_mb} MB in all to the grader"}
    false_starts = 0
    for attempt in range(len(cells) + len(exercises) + 3):
        current = last = None
        # run_sandbox passes on only well-formed events in the sandbox's order (see event_key), so the
        # cell indices and exercise ids below are the job's own.
        for event in run_sandbox(job, limits, deadline, python, isolated):
            kind = event["event"]
            if kind == "cell_start":
                current = ("cell", event["cell"])
            elif kind == "cell_end":
                current, last = None, ("cell", event["cell"])
                if event["error"]:
                    grade.notes.append(f"Running {cells[event['cell']][0]} raised {event['error'][:300]}")
            elif kind == "exercise_start":
                current = ("exercise", event["id"])
            elif kind == "exercise_end":
                current, last = None, ("exercise", event["id"])
                ex = by_id.get(event["id"])
                if ex is None or ex.id in done:
                    continue
                try:
                    payload = event.get("payload") or b""
                    with _DECODE_LOCK if len(payload) > BIG_DECODE else contextlib.nullcontext():
                        arrays = load_arrays(payload, limits.message_mb * MB) if payload else {}
                        done[ex.id] = score(ex, event["report"], arrays, *plan[ex.id], case_bytes=limits.case_mb * MB)
                except Exception as exc:
                    done[ex.id] = failed(ex, "failed", f"the grader could not read its answers ({type(exc).__name__})")
                job["skip_exercises"].append(ex.id)
            elif kind == "done":
                break
            elif kind == "stopped":
                why = event["why"]
                if why == "cancelled":
                    raise Cancelled()
                if why == "never-started":
                    false_starts += 1
                    if false_starts >= 2:  # no student code had run: the grader's failure, not the student's
                        raise SandboxFailure(f"the sandbox never started ({event.get('detail', '')})")
                    break
                words = words_for.get(why, f"ended unexpectedly ({why})")
                if why == "timeout-notebook":
                    grade.notes.append(f"The notebook ran past its time limit of {limits.notebook_s:.0f} s; "
                                       "the exercises not graded by then score 0.")
                    for ex in exercises:
                        done.setdefault(ex.id, failed(ex, "failed", "not graded: the notebook ran out of time"))
                    break
                if current is None and last is not None and last[0] == "cell":
                    # A death between steps: the step before it is at fault (a thread or process it left running).
                    grade.notes.append(f"The process {words} after {cells[last[1]][0]} had run; that cell was skipped.")
                    job["skip_cells"].append(last[1])
                elif current is None and last is not None:
                    grade.notes.append(f"The process {words} after `{by_id[last[1]].function}` was graded; "
                                       "grading went on without it.")
                elif current is None:
                    false_starts += 1
                    if false_starts >= 2:
                        grade.notes.append(f"The process {words} before running any cell, twice.")
                        for ex in exercises:
                            done.setdefault(ex.id, failed(ex, "failed", f"not graded: the process {words}"))
                elif current[0] == "cell":
                    label = cells[current[1]][0] if isinstance(current[1], int) and 0 <= current[1] < len(cells) else "a cell"
                    limit = limits.setup_s if current[1] == 0 else limits.exercise_s
                    detail = f" ({limit:.0f} s)" if why in ("timeout-stage", "timeout-cells") else ""
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
