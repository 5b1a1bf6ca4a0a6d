"""Find the submissions, plan the tests, grade in parallel, write the CSV and the feedback files."""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import os
import re
import signal
import stat
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course_utils.exercises import all_exercises, exercises_for
from instructor.expected import compute_expected
from course_utils.checks import load_expected
from course_utils.paths import solutions_dir

from . import jail
from .run import CANCEL, Cancelled, Limits, NotebookGrade, SandboxFailure, failed, grade_notebook, setup_cell

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
    """A file name made of ASCII letters, digits and ``_.@-`` only (accents dropped), at most 80 characters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", ascii_name).strip("._-")[:80] or "student"


def file_names(students) -> dict[str, str]:
    """A distinct, safe file name (without extension) for every distinct student name: the name
    itself when it is already safe and no other name is the same but for case, else its safe form
    plus 8 hex digits of a hash of the name (``alice smith`` -> ``alice_smith-1a2b3c4d``)."""
    students = sorted(set(students))
    clash: dict[str, int] = {}
    for student in students:
        clash[student.lower()] = clash.get(student.lower(), 0) + 1
    names: dict[str, str] = {}
    used: set[str] = set()
    for student in sorted(students, key=lambda s: (_safe(s) != s or clash[s.lower()] > 1, s)):
        name = _safe(student)
        if name != student or clash[student.lower()] > 1 or name.lower() in used:
            digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()
            name = f"{name}-{digest[:8]}"
        base, n = name, 2
        while name.lower() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        names[student] = name
    return names


_KINDS = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")]


def _shown(path) -> str:
    """A name or path as text that can be written anywhere: bytes that are not UTF-8 as ``\\xNN``."""
    text = str(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _student_of(name: str, stem: str) -> str | None:
    """The student's name in a file name ``<student><sep><stem>`` or ``<stem><sep><student>`` (``sep`` one of
    `` _-.``, or none): the name as it is, nothing else stripped (``-rf_01_filters`` is ``-rf``); the whole
    name if it is the notebook's name alone; None if the notebook's name is in the middle."""
    if name == stem:
        return name
    if name.endswith(stem):
        student = name[:-len(stem)]
        return student[:-1] if student[-1] in " _-." and len(student) > 1 else student
    if name.startswith(stem):
        student = name[len(stem):]
        return student[1:] if student[0] in " _-." and len(student) > 1 else student
    return None


def find_submissions(root) -> tuple[dict[str, dict[str, Path]], list[str], dict[tuple[str, str], list[str]]]:
    """``(found, unmatched, notes)``: ``found`` maps ``student -> {notebook: path}``; ``unmatched`` lists
    the files not graded, each with its reason (for stderr); ``notes`` maps ``(student, notebook)`` to
    what that student's feedback says about the files found for them.

    Two layouts are understood, and may be mixed: a folder per student (``root/alice/01_filters.ipynb``,
    at any depth below the folder), or files named by student (``root/alice_01_filters.ipynb``,
    ``root/01_filters-alice.ipynb``). A student's name is kept as it is (any name the file system
    accepts). Only regular files are graded: a symbolic link (never followed, to a file or a folder), a
    FIFO, a device is listed with its reason. Of two or more notebooks of one student for the same
    notebook, the newest (by modification time; on a tie, the last by path) is graded, and the
    student's feedback says which. A file whose name holds no known notebook is listed, not graded.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{_shown(root)} is not a folder: pass the folder that holds the submitted notebooks.")
    stems = sorted(graded_notebooks(), key=len, reverse=True)
    candidates: dict[tuple[str, str], list[tuple[float, str, Path]]] = {}
    unmatched: list[str] = []
    notes: dict[tuple[str, str], list[str]] = {}
    for folder, dirs, files in os.walk(root):
        folder = Path(folder)
        for d in sorted(d for d in dirs if d.startswith(".")):  # .ipynb_checkpoints and the like
            unmatched.append(f"{_shown((folder / d).relative_to(root))}/ (a folder whose name begins with a dot: "
                             "not searched)")
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in dirs:
            if (folder / d).is_symlink():
                unmatched.append(f"{_shown((folder / d).relative_to(root))} (a symbolic link to a folder: not followed)")
        for name in sorted(files + [d for d in dirs if d.endswith(".ipynb")]):
            path = folder / name
            rel = path.relative_to(root)
            if name.startswith("."):
                unmatched.append(f"{_shown(rel)} (its name begins with a dot: not graded)")
                continue
            if not name.endswith(".ipynb"):
                unmatched.append(f"{_shown(rel)} (not a notebook: not graded)")
                continue
            held = [s for s in stems if s in path.stem]
            if not held:
                unmatched.append(f"{_shown(rel)} (its name holds no notebook of this course)")
                continue
            if len(held) > 1:
                unmatched.append(f"{_shown(rel)} (its name holds {len(held)} notebook names, {' and '.join(sorted(held))}: "
                                 "not graded; name it after one notebook)")
                continue
            stem = held[0]
            if len(rel.parts) > 1:
                student = rel.parts[0]
            else:
                student = _student_of(path.stem, stem)
                if student is None:
                    unmatched.append(f"{_shown(rel)} (the student's name must come before or after {stem}, "
                                     f"e.g. alice_{stem}.ipynb: not graded)")
                    continue
            try:
                info = os.lstat(path)
            except OSError as exc:
                unmatched.append(f"{_shown(rel)} (cannot be read: {exc.strerror})")
                continue
            kind = next((words for test, words in _KINDS if test(info.st_mode)), None)
            if kind is not None:
                reason = f"{_shown(rel)} is {kind}; only regular files are graded"
                unmatched.append(f"{_shown(rel)} ({kind}; only regular files are graded)")
                notes.setdefault((student, stem), []).append(f"Not graded: {reason}.")
                continue
            candidates.setdefault((student, stem), []).append((info.st_mtime, str(rel), path))
    found: dict[str, dict[str, Path]] = {}
    for (student, stem), paths in sorted(candidates.items()):
        paths.sort()
        found.setdefault(student, {})[stem] = paths[-1][2]
        if len(paths) > 1:
            others = ", ".join(_shown(rel) for _, rel, _ in paths[:-1])
            notes.setdefault((student, stem), []).append(
                f"{len(paths)} {stem} notebooks were found for {student}: {_shown(paths[-1][1])} is graded (the newest "
                f"by modification time); not graded: {others}.")
            unmatched += [f"{_shown(rel)} (a second {stem} of {student}, older than {_shown(paths[-1][1])}, "
                          "which is graded)" for _, rel, _ in paths[:-1]]
    return found, unmatched, notes


