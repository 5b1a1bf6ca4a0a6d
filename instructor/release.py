"""Build the bundle students receive: ``python -m instructor.release`` (``make release``) writes a zip.

It holds ``notebooks/``, ``course_utils/``, the ``data/`` the notebooks and self-checks need,
``environment.yml``, ``pyproject.toml``, and a student README and Makefile with their two commands.
It leaves out ``solutions/``, ``instructor/``, ``tests/`` and everything else only instructors need.
Only files tracked by git are shipped (work in progress stays out). The build refuses to write a
bundle that holds any line of a solution region.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from instructor.assign import BEGIN, END, solution_regions

REPO = Path(__file__).resolve().parents[1]
NAME = "optimizing-the-input"
SHIPPED = ("notebooks/", "course_utils/", "data/", "config/jupyterlab/", "environment.yml", "pyproject.toml",
           "requirements/lock-linux-py311.txt")
GRADER_ONLY_DATA = ("data/grader/",)  # nothing today; grader-only data would go here

STUDENT_README = """# Optimizing the Input: the student workbook

A Jupyter workbook on looking inside trained neural networks by differentiating and optimizing with
respect to the input. Everything runs offline on a laptop CPU.

## Your two commands

```bash
make lab     # first time: creates .venv and installs everything into it; then opens JupyterLab
make test    # runs every notebook in notebooks/ top to bottom; then the table of your exercises
```

The first `make lab` downloads and installs about 3 GB (mostly PyTorch's CUDA libraries, see below):
on a 100 Mbit/s line about 5 minutes of download and a few more of unpacking, on 20 Mbit/s about
20 minutes. pip shows its progress as it goes. The CPU-only build (below) is about 0.35 GB.

`make check` prints only that table, and `make check NB=01` the table of one notebook (see *Is my
homework right?* below).

You need Python >= 3.10 and `make`. Pick another interpreter with `make PYTHON=python3.11 lab`;
`make lab LAB_ARGS=--no-browser` passes more options to JupyterLab.
Without `make`: `python3 -m venv .venv && .venv/bin/pip install -e '.[test]'` (add
`-c requirements/lock-linux-py311.txt` on Python 3.11 on Linux), then
`.venv/bin/python -m ipykernel install --sys-prefix --name optimizing-the-input --display-name "Python (Optimizing the Input)"`
and `.venv/bin/jupyter lab`. Conda users: `environment.yml` describes the same environment (without the lock).

## How big the install is

On Linux, PyPI's PyTorch is the CUDA build, which pip takes even without a GPU. PyTorch publishes
CPU-only builds on its own package index, a fraction of the size (measured on Linux x86_64, Python 3.11):

| PyTorch | command | download | installed `.venv` |
| --- | --- | --- | --- |
| PyPI's (CUDA build), the default | `make lab` | 3.0 GB | 6.0 GB, of which 4.0 GB CUDA libraries |
| CPU-only | `make TORCH_INDEX=https://download.pytorch.org/whl/cpu lab` | about 0.35 GB | about 1.5 GB |

The CPU row was measured with the CPU build of torch 2.13.0 (that of 2.14.1 could not be fetched where
this was measured). Already have a `.venv`? Delete it (`rm -rf .venv`) before `make` with `TORCH_INDEX`.
On macOS, PyPI's PyTorch has no CUDA parts: the default is already small.

## Optional: the ImageNet networks

A few sections (notebooks 01, 04 to 10) also run on networks trained on ImageNet (SqueezeNet, AlexNet,
VGG-16, VGG-19) when their weights are on your machine; without them those sections say so in one
line and the rest of the notebook runs as usual. Fetch the weights once, while online:

```bash
make weights                    # all four, about 1.3 GB
make weights MODELS=vgg16       # only the one a notebook names
```

(Without `make`: `.venv/bin/python -m course_utils.imagenet fetch vgg16`.) They go to PyTorch's cache
(`~/.cache/torch/hub/checkpoints`), where every notebook finds them.

## The same versions all semester

On Python 3.11 on Linux x86_64, `make lab` and `make test` install the exact versions the workbook is
tested with (`requirements/lock-linux-py311.txt`), whenever you install. Elsewhere they install the
newest versions `pyproject.toml` allows, and say so. `make LOCK= lab` installs without the lock.

## Exercises

Each exercise is a function whose signature and docstring are given; write its body where it says
`# YOUR CODE HERE` (and delete `raise NotImplementedError()`). The cell under it runs
`check(your_function)`, which says for every test case what passed or what is wrong. Your notebook is
graded on these cases and on hidden cases of the same kind, so solve the problem, not the examples.
Hand in your notebooks as they are in `notebooks/` (keep the file names and the function names).

## Is my homework right?

`make test` ends with one table of every exercise in your notebooks (`make check NB=01` prints it for
notebook 01 alone; `make check` for all of them):

```
notebook    exercise  function              points  status
01_filters  01.1      hidden_unit_line         2/2  passed
01_filters  01.2      cross_correlate          0/2  wrong: case "a 3x3 kernel on a 6x7 image": the output relative error ...
01_filters  01.3      conv_parameter_count     0/1  not done
```

Each exercise's function, as your notebook defines it, is called on the cases of the check cell under
it, with the same expected values: *passed* means every case agrees; *wrong* names the first case
that does not and why (the check cell shows every case); *not done* means the body still raises
`NotImplementedError`; *error* or *timed out* means its cell or the function failed to run or ran
past a minute. Only the cells grading runs are run (see below), so a function that needs a variable
computed in a skipped cell shows up here, as it would in grading. Hidden cases are not in this table.

`make test` exits with 0 when the environment works and every notebook runs through, whatever the
table says: **exit 0 does not mean your homework is right; the table does.**

When your notebook is graded, not every cell runs: the notebook's setup cell (the first one, as
given), every cell that defines an exercise's function, and every cell that holds nothing but
imports, function and class definitions and constants (`SCALE = 1 / 255`) run, in order. Any other
cell (one that loads data, trains, plots or calls `check`) is skipped. So a helper function may live
in a cell of its own, but an exercise's function must not need a variable that such a skipped cell
computes: compute it inside the function, or import it.

