"""The autograder: full marks for the solutions, zero for the untouched notebooks, an exact partial
score, every hostile submission graded without stopping the run, and every attack on the grader
itself (issue 12) defeated by the sandbox.

The fixtures are built at test time from solutions/ and notebooks/, so they follow the notebooks as
they are added; the hostile ones and the attacks are variations of 01_filters. The tests that start
a student's process need bubblewrap (``bwrap``); where it cannot run they skip, saying why.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from instructor.assign import BEGIN, END
from course_utils.exercises import exercises_for
from instructor import jail
from instructor.grade import find_submissions, gradable_notebooks, main, write_results
from instructor.run import Limits

NO_BWRAP = jail.unavailable()
needs_bwrap = pytest.mark.skipif(NO_BWRAP is not None, reason=f"{NO_BWRAP} (the grader's sandbox tests need it)")

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(notebook_s=180, setup_s=90, exercise_s=12, memory_mb=4096)
BASE = "01_filters"


def _cell_defining(nb, function):
    return next(c for c in nb.cells if c.cell_type == "code" and re.search(rf"^def {function}\(", c.source, re.M))


def _with_body_prefix(nb, function, code):
    """Insert ``code`` as the first statement of ``function``'s body (after its docstring)."""
    cell = _cell_defining(nb, function)
    cell.source = cell.source.replace(f"    {BEGIN}\n", f"    {BEGIN}\n" + "".join(f"    {line}\n" for line in code.splitlines()), 1)
    assert code.splitlines()[0] in cell.source
    return nb


def _with_body(nb, function, code):
    """Write ``code`` as the body of ``function`` in a student notebook (in place of its stub)."""
    cell = _cell_defining(nb, function)
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert stub in cell.source
    cell.source = cell.source.replace(stub, "".join(f"    {line}\n" for line in code.splitlines()).rstrip("\n"), 1)
    return nb


def _read(folder, name):
    return nbformat.read(REPO / folder / f"{name}.ipynb", as_version=4)


def _write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _points(name):
    return {ex.function: ex.points for ex in exercises_for(name)}


def _params(exercise):
    return [p.split("=")[0].strip() for p in exercise.signature.strip("()").split(",")]


_WRITE_ON_EVERY_FD = """import json, os
for _fd in range(3, 16):
    for _line in {lines!r}:
        try:
            os.write(_fd, (json.dumps(_line) + "\\n").encode())
        except OSError:
            pass
"""

_FROM_THE_SOLUTIONS = """_SOLUTIONS = {}


def _solution(name):
    if not _SOLUTIONS:
        try:
            from instructor.expected import solution_functions
            _SOLUTIONS.update(solution_functions("01_filters"))
        except ImportError:
            import json
            from course_utils.paths import solutions_dir
            found = {}
            exec("import math, torch\\nfrom torch import nn\\nimport torch.nn.functional as F", found)
            for cell in json.loads((solutions_dir() / "01_filters.ipynb").read_text())["cells"]:
                if cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(cell["source"]):
                    exec("".join(cell["source"]), found)
            _SOLUTIONS.update(found)
    return _SOLUTIONS[name]"""

_VISIBLE_LOOKUP = """def _same(a, b):
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    return a == b


def _visible_answer(function, given):
    from course_utils.checks import load_expected
    from course_utils.exercises import get_exercise
    exercise = get_exercise(function)
    for case, answer in zip(exercise.cases(0), load_expected(exercise.notebook, function)):
        if all(_same(value, given[name]) for name, value in case.kwargs.items()):
            items = [torch.from_numpy(a.copy()) if kind == "tensor" else a.item() for kind, a in answer]
            return tuple(items) if len(items) > 1 else items[0]
    return None"""

_INCOMPLETE = {  # right on generic inputs only
    # through the line's crossing with the y axis: fails for a vertical line (w = (a, 0))
    "hidden_unit_line": ("w = weight.double()\nnorm = w.norm(dim=1, keepdim=True)\n"
                         "directions = torch.stack([-w[:, 1], w[:, 0]], dim=1) / norm\n"
                         "crossing = torch.stack([torch.zeros_like(w[:, 1]), -bias.double() / w[:, 1]], dim=1)\n"
                         "points = crossing - (crossing * directions).sum(dim=1, keepdim=True) * directions\n"
                         "return points.float(), directions.float()"),
    # square kernels only
    "cross_correlate": ("k = kernel.shape[0]\nout = torch.zeros(image.shape[0] - k + 1, image.shape[1] - k + 1)\n"
                        "for i in range(k):\n    for j in range(k):\n"
                        "        out += kernel[i, j] * image[i:i + out.shape[0], j:j + out.shape[1]]\nreturn out"),
    # square kernels with a bias only
    "conv_parameter_count": "return in_channels * out_channels * kernel_size ** 2 + out_channels",
}

_HELPER = """import math

KERNEL_DIMS = 2  # a constant


def kernel_area(kernel_size):
    \"\"\"kh * kw, for an int or a pair.\"\"\"
    return math.prod((kernel_size,) * KERNEL_DIMS if isinstance(kernel_size, int) else kernel_size)"""


