"""One short line, not a traceback, when a cell fails because an exercise is not written yet.

A student's notebook is full of cells that cannot run until an exercise is done: the check under the
exercise, the cells that call its function (directly, through a ``course_utils`` helper or a widget),
and the cells further down that need a variable one of those cells never computed. Without help each
shows a long traceback into ``course_utils``, or a ``NameError`` that names no exercise. With
``install()`` (called when ``course_utils`` is imported in IPython) each shows one line instead::

    needs exercise 03.1 `conditional_affinities` (section 2) — finish it, then run this cell again

How an error is traced to an exercise (``explain``):

* ``NotImplementedError`` raised by the stub of a registered exercise: a frame of the traceback runs the
  code of a function the notebook defined under an exercise's name (not one of ``course_utils``);
* ``NotImplementedError`` or ``ExerciseCheckFailed`` raised by ``check``: it names its exercise and has
  printed its report already, so the line points at the report;
* a knock-on error: when a cell fails for one of these reasons (or with a traceback through an exercise's
  function), the names its source assigns are remembered with that exercise (``ast``): they may be
  missing or half made (a list filled up to the failure). A later error in a cell or a widget that reads
  one of them (a ``NameError``, an empty list's ``StopIteration``, a dict's ``KeyError``, ...) is that
  exercise's too. A name is forgotten when a cell that assigns it runs without error.

The full traceback is still one magic away (``%tb``). Anything else is a real error and gets IPython's
usual traceback. The cell still counts as failed, so
JupyterLab's *Run All* and nbval treat it as before (cells tagged ``raises-exception`` carry on).

The section is read from the notebook: the last ``## N · Title`` heading above the cell that defines the
exercise's function, in the notebook the running kernel works on (the one most of whose exercise
functions it has defined).
"""
from __future__ import annotations

import ast
import json
import linecache
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .checks import ExerciseCheckFailed
from .exercises import Exercise, all_exercises
from .paths import notebooks_dir, solutions_dir

__all__ = ["Unfinished", "explain", "install", "uninstall", "unfinished_line", "show_line", "close_new_figures",
           "section_of", "assigned_names"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_LIBRARY_DIRS = tuple({_PACKAGE_DIR, *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))})
_SECTION = re.compile(r"^##\s+(\d+)\b")
_MARK = "_course_utils_unfinished"  # attribute on the shell: the state of the installed handler


@dataclass(frozen=True)
class Unfinished:
    """An error traced to an unfinished exercise: which one, and how (``stub``, ``check``, ``knock-on``)."""

    exercise: Exercise
    how: str
    status: str = "not done"  # for ``check``: "not done" or "not right"
    section: str | None = None
    notebook: str | None = None  # set when the exercise's cell lies in another notebook than the running one

    def line(self) -> str:
        """The one line the student sees."""
        ex = self.exercise
        where = []
        if self.notebook:
            where.append(f"notebook {self.notebook.split('_')[0]}")
        if self.section:
            where.append(f"section {self.section}")
        place = f" ({', '.join(where)})" if where else ""
        if self.how == "check":
            if self.status == "not right":
                return f"exercise {ex.id} `{ex.function}`{place} is not right yet: see the report above"
            return f"exercise {ex.id} `{ex.function}`{place} is not done yet: see the report above"
        return f"needs exercise {ex.id} `{ex.function}`{place} — finish it, then run this cell again"


# ---------------------------------------------------------------------------- sections, from the notebooks

_SECTIONS: dict[tuple[str, float], dict[str, str]] = {}


def _sections_in(path: Path) -> dict[str, str]:
    """``{function name: section number}`` for every ``def name(`` at the top of a code cell of ``path``."""
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return {}
    if key not in _SECTIONS:
        found, section = {}, None
        try:
            cells = json.loads(path.read_text()).get("cells", [])
        except (OSError, ValueError):
            cells = []
        for cell in cells:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source or "")
            if cell.get("cell_type") == "markdown":
                for text in source.splitlines():
                    m = _SECTION.match(text)
                    if m:
                        section = m.group(1)
            elif cell.get("cell_type") == "code" and section is not None:
                for name in re.findall(r"^def (\w+)\(", source, re.M):
                    found.setdefault(name, section)
        _SECTIONS[key] = found
    return _SECTIONS[key]


def section_of(function: str, notebook: str) -> str | None:
    """The section (``"2"``) of notebook ``notebook`` whose cells define ``function``, or None.

    Reads the student notebook (``notebooks/``), else the solution notebook; None when neither has it.
    """
    for folder in (notebooks_dir(), solutions_dir()):
        section = _sections_in(folder / f"{notebook}.ipynb").get(function)
        if section is not None:
            return section
    return None