The files in `data/` (digits, shapes, the two trained networks and the self-checks' expected values)
are described in `data/README.md`.
"""

STUDENT_MAKEFILE = """# The two commands: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The exact versions the workbook is tested with, used with Python 3.11 on Linux x86_64; `make LOCK= lab` installs without it.
LOCK ?= requirements/lock-linux-py311.txt
# Empty: torch from PyPI (on Linux the CUDA build, about 6 GB in .venv). The CPU-only build (README):
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu lab
TORCH_INDEX ?=
# pip's progress bars stay on: the first install downloads about 3 GB (README).
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar on

.PHONY: lab test check weights

# $(VENV)/.constraints holds the pip option that pins the lock ("-c FILE"), or nothing (no lock for this Python and platform).
$(STAMP): pyproject.toml $(wildcard $(LOCK))
\t@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 lab")'
\t@echo "First install: about 3 GB to download (0.35 GB with TORCH_INDEX, see README); 5 to 20 minutes on a home connection."
\t$(PYTHON) -m venv $(VENV)
\t@if [ -n "$(LOCK)" ] && $(PY) -c 'import sys, platform; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64")'; then echo "-c $(LOCK)"; \\
\t  else echo "Installing without the lock: the newest versions pyproject.toml allows$(if $(LOCK), (the lock is for Python 3.11 on Linux x86_64))." >&2; fi > $(VENV)/.constraints
\t$(if $(TORCH_INDEX),$(PIP) $$(cat $(VENV)/.constraints) --no-deps --index-url $(TORCH_INDEX) torch torchvision)
\t$(PIP) $$(cat $(VENV)/.constraints) -e '.[test]'
\t$(PY) -m ipykernel install --sys-prefix --name optimizing-the-input --display-name "Python (Optimizing the Input)"
\t@touch $(STAMP)

# JupyterLab settings for the workbook (no news pop-up, every cell rendered).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_SETTINGS): config/jupyterlab/overrides.json $(STAMP)
\t@mkdir -p $(dir $@)
\tcp $< $@

# Server settings: the workbook's kernel is the only one offered; *.egg-info stays out of the file browser.
SERVER_CONFIG := $(VENV)/etc/jupyter/jupyter_server_config.json

$(SERVER_CONFIG): config/jupyterlab/jupyter_server_config.json $(STAMP)
\t@mkdir -p $(dir $@)
\tcp $< $@

# LAB_ARGS passes more options to JupyterLab, e.g. make lab LAB_ARGS=--no-browser
lab: $(STAMP) $(LAB_SETTINGS) $(SERVER_CONFIG)
\t$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# The exit status says whether the environment works and every notebook runs; the table after it says
# which exercises are right (README: Is my homework right?).
test: $(STAMP)
\t@status=0; $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=300 notebooks || status=$$?; \\
\t  $(PY) -m course_utils.homework || status=$$?; exit $$status

# The table of your exercises alone: every notebook, or one (make check NB=01).
check: $(STAMP)
\t$(PY) -m course_utils.homework $(NB)

# The optional ImageNet weights (needs internet): all four, or make weights MODELS=vgg16
weights: $(STAMP)
\t$(PY) -m course_utils.imagenet fetch $(or $(MODELS),squeezenet1_1 alexnet vgg16 vgg19)
"""

# Words that name what only instructors have (the folders and commands left out of the bundle).
INSTRUCTOR_ONLY = re.compile(r"\bbench/|\bmake notes\b|\binstructor[./]\w|\bmake (expected|grade|release|student|models|lock|notes|test-browser)\b|\be2e/")

# Shipped text files whose instructor-only mentions the build rewrites (Markdown prose and comments of
# configuration files; Python sources are kept free of them instead, and a test checks the bundle).
_STUDENT_WORDING = (
    (re.compile(r"`python -m instructor\.train [\w-]+`"), "the course's training script (instructors)"),
    (re.compile(r"`instructor\.train`"), "the course's training script"),
    (re.compile(r"`(?:python -m )?instructor\.[\w.]+(?: [\w-]+)*`"), "the course's own tools (instructors)"),
)


def _student_text(name: str, text: str) -> str:
    """The text of a shipped file as students receive it: no mention of what only instructors have."""
    if name.endswith(".md"):
        for pattern, words in _STUDENT_WORDING:
            text = pattern.sub(words, text)
        return text
    if name.endswith((".toml", ".txt", ".yml", ".cfg")):
        lines = []
        for line in text.splitlines(keepends=True):
            code, hash_, comment = line.partition("#")
            if hash_ and INSTRUCTOR_ONLY.search(comment) and code.count('"') % 2 == 0 and code.count("'") % 2 == 0:
                if not code.strip():
                    continue                                   # a whole comment line: drop it
                line = code.rstrip() + "\n"                     # a trailing comment: cut it
            lines.append(line)
        return "".join(lines)
    return text


_FILE_MODE = 0o100644   # -rw-r--r--: what unzip gives every file, whatever the mode on the instructor's disk


def _add(z: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = _FILE_MODE << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def shipped_files() -> list[str]:
    """The repository files that go into the bundle (tracked by git), as paths relative to the repository."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
        files = [f for f in listed.decode().split("\0") if f and (REPO / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file()]
    keep = []
    for f in files:
        if not f.startswith(SHIPPED) or f.startswith(GRADER_ONLY_DATA):
            continue
        if "__pycache__" in f or "/." in f or f.endswith((".pyc",)):
            continue
        keep.append(f)
    return sorted(keep)


_BARE = re.compile(r"(else|try|finally|pass|continue|break|return|return [A-Za-z_]\w*|[)\]}]+)\s*:?")


def solution_lines() -> set[str]:
    """The lines (stripped) of the solution regions of the solution notebooks that give something away.

    Left out, because they give nothing away: bare keywords (``else:``, ``pass``, ``return out``, a lone ``)``) and
    lines that the solution notebooks also show outside every solution region (the student version
    shows them too, e.g. ``with torch.no_grad():``).
    """
    inside, outside = set(), set()
    for path in sorted((REPO / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            src = cell.source.splitlines()
            in_region = [False] * len(src)
            for begin, end, _ in solution_regions(cell.source, path.name):
                inside.update(s.strip() for s in src[begin + 1:end] if s.strip())
                in_region[begin:end + 1] = [True] * (end + 1 - begin)
            outside.update(s.strip() for s, r in zip(src, in_region) if not r and s.strip())
    return {line for line in inside - outside if not _BARE.fullmatch(line)}


def leaked_lines(zip_path) -> list[tuple[str, str]]:
    """``(file, line)`` for each line of a solution region found, as a whole line, in a bundled file."""
    wanted = solution_lines()
    found = []
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            try:
                text = z.read(name).decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary data (arrays, checkpoints)
            if name.endswith(".ipynb"):  # look at the cells' lines, not the JSON's
                nb = nbformat.reads(text, as_version=4)
                text = "\n".join(c.source for c in nb.cells)
            for line in text.splitlines():
                if line.strip() in wanted:
                    found.append((name, line.strip()))
    return found


def build(out: Path, check: bool = True) -> Path:
    """Write the bundle to ``out``; with ``check``, refuse (RuntimeError) if it would hold a solution line."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists already: remove it or pass another --out.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in shipped_files():
            data = (REPO / f).read_bytes()
            try:
                data = _student_text(f, data.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                pass                                            # binary data (arrays, checkpoints) as it is
            _add(z, f"{NAME}/{f}", data)
        _add(z, f"{NAME}/README.md", STUDENT_README.encode())
        _add(z, f"{NAME}/Makefile", STUDENT_MAKEFILE.encode())
    leaks = leaked_lines(tmp) if check else []
    if leaks:
        tmp.unlink()
        shown = "; ".join(f"{n}: {l!r}" for n, l in leaks[:5])
        raise RuntimeError(f"The bundle would hold {len(leaks)} line(s) of solution regions ({shown}): "
                           f"rebuild notebooks/ with `make student` and keep solutions out of course_utils/.")
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.release", description="Build the student bundle (a zip).")
    parser.add_argument("--out", default=str(REPO / "dist" / f"{NAME}-student.zip"))
    args = parser.parse_args(argv)
    try:
        out = build(Path(args.out))
    except (FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(out) as z:
        n = len(z.namelist())
    print(f"wrote {out} ({n} files, {out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