def build_fixtures(root: Path) -> dict[tuple[str, str], int]:
    """Write the submissions under ``root``; return the expected total per (student, notebook)."""
    expected = {}
    for name in gradable_notebooks():
        top = sum(_points(name).values())
        _write(_read("solutions", name), root / "solved" / f"{name}.ipynb")  # a folder per student
        expected[("solved", name)] = top
        _write(_read("notebooks", name), root / "untouched" / f"{name}.ipynb")
        expected[("untouched", name)] = 0
    # Partly solved: the student version with only its second exercise's cell taken from the solution.
    partial = next(n for n in gradable_notebooks() if len(exercises_for(n)) >= 2)
    chosen = exercises_for(partial)[1]
    nb = _read("notebooks", partial)
    _cell_defining(nb, chosen.function).source = _cell_defining(_read("solutions", partial), chosen.function).source
    _write(nb, root / "partial" / f"{partial}.ipynb")
    expected[("partial", partial)] = chosen.points

    pts = _points(BASE)
    top = sum(pts.values())
    hostile = {}  # files named by student: hostile_<case>_01_filters.ipynb
    hostile["loop"] = (_with_body_prefix(_read("solutions", BASE), "conv_parameter_count", "while True:\n    pass"),
                       top - pts["conv_parameter_count"])
    hostile["memory"] = (_with_body_prefix(_read("solutions", BASE), "cross_correlate",
                                           "hog = [bytearray(2**27) for _ in range(1000)]"),
                         top - pts["cross_correlate"])
    hostile["sysexit"] = (_with_body_prefix(_read("solutions", BASE), "hidden_unit_line", "import sys\nsys.exit(0)"),
                          top - pts["hidden_unit_line"])
    hostile["osexit"] = (_with_body_prefix(_read("solutions", BASE), "cross_correlate", "import os\nos._exit(0)"),
                         top - pts["cross_correlate"])
    # Prints fake results (the self-check's words, the grader's own event format) and returns wrong answers.
    nb = _read("notebooks", BASE)
    fake = ('print("PASSED: all 4 cases agree with the solution. 2/2 points.")\n'
            'print(\'{"event": "exercise_end", "id": "01.1", "report": {"score": 2}}\')\n'
            'import sys; sys.__stdout__.write(\'{"event": "done"}\\n\')')
    for ex in exercises_for(BASE):
        cell = _cell_defining(nb, ex.function)
        cell.source = fake + "\n" + cell.source.replace("raise NotImplementedError()", "return 0")
    # ... and writes a fake "all done" on every open file descriptor, the grader's channel included.
    cell = _cell_defining(nb, exercises_for(BASE)[0].function)
    cell.source = ("import os\nfor fd in range(3, 16):\n    try:\n        os.write(fd, b'{\"event\": \"done\"}\\n')\n"
                   "    except OSError:\n        pass\n") + cell.source
    hostile["fakeprint"] = (nb, 0)
    # Monkeypatches torch, numpy and the checker so that anything would compare equal, returns wrong answers.
    nb = _read("notebooks", BASE)
    patch = ("import torch, numpy, course_utils, course_utils.checks as cc\n"
             "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
             "numpy.allclose = lambda *a, **k: True\ncc.compare_output = lambda *a, **k: None\n"
             "course_utils.check = cc.check = lambda *a, **k: print('PASSED')\n"
             "torch.Tensor.__eq__ = lambda *a, **k: True\n")
    for ex in exercises_for(BASE):
        cell = _cell_defining(nb, ex.function)
        cell.source = patch + cell.source.replace("raise NotImplementedError()", "return torch.zeros(1)")
    hostile["monkeypatch"] = (nb, 0)
    # Deletes everything in its working directory (and the directory itself), then works correctly.
    nb = _read("solutions", BASE)
    cell = _cell_defining(nb, "hidden_unit_line")
    cell.source = "import os, shutil\nshutil.rmtree(os.getcwd(), ignore_errors=True)\n" + cell.source
    hostile["rmcwd"] = (nb, top)
    # Forges events on the grader's channel: start events (ignored, out of order) while a cell runs,
    # and a malformed exercise_end (an id that is a list) while conv_parameter_count, the last exercise, runs.
    nb = _read("solutions", BASE)
    cell = _cell_defining(nb, "hidden_unit_line")
    cell.source = _WRITE_ON_EVERY_FD.format(lines=[{"event": "cell_start", "cell": 0}, {"event": "exercise_start", "id": "01.1"}]) + cell.source
    hostile["forged"] = (_with_body_prefix(nb, "conv_parameter_count",
                                           _WRITE_ON_EVERY_FD.format(lines=[{"event": "exercise_end", "id": []}])),
                         top - pts["conv_parameter_count"])
    # Calls the solutions: instructor.expected.solution_functions, else the notebook in course_utils.paths.solutions_dir().
    nb = _read("notebooks", BASE)
    _cell_defining(nb, "hidden_unit_line").source = _FROM_THE_SOLUTIONS + "\n\n" + _cell_defining(nb, "hidden_unit_line").source
    for ex in exercises_for(BASE):
        params = ", ".join(f"{p}={p}" for p in _params(ex))
        _with_body(nb, ex.function, f"return _solution({ex.function!r})({params})")
    hostile["solutions"] = (nb, 0)
    # Hard-codes the visible answers (a lookup on the visible inputs, read from the shipped data/expected/),
    # with an incomplete solution for other inputs that handles only what the visible random cases need: it
    # would earn full marks if the hidden cases repeated the visible hand-written ones.
    nb = _read("notebooks", BASE)
    _cell_defining(nb, "hidden_unit_line").source = _VISIBLE_LOOKUP + "\n\n" + _cell_defining(nb, "hidden_unit_line").source
    for ex in exercises_for(BASE):
        params = ", ".join(f"{p}={p}" for p in _params(ex))
        _with_body(nb, ex.function, f"answer = _visible_answer({ex.function!r}, dict({params}))\n"
                                    f"if answer is not None:\n    return answer\n{_INCOMPLETE[ex.function]}")
    hostile["hardcoded"] = (nb, 0)
    for case, (nb, score) in hostile.items():
        _write(nb, root / f"hostile_{case}_{BASE}.ipynb")
        expected[(f"hostile_{case}", BASE)] = score
    # A helper function (with an import and a constant) in a cell of its own: that cell runs, and
    # a cell that does anything else (here: fails) does not.
    nb = _read("solutions", BASE)
    index = nb.cells.index(_cell_defining(nb, "conv_parameter_count"))
    nb.cells.insert(index, nbformat.v4.new_code_cell(_HELPER))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell('print(kernel_area(3))\nraise RuntimeError("a cell that computes must not run")'))
    _with_body_prefix(nb, "conv_parameter_count", "return out_channels * in_channels * kernel_area(kernel_size) + (out_channels if bias else 0)")
    _write(nb, root / "helper" / f"{BASE}.ipynb")
    expected[("helper", BASE)] = top
    (root / f"hostile_notjson_{BASE}.ipynb").write_text('{"cells": [ this is not JSON')
    expected[("hostile_notjson", BASE)] = 0
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if NO_BWRAP:
        pytest.skip(f"{NO_BWRAP} (the grader's sandbox tests need it)")
    root = tmp_path_factory.mktemp("submissions")
    expected = build_fixtures(root)
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    t0 = time.monotonic()
    from instructor.grade import grade_all
    grades, unmatched = grade_all(root, LIMITS, jobs=2, progress=False)
    seconds = time.monotonic() - t0
    csv_path, feedback = write_results(grades, out)
    summary = {f"{g.student}/{g.notebook}": f"{g.total}/{g.max_points} in {g.seconds:.1f} s" for g in grades}
    print(f"\ngraded the fixture set ({len(grades)} notebooks) in {seconds:.1f} s: {json.dumps(summary)}")
    return expected, grades, csv_path, feedback, seconds, root


