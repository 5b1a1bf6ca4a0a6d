"""Self-checks: run a student's function on the registered cases and say in words what is right or wrong.

The expected outputs come from the solution notebooks (computed by the course's own script) and are
stored as plain arrays in ``data/expected/<notebook>.npz``. The comparison reports, for each case,
the type, shape and dtype of what came back and its relative error against the stated tolerance:

    relative error = max |got - expected| / max |expected|
"""
from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .exercises import Exercise, get_exercise
from .paths import data_dir

__all__ = ["check", "check_hidden", "CheckResult", "ExerciseCheckFailed", "compare_output", "encode_output",
           "earlier_exercise", "expected_path", "hide_expected", "load_expected", "save_expected", "HIDDEN_TESTS_ENV"]

_ABS_FLOOR = 1e-7  # differences below this count as round-off, whatever the relative error


class ExerciseCheckFailed(AssertionError):
    """Raised by ``check`` when an exercise's function gives a wrong answer."""


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str


@dataclass
class CheckResult:
    """What ``check`` found: plain data, so that it can be printed, graded or sent between processes."""

    exercise: str
    function: str
    points: int
    status: str  # "passed", "failed", "not implemented", "wrong signature"
    cases: list[CaseResult] = field(default_factory=list)
    n_cases: int = 0  # how many cases the exercise has (a stub stops at the first: len(cases) is then 1)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def score(self) -> int:
        return self.points if self.passed else 0

    def __repr__(self) -> str:
        return f"<CheckResult {self.exercise} {self.function}: {self.status}, {self.score}/{self.points} points>"

    def _ipython_display_(self) -> None:
        # ``check(f)`` is the last line of its cell: the report is printed already, so the notebook shows
        # nothing more under it (no ``<CheckResult ...>`` line).
        return None

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "function": self.function, "points": self.points,
                "score": self.score, "status": self.status,
                "cases": [{"name": c.name, "passed": c.passed, "message": c.message} for c in self.cases]}

    def report(self) -> str:
        head = f"Exercise {self.exercise} `{self.function}` ({self.points} point{'s' if self.points != 1 else ''})"
        lines = [head]
        total = max(self.n_cases, len(self.cases))
        for i, case in enumerate(self.cases, 1):
            mark = "✓" if case.passed else "✗"
            lines.append(f"  {mark} case {i}/{total}, {case.name}: {case.message}")
        n_ok = sum(c.passed for c in self.cases)
        if self.passed:
            lines.append(f"PASSED: all {len(self.cases)} cases agree with the solution. {self.score}/{self.points} points.")
        elif self.status == "not implemented":
            lines.append(f"NOT DONE YET: write the body of `{self.function}` where it says `# YOUR CODE HERE` "
                         f"(and delete `raise NotImplementedError()`), run that cell, then run this check again.")
        elif self.status == "wrong signature":
            lines.append("FAILED: fix the function's parameters (keep the signature given in the notebook).")
        else:
            lines.append(f"FAILED: {len(self.cases) - n_ok} of {len(self.cases)} cases are wrong; "
                         f"read the first ✗ line above. 0/{self.points} points.")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- expected values on disk

def expected_path(notebook: str) -> Path:
    """The file holding the expected outputs of one notebook's exercises."""
    return data_dir() / "expected" / f"{notebook}.npz"