def _running_notebook(user_ns: dict) -> str | None:
    """The notebook the kernel works on: the one most of whose exercise functions the user has defined."""
    counts: dict[str, int] = {}
    for ex in all_exercises():
        if _defined_by_user(user_ns.get(ex.function)):
            counts[ex.notebook] = counts.get(ex.notebook, 0) + 1
    return max(counts, key=lambda nb: (counts[nb], nb)) if counts else None


def _located(ex: Exercise, how: str, user_ns: dict, status: str = "not done") -> Unfinished:
    running = _running_notebook(user_ns) or ex.notebook
    section = section_of(ex.function, running)
    if section is not None:
        return Unfinished(ex, how, status, section)
    return Unfinished(ex, how, status, section_of(ex.function, ex.notebook),
                      notebook=ex.notebook if running != ex.notebook else None)


# ---------------------------------------------------------------------------- tracing an error to an exercise

def _defined_by_user(obj) -> bool:
    code = getattr(obj, "__code__", None)
    return code is not None and not code.co_filename.startswith(_PACKAGE_DIR)


def _frames(tb: TracebackType | None):
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _by_function() -> dict[str, list[Exercise]]:
    table: dict[str, list[Exercise]] = {}
    for ex in all_exercises():
        table.setdefault(ex.function, []).append(ex)
    return table


def _exercise_named(name: str, user_ns: dict) -> Exercise | None:
    matches = _by_function().get(name, [])
    if len(matches) > 1:
        running = _running_notebook(user_ns)
        matches = [ex for ex in matches if ex.notebook == running] or matches[:1]
    return matches[0] if matches else None


def _exercise_on(tb: TracebackType | None, user_ns: dict) -> Exercise | None:
    """The exercise whose notebook-defined function is on the traceback ``tb``, if any."""
    table = _by_function()
    for frame in _frames(tb):
        name = frame.f_code.co_name
        if name in table and getattr(user_ns.get(name), "__code__", None) is frame.f_code:
            return _exercise_named(name, user_ns)
    return None


def explain(exc: BaseException, tb: TracebackType | None = None, user_ns: dict | None = None,
            missing: dict[str, Exercise] | None = None) -> Unfinished | None:
    """Trace ``exc`` to an unfinished exercise, or return None when it is some other error.

    Args:
        exc: the exception.
        tb: its traceback (default ``exc.__traceback__``).
        user_ns: the notebook's namespace, where the exercise functions are defined (default: the
            running IPython shell's, else none).
        missing: ``{name: exercise}``, names that cells failed to assign because of an exercise.
    """
    tb = tb if tb is not None else exc.__traceback__
    if user_ns is None:
        shell = _shell()
        user_ns = shell.user_ns if shell is not None else {}
    exercise_id = getattr(exc, "exercise_id", None)
    if exercise_id is not None and isinstance(exc, (NotImplementedError, ExerciseCheckFailed)):
        ex = next((e for e in all_exercises() if e.id == exercise_id), None)
        if ex is not None:
            status = "not right" if isinstance(exc, ExerciseCheckFailed) else "not done"
            return _located(ex, "check", user_ns, status)
    if isinstance(exc, NotImplementedError):
        ex = _exercise_on(tb, user_ns)
        if ex is not None:
            return _located(ex, "stub", user_ns)
    if missing:
        name = _read_missing_name(exc, tb, missing)
        if name is not None:
            return _located(missing[name], "knock-on", user_ns)
    return None


def _read_missing_name(exc: BaseException, tb: TracebackType | None, missing: dict[str, Exercise]) -> str | None:
    """The first remembered name that the failing code reads: the NameError's, the cell's, or a notebook function's."""
    if isinstance(exc, NameError):
        name = getattr(exc, "name", None)
        if name is None:  # Python < 3.10 gives no .name
            m = re.search(r"name '(\w+)' is not defined", str(exc))
            name = m.group(1) if m else None
        if name in missing:
            return name
    for frame in _frames(tb):
        code = frame.f_code
        if _in_library(code):
            continue
        if code.co_name == "<module>":
            source = "".join(linecache.getlines(code.co_filename))
            read = read_names(source) if source else []
        else:  # a function the notebook defined: the globals it reads
            read = [n for n in code.co_names if n in frame.f_globals or n in missing]
        for name in read:
            if name in missing:
                return name
    return None


def unfinished_line(exc: BaseException, tb: TracebackType | None = None) -> str | None:
    """The one line for ``exc`` when it comes from an unfinished exercise (in the running shell), else None."""
    shell = _shell()
    state = getattr(shell, _MARK, None) if shell is not None else None
    found = explain(exc, tb, missing=state["missing"] if state else None)
    return found.line() if found else None


# ---------------------------------------------------------------------------- the names a cell assigns