def test_every_fixture_gets_its_expected_score(graded):
    expected, grades, *_ = graded
    got = {(g.student, g.notebook): g.total for g in grades if (g.student, g.notebook) in expected}
    assert got == expected
    # A student who did not hand in a notebook others handed in gets a row with 0 for it, and a note.
    for g in grades:
        if (g.student, g.notebook) not in expected:
            assert g.total == 0 and "No " + g.notebook in g.notes[0]


def test_no_submission_outlives_its_time_limit(graded):
    # Not a timed test: the property is that the grader enforces its own limits, whatever the machine's speed
    # (the total is printed above; how long grading takes on a given machine is the grader's business, not CI's).
    _, grades, *_ = graded
    slack = 20  # tearing down the sandbox and its process group after the kill
    for g in grades:
        assert g.seconds < LIMITS.notebook_s + slack, f"{g.student}/{g.notebook} ran {g.seconds:.0f} s, past its {LIMITS.notebook_s:.0f} s limit"
    loop = next(g for g in grades if (g.student, g.notebook) == ("hostile_loop", BASE))
    assert loop.seconds >= LIMITS.exercise_s, f"the endless loop was stopped after {loop.seconds:.1f} s, before its {LIMITS.exercise_s} s limit"


def test_hostile_cases_are_explained_in_the_feedback(graded):
    _, grades, _, feedback, *_ = graded
    text = {p.stem: p.read_text() for p in feedback.glob("*.md")}
    assert "ran past its time limit (12 s)" in text["hostile_loop"]
    assert "MemoryError" in text["hostile_memory"]
    assert "raised SystemExit" in text["hostile_sysexit"]
    assert "calling `cross_correlate` ended unexpectedly (exit code 0)" in text["hostile_osexit"]
    assert "not a readable notebook" in text["hostile_notjson"]
    assert "wrote garbage on the grader's channel" in text["hostile_fakeprint"]
    assert "Total: 0/" in text["hostile_fakeprint"] and "Total: 0/" in text["hostile_monkeypatch"]
    assert "calling `conv_parameter_count` wrote garbage on the grader's channel" in text["hostile_forged"]
    assert "No such file or directory" in text["hostile_solutions"]  # no solutions where course_utils looks for them
    assert "raised" not in text["helper"]  # the helper's cell ran; the cell that computes did not


def test_hard_coded_visible_answers_earn_nothing(graded):
    _, grades, *_ = graded
    g = next(g for g in grades if (g.student, g.notebook) == ("hostile_hardcoded", BASE))
    for r in g.results:  # every visible case passes (the lookup works); hidden ones of the same kinds do not
        assert all(c.passed for c in r.cases if not c.name.startswith("hidden test")), r.report()
        assert not all(c.passed for c in r.cases if c.name.startswith("hidden test")), r.report()
        assert r.score == 0


def test_csv_has_points_per_exercise_and_totals(graded):
    expected, grades, csv_path, *_ = graded
    rows = list(csv.DictReader(csv_path.open()))
    assert {(r["student"], r["notebook"]) for r in rows} >= set(expected)
    for r in rows:
        if (r["student"], r["notebook"]) not in expected:
            continue
        ids = [ex.id for ex in exercises_for(r["notebook"])]
        assert int(r["total"]) == sum(int(r[i]) for i in ids) == expected[(r["student"], r["notebook"])]
        assert int(r["max"]) == sum(ex.points for ex in exercises_for(r["notebook"]))


def test_feedback_uses_the_self_check_words_and_hides_hidden_expected_values(graded):
    _, grades, _, feedback, *_ = graded
    text = (feedback / "untouched.md").read_text()
    assert "NOT DONE YET" in text
    bad = next(g for g in grades if g.student == "hostile_monkeypatch")
    for r in bad.results:
        for case in r.cases:
            if case.name.startswith("hidden test") and not case.passed:
                assert "expected" not in case.message.replace("expected (", "")  # shapes may be named, not values


def test_rerunning_never_overwrites(graded, tmp_path):
    _, grades, *_ = graded
    first, fb1 = write_results(grades, tmp_path / "grades.csv")
    before = first.read_bytes()
    second, fb2 = write_results(grades, tmp_path / "grades.csv")
    assert second.name == "grades-2.csv" and fb2 != fb1 and first.read_bytes() == before


def test_submission_layouts_are_matched(tmp_path):
    (tmp_path / "carol" / "sub").mkdir(parents=True)
    (tmp_path / "carol" / "sub" / f"{BASE}.ipynb").write_text("{}")
    (tmp_path / f"dave_{BASE}.ipynb").write_text("{}")
    (tmp_path / f"{BASE}-erin.ipynb").write_text("{}")
    (tmp_path / "notes.ipynb").write_text("{}")
    found, unmatched, notes = find_submissions(tmp_path)
    assert {s: sorted(v) for s, v in found.items()} == {"carol": [BASE], "dave": [BASE], "erin": [BASE]}
    assert unmatched == ["notes.ipynb (its name holds no notebook of this course)"] and notes == {}


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        find_submissions(tmp_path / "missing")
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--seeds", "0,1"])


# ---------------------------------------------------------------------------- the parts, one at a time

