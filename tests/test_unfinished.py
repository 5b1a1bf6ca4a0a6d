"""course_utils.unfinished: an unfinished exercise gives one line naming it; any other error its usual traceback.

Cells run in a real IPython shell (``InteractiveShell``), which prints what a notebook would show.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from course_utils import exercises, interactive_plot, int_slider, unfinished  # noqa: E402

STUB = '''
def conditional_affinities(distances, perplexity):
    """The student's version, not written yet."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''
LINE = "needs exercise 03.1 `conditional_affinities` (section 2) — finish it, then run this cell again"


@pytest.fixture
def shell(monkeypatch):
    """A fresh IPython shell with the handler installed, as `import course_utils` installs it in a kernel."""
    ip = InteractiveShell()
    monkeypatch.setattr(unfinished, "_shell", lambda: ip)
    assert unfinished.install(ip)
    ip.run_cell("import torch\nfrom course_utils import check")
    ip.run_cell(STUB)
    yield ip
    unfinished.uninstall(ip)


def run(ip, source, capsys):
    """Run one cell; return (whether it failed, what it printed)."""
    capsys.readouterr()
    result = ip.run_cell(source)
    return not result.success, capsys.readouterr().out


def test_a_stub_gives_one_line_naming_the_exercise_and_its_section(shell, capsys):
    failed, out = run(shell, "P = conditional_affinities(torch.rand(4, 4), 2.0)", capsys)
    assert failed  # still an error: nbval's raises-exception and Run All behave as before
    assert out.strip() == LINE
    assert "Traceback" not in out
    failed, out = run(shell, "%tb", capsys)  # the whole traceback is one magic away
    assert "Traceback" in out and "conditional_affinities" in out


def test_check_points_at_its_report(shell, capsys):
    failed, out = run(shell, "check(conditional_affinities)", capsys)
    lines = out.strip().splitlines()
    assert failed and lines[-2].startswith("NOT DONE YET")  # the report, then one line
    assert lines[-1] == "exercise 03.1 `conditional_affinities` (section 2) is not done yet: see the report above"
    shell.run_cell("def conditional_affinities(distances, perplexity):\n    return torch.zeros(4, 4)")
    failed, out = run(shell, "check(conditional_affinities)", capsys)
    assert failed and "Traceback" not in out
    assert out.strip().splitlines()[-1] == ("exercise 03.1 `conditional_affinities` (section 2) is not right yet: "
                                            "see the report above")


def test_knock_on_errors_name_the_exercise_until_the_cell_runs(shell, capsys):
    run(shell, "P = conditional_affinities(torch.rand(4, 4), 2.0)", capsys)
    failed, out = run(shell, "print(P.sum())", capsys)  # a NameError
    assert failed and out.strip() == LINE
    # A list filled up to the failure: a later StopIteration is the exercise's too, and so is the next cell's.
    run(shell, "rows = []\nfor k in range(3):\n    rows.append(conditional_affinities(k, 2.0))", capsys)
    failed, out = run(shell, "first = next(row for row in rows if row)", capsys)
    assert failed and out.strip() == LINE
    failed, out = run(shell, "print(first)", capsys)
    assert failed and out.strip() == LINE
    # Once a cell assigns the name without error, its errors are its own again.
    run(shell, "rows = []", capsys)
    failed, out = run(shell, "next(row for row in rows)", capsys)
    assert failed and "Traceback" in out and "StopIteration" in out


def test_other_errors_keep_their_traceback(shell, capsys):
    for source, name in [("1 / 0", "ZeroDivisionError"), ("print(never_defined)", "NameError"),
                         ("raise NotImplementedError('not an exercise')", "NotImplementedError")]:
        failed, out = run(shell, source, capsys)
        assert failed and "Traceback" in out and name in out and "needs exercise" not in out


def test_a_bug_inside_a_written_exercise_shows_its_traceback_and_its_knock_ons_name_it(shell, capsys):
    shell.run_cell("def conditional_affinities(distances, perplexity):\n    return distances / 0 + undefined_helper")
    failed, out = run(shell, "P = conditional_affinities(torch.rand(4, 4), 2.0)", capsys)
    assert failed and "Traceback" in out and "undefined_helper" in out  # the student's own bug, in full
    failed, out = run(shell, "P.sum()", capsys)
    assert failed and out.strip() == LINE


def test_a_bug_around_a_finished_exercise_is_the_cells_own(shell, capsys):
    shell.run_cell("def conditional_affinities(distances, perplexity):\n    return distances")
    failed, out = run(shell, "P = conditional_affinities(torch.rand(4, 4), 2.0) / never_defined", capsys)
    assert failed and "Traceback" in out and "needs exercise" not in out
    failed, out = run(shell, "P.sum()", capsys)
    assert failed and "Traceback" in out and "needs exercise" not in out


def test_install_is_idempotent_and_keeps_another_handler(shell):
    assert unfinished.install(shell)
    assert shell.custom_exceptions == (Exception,)
    other = InteractiveShell()
    other.set_custom_exc((KeyError,), lambda *args, **kwargs: None)
    assert not unfinished.install(other)
    assert other.custom_exceptions == (KeyError,)


def test_a_widget_shows_its_controls_and_the_line_without_a_half_drawn_figure(shell, capsys):
    draw = shell.user_ns["conditional_affinities"]

    def draw_map(k):
        plt.subplots()
        draw(k, 2.0)

    plt.close("all")
    capsys.readouterr()
    box = interactive_plot(draw_map, k=int_slider("k", 0, 3))
    assert box.controls["k"].value == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == LINE  # (after clear_output's terminal codes)
    assert plt.get_fignums() == []  # the figure draw_map opened is closed, not shown half drawn
    box.controls["k"].value = 2  # moving the slider: the line again
    assert capsys.readouterr().out.strip().splitlines()[-1] == LINE


def test_a_widget_still_shows_real_errors(shell, capsys):
    # Where an IPython instance exists (a kernel, or an earlier test that made one), ipywidgets' Output shows
    # the traceback itself and swallows the error; where none does, the error propagates. Either way it is
    # the real error with its traceback, never a one-line message.
    capsys.readouterr()
    try:
        interactive_plot(lambda k: 1 / 0, k=int_slider("k", 0, 3))
    except ZeroDivisionError:
        return
    shown = "".join(capsys.readouterr())
    assert "ZeroDivisionError" in shown and "Traceback" in shown and "needs exercise" not in shown, shown


def test_every_exercise_has_a_section_in_its_notebooks():
    for ex in exercises.all_exercises():
        for folder in (unfinished.notebooks_dir(), unfinished.solutions_dir()):
            assert unfinished._sections_in(folder / f"{ex.notebook}.ipynb").get(ex.function), (ex.id, folder.name)


def test_names_a_cell_assigns_and_reads():
    source = ("import numpy as np\nfrom os import path as p\nx, (y, *z) = 1, (2, 3)\nd[k] = 1\nobj.a.b = 2\n"
              "for i in range(3):\n    w = i\nwith open(f) as fh:\n    pass\ndef f(a):\n    inner = a\n"
              "total = sum(v for v in range(3))\n")
    assert unfinished.assigned_names(source) == {"np", "p", "x", "y", "z", "d", "obj", "i", "w", "fh", "f", "total"}
    assert unfinished.read_names("print(P.shape, sig)\nQ = P + 1") == ["print", "P", "sig"]