def encode_output(value: Any) -> list[tuple[str, np.ndarray]]:
    """Turn a function's return value into plain ``(kind, array)`` pairs (a tuple gives several)."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    encoded = []
    for item in items:
        if isinstance(item, torch.Tensor):
            encoded.append(("tensor", item.detach().cpu().numpy()))
        elif isinstance(item, np.ndarray):
            encoded.append(("ndarray", item))
        elif isinstance(item, (bool, np.bool_)):
            encoded.append(("bool", np.asarray(item)))
        elif isinstance(item, (int, np.integer)):
            encoded.append(("int", np.asarray(int(item), dtype=np.int64)))
        elif isinstance(item, (float, np.floating)):
            encoded.append(("float", np.asarray(float(item), dtype=np.float64)))
        else:
            raise TypeError(f"Cannot store an output of type {type(item).__name__}: return tensors, arrays or numbers.")
    return encoded


def save_expected(notebook: str, outputs: dict[str, list[list[tuple[str, np.ndarray]]]], path: Path | None = None,
                  extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``{function: [case outputs]}`` to ``path`` (default ``expected_path(notebook)``) as a plain ``.npz`` (no
    pickles), with the arrays of ``extra`` beside them (the hidden tests' seeds, say)."""
    arrays = dict(extra or {})
    for function, cases in outputs.items():
        arrays[f"{function}/n_cases"] = np.asarray(len(cases))
        for i, encoded in enumerate(cases):
            arrays[f"{function}/{i}/kinds"] = np.asarray([kind for kind, _ in encoded], dtype=str)
            for j, (_, array) in enumerate(encoded):
                arrays[f"{function}/{i}/{j}"] = array
    path = Path(path) if path is not None else expected_path(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_expected(notebook: str, function: str, path: Path | None = None) -> list[list[tuple[str, np.ndarray]]]:
    """Read the expected outputs of one exercise, case by case (from ``path``, by default ``expected_path(notebook)``)."""
    path = Path(path) if path is not None else expected_path(notebook)
    if not path.exists():
        raise FileNotFoundError(f"The expected values for notebook {notebook} are missing ({path}): "
                                f"restore data/expected/ from the course's bundle (in its repository: `git checkout data/expected`).")
    with np.load(path, allow_pickle=False) as data:
        if f"{function}/n_cases" not in data:
            raise KeyError(f"{path} holds no expected values for `{function}`: restore data/expected/ from the course's bundle, or ask your instructor.")
        cases = []
        for i in range(int(data[f"{function}/n_cases"])):
            kinds = [str(k) for k in data[f"{function}/{i}/kinds"]]
            cases.append([(kind, data[f"{function}/{i}/{j}"]) for j, kind in enumerate(kinds)])
    return cases


# ---------------------------------------------------------------------------- comparison

_KIND_WORDS = {"tensor": "a torch.Tensor", "ndarray": "a numpy array", "int": "an int", "float": "a float", "bool": "a bool"}


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a torch.Tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def _compare_one(got, kind: str, expected: np.ndarray, rtol: float, label: str, values: bool = True,
                 atol: float = 0.0) -> str | None:
    """Return None when ``got`` matches, else one sentence saying what is wrong (``values=False``: type, shape and
    dtype only)."""
    if kind in ("int", "bool"):
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            got = got.item()
        if isinstance(got, np.generic):
            got = got.item()
        ok_type = isinstance(got, bool) if kind == "bool" else (isinstance(got, int) and not isinstance(got, bool))
        if not ok_type:
            return f"{label}should be {_KIND_WORDS[kind]}, got {_describe(got)}"
        if got != expected.item():
            return f"{label}got {got}, expected {expected.item()}"
        return None
    if kind == "float":
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (float, int, np.floating, np.integer)) or isinstance(got, bool):
            return f"{label}should be a float, got {_describe(got)}"
        got_arr = np.asarray(float(got))
    else:
        if kind == "tensor" and not isinstance(got, torch.Tensor):
            return f"{label}should be a torch.Tensor, got {_describe(got)}"
        if kind == "ndarray" and not isinstance(got, np.ndarray):
            return f"{label}should be a numpy array, got {_describe(got)}"
        got_arr = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else got
        if tuple(got_arr.shape) != tuple(expected.shape):
            return f"{label}has shape {tuple(got_arr.shape)}, expected {tuple(expected.shape)}"
        if got_arr.dtype != expected.dtype:
            shown = (str(got.dtype), "torch." + str(expected.dtype)) if isinstance(got, torch.Tensor) else (str(got_arr.dtype), str(expected.dtype))
            return f"{label}has dtype {shown[0]}, expected {shown[1]}"
    if not values:
        return None
    if expected.dtype == bool or np.issubdtype(expected.dtype, np.integer):
        wrong = np.argwhere(got_arr != expected)
        if len(wrong):
            idx = tuple(int(i) for i in wrong[0])
            return f"{label}{len(wrong)} entries differ, first at index {idx}: got {got_arr[idx]}, expected {expected[idx]}"
        return None
    got64, exp64 = got_arr.astype(np.float64), expected.astype(np.float64)
    if not np.all(np.isfinite(got64)):
        return f"{label}contains NaN or infinite values"
    if exp64.size == 0:
        return None
    diff = np.abs(got64 - exp64)
    scale = max(float(np.abs(exp64).max()), 1e-12)
    rel = float(diff.max()) / scale
    if rel > rtol and float(diff.max()) > max(_ABS_FLOOR, atol):
        idx = np.unravel_index(int(diff.argmax()), diff.shape)
        where = f" (largest difference at index {tuple(int(i) for i in idx)}: got {got64[idx]:.6g}, expected {exp64[idx]:.6g})" if diff.ndim else f" (got {float(got64):.6g}, expected {float(exp64):.6g})"
        return f"{label}relative error {rel:.1e} is above the tolerance {rtol:.0e}{where}"
    return None


