"""Write the lock: the exact version of every package the workbook installs (``make lock``).

``python -m instructor.lock`` asks pip to resolve ``.[test,bench,instructor]`` as a fresh install would (``pip install
--dry-run --ignore-installed --report``, nothing is installed) and writes one ``name==version`` line per
package to ``requirements/lock-linux-py311.txt``. ``make lab`` and ``make test`` install with ``-c`` that file, so a
student installing in week 10 gets the versions of week 1.

    python -m instructor.lock               # the newest versions pyproject.toml allows (then: make clean-venv test)
    python -m instructor.lock --from-venv   # the versions installed in this environment (the tested ones)

Local version labels are dropped (``torch==2.14.1``, not ``2.14.1+cu130``): ``==2.14.1`` matches the CUDA build
from PyPI and the CPU-only build from PyTorch's index alike. Packages that only one platform or one build
needs (``nvidia-*``, ``triton``) stay in the lock; pip ignores a constraint on a package it does not install.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock-linux-py311.txt"
EXTRAS = "test,bench,instructor"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    """``{normalized name: version}`` of every distribution installed in this environment."""
    from importlib.metadata import distributions
    return {_normalize(d.metadata["Name"]): d.version for d in distributions()}


def resolve(torch_index: str = "", from_venv: bool = False) -> dict[str, str]:
    """``{name: version}`` that ``pip install '.[test,bench,instructor]'`` would install into an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--report", str(report)]
        if torch_index:
            cmd += ["--extra-index-url", torch_index]
        if from_venv:
            pins = Path(tmp) / "installed.txt"
            pins.write_text("".join(f"{n}=={v.split('+')[0]}\n" for n, v in sorted(installed_versions().items())
                                    if n not in ("optimizing-the-input", "pip", "setuptools", "wheel")))
            cmd += ["-c", str(pins)]
        cmd.append(f"{REPO}[{EXTRAS}]")
        subprocess.run(cmd, check=True, cwd=REPO)
        items = json.loads(report.read_text())["install"]
    out = {}
    for item in items:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if _normalize(name) == "optimizing-the-input":
            continue
        out[name] = version.split("+")[0]  # drop local labels: +cu130, +cpu
    return dict(sorted(out.items(), key=lambda kv: _normalize(kv[0])))


def write(versions: dict[str, str], path: Path = LOCK) -> Path:
    """Write the lock file with a header that says where it comes from and how to refresh it."""
    header = (f"# The exact versions the workbook is tested with: `make lab` and `make test` install with `-c` this file\n"
              f"# on CPython 3.11, Linux x86_64 (elsewhere they install the newest versions pyproject.toml allows).\n"
              f"# Resolved for CPython {sys.version_info.major}.{sys.version_info.minor} on "
              f"{platform.system()} {platform.machine()} by `make lock` (python -m instructor.lock); "
              f"`make LOCK= lab` installs without it.\n"
              f"# Local labels are left out: torch==X matches both the CUDA build (PyPI) and the CPU-only one "
              f"(TORCH_INDEX).\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(f"{name}=={version}\n" for name, version in versions.items()))
    return path


def read(path: Path = LOCK) -> dict[str, str]:
    """``{normalized name: version}`` from a lock file."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[_normalize(name)] = version
    return pins


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.lock", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(LOCK))
    parser.add_argument("--torch-index", default="", help="an extra index for torch (e.g. PyTorch's CPU-only one)")
    parser.add_argument("--from-venv", action="store_true",
                        help="pin the versions installed in this environment instead of the newest ones")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64":
        print(f"note: the Makefile uses the lock on Python 3.11, Linux x86_64; this is Python {platform.python_version()} "
              f"on {platform.system()} {platform.machine()}: writing it anyway.", file=sys.stderr)
    versions = resolve(args.torch_index, args.from_venv)
    path = write(versions, Path(args.out))
    print(f"wrote {path} ({len(versions)} packages); now run `make clean-venv test` and commit it if it passes.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
