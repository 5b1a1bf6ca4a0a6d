"""Find the submissions, plan the tests, grade in parallel, write the CSV and the feedback files."""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course_utils.exercises import all_exercises, exercises_for
from course_utils.expected import compute_expected
from course_utils.checks import load_expected
from course_utils.paths import solutions_dir

from .run import Limits, NotebookGrade, failed, grade_notebook, prepare_student_side, remove_student_side, setup_cell

HIDDEN_SEEDS = (1, 2)  # the hidden tests: the registered cases built with these seeds
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- finding the submissions

def graded_notebooks() -> list[str]:
    """The notebooks with registered exercises, e.g. ``["01_filters", ...]``."""
    return sorted({ex.notebook for ex in all_exercises()})


def gradable_notebooks() -> list[str]:
    """The registered notebooks that can be graded: their solution, student version and self-check values exist."""
    from course_utils.checks import expected_path
    return [nb for nb in graded_notebooks() if (solutions_dir() / f"{nb}.ipynb").exists()
            and (REPO / "notebooks" / f"{nb}.ipynb").exists() and expected_path(nb).exists()]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._-") or "student"


def find_submissions(root) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """Map ``student -> {notebook: path}``.

    Two layouts are understood, and may be mixed: a folder per student (``root/alice/01_filters.ipynb``,
    at any depth below the folder), or files named by student (``root/alice_01_filters.ipynb``,
    ``root/01_filters-alice.ipynb``). A file whose name holds no known notebook is reported, not graded.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder: pass the folder that holds the submitted notebooks.")
    stems = sorted(graded_notebooks(), key=len, reverse=True)
    found: dict[str, dict[str, Path]] = {}
    unmatched = []
    for path in sorted(root.rglob("*.ipynb")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):  # .ipynb_checkpoints and the like
            continue
        stem = next((s for s in stems if s in path.stem), None)
        if stem is None:
            unmatched.append(f"{rel} (its name holds no notebook of this course)")
            continue
        if len(rel.parts) > 1:
            student = rel.parts[0]
        else:
            student = path.stem.replace(stem, "").strip(" _-.") or path.stem
        student = _safe(student)
        if stem in found.setdefault(student, {}):
            unmatched.append(f"{rel} (a second {stem} for {student}; the first one, "
                             f"{found[student][stem].relative_to(root)}, is graded)")
            continue
        found[student][stem] = path
    return found, unmatched


# ---------------------------------------------------------------------------- the tests

def plan_tests(notebooks, seeds=HIDDEN_SEEDS) -> dict:
    """``{exercise id: (cases, expected)}``: the visible cases (seed 0) with the stored expected
    values students check against, then the hidden cases with outputs of the solution's functions."""
    plan = {}
    for notebook in notebooks:
        with contextlib.redirect_stdout(io.StringIO()):  # the solution's setup cell prints
            hidden = {seed: compute_expected(notebook, seed) for seed in seeds}
        for ex in exercises_for(notebook):
            cases = [("visible", c) for c in ex.cases(0)]
            expected = list(load_expected(notebook, ex.function))
            for seed in seeds:
                cases += [("hidden", c) for c in ex.cases(seed)]
                expected += hidden[seed][ex.function]
            plan[ex.id] = (cases, expected)
    return plan


# ---------------------------------------------------------------------------- writing results

def _unused(path: Path) -> Path:
    """``path`` if nothing is there yet, else ``name-2.ext``, ``name-3.ext``, ...: never overwrite."""
    if not path.exists():
        return path
    for n in range(2, 10000):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"Too many earlier results next to {path}: move them away.")


def feedback_markdown(student: str, grades: list[NotebookGrade]) -> str:
    lines = [f"# Feedback for {student}", ""]
    total = sum(g.total for g in grades)
    top = sum(g.max_points for g in grades)
    lines += [f"**Total: {total}/{top} points.**", "",
              "Every exercise was checked on the cases of its self-check and on hidden cases of the same kind; "
              "an exercise earns its points when all of them pass.", ""]
    for g in grades:
        lines += [f"## {g.notebook}: {g.total}/{g.max_points} points", ""]
        for note in g.notes:
            lines.append(f"> {note}")
        if g.notes:
            lines.append("")
        for r in g.results:
            lines += ["```", r.report(), "```", ""]
    return "\n".join(lines)


def write_results(grades: list[NotebookGrade], out: Path, feedback_dir: Path | None = None) -> tuple[Path, Path]:
    """Write the CSV and one Markdown feedback file per student; never over earlier results."""
    out = _unused(Path(out))
    feedback_dir = _unused(Path(feedback_dir) if feedback_dir else out.with_name(out.stem + "_feedback"))
    ids = [ex.id for ex in all_exercises() if ex.notebook in {g.notebook for g in grades}]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "notebook"] + ids + ["total", "max", "notes"])
    for g in sorted(grades, key=lambda g: (g.student, g.notebook)):
        points = {r.exercise: r.score for r in g.results}
        writer.writerow([g.student, g.notebook] + [points.get(i, "") for i in ids]
                        + [g.total, g.max_points, " | ".join(g.notes)])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "x", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    feedback_dir.mkdir(parents=True)
    by_student: dict[str, list[NotebookGrade]] = {}
    for g in grades:
        by_student.setdefault(g.student, []).append(g)
    for student, gs in sorted(by_student.items()):
        with open(feedback_dir / f"{student}.md", "x", encoding="utf-8") as f:
            f.write(feedback_markdown(student, sorted(gs, key=lambda g: g.notebook)))
    return out, feedback_dir