def compare_output(got: Any, expected: list[tuple[str, np.ndarray]], rtol: float, values: bool = True,
                   atol: float = 0.0) -> str | None:
    """Compare a return value with its expected ``(kind, array)`` list; None when it matches, else why not
    (``values=False``: type, shape and dtype only, for a case checked by properties; differences up to
    ``atol``, or the round-off floor when larger, pass whatever the relative error)."""
    if len(expected) > 1:
        if not isinstance(got, (tuple, list)):
            return f"should return a tuple of {len(expected)} values, got {_describe(got)}"
        if len(got) != len(expected):
            return f"should return {len(expected)} values, got {len(got)}"
        items = list(got)
    else:
        items = [got]
    for j, (item, (kind, array)) in enumerate(zip(items, expected)):
        label = f"output {j + 1} " if len(expected) > 1 else "the output "
        problem = _compare_one(item, kind, array, rtol, label, values, atol)
        if problem:
            return problem
    return None


def _summary_ok(got, expected) -> str:
    if len(expected) == 1 and expected[0][0] in ("int", "bool", "float"):
        return f"got {expected[0][1].item()!r}, as expected"
    shapes = [str(tuple(a.shape)) for _, a in expected]
    if len(shapes) == 1:
        return f"shape {shapes[0]} and values match"
    return f"{len(shapes)} outputs of shapes " + ", ".join(shapes) + ": shapes and values match"


def _parameter_names(signature: str) -> list[str]:
    inner = signature.strip()[1:-1]
    return [re.split(r"[=:]", p)[0].strip().lstrip("*") for p in inner.split(",") if p.strip() and p.strip() not in ("*", "/")]


def _same_inputs(before: dict, after: dict) -> str | None:
    for name, value in before.items():
        other = after[name]
        if isinstance(value, torch.Tensor) and not torch.equal(value, other):
            return f"the function changed its input `{name}` in place; work on a copy instead (e.g. `{name}.clone()`)"
        if isinstance(value, np.ndarray) and not np.array_equal(value, other):
            return f"the function changed its input `{name}` in place; work on a copy instead (e.g. `{name}.copy()`)"
    return None


def _attached(got) -> str | None:
    items = list(got) if isinstance(got, (tuple, list)) else [got]
    for j, item in enumerate(items):
        if isinstance(item, torch.Tensor) and item.requires_grad:
            which = f"output {j + 1}" if len(items) > 1 else "the output"
            return (f"{which} is still attached to the autograd graph (requires_grad=True); the contract says detached: "
                    f"return it with `.detach()`")
    return None


def _verified(case, got) -> str | None:
    """What ``case.verify`` says of ``got`` (a case checked by properties); a property that cannot be computed fails."""
    try:
        return case.verify(got, case.kwargs)
    except Exception as exc:  # e.g. NaN in the output: say so, do not crash the check
        return f"its properties could not be checked ({type(exc).__name__}: {exc})"


def _with_hint(message: str, case) -> str:
    hint = getattr(case, "hint", "")
    return f"{message}\n      hint: {hint}" if hint else message