def assigned_names(source: str) -> set[str]:
    """Names that a cell's code binds or changes at the top level (assignments, ``x[i] =``, loops, ``with``, imports, defs)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)  # its body binds names of its own scope
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value  # `maps[key] = ...` or `obj.x = ...` changes `maps` or `obj`
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for sub in ast.walk(node):  # only walrus targets leak out of a comprehension
                if isinstance(sub, ast.NamedExpr):
                    names.add(sub.target.id)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def read_names(source: str) -> list[str]:
    """Names that a cell's code reads (``Load``), in the order they appear."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return list(dict.fromkeys(n.id for n in sorted(nodes, key=lambda n: (n.lineno, n.col_offset))))


def _cell_source(tb: TracebackType | None) -> str | None:
    """The source of the cell that raised: the first module-level frame whose code IPython cached."""
    for frame in _frames(tb):
        if frame.f_code.co_name == "<module>":
            lines = linecache.getlines(frame.f_code.co_filename)
            if lines:
                return "".join(lines)
    return None


# ---------------------------------------------------------------------------- the IPython handler

def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def close_new_figures(before: set[int] | None = None) -> None:
    """Close the matplotlib figures opened since ``before`` (all open ones when None): no half-drawn picture."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for number in plt.get_fignums():
        if before is None or number not in before:
            plt.close(number)


def show_line(line: str, exc: BaseException) -> None:
    """Show ``line`` as the error output of ``exc`` (in IPython; on stderr elsewhere), with no traceback."""
    shell = _shell()
    if shell is not None and hasattr(shell, "_showtraceback"):
        shell._showtraceback(type(exc), exc, [line])
    else:
        print(line, file=sys.stderr)


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: one line for an unfinished exercise, else the usual traceback."""
    try:
        line = _one_line_or_remember(shell, value, tb)
    except Exception:  # never let the explanation hide the error itself
        line = None
    if line is None:
        if issubclass(etype, SyntaxError):
            shell.showsyntaxerror()
        else:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # `%tb` and `%debug` still see it all
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    shell._showtraceback(etype, value, [line])
    return [line]


def _one_line_or_remember(shell, value, tb) -> str | None:
    """The line for an unfinished exercise (remembering what the cell left unassigned), or None."""
    missing = getattr(shell, _MARK)["missing"]
    found = explain(value, tb, shell.user_ns, missing)
    source = _cell_source(tb)
    names = assigned_names(source) if source else set()
    if found is None:
        culprit = _raised_in_exercise(tb, shell.user_ns)  # a bug in an exercise's own code: the traceback shows it
        for name in names:
            if culprit is not None:
                missing[name] = culprit
            else:  # this cell fails for a reason of its own
                missing.pop(name, None)
        return None
    for name in names:
        missing[name] = found.exercise
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None and "inline" in str(plt.get_backend()):
        close_new_figures()  # the inline backend shows (then closes) each cell's figures: these are half-drawn
    return found.line()


def _raised_in_exercise(tb: TracebackType | None, user_ns: dict) -> Exercise | None:
    """The exercise whose notebook-defined function is the innermost code outside the libraries on ``tb``."""
    innermost = None
    for frame in _frames(tb):
        if not _in_library(frame.f_code):
            innermost = frame
    if innermost is None:
        return None
    name = innermost.f_code.co_name
    if getattr(user_ns.get(name), "__code__", None) is innermost.f_code:
        return _exercise_named(name, user_ns)
    return None


def _in_library(code) -> bool:
    """Code of course_utils, the standard library or an installed package (IPython's own frames included)."""
    return code.co_filename.startswith(_LIBRARY_DIRS)


def _forget_assigned(result=None) -> None:
    """After a cell that ran without error: the names it assigned are whole again."""
    shell = _shell()
    state = getattr(shell, _MARK, None) if shell is not None else None
    if not state or not state["missing"] or result is None or not result.success:
        return
    source = getattr(getattr(result, "info", None), "raw_cell", None) or ""
    for name in assigned_names(source):
        state["missing"].pop(name, None)


def install(shell=None) -> bool:
    """Show unfinished exercises as one line in this IPython shell (no-op outside IPython; idempotent).

    Returns whether the handler is installed. Another custom exception handler already installed is
    left alone.
    """
    shell = shell if shell is not None else _shell()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if getattr(shell, _MARK, None) is not None:
        return True
    if getattr(shell, "custom_exceptions", ()):  # someone else's handler: keep it
        return False
    shell.set_custom_exc((Exception,), _handler)  # what is not an exercise's falls through to IPython
    setattr(shell, _MARK, {"missing": {}})
    shell.events.register("post_run_cell", _forget_assigned)
    return True


def uninstall(shell=None) -> None:
    """Remove the handler (IPython's usual tracebacks for everything again)."""
    shell = shell if shell is not None else _shell()
    if shell is None or getattr(shell, _MARK, None) is None:
        return
    shell.set_custom_exc((), None)
    try:
        shell.events.unregister("post_run_cell", _forget_assigned)
    except ValueError:
        pass
    setattr(shell, _MARK, None)
