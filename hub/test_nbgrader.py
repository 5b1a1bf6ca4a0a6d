"""The course that `make nbgrader` writes, graded by the real nbgrader (0.9.x): the same scores as `make grade`.

`python -m instructor.nbgrader` writes the course for two notebooks; `nbgrader generate_assignment` releases them;
three students hand in each notebook: alice the solution, bob the release untouched, carol the solution with one
exercise wrong on purpose (every output off by one). `nbgrader autograde` grades them, and every exercise's score
in nbgrader's gradebook equals `instructor.grade`'s on the same files: full, zero, and full less that exercise.
The release holds no line of a solution region (the student bundle's leak check) and no hidden test.

The two notebooks: 11_rnn_parity and 01_filters, the two cheapest to run (5 s and 9 s as solutions, bench/results/
notebooks.json; nbgrader runs every cell of each submission, 6 runs per notebook here), with six exercises
between them whose answers are ints, floats, tuples and tensors, with tolerances 0 and 1e-5 and 1e-6. All eleven
would cost about 3 x 200 s of notebook runs more on 2 cores, for the same code paths.

Run with `make test-nbgrader` (it installs nbgrader in .venv-instructor first); skips, saying why, without it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01_filters", "11_rnn_parity")
WRONG = {"01_filters": "conv_parameter_count", "11_rnn_parity": "sum_rnn_gradients"}  # carol's wrong exercise
STUDENTS = ("alice", "bob", "carol")
WORKBOOK_PYTHON = ROOT / ".venv" / "bin" / "python"  # the students' environment (the lock); graded kernels run it
TIMINGS = ROOT / "bench" / "results" / "nbgrader.json"

pytest.importorskip("nbgrader", reason="nbgrader is not installed here: `make test-nbgrader` installs it in .venv-instructor.")


def _wrong_version(source: str, exercise) -> str:
    """The answer cell with the function redefined to return its outputs off by one (a known wrong answer)."""
    from course_utils.checks import _parameter_names

    names = _parameter_names(exercise.signature)
    f = exercise.function
    return (source.rstrip("\n") + f"\n\n_right_{f} = {f}\n\n\ndef {f}{exercise.signature}:\n"
            f"    out = _right_{f}({', '.join(f'{n}={n}' for n in names)})  # wrong on purpose: every output off by one\n"
            f"    return tuple(o + 1 for o in out) if isinstance(out, tuple) else out + 1\n")


def _submission(release: nbformat.NotebookNode, source: nbformat.NotebookNode, student: str, notebook: str):
    """What ``student`` hands in: the released notebook, its answer cells filled in (alice, carol) or not (bob)."""
    from course_utils.exercises import get_exercise

    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    if student == "bob":
        return nb
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
            if student == "carol" and meta["grade_id"] == f"answer_{WRONG[notebook]}":
                cell.source = _wrong_version(cell.source, get_exercise(WRONG[notebook]))
    return nb


def _nbgrader(course: Path, *args: str, timeout: float = 900) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{log[-4000:]}"
    assert "[ERROR]" not in log and "| ERROR]" not in log, f"nbgrader {' '.join(args)} logged an error:\n{log[-4000:]}"
    return log


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course, generated, released, handed in, autograded by nbgrader and graded by instructor.grade."""
    from instructor import grade, jail
    from instructor.nbgrader import write_course

    if not WORKBOOK_PYTHON.exists():
        pytest.skip(f"No workbook environment at {WORKBOOK_PYTHON}: run `make test-nbgrader`.")
    tmp = tmp_path_factory.mktemp("nbgrader")
    course = write_course(tmp / "course", list(NOTEBOOKS), log=lambda *_: None)
    seconds = {}
    for notebook in NOTEBOOKS:
        _nbgrader(course, "generate_assignment", notebook, "--force")
    ours = tmp / "submissions"  # the same files, in a folder per student, for instructor.grade
    for notebook in NOTEBOOKS:
        release = nbformat.read(course / "release" / notebook / f"{notebook}.ipynb", as_version=4)
        source = nbformat.read(course / "source" / notebook / f"{notebook}.ipynb", as_version=4)
        for student in STUDENTS:
            nb = _submission(release, source, student, notebook)
            for path in (course / "submitted" / student / notebook / f"{notebook}.ipynb", ours / student / f"{notebook}.ipynb"):
                path.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, path)
    for notebook in NOTEBOOKS:
        start = time.monotonic()
        _nbgrader(course, "autograde", notebook, "--create")
        seconds[notebook] = time.monotonic() - start

    from nbgrader.api import Gradebook

    theirs = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "optimizing-the-input") as gb:
        for notebook in NOTEBOOKS:
            for student in STUDENTS:
                submitted = gb.find_submission_notebook(notebook, notebook, student)
                theirs[student, notebook] = {"total": submitted.score, "max": submitted.max_score,
                                             **{g.name: g.score for g in submitted.grades}}
    isolated = jail.unavailable(str(WORKBOOK_PYTHON)) is None
    start = time.monotonic()
    grades, unmatched = grade.grade_all(ours, jobs=2, progress=False, python=str(WORKBOOK_PYTHON), isolated=isolated)
    ours_seconds = time.monotonic() - start
    assert not unmatched, unmatched
    mine = {(g.student, g.notebook): {"total": g.total, "max": g.max_points,
                                      **{f"test_{r.exercise.replace('.', '_')}": r.score for r in g.results}}
            for g in grades}
    timing = {"nbgrader_autograde_s": {nb: round(s, 1) for nb, s in seconds.items()},
              "instructor_grade_s": round(ours_seconds, 1), "instructor_grade_jobs": 2, "isolated": isolated,
              "submissions_per_notebook": len(STUDENTS)}
    print(f"nbgrader autograde: {timing['nbgrader_autograde_s']} s for {len(STUDENTS)} submissions each; "
          f"instructor.grade --jobs 2 ({'bubblewrap' if isolated else 'no isolation'}): {ours_seconds:.0f} s for "
          f"{len(grades)} notebooks")
    return {"course": course, "theirs": theirs, "mine": mine, "grades": grades, "timing": timing}


