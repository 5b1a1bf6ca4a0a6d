"""The lock (requirements/lock-linux-py311.txt): it pins every dependency, and the environment under test is what it says.

``make lab`` and ``make test`` install with ``-c`` the lock on Python 3.11, Linux x86_64, and write the option they used to
``.venv/.constraints``; the version check skips, saying why, where the environment was installed without it.
"""
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from instructor.lock import LOCK, read

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _dependencies() -> set[str]:
    tomllib = pytest.importorskip("tomllib", reason="tomllib (to read pyproject.toml) comes with Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {_name(r) for r in requirements}


def test_lock_pins_every_dependency_exactly():
    pins = read(LOCK)
    missing = sorted(_dependencies() - set(pins))
    assert not missing, f"{LOCK.name} lacks {missing}: run `make lock` (then `make clean-venv test`)."
    labelled = sorted(f"{n}=={v}" for n, v in pins.items() if "+" in v)
    assert not labelled, f"Local labels would refuse the other torch build: {labelled} (instructor.lock drops them)."
    header = LOCK.read_text().splitlines()[2]
    assert "CPython 3.11 on Linux x86_64" in header, f"The Makefile uses the lock there only, but it says: {header!r}"


def test_environment_matches_lock():
    used = Path(sys.prefix) / ".constraints"
    if not used.is_file():
        pytest.skip(f"{sys.prefix} was not installed by `make` (no .constraints): nothing says it used the lock.")
    if not used.read_text().strip():
        pytest.skip(f"{sys.prefix} was installed without the lock (not Python 3.11 on Linux x86_64, or `make LOCK=`).")
    wrong = []
    for name, pinned in read(LOCK).items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # not needed here (nvidia-* with CPU-only torch, the bench extra)
        if installed.split("+")[0] != pinned:
            wrong.append(f"{name} {installed} (lock: {pinned})")
    assert not wrong, f"Installed versions differ from {LOCK.name}: {wrong}; `make clean-venv` and install again."