def test_malformed_or_forged_events_are_garbage():
    from instructor.run import event_key
    report = {"id": "01.1", "defined": True, "params": ["weight", "bias"],
              "cases": [{"status": "returned", "tuple": True, "items": [{"kind": "tensor", "key": "c0_o0"},
                                                                          {"kind": "float", "value": "nan"}],
                         "after": {"weight": {"kind": "tensor", "key": "c0_a_weight"}}},
                        {"status": "error", "error_type": "ValueError", "error": "no"}, {"status": "not implemented"}]}
    good = [({"event": "cell_start", "cell": 2}, ("cell_start", 2)),
            ({"event": "cell_end", "cell": 2, "error": None}, ("cell_end", 2)),
            ({"event": "cell_end", "cell": 2, "error": "NameError: x"}, ("cell_end", 2)),
            ({"event": "exercise_start", "id": "01.1"}, ("exercise_start", "01.1")),
            ({"event": "exercise_end", "id": "01.1", "report": report, "arrays": 0}, ("exercise_end", "01.1")),
            ({"event": "done"}, ("done", None))]
    for event, key in good:
        assert event_key(event) == key, event
    bad = [[], "done", {"event": 3}, {"event": "exercise_end", "id": []}, {"event": "exercise_start", "id": {}},
           {"event": "cell_start", "cell": "1"}, {"event": "cell_start", "cell": True}, {"event": "cell_start"},
           {"event": "cell_start", "cell": 1, "extra": 0}, {"event": "cell_end", "cell": 1, "error": ["x"]},
           {"event": "cell_end", "cell": 1}, {"event": "done", "score": 5}, {"event": "stopped", "why": "x"},
           {"event": "exercise_end", "id": "01.1", "report": {"score": 2}, "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "report": dict(report, id="01.2"), "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "report": report, "arrays": None},
           {"event": "exercise_end", "id": "01.1", "report": report, "arrays": "AAAA"},
           {"event": "exercise_end", "id": "01.1", "report": report, "arrays": -1},
           {"event": "exercise_end", "id": "01.1", "report": dict(report, defined=1), "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "report": dict(report, params=[1]), "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "report": dict(report, cases=[[]]), "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "report": dict(report, cases=[{"status": "passed"}]), "arrays": 0},
           {"event": "exercise_end", "id": "01.1", "arrays": 0,
            "report": dict(report, cases=[{"status": "returned", "tuple": False, "items": [{"kind": "int", "value": 1.5}], "after": {}}])},
           {"event": "exercise_end", "id": "01.1", "arrays": 0,
            "report": dict(report, cases=[{"status": "returned", "tuple": False, "items": [{"kind": "tensor", "key": []}], "after": {}}])},
           {"event": "exercise_end", "id": "01.1", "arrays": 0,
            "report": dict(report, cases=[{"status": "returned", "tuple": False, "items": [], "after": {"x": 1}}])}]
    for event in bad:
        assert event_key(event) is None, event


@needs_bwrap
def test_forged_start_events_do_not_reset_the_time_limit():
    from instructor.run import run_sandbox
    forge = ("import os, time\nend = time.monotonic() + 8\nwhile time.monotonic() < end:\n"
             "    for fd in range(3, 16):\n        for line in (b'{\"event\": \"cell_start\", \"cell\": 0}\\n',"
             " b'{\"event\": \"cell_start\", \"cell\": 2}\\n', b'{\"event\": \"exercise_start\", \"id\": \"01.1\"}\\n'):\n"
             "            try:\n                os.write(fd, line)\n            except OSError:\n                pass\n"
             "    time.sleep(0.05)\n")
    job = {"cells": [("setup", "pass"), ("the forging cell", forge), ("last", "pass")], "skip_cells": [],
           "skip_exercises": [], "exercises": [{"id": "01.1", "function": "f", "cases": []}]}
    events = list(run_sandbox(job, Limits(notebook_s=60, setup_s=60, exercise_s=1.5), time.monotonic() + 60))
    # Stopped 1.5 s into the forging cell, which would otherwise have run for 8 s and finished.
    assert [e["event"] for e in events] == ["cell_start", "cell_end", "cell_start", "stopped"], events
    assert events[-1]["why"] == "timeout-stage"


def test_an_internal_error_costs_one_notebook_not_the_run(tmp_path, monkeypatch):
    import instructor.grade as core
    from course_utils.checks import CheckResult
    from instructor.run import NotebookGrade

    for student in ("ann", "bob"):
        _write(_read("notebooks", BASE), tmp_path / student / f"{BASE}.ipynb")
    monkeypatch.setattr(core, "plan_tests", lambda notebooks, seeds: {})

    def grade_notebook(student, notebook, path, exercises, *args):
        if student == "ann":
            raise TypeError("unhashable type: 'list'")
        return NotebookGrade(student, notebook, [CheckResult(ex.id, ex.function, ex.points, "passed") for ex in exercises])

    monkeypatch.setattr(core, "grade_notebook", grade_notebook)
    grades, _ = core.grade_all(tmp_path, LIMITS, jobs=2, progress=False, isolated=False)
    by_student = {g.student: g for g in grades}
    assert by_student["bob"].total == sum(_points(BASE).values())
    ann = by_student["ann"]
    assert ann.total == 0 and len(ann.results) == len(exercises_for(BASE))
    assert "The grader failed on this notebook (TypeError: unhashable type: 'list')" in ann.notes[0]


def test_cells_of_definitions_only_are_run_and_others_are_not():
    from instructor.run import definitions_only, exercise_cells
    assert definitions_only('%matplotlib inline\n"""Helpers."""\nimport math\nfrom torch import nn\n\n'
                            'SCALE = 1 / 255\nNAMES, SIZES = ("a", "b"), {"a": -1}\nLIMIT: int = 3\n\n'
                            '@staticmethod\ndef helper(x):\n    return x\n\nclass Net(nn.Module):\n    pass\n')
    for source in ["x = torch.zeros(3)", "print(1)", "helper(3)", "for i in range(3):\n    pass", "def f(:",
                   "", "# a comment only", "A = B", "obj.attr = 3", "import math\nmath.sqrt(2)",
                   "if True:\n    def f():\n        pass", "d['k'] = 1", "x += 1"]:
        assert not definitions_only(source), source
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import torch"), nbformat.v4.new_markdown_cell("def helper(x):"),
        nbformat.v4.new_code_cell("def helper(x):\n    return x"), nbformat.v4.new_code_cell("helper(2)"),
        nbformat.v4.new_code_cell("def cross_correlate(image, kernel):\n    return helper(image)\ncheck(cross_correlate)")])
    assert [label for label, _ in exercise_cells(nb, exercises_for(BASE))] == ["cell 1", "cell 3", "cell 5"]


