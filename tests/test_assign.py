"""One source, two versions: solutions/ -> notebooks/ and what must never reach students."""
import json
import re
from pathlib import Path

import nbformat
import pytest

from instructor import assign
from instructor.assign import make_student_notebook, solution_regions, strip_solutions
from course_utils.exercises import all_exercises
from course_utils.paths import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
STUDENTS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_strip_solutions_keeps_signature_and_indentation():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n'
    out = strip_solutions(source)
    assert out == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    assert strip_solutions("Answer:\n### BEGIN SOLUTION\nforty-two\n### END SOLUTION", "markdown") == "Answer:\nYOUR ANSWER HERE"


@pytest.mark.parametrize("source,message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "no matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "before the previous region was closed"),
    ("x = 1  ### BEGIN SOLUTION\n", "lines of their own"),
])
def test_unbalanced_markers_are_reported(source, message):
    with pytest.raises(ValueError, match=message):
        solution_regions(source, "nb.ipynb, cell 3")


def test_student_notebook_tags_and_outputs():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", metadata={"tags": ["x"]}),
        nbformat.v4.new_code_cell("check(f)", metadata={"tags": ["needs-exercise"]}, execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="PASSED")]),
        nbformat.v4.new_markdown_cell("only for instructors", metadata={"tags": ["solution-only"]}),
    ])
    student = make_student_notebook(nb)
    assert len(student.cells) == 2
    assert "return 1" not in student.cells[0].source and student.cells[0].metadata["tags"] == ["x"]
    assert student.cells[1].metadata["tags"] == ["raises-exception"]
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert nb.cells[1].outputs, "the solution notebook itself is not changed"


def test_committed_student_notebooks_are_up_to_date(capsys):
    """The drift test: notebooks/ is exactly what `make student` writes."""
    assert SOLUTIONS, "no solution notebooks found"
    assert assign.build_all(check_only=True) == 0, capsys.readouterr().out
    assert [p.name for p in STUDENTS] == [p.name for p in SOLUTIONS]


def test_assign_refuses_to_overwrite_a_notebook_someone_worked_in(tmp_path, monkeypatch, capsys):
    sol, stu = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    stu.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")])
    nbformat.write(nb, sol / "99_test.ipynb")
    worked = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("my work", execution_count=1)])
    nbformat.write(worked, stu / "99_test.ipynb")
    monkeypatch.setattr(assign, "solutions_dir", lambda: sol)
    monkeypatch.setattr(assign, "notebooks_dir", lambda: stu)
    assert assign.build_all() == 1
    assert "my work" in (stu / "99_test.ipynb").read_text()
    assert "Not overwritten" in capsys.readouterr().out
    assert assign.build_all(force=True) == 0
    assert "YOUR CODE HERE" in (stu / "99_test.ipynb").read_text()


def _solution_lines():
    lines = set()
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            src = cell.source.splitlines()
            for begin, end, _ in solution_regions(cell.source, path.name):
                for line in src[begin + 1:end]:
                    text = line.strip()
                    if len(text) >= 20 and not text.startswith("#"):
                        lines.add(text)
    return lines


def test_no_solution_line_reaches_students():
    lines = _solution_lines()
    assert lines, "the solution notebooks should hold solution regions"
    shipped = [p for p in STUDENTS] + sorted((ROOT / "course_utils").rglob("*.py"))
    for path in shipped:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{path.relative_to(ROOT)} contains solution code: {leaked[:3]}"


@pytest.mark.parametrize("path", SOLUTIONS + STUDENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_are_clean_and_carry_the_course_kernel(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == assign.KERNEL_NAME
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i} has saved outputs"
    if path.parent.name == "notebooks":
        assert "BEGIN SOLUTION" not in json.dumps(nb)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_every_exercise_has_a_self_check_under_it(path):
    nb = nbformat.read(path, as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    for ex in [e for e in all_exercises() if e.notebook == path.stem]:
        defining = [i for i, s in enumerate(sources) if re.search(rf"^def {ex.function}\(", s, re.M)]
        assert len(defining) == 1, f"{ex.id}: `{ex.function}` must be defined in exactly one cell"
        i = defining[0]
        assert "### BEGIN SOLUTION" in sources[i]
        assert re.search(rf"^def {ex.function}{re.escape(ex.signature)}:", sources[i], re.M), f"{ex.id}: signature differs from the registry"
        assert f"check({ex.function})" in sources[i + 1], f"{ex.id}: the cell after the exercise must run its self-check"
        check_cell = [c for c in nb.cells if c.cell_type == "code"][i + 1]
        assert "needs-exercise" in check_cell.metadata.get("tags", [])