def test_release_is_the_student_notebook_and_leaks_nothing(graded, tmp_path):
    from instructor.release import leaked_lines

    course = graded["course"]
    bundle = tmp_path / "release.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        for path in sorted((course / "release").rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(course).as_posix())
    names = zipfile.ZipFile(bundle).namelist()
    assert sorted(names) == sorted(f"release/{nb}/{nb}.ipynb" for nb in NOTEBOOKS), names  # no hidden/, no data
    assert leaked_lines(bundle) == []
    for notebook in NOTEBOOKS:
        release = nbformat.read(course / "release" / notebook / f"{notebook}.ipynb", as_version=4)
        # make student's version of the same solution (tests/test_assign.py checks notebooks/ holds it)
        from instructor.assign import make_student_notebook
        student = make_student_notebook(nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4), notebook)
        text = "\n".join(c.source for c in release.cells)
        assert "HIDDEN TESTS" not in text and "check_hidden" not in text
        assert [(c.cell_type, c.source.rstrip("\n"), c.metadata.get("tags")) for c in release.cells] == \
               [(c.cell_type, c.source.rstrip("\n"), c.metadata.get("tags")) for c in student.cells], \
               f"nbgrader's release of {notebook} differs from make student's student notebook"
        kinds = [c.metadata["nbgrader"] for c in release.cells if "nbgrader" in c.metadata]
        assert kinds[0]["grade_id"] == "setup" and kinds[0]["locked"]
        assert all(k["schema_version"] == 3 for k in kinds)


def test_nbgrader_scores_equal_instructor_grade(graded):
    from course_utils.exercises import exercises_for, get_exercise

    theirs, mine = graded["theirs"], graded["mine"]
    assert theirs == mine, f"nbgrader's gradebook {theirs} differs from instructor.grade's {mine}"
    for notebook in NOTEBOOKS:
        full = sum(ex.points for ex in exercises_for(notebook))
        assert mine["alice", notebook]["total"] == full  # the solution
        assert mine["bob", notebook]["total"] == 0  # the release, untouched
        wrong = get_exercise(WRONG[notebook])
        assert mine["carol", notebook]["total"] == full - wrong.points  # one exercise wrong, exactly
        assert mine["carol", notebook][f"test_{wrong.id.replace('.', '_')}"] == 0


def test_hidden_tests_ran_in_nbgrader(graded):
    """The autograded notebooks show the hidden cases' report (so the hidden regions were put back and run)."""
    course = graded["course"]
    for notebook in NOTEBOOKS:
        nb = nbformat.read(course / "autograded" / "alice" / notebook / f"{notebook}.ipynb", as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests
        for cell in tests:
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "hidden test:" in text and text.count("PASSED:") == 2, text[-1000:]
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(graded["timing"], indent=1) + "\n")
