"""The student's table of exercises (`python -m course_utils.homework`, printed by `make test`): a copy of
notebook 01 as a student hands it in, untouched, with the solutions' bodies pasted in, with a wrong body,
and with bodies that loop forever, exit or end their process."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from course_utils import cells, homework
from course_utils.checks import compare_output, load_expected
from course_utils.exercises import exercises_for
from course_utils.homework import NOT_DONE, PASSED, TIMED_OUT, WRONG, ERROR, NotebookReport, Row, Timeouts

ROOT = Path(__file__).resolve().parents[1]
NB = "01_filters"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"
EXERCISES = exercises_for(NB)


def _solution_bodies() -> dict[str, str]:
    """The body between the solution markers of each exercise of solutions/01_filters.ipynb, by function."""
    from instructor.assign import solution_regions

    bodies = {}
    for cell in nbformat.read(ROOT / "solutions" / f"{NB}.ipynb", as_version=4).cells:
        regions = solution_regions(cell.source) if cell.cell_type == "code" else []
        for begin, end, _ in regions:
            (function,) = cells.bound_names(cell.source) & {ex.function for ex in EXERCISES}
            bodies[function] = "\n".join(cell.source.splitlines()[begin + 1:end])
    assert set(bodies) == {ex.function for ex in EXERCISES}
    return bodies


def _student_copy(folder: Path, bodies: dict[str, str], after: dict[str, str] | None = None) -> Path:
    """notebooks/01_filters.ipynb with the stub of each function in ``bodies`` replaced by its body (and the
    code of ``after`` appended to that function's cell), written to ``folder``."""
    nb = nbformat.read(ROOT / "notebooks" / f"{NB}.ipynb", as_version=4)
    after = after or {}
    for cell in nb.cells:
        if cell.cell_type != "code" or STUB not in cell.source:
            continue
        (function,) = cells.bound_names(cell.source) & {ex.function for ex in EXERCISES}
        if function in bodies:
            cell.source = cell.source.replace(STUB, bodies[function])
        if function in after:
            cell.source += "\n\n" + after[function]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NB}.ipynb"
    nbformat.write(nb, path)
    return path


def _by_function(report: NotebookReport) -> dict[str, Row]:
    assert [r.exercise for r in report.rows] == [ex.id for ex in EXERCISES]
    return {r.function: r for r in report.rows}


# A convolution where a cross-correlation is asked for: right on every symmetric kernel, wrong on the others.
CONVOLUTION = "    return torch.nn.functional.conv2d(image[None, None], kernel.flip(0, 1)[None, None])[0, 0]"


def test_untouched_wrong_and_pasted_solutions(tmp_path):
    solutions = _solution_bodies()
    mixed = _student_copy(tmp_path / "mixed", {"cross_correlate": CONVOLUTION,
                                               "conv_parameter_count": solutions["conv_parameter_count"]})
    solved = _student_copy(tmp_path / "solved", solutions)
    report_mixed, report_solved = homework.check_notebooks([mixed, solved], jobs=2)

    rows = _by_function(report_mixed)
    assert rows["hidden_unit_line"].status == NOT_DONE and rows["hidden_unit_line"].score == 0
    assert rows["conv_parameter_count"].status == PASSED
    assert rows["conv_parameter_count"].score == rows["conv_parameter_count"].points
    wrong = rows["cross_correlate"]
    assert wrong.status == WRONG and wrong.score == 0
    # The first failing case is the first one whose kernel is not symmetric under a flip (where a
    # convolution and a cross-correlation differ), found here without the checker.
    cases = next(ex for ex in EXERCISES if ex.function == "cross_correlate").cases(0)
    first = next(c for c in cases if not torch.equal(c.kwargs["kernel"], c.kwargs["kernel"].flip(0, 1)))
    assert wrong.detail.startswith(f'case "{first.name}": '), wrong.detail
    assert "relative error" in wrong.detail or "shape" in wrong.detail
    assert not report_mixed.notes

    assert all(r.status == PASSED for r in report_solved.rows), report_solved.rows
    assert not report_solved.notes

    table = homework.format_table([report_mixed, report_solved], width=200)
    assert f"wrong: case \"{first.name}\"" in table
    points = sum(ex.points for ex in EXERCISES)
    won = points + next(ex.points for ex in EXERCISES if ex.function == "conv_parameter_count")
    assert f"total: {won}/{2 * points} points; {len(EXERCISES) + 1} passed, 1 wrong, 1 not done" in table