def check_outputs(out: Path, feedback_dir: Path | None) -> str | None:
    """None when the CSV and the feedback folder can be written, else why not (checked before grading)."""
    feedback_dir = feedback_dir or out.with_name(out.stem + "_feedback")
    if out.exists() and not out.is_file():
        return f"--out {_shown(out)} exists and is not a file"
    if len(os.fsencode(out.name)) > 200 or len(os.fsencode(feedback_dir.name)) > 200:
        return f"--out {_shown(out)}: the file name is too long"
    for folder, what in ((out.parent, "--out"), (feedback_dir.parent, "--feedback")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".grader-check-"):
                pass
        except OSError as exc:
            return f"{what}: cannot write in {_shown(folder)} ({exc.strerror or type(exc).__name__})"
    return None


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


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|~&$])")


def md_text(text: str) -> str:
    """Text (a note, a name: the student's words may be in it) as one line of Markdown that shows it as it is:
    line breaks as spaces, every character that Markdown or HTML could read as markup backslash-escaped
    (emphasis, code, links, HTML, headings, tables), and a list or heading marker at its start."""
    text = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", re.sub(r"^([+=-])", r"\\\1", text))


def md_code(text: str) -> list[str]:
    """Text as a fenced code block that nothing in it can close: the fence is longer than any run of
    backticks in the text."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence, text, fence]


def csv_cell(value):
    """A CSV field a spreadsheet shows as text: one that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or a
    carriage return) gets a leading ``'``, so that it is never read as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def feedback_markdown(student: str, grades: list[NotebookGrade]) -> str:
    lines = [f"# Feedback for {md_text(_shown(student))}", ""]
    total = sum(g.total for g in grades)
    top = sum(g.max_points for g in grades)
    lines += [f"**Total: {total}/{top} points.**", "",
              "Every exercise was checked on the cases of its self-check and on hidden cases of the same kind; "
              "an exercise earns its points when all of them pass.", ""]
    for g in grades:
        lines += [f"## {g.notebook}: {g.total}/{g.max_points} points", ""]
        for note in g.notes:
            lines += [f"> {md_text(note)}", ""]
        for r in g.results:
            lines += md_code(r.report()) + [""]
    return "\n".join(lines)