# ---------------------------------------------------------------------------- grading

def grade_all(submissions, limits: Limits | None = None, jobs: int | None = None, seeds=HIDDEN_SEEDS,
              progress: bool = True, python: str = sys.executable) -> tuple[list[NotebookGrade], list[str]]:
    """Grade every submission found under ``submissions``; return the grades and the unmatched files.

    A student who did not submit a notebook that another student submitted gets 0 for it, with a note.
    """
    limits = limits or Limits()
    found, unmatched = find_submissions(submissions)
    ready = set(gradable_notebooks())
    for student, per in found.items():
        for nb in [nb for nb in per if nb not in ready]:
            unmatched.append(f"{per.pop(nb)} ({nb} has no solution notebook, student notebook or self-check values yet)")
    found = {s: per for s, per in found.items() if per}
    notebooks = sorted({nb for per in found.values() for nb in per})
    plan = plan_tests(notebooks, seeds)
    official = {nb: setup_cell(REPO / "notebooks" / f"{nb}.ipynb") for nb in notebooks}
    grades: list[NotebookGrade] = []
    tasks = []
    for student, per in sorted(found.items()):
        for nb in notebooks:
            if nb in per:
                tasks.append((student, nb, per[nb]))
            else:
                g = NotebookGrade(student, nb, notes=[f"No {nb} notebook was found for {student}: 0 points."])
                g.results = [failed(ex, "failed", "not submitted") for ex in exercises_for(nb)]
                grades.append(g)
    jobs = jobs or max(1, len(os.sched_getaffinity(0)))
    from tqdm.auto import tqdm
    student_side = prepare_student_side()  # the course_utils the students' processes import, once per run
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_safely, s, nb, p, exercises_for(nb), plan, official[nb], limits, python,
                                   student_side) for s, nb, p in tasks]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading", unit="notebook",
                               disable=not progress, file=sys.stderr):
                grades.append(future.result())
    finally:
        remove_student_side(student_side)
    return grades, unmatched


def grade_safely(student, notebook, path, exercises, plan, official_setup, limits, python, student_side) -> NotebookGrade:
    """``grade_notebook``, but a failure of the grader itself on one notebook (a bug, or a submission
    that finds a way to upset it) gives that notebook 0 with a note instead of stopping the run."""
    try:
        return grade_notebook(student, notebook, path, exercises, plan, official_setup, limits, python, student_side)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        g = NotebookGrade(student, notebook, notes=[
            f"The grader failed on this notebook ({reason}); every exercise scores 0. "
            "Tell the instructor, who can grade it again."])
        g.results = [failed(ex, "failed", f"not graded: the grader failed on this notebook ({reason})") for ex in exercises]
        return g


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade submitted notebooks against the solution set.")
    parser.add_argument("submissions", help="folder of submissions: a folder per student, or files named by student")
    parser.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv); never overwritten: "
                        "an existing one makes it write grades-2.csv, ...")
    parser.add_argument("--feedback", default=None, help="folder for the per-student feedback (default: <out>_feedback)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: the number of cores)")
    parser.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    parser.add_argument("--setup-timeout", type=float, default=Limits.setup_s, help="seconds for the setup cell")
    parser.add_argument("--exercise-timeout", type=float, default=Limits.exercise_s, help="seconds per exercise")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap of each student's process")
    parser.add_argument("--seeds", default=",".join(map(str, HIDDEN_SEEDS)),
                        help="seeds of the hidden cases, comma separated (keep yours private)")
    args = parser.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        parser.error(f"--seeds takes whole numbers separated by commas, e.g. 1,2; got {args.seeds!r}.")
    if 0 in seeds:
        parser.error("--seeds: seed 0 gives the visible self-check cases; pick other seeds for hidden ones.")
    limits = Limits(args.notebook_timeout, args.setup_timeout, args.exercise_timeout, args.memory_mb)
    t0 = time.monotonic()
    try:
        grades, unmatched = grade_all(args.submissions, limits, args.jobs, seeds)
    except NotADirectoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not grades:
        print(f"error: no notebook of this course was found under {args.submissions}.", file=sys.stderr)
        return 2
    out, feedback = write_results(grades, Path(args.out), Path(args.feedback) if args.feedback else None)
    for name in unmatched:
        print(f"not graded: {name}", file=sys.stderr)
    if out != Path(args.out):
        print(f"{args.out} already exists: wrote {out} instead (earlier results are never overwritten).")
    students = len({g.student for g in grades})
    missing = sum(1 for g in grades if g.notes and g.notes[0].startswith("No ") and " notebook was found for " in g.notes[0])
    print(f"graded {len(grades) - missing} notebooks handed in by {students} students in {time.monotonic() - t0:.0f} s "
          f"({missing} not handed in score 0): grades in {out}, feedback in {feedback}/")
    return 0
