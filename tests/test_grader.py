"""The autograder: full marks for the solutions, zero for the untouched notebooks, an exact partial
score, and every hostile submission graded without stopping the run.

The fixtures are built at test time from solutions/ and notebooks/, so they follow the notebooks as
they are added; the hostile ones are variations of 01_filters.
"""
from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.assign import BEGIN, END
from course_utils.exercises import exercises_for
from grader.core import find_submissions, gradable_notebooks, main, write_results
from grader.run import Limits

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


def _read(folder, name):
    return nbformat.read(REPO / folder / f"{name}.ipynb", as_version=4)


def _write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _points(name):
    return {ex.function: ex.points for ex in exercises_for(name)}


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
    for case, (nb, score) in hostile.items():
        _write(nb, root / f"hostile_{case}_{BASE}.ipynb")
        expected[(f"hostile_{case}", BASE)] = score
    (root / f"hostile_notjson_{BASE}.ipynb").write_text('{"cells": [ this is not JSON')
    expected[("hostile_notjson", BASE)] = 0
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("submissions")
    expected = build_fixtures(root)
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    t0 = time.monotonic()
    from grader.core import grade_all
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


def test_the_fixture_set_is_graded_within_the_stated_time(graded):
    expected, grades, csv_path, feedback, seconds, root = graded
    # The stated budget: 30 s plus 10 s per submitted notebook, on 2 busy cores (about 5 s each when idle).
    budget = 30 + 10 * len(expected)
    assert seconds < budget, f"grading the fixture set ({len(expected)} notebooks) took {seconds:.0f} s, over {budget} s"


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
    found, unmatched = find_submissions(tmp_path)
    assert {s: sorted(v) for s, v in found.items()} == {"carol": [BASE], "dave": [BASE], "erin": [BASE]}
    assert unmatched == ["notes.ipynb (its name holds no notebook of this course)"]


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        find_submissions(tmp_path / "missing")
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--seeds", "0,1"])
