"""The student's side of grading: runs in its own process, started by ``grader.run``.

This file is run as a script (``python -I sandbox.py STUDENT_SIDE``) under bubblewrap
(``instructor/jail.py``: its own namespaces, a file system of the interpreter, the virtual environment,
``STUDENT_SIDE`` and a size-limited working directory, nothing else), with resource limits set by the
grader. It imports nothing from the grader, and ``course_utils`` only from ``STUDENT_SIDE``, the
grader's read-only copy for this process without solutions or instructor-only modules
(``grader.run.prepare_student_side``). It reads its job (the notebook's setup cell, the
student's cells to run and the test *inputs*, never expected outputs) from stdin before any student
code runs; then it runs each step (a cell, an exercise) only when the grader writes ``go`` on a private
copy of that stdin (the grader's clock starts then), and reports on a private copy of its original
stdout, one JSON line per event, an exercise's arrays as the raw bytes of an ``.npz`` (no pickles) right
after its line. What the student prints goes to a log file instead. The grader compares the outputs itself, so nothing done in this process (patching
torch or the checker, printing "PASSED") can change a grade; at worst it spoils its own outputs.
"""
import copy
import inspect
import io
import json
import os
import pickle
import sys
import traceback


def _student_side_imports(root):
    """Import ``course_utils`` from the student-side copy at ``root`` (no solutions, no instructor-only
    modules), never from the repository: ``root`` goes first on ``sys.path``, this script's folder
    (the grader's) goes, and so does the editable install's finder, which would otherwise find
    ``course_utils.<module>`` in the repository for any module missing from the copy."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    if root:
        sys.path.insert(0, root)
    for finder in list(sys.meta_path):
        module = sys.modules.get(getattr(finder, "__module__", "") or "")
        mapping = getattr(module, "MAPPING", None)
        if isinstance(mapping, dict) and any(str(name).split(".")[0] == "course_utils" for name in mapping):
            sys.meta_path.remove(finder)
    for name in [m for m in sys.modules if m == "course_utils" or m.startswith("course_utils.")]:
        del sys.modules[name]
    sys.path_importer_cache.clear()


def _read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            os._exit(0)  # the grader is gone
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def main():
    # Before the job is read: unpickling its inputs (a course model, say) imports course_utils.
    _student_side_imports(sys.argv[1] if len(sys.argv) > 1 else None)
    size = int.from_bytes(_read_exactly(0, 8), "big")
    job = pickle.loads(_read_exactly(0, size))  # written by the grader, read before any student code
    from course_utils.cells import python_only  # the student-side copy's, imported before any student code runs
    chan = os.fdopen(os.dup(1), "wb", buffering=0)
    control = os.fdopen(os.dup(0), "rb", buffering=0)  # the grader's "go" before each step
    log = os.open("student_output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdin = open(os.devnull)

    def wait_for_go():
        """Run the next step only when the grader says so: its clock starts when it does."""
        if control.readline() != b"go\n":
            os._exit(0)  # the grader is gone, or has nothing more for this process

    import numpy as np
    import torch

    def send(payload=b"", **event):
        chan.write(json.dumps(event).encode() + b"\n" + payload)

    def encode(value, arrays, prefix):
        """Describe a value as plain data: (kind, key of its array) or (kind 'other', a description)."""
        if isinstance(value, torch.Tensor):
            arr = np.array(value.detach().cpu().resolve_conj().numpy(), order="C")  # keeps a 0-d array 0-d
            arrays[prefix] = arr
            return {"kind": "tensor", "key": prefix}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return {"kind": "other", "type": "ndarray", "repr": f"a numpy array of dtype object, shape {value.shape}"}
            arrays[prefix] = np.array(value, order="C")  # np.ascontiguousarray would make a 0-d array 1-d
            return {"kind": "ndarray", "key": prefix}
        if isinstance(value, (bool, np.bool_)):
            return {"kind": "bool", "value": bool(value)}
        if isinstance(value, (int, np.integer)):
            return {"kind": "int", "value": int(value)}
        if isinstance(value, (float, np.floating)):
            f = float(value)
            return {"kind": "float", "value": f if f == f and abs(f) != float("inf") else str(f)}
        try:
            shown = repr(value)[:120]
        except BaseException:
            shown = "?"
        return {"kind": "other", "type": type(value).__name__[:60], "repr": shown}

    def pack(arrays):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    namespace = {"__name__": "__main__"}
    for index, (label, source) in enumerate(job["cells"]):
        if index in job["skip_cells"]:
            continue
        wait_for_go()
        send(event="cell_start", cell=index)
        error = None
        try:
            exec(compile(python_only(source), f"<{label}>", "exec"), namespace)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: keep going
            error = f"{type(exc).__name__}: {exc}"[:500]
        send(event="cell_end", cell=index, error=error)

    for ex in job["exercises"]:
        if ex["id"] in job["skip_exercises"]:
            continue
        wait_for_go()
        send(event="exercise_start", id=ex["id"])
        func = namespace.get(ex["function"])
        report = {"id": ex["id"], "defined": callable(func), "params": None, "cases": []}
        arrays = {}
        if callable(func):
            try:
                report["params"] = [p.name for p in inspect.signature(func).parameters.values()]
            except BaseException:
                report["params"] = None
            for i, kwargs in enumerate(ex["cases"]):
                kwargs = copy.deepcopy(kwargs)
                case = {}
                try:
                    got = func(**kwargs)
                except NotImplementedError:
                    case["status"] = "not implemented"
                except BaseException as exc:
                    case["status"] = "error"
                    case["error_type"] = type(exc).__name__[:60]
                    try:
                        case["error"] = str(exc)[:300]
                    except BaseException:
                        case["error"] = "?"
                else:
                    case["status"] = "returned"
                    try:
                        items = list(got) if isinstance(got, (tuple, list)) else [got]
                        case["tuple"] = isinstance(got, (tuple, list))
                        case["items"] = [encode(item, arrays, f"c{i}_o{j}") for j, item in enumerate(items)]
                        case["after"] = {name: encode(value, arrays, f"c{i}_a_{name}") for name, value in kwargs.items()
                                         if isinstance(value, (torch.Tensor, np.ndarray))}
                    except BaseException as exc:
                        case = {"status": "error", "error_type": type(exc).__name__[:60],
                                "error": f"its output could not be read: {exc}"[:300]}
                report["cases"].append(case)
                if case["status"] == "not implemented":
                    break
        try:
            payload = pack(arrays)
        except BaseException as exc:
            report = {"id": ex["id"], "defined": callable(func), "params": report["params"], "cases": [],
                      "unreadable": f"{type(exc).__name__}: {exc}"[:300]}
            payload = pack({})
        send(payload, event="exercise_end", id=ex["id"], report=report, arrays=len(payload))
    send(event="done")
    chan.close()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        os._exit(3)
