"""`course_utils/` is what a student imports, and nothing else: the instructor's tools (assignment
generation, expected values, notes, retraining, release, grading) live in `instructor/`, beside it."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_PACKAGE = ROOT / "course_utils"


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_course_utils_imports_the_instructor_package():
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "instructor")
                 for p in STUDENT_PACKAGE.rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_every_module_of_course_utils_imports_without_the_instructor_package():
    # Blocks the package outright (as in the student's bundle, where it does not exist) and imports every module.
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for p in STUDENT_PACKAGE.rglob("*.py"))
    code = ("import importlib, sys\nsys.modules['instructor'] = None\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            "assert not [m for m in sys.modules if m.startswith('instructor.')]\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_instructor_tools_are_not_in_course_utils():
    for tool in ("assign", "expected", "notes", "train", "release", "grade"):
        assert not (STUDENT_PACKAGE / f"{tool}.py").exists(), f"course_utils/{tool}.py is an instructor tool"
        assert (ROOT / "instructor" / f"{tool}.py").exists()