def write_results(grades: list[NotebookGrade], out: Path, feedback_dir: Path | None = None) -> tuple[Path, Path]:
    """Write the CSV and one Markdown feedback file per student; never over earlier results."""
    out = _unused(Path(out))
    feedback_dir = _unused(Path(feedback_dir) if feedback_dir else out.with_name(out.stem + "_feedback"))
    ids = [ex.id for ex in all_exercises() if ex.notebook in {g.notebook for g in grades}]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "notebook"] + ids + ["total", "max", "notes"])
    for g in sorted(grades, key=lambda g: (g.student, g.notebook)):  # the names as they are (non-UTF-8 bytes as \\xNN)
        points = {r.exercise: r.score for r in g.results}
        writer.writerow([csv_cell(_shown(g.student)), g.notebook] + [points.get(i, "") for i in ids]
                        + [g.total, g.max_points, csv_cell(" | ".join(g.notes))])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "x", encoding="utf-8", errors="backslashreplace", newline="") as f:
        f.write(buf.getvalue())
    feedback_dir.mkdir(parents=True)
    by_student: dict[str, list[NotebookGrade]] = {}
    for g in grades:
        by_student.setdefault(g.student, []).append(g)
    names = file_names(by_student)
    for student, gs in sorted(by_student.items()):
        with open(feedback_dir / f"{names[student]}.md", "x", encoding="utf-8", errors="backslashreplace") as f:
            f.write(feedback_markdown(student, sorted(gs, key=lambda g: g.notebook)))
    return out, feedback_dir


# ---------------------------------------------------------------------------- grading

def grade_all(submissions, limits: Limits | None = None, jobs: int | None = None, seeds=HIDDEN_SEEDS,
              progress: bool = True, python: str = sys.executable, isolated: bool = True) -> tuple[list[NotebookGrade], list[str]]:
    """Grade every submission found under ``submissions``; return the grades and the files not graded.

    A student who did not submit a notebook that another student submitted gets 0 for it, with a note;
    so does one whose only file for it was not graded (a symbolic link, say), with the reason.
    ``isolated``: run each student's process under bubblewrap; a RuntimeError says why where it cannot.
    """
    limits = limits or Limits()
    if isolated and jail.unavailable(python):
        raise RuntimeError(jail.unavailable(python))
    found, unmatched, file_notes = find_submissions(submissions)
    ready = set(gradable_notebooks())
    for student, per in found.items():
        for nb in [nb for nb in per if nb not in ready]:
            unmatched.append(f"{_shown(per.pop(nb))} ({nb} has no solution notebook, student notebook or self-check values yet)")
    found = {s: per for s, per in found.items() if per}
    notebooks = sorted({nb for per in found.values() for nb in per})
    plan = plan_tests(notebooks, seeds)
    official = {nb: setup_cell(REPO / "notebooks" / f"{nb}.ipynb") for nb in notebooks}
    grades: list[NotebookGrade] = []
    tasks = []
    students = sorted(set(found) | {s for s, nb in file_notes if nb in ready})
    for student in students:
        per = found.get(student, {})
        for nb in sorted(set(notebooks) | {n for s, n in file_notes if s == student and n in ready}):
            if nb in per:
                tasks.append((student, nb, per[nb]))
            else:
                notes = file_notes.get((student, nb)) or [f"No {nb} notebook was found for {_shown(student)}: 0 points."]
                g = NotebookGrade(student, nb, notes=list(notes))
                g.results = [failed(ex, "failed", "not submitted" if (student, nb) not in file_notes
                                    else "not graded: the file handed in is not a regular file") for ex in exercises_for(nb)]
                grades.append(g)
    jobs = jobs or max(1, len(os.sched_getaffinity(0)))
    from tqdm.auto import tqdm
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_safely, s, nb, p, exercises_for(nb), plan, official[nb], limits, python, isolated):
                   (s, nb) for s, nb, p in tasks}
        for future in tqdm(as_completed(futures), total=len(futures), desc="grading", unit="notebook",
                           disable=not progress, file=sys.stderr):
            if CANCEL.is_set():
                for f in futures:
                    f.cancel()  # those not started yet
            if future.cancelled():
                continue
            g = future.result()
            if g is None:  # interrupted while it was graded
                continue
            g.notes = file_notes.get(futures[future], []) + g.notes
            grades.append(g)
    if CANCEL.is_set():  # the run was interrupted: what was graded is kept; the rest is listed
        graded = {(g.student, g.notebook) for g in grades}
        unmatched += [f"{_shown(p)} (not graded: the run was interrupted)" for s, nb, p in tasks if (s, nb) not in graded]
    return grades, unmatched


