"""The nbgrader course that `make nbgrader` writes (instructor/nbgrader.py), checked without nbgrader itself.

hub/test_nbgrader.py runs the real nbgrader on it (make test-nbgrader); these check the cell metadata of every
notebook and the hidden tests' helper, cheaply.
"""
import re

import nbformat
import pytest

from course_utils.checks import ExerciseCheckFailed, HIDDEN_TESTS_ENV, check_hidden, load_expected, run_cases
from course_utils.exercises import get_exercise
from course_utils.exercises import exercises_for
from course_utils.paths import solutions_dir
from instructor.assign import make_student_notebook, strip_solutions
from instructor.nbgrader import make_source_notebook, resolve_names, write_hidden_tests

NOTEBOOKS = sorted(p.stem for p in solutions_dir().glob("*.ipynb") if exercises_for(p.stem))
HIDDEN = re.compile(r"\n### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", re.S)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_source_notebook_has_nbgrader_cells_worth_the_registry_points(notebook):
    source = make_source_notebook(nbformat.read(solutions_dir() / f"{notebook}.ipynb", as_version=4), notebook)
    meta = [(i, c.metadata["nbgrader"]) for i, c in enumerate(source.cells) if "nbgrader" in c.metadata]
    assert all(m["schema_version"] == 3 for _, m in meta)
    ids = [m["grade_id"] for _, m in meta]
    assert len(ids) == len(set(ids)), f"grade ids repeat: {ids}"
    first_code = next(i for i, c in enumerate(source.cells) if c.cell_type == "code")
    assert meta[0] == (first_code, {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
                                    "solution": False})
    tests = {m["grade_id"]: (i, m) for i, m in meta if m["grade"]}
    for ex in exercises_for(notebook):
        i, m = tests.pop(f"test_{ex.id.replace('.', '_')}")
        assert m["points"] == ex.points and m["locked"] and not m["solution"]
        cell = source.cells[i].source
        assert cell.startswith(f"check({ex.function})") and f"check_hidden({ex.function}, {ex.id!r})" in cell
        answer = source.cells[i - 1]
        assert answer.metadata["nbgrader"]["solution"] and f"def {ex.function}(" in answer.source
        assert "### BEGIN SOLUTION" in answer.source
    assert not tests
    assert sum(m.get("points", 0) for _, m in meta) == sum(ex.points for ex in exercises_for(notebook))
    # Without its solutions and hidden tests (what nbgrader releases) it is the student notebook, cell for cell
    # (make_student_notebook's; test_assign checks that notebooks/ holds it).
    student = make_student_notebook(nbformat.read(solutions_dir() / f"{notebook}.ipynb", as_version=4), notebook)
    released = [(c.cell_type, strip_solutions(HIDDEN.sub("", c.source), c.cell_type).rstrip("\n"), c.metadata.get("tags"))
                for c in source.cells]
    assert released == [(c.cell_type, c.source.rstrip("\n"), c.metadata.get("tags")) for c in student.cells]


def test_names_are_resolved_with_a_clear_error():
    assert resolve_names(["01", "solutions/11_rnn_parity.ipynb"]) == ["01_filters", "11_rnn_parity"]
    with pytest.raises(ValueError, match="names no graded notebook"):
        resolve_names(["99"])


def test_hidden_tests_pass_the_solution_and_hide_the_expected_values(tmp_path, monkeypatch, capsys):
    from instructor.expected import solution_functions

    monkeypatch.delenv(HIDDEN_TESTS_ENV, raising=False)
    ns = solution_functions("11_rnn_parity")
    with pytest.raises(RuntimeError, match="run when grading"):
        check_hidden(ns["parity_rnn"], "11.2")
    write_hidden_tests("11_rnn_parity", tmp_path / "11_rnn_parity.npz", seeds=(1, 2))
    monkeypatch.setenv(HIDDEN_TESTS_ENV, str(tmp_path))
    result = check_hidden(ns["sum_rnn_gradients"], "11.3", quiet=True)
    assert result.passed and len(result.cases) == 2 * len(exercises_for("11_rnn_parity")[2].cases(1))

    def off_by_one(inputs, w_in, w_rec, target):
        gi, gr, gx = ns["sum_rnn_gradients"](inputs, w_in, w_rec, target)
        return gi + 1.0, gr, gx

    with pytest.raises(ExerciseCheckFailed, match="fails a hidden test"):
        check_hidden(off_by_one, "11.3")
    wrong = [line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("✗")]
    assert wrong and all("hidden test:" in line and "expected" not in line for line in wrong), wrong
    # The printed report leaves the expected values out; the same comparison without hiding shows them.
    ex = get_exercise("11.3")
    report = run_cases(off_by_one, ex, ex.cases(1) + ex.cases(2), load_expected(ex.notebook, ex.function,
                                                                                  tmp_path / "11_rnn_parity.npz"))
    assert not report.passed and "expected" in next(c.message for c in report.cases if not c.passed)