def test_a_notebook_that_loops_exits_or_dies_is_reported_and_the_table_still_printed(tmp_path):
    path = _student_copy(tmp_path, {"hidden_unit_line": "    while True:\n        pass",
                                    "conv_parameter_count": "    import sys\n    sys.exit(3)"},
                         after={"cross_correlate": "import os\nos._exit(7)"})
    run = subprocess.run([sys.executable, "-m", "course_utils.homework", str(path), "--timeout", "10"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env=dict(os.environ, COLUMNS="200"))
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "notebook" in out and "total: 0/" in out, out
    lines = {ex.function: next(l for l in out.splitlines() if f" {ex.function} " in l) for ex in EXERCISES}
    assert f"{TIMED_OUT}: calling `hidden_unit_line` ran past 10 s" in lines["hidden_unit_line"]
    assert f"{WRONG}: case " in lines["conv_parameter_count"] and "raised SystemExit: 3" in out
    assert f"{ERROR}: `cross_correlate` is not defined: cell 24 ended the process (exit code 7)" in out
    assert "ended the process (exit code 7); the cells after it ran without it" in out


def test_the_grader_selects_cells_with_the_same_code():
    from instructor import expected, run

    assert run.exercise_cells is cells.exercise_cells and run.setup_cell is cells.setup_cell
    assert expected.python_only is cells.python_only


def test_notebook_names_and_the_exit_status(tmp_path, capsys):
    assert [p.stem for p in homework.find_notebooks(["01"])] == [NB]
    assert [p.stem for p in homework.find_notebooks([NB, "01"])] == [NB]
    with pytest.raises(FileNotFoundError, match="no notebook matches '99'"):
        homework.find_notebooks(["99"])
    assert homework.main(["99"]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):  # a folder without notebooks
        homework.find_notebooks([str(tmp_path)])
    copy = tmp_path / f"{NB}.ipynb"
    copy.write_text((ROOT / "notebooks" / f"{NB}.ipynb").read_text())
    assert homework.find_notebooks([str(tmp_path)]) == homework.find_notebooks([str(copy)]) == [copy]


def test_the_table_shortens_long_details_and_gives_them_in_full_below():
    detail = 'case "a long case name": relative error 4.2e-01 is above the tolerance 1e-05 ' + "x" * 200
    rows = [Row(NB, "01.1", "hidden_unit_line", 2, PASSED), Row(NB, "01.2", "cross_correlate", 2, WRONG, detail),
            Row(NB, "01.3", "conv_parameter_count", 1, NOT_DONE)]
    table = homework.format_table([NotebookReport(NB, rows, notes=["cell 24 raised NameError: name 'x' is not defined"])], width=100)
    lines = table.splitlines()
    assert all(len(l) <= 100 for l in lines[:6]), table
    assert lines[3].rstrip().endswith("...") and f"In full:\n  01.2 cross_correlate: wrong: {detail}" in table
    assert "total: 2/5 points; 1 passed, 1 wrong, 1 not done (3 exercises in 1 notebook)" in table
    assert f"  {NB}: cell 24 raised NameError" in table
    assert Timeouts().step < Timeouts().notebook


def test_the_readme_table_of_exercises_says_what_the_registry_says():
    # Every notebook's row, and the total row under them, as the registry has them; each notebook has at least three
    # exercises and 5 to 10 points.
    import re

    from course_utils.exercises import all_exercises, exercises_for
    from course_utils.paths import data_dir

    readme = (data_dir().parent / "README.md").read_text()
    notebooks = sorted({e.notebook for e in all_exercises()})
    for notebook in notebooks:
        exercises = exercises_for(notebook)
        row = (f"| {notebook} | " + ", ".join(f"{e.id} `{e.function}` ({e.points})" for e in exercises)
               + f" | {sum(e.points for e in exercises)} |")
        assert row in readme, f"README's table of exercises should have the row:\n{row}"
        assert len(exercises) >= 3 and 5 <= sum(e.points for e in exercises) <= 10, notebook
    total = (f"| all {len(notebooks)} notebooks | {len(all_exercises())} exercises "
             f"| {sum(e.points for e in all_exercises())} |")
    assert total in readme, f"README's table of exercises should end with the row:\n{total}"
    assert re.search(r"\| notebook \| exercises \(points\) \| points \|", readme)