def test_the_student_side_copy_holds_no_solutions_nor_instructor_modules():
    import os
    from instructor.run import prepare_student_side, remove_student_side

    root = Path(prepare_student_side())
    try:
        names = {p.relative_to(root).as_posix() for p in root.rglob("*")}
        assert {"course_utils/__init__.py", "course_utils/paths.py", "course_utils/checks.py",
                "course_utils/exercises/nb01_filters.py", f"data/expected/{BASE}.npz", "data/mnist_5000.npz"} <= names
        copied = {n for n in names if n.startswith("course_utils/") and n.endswith(".py")}
        assert copied == {p.relative_to(REPO).as_posix() for p in (REPO / "course_utils").rglob("*.py")}, \
            "the student side takes course_utils/ whole"
        assert not any(n.startswith(("solutions", "notebooks", "instructor", "tests", "data/grader")) or "__pycache__" in n
                       for n in names)
        # course_utils.paths.ROOT is the folder above course_utils/: the copy, which has no solutions/
        assert (root / "course_utils" / "paths.py").read_text() == (REPO / "course_utils" / "paths.py").read_text()
        assert not os.access(root / "course_utils" / "checks.py", os.W_OK) or os.geteuid() == 0
    finally:
        remove_student_side(str(root))
    assert not root.exists()


def test_the_student_side_copy_leaves_grader_only_data_out(tmp_path):
    from instructor.run import prepare_student_side, remove_student_side

    for name in ["course_utils/__init__.py", "course_utils/paths.py", "course_utils/expected.py",
                 "course_utils/sub/expected.py", "course_utils/__pycache__/paths.cpython-311.pyc", "instructor/grade.py",
                 "data/expected/a.npz", "data/models/m.pt", "data/grader/secret.npz", "data/grader/more/deep.npz",
                 "solutions/a.ipynb"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    root = Path(prepare_student_side(tmp_path))
    try:
        assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
            "course_utils/__init__.py", "course_utils/expected.py", "course_utils/paths.py", "course_utils/sub/expected.py",
            "data/expected/a.npz", "data/models/m.pt"]
    finally:
        remove_student_side(str(root))