def grade_safely(student, notebook, path, exercises, plan, official_setup, limits, python, isolated) -> NotebookGrade | None:
    """``grade_notebook``, but a failure of the grader itself on one notebook (a bug, a sandbox that never
    started, or a submission that finds a way to upset it) gives that notebook 0 with a note (and
    ``grading_failed``) instead of stopping the run; None if the run was interrupted meanwhile."""
    if CANCEL.is_set():
        return None
    try:
        return grade_notebook(student, notebook, path, exercises, plan, official_setup, limits, python, isolated)
    except Cancelled:
        return None
    except SandboxFailure as exc:
        reason = str(exc)[:400]
        g = NotebookGrade(student, notebook, notes=[
            f"Not graded: {reason}. This is a failure of the grading, not of the notebook: the instructor must "
            "fix the sandbox and grade it again."])
        g.results = [failed(ex, "failed", f"not graded: {reason}") for ex in exercises]
        g.grading_failed = reason
        return g
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        g = NotebookGrade(student, notebook, notes=[
            f"The grader failed on this notebook ({reason}); every exercise scores 0. "
            "Tell the instructor, who can grade it again."])
        g.results = [failed(ex, "failed", f"not graded: the grader failed on this notebook ({reason})") for ex in exercises]
        g.grading_failed = f"the grader failed ({reason})"
        return g


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.grade", description="Grade submitted notebooks against the solution set.")
    parser.add_argument("submissions", help="folder of submissions: a folder per student, or files named by student")
    parser.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv); never overwritten: "
                        "an existing one makes it write grades-2.csv, ...")
    parser.add_argument("--feedback", default=None, help="folder for the per-student feedback (default: <out>_feedback)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: the number of cores)")
    parser.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    parser.add_argument("--setup-timeout", type=float, default=Limits.setup_s, help="seconds for the setup cell")
    parser.add_argument("--exercise-timeout", type=float, default=Limits.exercise_s, help="seconds per exercise")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap of each student's process")
    parser.add_argument("--work-mb", type=int, default=Limits.work_mb,
                        help="what a student's processes may write in their working directory, together")
    parser.add_argument("--processes", type=int, default=Limits.processes,
                        help="processes and threads a student's process may run at once")
    parser.add_argument("--no-isolation", action="store_true",
                        help="where bubblewrap cannot run: grade with the resource limits only (a submission can "
                             "then read the solutions and disturb the others; see the README)")
    parser.add_argument("--notebook-memory-mb", type=int, default=Limits.notebook_memory_mb,
                        help="memory of all of one notebook's processes together, their files in memory included "
                             "(a memory control group, when run as root)")
    parser.add_argument("--cpus", type=float, default=Limits.cpus,
                        help="CPU quota of one notebook's processes together, in cores (a cpu control group, when run as root)")
    parser.add_argument("--seeds", default=None,
                        help="seeds of the hidden cases, comma separated (default: two fresh random seeds, written "
                             "to <out>_seeds.txt; never reuse seeds that graded work students have seen)")
    args = parser.parse_args(argv)
    if args.seeds is None:
        import secrets
        seeds = tuple(1 + secrets.randbelow(2**31 - 2) for _ in HIDDEN_SEEDS)
    else:
        try:
            seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
        except ValueError:
            parser.error(f"--seeds takes whole numbers separated by commas, e.g. 1,2; got {args.seeds!r}.")
    if not seeds or 0 in seeds:
        parser.error("--seeds: seed 0 gives the visible self-check cases; pick other seeds for hidden ones.")
    limits = Limits(args.notebook_timeout, args.setup_timeout, args.exercise_timeout, args.memory_mb,
                    work_mb=args.work_mb, processes=args.processes, notebook_memory_mb=args.notebook_memory_mb,
                    cpus=args.cpus)
    t0 = time.monotonic()
    problem = check_outputs(Path(args.out), Path(args.feedback) if args.feedback else None)
    if problem:
        print(f"error: {problem}; nothing was graded.", file=sys.stderr)
        return 2
    if not Path(args.submissions).is_dir():
        print(f"error: {_shown(args.submissions)} is not a folder: pass the folder that holds the submitted notebooks.",
              file=sys.stderr)
        return 2
    reason = jail.unavailable()
    if reason and not args.no_isolation:
        print(f"error: {reason}; or pass --no-isolation to grade without the sandbox (see the README).", file=sys.stderr)
        return 2
    if reason:
        print(f"warning: grading WITHOUT isolation ({reason}): resource limits only.", file=sys.stderr)
    groups = jail.missing_cgroups()
    if groups:
        print(f"warning: {groups}.", file=sys.stderr)
    CANCEL.clear()
    interrupted = []

    def interrupt(signum, frame):  # the first SIGINT / SIGTERM: stop the sandboxes, keep what was graded
        interrupted.append(signum)
        CANCEL.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        grades, unmatched = grade_all(args.submissions, limits, args.jobs, seeds, isolated=not reason)
    except (NotADirectoryError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not grades and not interrupted:
        print(f"error: no notebook of this course was found under {_shown(args.submissions)}.", file=sys.stderr)
        return 2
    out, feedback = write_results(grades, Path(args.out), Path(args.feedback) if args.feedback else None)
    seeds_file = _unused(out.with_name(out.stem + "_seeds.txt"))
    seeds_file.write_text(f"{','.join(map(str, seeds))}\n# the seeds of the hidden cases of {out.name}: keep them private; "
                          f"`--seeds {','.join(map(str, seeds))}` grades again with the same cases\n")
    for name in unmatched:
        print(f"not graded: {name}", file=sys.stderr)
    if out != Path(args.out):
        print(f"{args.out} already exists: wrote {out} instead (earlier results are never overwritten).")
    students = len({g.student for g in grades})
    missing = sum(1 for g in grades if g.notes and g.notes[0].startswith("No ") and " notebook was found for " in g.notes[0])
    failures = [g for g in grades if g.grading_failed]
    print(f"graded {len(grades) - missing} notebooks handed in by {students} students in {time.monotonic() - t0:.0f} s "
          f"({missing} not handed in score 0): grades in {out}, feedback in {feedback}/, seeds in {seeds_file}")
    if interrupted:
        print(f"error: interrupted ({signal.Signals(interrupted[0]).name}): the CSV holds the {len(grades)} notebooks "
              "graded before; the others are listed above as not graded.", file=sys.stderr)
        return 128 + interrupted[0]
    if failures:
        print(f"error: {len(failures)} notebooks could not be graded, through no fault of theirs "
              f"(first: {_shown(failures[0].student)}/{failures[0].notebook}: {failures[0].grading_failed}); "
              "their rows say 'Not graded'; fix the cause and grade them again.", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
