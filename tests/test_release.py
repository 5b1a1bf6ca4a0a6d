"""The student bundle (``make release``): what students need, and no line of any solution region."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from instructor.assign import BEGIN
from instructor import release

ROOT = release.NAME + "/"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    # Built without the build's own leak check, so that the test below reports any leak itself.
    return release.build(tmp_path_factory.mktemp("dist") / "student.zip", check=False)


def _names(bundle):
    with zipfile.ZipFile(bundle) as z:
        return [n[len(ROOT):] for n in z.namelist()]


def test_no_line_of_any_solution_region_is_in_the_bundle(bundle):
    lines = release.solution_lines()
    assert len(lines) >= 10  # the check has something to look for
    with zipfile.ZipFile(bundle) as z:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith(".ipynb"):
                assert BEGIN.encode() not in data, name
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if name.endswith(".ipynb"):
                text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
            leaked = [line.strip() for line in text.splitlines() if line.strip() in lines]
            assert not leaked, (f"{name} holds lines of a solution region of solutions/: {leaked[:3]}; "
                                "rephrase one of the two, or keep the solution out of the shipped file")


def test_the_leak_check_catches_a_solution_line(tmp_path):
    line = sorted(release.solution_lines())[0]
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("x/course_utils/helper.py", f"def f(x):\n    {line}\n")
    assert release.leaked_lines(fake) == [("x/course_utils/helper.py", line)]


def test_the_bundle_holds_what_students_need_and_nothing_of_the_grader(bundle):
    names = _names(bundle)
    for needed in ["README.md", "Makefile", "environment.yml", "pyproject.toml", "course_utils/__init__.py",
                   "course_utils/checks.py", "data/mnist_5000.npz", "data/models/lenet-mnist.pt",
                   "config/jupyterlab/overrides.json"]:
        assert needed in names
    tracked = subprocess.run(["git", "ls-files", "course_utils"], cwd=release.REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    shipped = sorted(n for n in names if n.startswith("course_utils/"))
    assert shipped == sorted(t for t in tracked if (release.REPO / t).is_file()), "course_utils/ ships whole, as in git"
    for nb in (release.REPO / "notebooks").glob("*.ipynb"):
        if f"notebooks/{nb.name}" not in names:  # only work in progress (not yet in git) may be missing
            assert subprocess.run(["git", "ls-files", "--error-unmatch", f"notebooks/{nb.name}"], cwd=release.REPO,
                                  capture_output=True).returncode != 0
    for name in names:
        assert not name.startswith(("solutions/", "instructor/", "tests/", "e2e/", ".ci/", "bench/")), name
        assert "__pycache__" not in name
        if name.startswith("data/expected/"):
            assert f"notebooks/{name.split('/')[-1][:-4]}.ipynb" in names


def test_the_bundle_works_on_its_own(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp_path)
    home = tmp_path / release.NAME
    code = ("import course_utils, course_utils.paths as p, pathlib, sys\n"
            "assert pathlib.Path(course_utils.__file__).is_relative_to(sys.argv[1]), course_utils.__file__\n"
            "from course_utils.checks import load_expected\n"
            "from course_utils.exercises import all_exercises\n"
            "for ex in all_exercises():\n"
            "    if (p.notebooks_dir() / f'{ex.notebook}.ipynb').exists():\n"
            "        load_expected(ex.notebook, ex.function)\n"
            "try:\n    import instructor\nexcept ImportError:\n    pass\nelse:\n"
            "    assert not pathlib.Path(instructor.__file__).is_relative_to(sys.argv[1])\n")
    env = dict(os.environ, PYTHONPATH=str(home))
    run = subprocess.run([sys.executable, "-c", code, str(home)], cwd=home, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "make lab" in (home / "README.md").read_text() and "make test" in (home / "README.md").read_text()


def test_build_refuses_a_bundle_with_a_solution_line(monkeypatch, tmp_path):
    monkeypatch.setattr(release, "STUDENT_README", release.STUDENT_README + "\n" + sorted(release.solution_lines())[0] + "\n")
    with pytest.raises(RuntimeError, match="line\\(s\\) of solution regions"):
        release.build(tmp_path / "leaky.zip")
    assert not list(tmp_path.iterdir())


def test_build_refuses_to_overwrite(bundle):
    with pytest.raises(FileExistsError, match="exists already"):
        release.build(bundle)


def test_every_file_unpacks_readable_by_everyone(bundle):
    with zipfile.ZipFile(bundle) as z:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in z.infolist()}
    assert modes and all(mode == 0o644 for mode in modes.values()), {n: oct(m) for n, m in modes.items() if m != 0o644}


def test_the_bundle_names_nothing_only_instructors_have(bundle):
    found = []
    with zipfile.ZipFile(bundle) as z:
        for name in z.namelist():
            try:
                text = z.read(name).decode("utf-8")
            except UnicodeDecodeError:
                continue
            if name.endswith(".ipynb"):
                text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
            if name.endswith(".py"):
                text = "\n".join(_messages(text))
            found += [f"{name[len(ROOT):]}: {line.strip()[:100]}" for line in text.splitlines() if release.INSTRUCTOR_ONLY.search(line)]
    assert not found, f"{len(found)} lines name instructor-only files or commands: {found[:5]}"


def _messages(source: str) -> list[str]:
    """The string literals of a Python file that are not docstrings: the messages its code prints or raises.

    (Docstrings and comments of course_utils/ document the modules for instructors too and may name their tools.)"""
    import ast

    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    strings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            strings.append(node.value)
    return strings


def test_the_student_text_rewrites_instructor_mentions():
    md = ("| `models/x.pt` | `python -m instructor.train lenet-mnist` |\nwith the defaults of `instructor.train` (seed 0); "
          "measured by `instructor.train.robust_accuracy`")
    assert not release.INSTRUCTOR_ONLY.search(release._student_text("data/README.md", md))
    toml = 'a = [\n  "x>=1",  # copied for the notes (make notes)\n]\n# built by make lock\nb = "#make notes"\n'
    assert release._student_text("pyproject.toml", toml) == 'a = [\n  "x>=1",\n]\nb = "#make notes"\n'


def test_every_make_command_the_notebooks_print_is_a_target_of_the_bundle_makefile(bundle, tmp_path):
    import re

    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp_path)
        texts = [z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".ipynb", ".md"))]
    home = tmp_path / release.NAME
    targets = set(re.findall(r"^([\w-]+):", (home / "Makefile").read_text(), re.M))
    # a command, not the English verb: at a line's start, after a backtick, a colon or a parenthesis
    wanted = {m for text in texts for m in re.findall(r"(?:^|`|: |\()make (?:[A-Z_]+=\S* )*([a-z][\w-]*)(?=$|`|\)| [A-Z_]+=|\s+#)", text, re.M)}
    assert "weights" in wanted and wanted <= targets, f"the bundle's Makefile lacks {sorted(wanted - targets)}"
    dry = subprocess.run(["make", "-n", "weights", "MODELS=vgg16"], cwd=home, capture_output=True, text=True)
    assert dry.returncode == 0 and "course_utils.imagenet fetch vgg16" in dry.stdout, dry.stderr
    readme = (home / "README.md").read_text()
    assert "make weights MODELS=vgg16" in readme and "3 GB" in readme and "minutes" in readme
    assert "--quiet" not in (home / "Makefile").read_text(), "the first install must show pip's progress"