def test_hidden_cases_differ_from_the_visible_ones():
    import torch
    from course_utils.exercises import all_exercises

    def same(a, b):
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
        if isinstance(a, torch.nn.Module) or isinstance(b, torch.nn.Module):
            return type(a) is type(b) and all(same(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and a == b

    for ex in all_exercises():
        visible = ex.cases(0)
        for seed in (1, 2):
            hidden = ex.cases(seed)
            assert len(hidden) == len(visible)
            repeated = [h.name for v, h in zip(visible, hidden) if same(v.kwargs, h.kwargs)]
            assert not repeated, f"{ex.id} {ex.function}, seed {seed}: hidden cases equal to visible ones: {repeated}"


# ---------------------------------------------------------------------------- attacks on the grader itself (issue 12)
# Each is a submission of 01_filters graded through the command line (``python -m instructor.grade SUBS --out CSV``),
# as an instructor runs it, so that /proc shows what it would show in a real run.

_FIND_GRADER = '''import os, time


def _grader_args(flag):
    """The argument after ``flag`` on the grader's command line, as an absolute path, from /proc."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"instructor.grade" in args and flag in args and args.index(flag) + 1 < len(args):
            return os.path.join(cwd, os.fsdecode(args[args.index(flag) + 1]))
    return None


def _leave_behind(work):
    """Run ``work`` in a grandchild in a session of its own (it outlives its process if nothing stops it)."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                for fd in range(0, 64):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                work()
            finally:
                os._exit(0)
        os._exit(0)
    os.wait()
'''

_REWRITER = _FIND_GRADER + '''

def _rewrite():
    import csv
    end = time.time() + 600
    out = None
    while out is None and time.time() < end:
        out = _grader_args(b"--out")
        time.sleep(0.2)
    while out and not os.path.exists(out) and time.time() < end:
        time.sleep(0.2)
    if not out:
        return
    time.sleep(1)
    rows = list(csv.reader(open(out, newline="")))
    head = rows[0]
    for row in rows[1:]:
        if row[0] == "rewriter":
            for i, name in enumerate(head[2:head.index("total")], start=2):
                row[i] = row[head.index("max")] if i == 2 else "0"
            row[head.index("total")] = row[head.index("max")]
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows(rows)


_leave_behind(_rewrite)'''

_COPIER = _FIND_GRADER + '''

def _copy_classmate():
    import ast, json
    subs = _grader_args(b"instructor.grade")
    for folder, _, files in os.walk(subs or "/nonexistent"):
        for name in files:
            if name.endswith("01_filters.ipynb") and "victim" in name:
                cells = json.load(open(os.path.join(folder, name)))["cells"]
                for cell in cells:
                    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                    if cell["cell_type"] == "code" and "def " in source:
                        try:
                            tree = ast.parse("\\n".join(l for l in source.splitlines() if not l.startswith("%")))
                        except SyntaxError:
                            continue
                        tree.body = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
                        exec(compile(tree, "classmate", "exec"), globals())


_copy_classmate()'''

_SINKER = '''import os
try:
    import course_utils
    _root = os.path.dirname(os.path.dirname(os.path.abspath(course_utils.__file__)))
    os.chmod(_root, 0o755)
    for _folder, _dirs, _files in os.walk(_root):
        os.chmod(_folder, 0o755)
        for _name in _files:
            os.chmod(os.path.join(_folder, _name), 0o644)
    with open(os.path.join(_root, "course_utils", "__init__.py"), "a") as _f:
        _f.write("\\nimport torch as _torch\\n_stack = _torch.stack\\n_torch.stack = lambda *a, **k: _stack(*a, **k) + 1\\n")
except OSError as _exc:
    print("could not sink:", _exc)'''

_KILLER = _FIND_GRADER + '''

def _kill_sandboxes():
    end = time.time() + 300
    while time.time() < end:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    if b"sandbox.py" in open(f"/proc/{pid}/cmdline", "rb").read():
                        os.kill(int(pid), 9)
                except OSError:
                    pass
        time.sleep(0.05)


_leave_behind(_kill_sandboxes)'''

_CLOCK = '''if not globals().get("_clock_started"):
    globals()["_clock_started"] = True
    import os, time
    _end = time.monotonic() + 30
    while time.monotonic() < _end:
        for _fd in range(3, 16):
            try:
                os.write(_fd, b'{{"event": "exercise_start", "id": "{first}"}}\\n' * 20)
            except OSError:
                pass'''

_SNOOP = '''import os, sys, json
_PATHS = {{"the solutions": {solutions!r},
          "the solutions, next to the grader": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0]))),
                                                            "solutions", "01_filters.ipynb"),
          "a classmate's notebook": {classmate!r}, "the output folder": {out!r}, "the repository": {repo!r}}}
_FOUND = sorted(name for name, path in _PATHS.items() if os.path.exists(path))
_SEEN = []
for _pid in os.listdir("/proc"):
    try:
        if _pid.isdigit() and b"instructor.grade" in open(f"/proc/{{_pid}}/cmdline", "rb").read().split(b"\\0"):
            _SEEN.append(_pid)
    except OSError:
        pass
_SOLVED = {{}}
for _path in (_PATHS["the solutions"], _PATHS["the solutions, next to the grader"]):
    if os.path.exists(_path) and not _SOLVED:
        exec("import math, torch\\nfrom torch import nn\\nimport torch.nn.functional as F", _SOLVED)
        for _cell in json.load(open(_path))["cells"]:
            if _cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(_cell["source"]):
                exec("".join(_cell["source"]), _SOLVED)


def _solution(name):
    return _SOLVED[name]'''

_FORKER = '''import os
_forked = 0
for _ in range(100):
    try:
        _pid = os.fork()
    except OSError:
        break
    if _pid == 0:
        try:
            os.setsid()
            os.execv("/usr/bin/sleep", ["sleep", "{token}1"])
        finally:
            os._exit(0)
    _forked += 1'''

_LEFTOVER = '''import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            os.execv("/usr/bin/sleep", ["sleep", "{token}2"])
        finally:
            os._exit(0)
    os._exit(0)
os.wait()'''

_DISK = '''if not globals().get("_disk_done"):
    globals()["_disk_done"] = True
    import os
    for _path in {outside!r}:
        try:
            with open(_path, "w") as _f:
                _f.write("written outside the work folder")
        except OSError:
            pass
    for _i in range(4):
        with open(f"hog{{_i}}.bin", "wb") as _f:
            _f.write(bytes(40 << 20))'''

ATTACK_TOKEN = "4242"  # the sleep processes the fixtures leave behind run `sleep 4242N`


def _stub(function):
    return _cell_defining(_read("notebooks", BASE), function).source


def build_attacks(root: Path, out_dir: Path, repo: Path = REPO, cases=None) -> dict[str, int | None]:
    """Write the attack submissions under ``root``; return the expected total per student (None: no row)."""
    pts = _points(BASE)
    top = sum(pts.values())
    first, second, last = (ex.function for ex in exercises_for(BASE))
    first_id = exercises_for(BASE)[0].id
    expected: dict[str, int | None] = {}
    nbs: dict[str, tuple] = {}

    def prepend(nb, function, code):
        cell = _cell_defining(nb, function)
        cell.source = code + "\n\n\n" + cell.source
        return nb

    # A leftover process rewrites the finished CSV from /proc/<grader>/cmdline's --out.
    nbs["rewriter"] = (prepend(_read("notebooks", BASE), first, _REWRITER), 0)
    # Runs a classmate's cells, found through /proc/<grader>/cmdline.
    nb = _read("notebooks", BASE)
    _cell_defining(nb, last).source += "\n\n\n" + _COPIER
    nbs["copier"] = (nb, 0)
    # Makes the student-side course_utils writable and breaks torch.stack in it for the others.
    nbs["aaa_sinker"] = (prepend(_read("notebooks", BASE), first, _SINKER), 0)
    # Leaves a process behind that kills every later sandbox.
    nbs["aab_killer"] = (prepend(_read("notebooks", BASE), first, _KILLER), 0)
    # Writes out-of-order start lines for 30 s inside an exercise (limit: 12 s), then answers right.
    nbs["clock"] = (_with_body_prefix(_read("solutions", BASE), last, _CLOCK.format(first=first_id)), top - pts[last])
    # Reads the solutions by absolute path and next to sys.argv[0]; looks for a classmate, the output, the grader.
    nb = _read("notebooks", BASE)
    prepend(nb, first, _SNOOP.format(solutions=str(repo / "solutions" / f"{BASE}.ipynb"),
                                     classmate=str(root / f"zzz_victim_{BASE}.ipynb"), out=str(out_dir), repo=str(repo)))
    for ex in exercises_for(BASE):
        params = ", ".join(f"{p}={p}" for p in _params(ex))
        _with_body(nb, ex.function, f"return _solution({ex.function!r})({params})")
    _cell_defining(nb, first).source += '\n\n\nraise RuntimeError(f"found {_FOUND}; grader processes seen: {len(_SEEN)}")'
    nbs["snoop"] = (nb, 0)
    # Forks 100 children that outlive it; its answers are right.
    nb = prepend(_read("solutions", BASE), first, _FORKER.format(token=ATTACK_TOKEN))
    _cell_defining(nb, first).source += '\n\n\nraise RuntimeError(f"forked {_forked} children")'
    nbs["forker"] = (nb, top)
    # Leaves one process behind; its answers are right.
    nbs["leftover"] = (prepend(_read("solutions", BASE), first, _LEFTOVER.format(token=ATTACK_TOKEN)), top)
    # Writes 160 MB in its work folder (4 files of 40 MB, each under the file size cap) and files outside it.
    outside = [f"/tmp/grader-escape-{ATTACK_TOKEN}", str(out_dir / f"escape-{ATTACK_TOKEN}")]
    nbs["diskhog"] = (_with_body_prefix(_read("solutions", BASE), second, _DISK.format(outside=outside)), top - pts[second])
    # A correct classmate graded after the others.
    nbs["zzz_victim"] = (_read("solutions", BASE), top)
    # An exercise bound from a class (staticmethod) and one bound to a lambda.
    nb = _read("solutions", BASE)
    cell = _cell_defining(nb, second)
    cell.source = "class _Kernels:\n    @staticmethod\n" + "".join(f"    {line}\n" for line in cell.source.splitlines()) \
        + f"\n\n{second} = _Kernels.{second}\n"
    cell = _cell_defining(nb, last)
    cell.source = cell.source.replace(f"def {last}(", "def _count(", 1) + (
        f"\n\n\n{last} = lambda in_channels, out_channels, kernel_size, bias=True: "
        "_count(in_channels, out_channels, kernel_size, bias)\n")
    nbs["lambda"] = (nb, top)
    for name, (nb, score) in nbs.items():
        if cases is None or name in cases:
            _write(nb, root / f"{name}_{BASE}.ipynb")
            expected[name] = score

    def raw(name, text, score):
        if cases is None or name in cases:
            path = root / name / f"{BASE}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            expected[name] = score

    solved = json.loads((repo / "solutions" / f"{BASE}.ipynb").read_text())
    # JSON that Jupyter opens: no metadata; cells whose source is null or a list holding a number.
    del solved["metadata"]
    raw("nometa", json.dumps(solved), top)
    solved = json.loads((repo / "solutions" / f"{BASE}.ipynb").read_text())
    solved["cells"][0]["source"] = None
    solved["cells"][1]["source"] = ["Notes ", 2]
    raw("oddsource", json.dumps(solved), top)
    # Names that the file system accepts: distinct ones stay distinct (the notebooks are not JSON: 0, cheaply).
    for name in ["alice smith", "alice_smith", "José", "Jose", "张伟", "x" * 255]:
        raw(name, '{"cells": [ not JSON', 0)
    if cases is None or "café-latin1" in cases:
        folder = Path(os.fsdecode(bytes(root) + b"/caf\xe9"))
        folder.mkdir()
        (folder / f"{BASE}.ipynb").write_text('{"cells": [ not JSON')
        expected[os.fsdecode(b"caf\xe9")] = 0
    # Two notebooks of one student: the newest is graded (here the solved one, which sorts last).
    if cases is None or "dup" in cases:
        _write(_read("notebooks", BASE), root / "dup" / "1" / f"{BASE}.ipynb")
        _write(_read("solutions", BASE), root / "dup" / "2" / f"{BASE}.ipynb")
        os.utime(root / "dup" / "1" / f"{BASE}.ipynb", (time.time() - 3600, time.time() - 3600))
        expected["dup"] = top
    # Not regular files: a FIFO, symbolic links to the solutions, a system file and a device.
    specials = {"fifo": None, "linksol": repo / "solutions" / f"{BASE}.ipynb", "linkpasswd": Path("/etc/passwd"),
                "linkdev": Path("/dev/zero")}
    for name, target in specials.items():
        if cases is None or name in cases:
            path = root / f"{name}_{BASE}.ipynb"
            if target is None:
                os.mkfifo(path)
            else:
                path.symlink_to(target)
            expected[name] = 0
    return expected


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _alive_from_attacks() -> list[str]:
    """Command lines of live processes that the attack fixtures started (their sleeps, their sandboxes)."""
    alive = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(f"{ATTACK_TOKEN}".encode()) for a in args) or jail.SANDBOX_SCRIPT.encode() in args:
            alive.append(b" ".join(args).decode(errors="replace"))
    return alive


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """The attack set graded as an instructor grades: ``python -m instructor.grade SUBS --out CSV``, two at a time."""
    if NO_BWRAP:
        pytest.skip(f"{NO_BWRAP} (the grader's sandbox tests need it)")
    root, out_dir = tmp_path_factory.mktemp("attacks"), tmp_path_factory.mktemp("attack-results")
    expected = build_attacks(root, out_dir)
    csv_path = out_dir / "grades.csv"
    command = [sys.executable, "-m", "instructor.grade", str(root), "--out", str(csv_path), "--jobs", "2",
               "--exercise-timeout", "12", "--setup-timeout", "90", "--notebook-timeout", "180", "--work-mb", "64"]
    t0 = time.monotonic()
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200,
                         env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    seconds = time.monotonic() - t0
    time.sleep(3)  # what a process left behind would do to the CSV, it does within a second or two
    print(f"\ngraded the attack set ({len(expected)} students) in {seconds:.0f} s")
    return expected, run, csv_path, out_dir, root


def _shown_name(student):
    return student.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@needs_bwrap
def test_every_attack_gets_its_expected_score(attacked):
    expected, run, csv_path, *_ = attacked
    assert run.returncode == 0, run.stderr[-2000:]
    rows = _csv_rows(csv_path)
    got = {r["student"]: int(r["total"]) for r in rows}
    assert got == {_shown_name(s): score for s, score in expected.items()}
    assert len(rows) == len(expected)  # one 01_filters row for each distinct student


@needs_bwrap
def test_no_process_outlives_the_run_and_nothing_is_written_outside(attacked):
    expected, run, csv_path, out_dir, root = attacked
    assert not _alive_from_attacks()
    assert not Path(f"/tmp/grader-escape-{ATTACK_TOKEN}").exists()
    assert sorted(p.name for p in out_dir.iterdir()) == ["grades.csv", "grades_feedback", "grades_seeds.txt"]


@needs_bwrap
def test_attacks_are_explained(attacked):
    expected, run, csv_path, out_dir, root = attacked
    rows = {r["student"]: r for r in _csv_rows(csv_path)}
    feedback = {p.stem: p.read_text() for p in (out_dir / "grades_feedback").glob("*.md")}
    assert len(feedback) == len(expected)  # distinct names, distinct (safe) file names
    assert all(len(name.encode()) <= 100 and re.fullmatch(r"[A-Za-z0-9_.@-]+", name) for name in feedback)
    # Nothing of the machine is visible from the sandbox: no solutions, classmate, output folder or grader.
    assert "found []; grader processes seen: 0" in rows["snoop"]["notes"]
    forked = int(re.search(r"forked (\d+) children", rows["forker"]["notes"]).group(1))
    assert forked < Limits.processes < 100
    assert "calling `conv_parameter_count` ran past its time limit (12 s)" in feedback["clock"]
    assert "No space left on device" in feedback["diskhog"]
    assert "is graded (the newest by modification time)" in rows["dup"]["notes"]
    for name, kind in [("fifo", "a FIFO"), ("linksol", "a symbolic link"), ("linkpasswd", "a symbolic link"),
                       ("linkdev", "a symbolic link")]:
        assert f"{kind}; only regular files are graded" in rows[name]["notes"]
        assert f"{name}_{BASE}.ipynb ({kind}; only regular files are graded)" in run.stderr
    assert "root:" not in csv_path.read_text() and not any("root:" in t for t in feedback.values())
    assert {"alice smith", "alice_smith", "José", "Jose", "张伟", "x" * 255, "caf\\xe9"} <= set(rows)


def test_a_bad_out_fails_before_grading(tmp_path, capsys):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    (tmp_path / "subs" / "ann" / f"{BASE}.ipynb").write_text("{}")
    (tmp_path / "a-file").write_text("")
    t0 = time.monotonic()
    assert main([str(tmp_path / "subs"), "--out", str(tmp_path / "a-file" / "grades.csv")]) == 2
    assert time.monotonic() - t0 < 5
    err = capsys.readouterr().err
    assert "cannot write in" in err and "nothing was graded" in err and len(err.strip().splitlines()) == 1


def test_without_bubblewrap_the_grader_refuses_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(jail, "unavailable", lambda python=None: "bubblewrap (bwrap) is not installed: install it")
    (tmp_path / "subs").mkdir()
    assert main([str(tmp_path / "subs"), "--out", str(tmp_path / "grades.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bwrap" in err[0] and "--no-isolation" in err[0]
    assert not (tmp_path / "grades.csv").exists()


def test_only_regular_files_are_read_and_within_a_bound(tmp_path):
    from instructor.run import read_bounded
    (tmp_path / "nb.ipynb").write_bytes(b"x" * 100)
    assert read_bounded(tmp_path / "nb.ipynb", 100) == b"x" * 100
    with pytest.raises(ValueError, match="larger than"):
        read_bounded(tmp_path / "nb.ipynb", 99)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "nb.ipynb")
    with pytest.raises(ValueError, match="not a regular file"):
        read_bounded(tmp_path / "fifo", 100)  # returns at once: opened without blocking, never read
    with pytest.raises(OSError):
        read_bounded(tmp_path / "link", 100)


def test_notebook_json_that_jupyter_opens_is_read():
    from instructor.run import exercise_cells, load_notebook
    nb = json.loads((REPO / "solutions" / f"{BASE}.ipynb").read_text())
    del nb["metadata"]
    nb["cells"][0]["source"] = None
    nb["cells"][1]["source"] = ["Notes ", 2]
    nb["cells"].append({"cell_type": "code", "source": ["def helper(x):\n", "    return x\n"]})
    read = load_notebook(json.dumps(nb).encode())
    assert [c.source for c in read.cells[:2]] == ["", "Notes 2"]
    run = [source for _, source in exercise_cells(read, exercises_for(BASE))]
    assert sum(f"def {ex.function}(" in source for source in run for ex in exercises_for(BASE)) == 3
    assert run[-1] == "def helper(x):\n    return x\n"
    for bad in (b"[]", b'{"cells": 3}', b"\xff"):
        with pytest.raises((ValueError, UnicodeDecodeError)):
            load_notebook(bad)


def test_an_exercise_bound_to_a_lambda_or_a_staticmethod_is_run():
    from instructor.run import bound_names
    assert bound_names("f = lambda x: x") == {"f"}
    assert bound_names("class K:\n    @staticmethod\n    def f(x):\n        return x\n\n\nf = K.f") == {"K", "f"}
    assert bound_names("from m import g as f, h\nimport a.b") == {"f", "h", "a"}
    # A cell that does not parse still runs if it starts to define the function (its SyntaxError is reported).
    assert bound_names("def f(x):\n  return (") == {"f"} and bound_names("f = (") == set()


def test_file_names_are_safe_and_distinct():
    from instructor.grade import file_names
    students = ["alice", "alice smith", "alice_smith", "Alice_Smith", "José", "Jose", "张伟", "x" * 300,
                os.fsdecode(b"caf\xe9"), "../etc", "."]
    names = file_names(students)
    assert names["alice"] == "alice" and names["Jose"] == "Jose" and names["alice smith"].startswith("alice_smith-")
    assert names["alice_smith"].startswith("alice_smith-")  # "Alice_Smith" is the same name on a case-blind disk
    assert len({n.lower() for n in names.values()}) == len(students)
    assert all(re.fullmatch(r"[A-Za-z0-9_.@-]+", n) and len(n) <= 100 and n not in (".", "..") for n in names.values())


def test_hidden_case_errors_show_their_type_only():
    from instructor.run import replay
    from course_utils.exercises import get_exercise
    ex = get_exercise("conv_parameter_count")
    report = {"cases": [{"status": "error", "error_type": "ValueError", "error": "visible " + "v" * 1000},
                        {"status": "error", "error_type": "ValueError", "error": "the hidden input was 1234"}]}
    func = replay(report, {}, ex, hidden=[False, True])
    with pytest.raises(Exception) as first:
        func()
    assert type(first.value).__name__ == "ValueError" and len(str(first.value)) == 300
    with pytest.raises(Exception) as second:
        func()
    assert type(second.value).__name__ == "ValueError" and "1234" not in str(second.value)


@needs_bwrap
def test_too_much_on_the_channel_costs_that_step_with_a_message():
    from instructor.run import run_sandbox
    flood = ("import os\nfor fd in range(3, 16):\n    try:\n        os.write(fd, b'x' * (3 << 20))\n"
             "    except OSError:\n        pass\nimport time\ntime.sleep(5)\n")
    job = {"cells": [("setup", "pass"), ("the flooding cell", flood)], "skip_cells": [], "skip_exercises": [],
           "exercises": []}
    events = list(run_sandbox(job, Limits(notebook_s=60, setup_s=60, exercise_s=20, message_mb=1), time.monotonic() + 60))
    assert [e["event"] for e in events] == ["cell_start", "cell_end", "cell_start", "stopped"], events
    assert events[-1]["why"] == "too-much-message"


def test_without_isolation_the_sandbox_still_runs_with_its_limits():
    """--no-isolation: a plain child process with the resource limits and a student-side copy of its own."""
    from instructor.run import run_sandbox
    job = {"cells": [("setup", "import course_utils, sys\nassert 'grade-student-side-' in course_utils.__file__"),
                     ("cell", "from instructor.expected import compute_expected")],
           "skip_cells": [], "skip_exercises": [], "exercises": []}
    events = list(run_sandbox(job, Limits(notebook_s=60, setup_s=60, exercise_s=20), time.monotonic() + 60,
                              isolated=False))
    assert [e["event"] for e in events] == ["cell_start", "cell_end", "cell_start", "cell_end", "done"], events
    assert events[1]["error"] is None and events[3]["error"].startswith("ModuleNotFoundError")