def run_cases(func: Callable, exercise: Exercise, cases, expected) -> CheckResult:
    """Run ``func`` on ``cases`` and compare with ``expected``; the engine behind ``check`` (and the grader).

    Besides the values, every case checks the contracts: the output's type, shape and dtype, the inputs left
    unchanged, and what the exercise declares in ``Exercise.contracts`` (``"detached"``: no output tensor
    requires grad). A case with ``Case.verify`` is checked by properties instead of values (type, shape and dtype
    are still compared). A failing case shows its ``Case.hint`` when it has one.
    """
    result = CheckResult(exercise.id, exercise.function, exercise.points, "passed", n_cases=len(cases))
    contracts = getattr(exercise, "contracts", ())
    try:
        params = [p.name for p in inspect.signature(func).parameters.values()]
    except (TypeError, ValueError):
        params = None
    wanted = _parameter_names(exercise.signature)
    if params is not None and params != wanted:
        result.status = "wrong signature"
        result.cases.append(CaseResult("signature", False,
                                       f"the function should take ({', '.join(wanted)}) but takes ({', '.join(params)})"))
        return result
    if len(cases) != len(expected):
        raise RuntimeError(f"The expected values of {exercise.id} are out of date ({len(expected)} stored, "
                           f"{len(cases)} cases): restore data/expected/ from the course's bundle, or ask your instructor.")
    for case, exp in zip(cases, expected):
        kwargs = copy.deepcopy(case.kwargs)
        try:
            got = func(**kwargs)
        except NotImplementedError:
            result.status = "not implemented"
            result.cases.append(CaseResult(case.name, False, "raises NotImplementedError: not written yet"))
            return result
        except Exception as exc:  # a student's bug: report it, do not crash the check
            result.cases.append(CaseResult(case.name, False, _with_hint(f"raised {type(exc).__name__}: {exc}", case)))
            continue
        by_properties = getattr(case, "verify", None) is not None
        problem = (compare_output(got, exp, exercise.rtol, values=not by_properties, atol=exercise.atol) or _same_inputs(case.kwargs, kwargs)
                   or (_attached(got) if "detached" in contracts else None) or (_verified(case, got) if by_properties else None))
        passed_message = (f"shape {tuple(exp[0][1].shape)} and every property holds" if by_properties else _summary_ok(got, exp))
        result.cases.append(CaseResult(case.name, problem is None, _with_hint(problem, case) if problem else passed_message))
    if not all(c.passed for c in result.cases):
        result.status = "failed"
    return result


def check(func: Callable, exercise: str | None = None, *, quiet: bool = False) -> CheckResult:
    """Check an exercise's function against the solution's outputs and say what passed or what is wrong.

    Args:
        func: the function you wrote, e.g. ``cross_correlate``.
        exercise: the exercise id (e.g. ``"01.3"``); by default the function's name finds it.
        quiet: do not print the report.

    Returns:
        A ``CheckResult``. Raises ``NotImplementedError`` while the function is still a stub and
        ``ExerciseCheckFailed`` (an ``AssertionError``) when a case is wrong, after printing which.
    """
    if not callable(func):
        raise TypeError(f"check() takes the function you wrote (e.g. check(cross_correlate)), got {type(func).__name__}.")
    ex = get_exercise(exercise or getattr(func, "__name__", ""))
    result = run_cases(func, ex, ex.cases(0), load_expected(ex.notebook, ex.function))
    if not quiet:
        print(result.report())
    if result.status == "not implemented":
        error = NotImplementedError(f"Exercise {ex.id} `{ex.function}` is not written yet.")
    elif not result.passed:
        error = ExerciseCheckFailed(f"Exercise {ex.id} `{ex.function}`: {next(c.message for c in result.cases if not c.passed)}")
    else:
        return result
    error.exercise_id = ex.id  # course_utils.unfinished shows one line naming it, under the report
    raise error


# ---------------------------------------------------------------------------- an earlier exercise, reused later

_EARLIER: dict = {}  # (exercise id, your function) -> the function to go on with, decided once per version of yours


def earlier_exercise(yours: Callable, instead: Callable, exercise: str, instead_name: str) -> Callable:
    """Your function of an earlier exercise when it passes that exercise's self-check, otherwise ``instead``.

    A notebook that builds on an earlier notebook's exercise calls this, so that one unfinished or wrong
    exercise does not block a later lecture. The earlier exercise's self-check runs once per version of your
    function, quietly, and one line says which function the notebook goes on with. ``instead`` is never the
    course's solution: it is a library's implementation (Captum's, say) or values stored for the notebook's
    own inputs, and ``instead_name`` says which, in words.
    """
    key = (exercise, yours)
    if key in _EARLIER:
        return _EARLIER[key]
    ex = get_exercise(exercise)
    try:
        result = run_cases(yours, ex, ex.cases(0), load_expected(ex.notebook, ex.function))
    except Exception as exc:  # a stub that does something odd, a missing expected file: go on without it
        result = CheckResult(ex.id, ex.function, ex.points, "failed", [CaseResult("the check", False, f"{type(exc).__name__}: {exc}")])
    if result.passed:
        print(f"Your `{ex.function}` passes exercise {ex.id}'s check ({len(result.cases)} cases): this notebook uses it.")
        chosen = yours
    else:
        if result.status == "not implemented":
            why = "is not done yet"
        elif result.status == "wrong signature":
            why = "has another signature than exercise " + ex.id + "'s"
        else:
            total = max(result.n_cases, len(result.cases))
            first = next(i for i, c in enumerate(result.cases, 1) if not c.passed)
            why = f"fails exercise {ex.id}'s check (case {first}/{total}; `check({ex.function})` says why)"
        print(f"Your `{ex.function}` (exercise {ex.id}) {why}: this notebook carries on with {instead_name} instead.")
        chosen = instead
    _EARLIER[key] = chosen
    return chosen


# ---------------------------------------------------------------------------- hidden tests (nbgrader)

HIDDEN_TESTS_ENV = "COURSE_HIDDEN_TESTS"  # the folder of <notebook>.npz hidden tests; set by the nbgrader course's config


def hide_expected(message: str) -> str:
    """A hidden case's message without the expected values or the answer's own numbers (the grader goes further: ``instructor.run.category``)."""
    message = re.sub(r", expected (\([^()]*\)|[^,()]*)", "", message)
    return re.sub(r" \(largest difference at [^)]*\)| \(got [^)]*\)", "", message)


def check_hidden(func: Callable, exercise: str, *, quiet: bool = False) -> CheckResult:
    """The hidden tests of one exercise, as nbgrader's autograder runs them (a ``### BEGIN HIDDEN TESTS`` region).

    The cases are the registry's for the seeds stored in ``$COURSE_HIDDEN_TESTS/<notebook>.npz`` (written
    by ``python -m instructor.nbgrader`` beside the course, never released), compared with the solution's
    outputs stored there: the grader's hidden cases (``instructor.grade``), same engine and tolerance as
    ``check``. Prints the report without the expected values; raises as ``check`` does.
    """
    import os

    ex = get_exercise(exercise)
    folder = os.environ.get(HIDDEN_TESTS_ENV)
    if not folder:
        raise RuntimeError(f"The hidden tests of {ex.id} run when grading, with the nbgrader course's nbgrader_config.py "
                           f"(it sets {HIDDEN_TESTS_ENV}); run `nbgrader autograde` from the course's folder.")
    path = Path(folder) / f"{ex.notebook}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"The hidden tests of {ex.notebook} are missing ({path}): rebuild the course with "
                                f"`make nbgrader`.")
    with np.load(path, allow_pickle=False) as data:
        seeds = [int(s) for s in data["seeds"]]
    cases = [case for seed in seeds for case in ex.cases(seed)]
    result = run_cases(func, ex, cases, load_expected(ex.notebook, ex.function, path))
    for case in result.cases:
        case.name = "hidden test: " + case.name
        if not case.passed:
            case.message = hide_expected(case.message)
    if not quiet:
        print(result.report())
    if result.status == "not implemented":
        raise NotImplementedError(f"Exercise {ex.id} `{ex.function}` is not written yet.")
    if not result.passed:
        raise ExerciseCheckFailed(f"Exercise {ex.id} `{ex.function}` fails a hidden test: "
                                  f"{next(c.message for c in result.cases if not c.passed)}")
    return result
