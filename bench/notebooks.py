"""Time every notebook end to end, as a student's Run All would run it.

Usage: .venv/bin/python bench/notebooks.py [--load] [NAME ...]   (default: every notebook in solutions/ and notebooks/)

Prints one line per notebook (seconds, cells, errors) and writes bench/results/notebooks.json.
The budget is 60 s per notebook on a 2-core laptop CPU.

``--load`` runs each notebook twice, quietly and then beside a CPU hog (one process that keeps one
core busy, as a lecture laptop's browser or video call does), and reports both times and their ratio
(budget: at most 2x); the results go to bench/results/notebooks-load.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    # Like JupyterLab's Run All: cells tagged raises-exception may fail, others may not.
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).splitlines()[0][:200]
    seconds = time.perf_counter() - start
    return {"notebook": f"{path.parent.name}/{path.name}", "seconds": round(seconds, 1),
            "cells": sum(c.cell_type == "code" for c in nb.cells), "error": error}


@contextmanager
def cpu_hog():
    """Keep one core busy with a separate process for the duration of the block."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        hog.kill()
        hog.wait()


def main_load(paths: list[Path]) -> int:
    results = []
    for path in paths:
        quiet = time_notebook(path)
        with cpu_hog():
            loaded = time_notebook(path)
        ratio = loaded["seconds"] / max(quiet["seconds"], 1e-9)
        error = quiet["error"] or loaded["error"]
        results.append({"notebook": quiet["notebook"], "quiet_seconds": quiet["seconds"],
                        "loaded_seconds": loaded["seconds"], "ratio": round(ratio, 2), "error": error})
        flag = "" if ratio <= 2 else "  over the 2x budget"
        status = "ok" if error is None else f"ERROR {error}"
        print(f"{quiet['notebook']:40s} quiet {quiet['seconds']:6.1f} s  loaded {loaded['seconds']:6.1f} s  "
              f"x{ratio:4.2f}{flag}  {status}", flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "notebooks-load.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["error"] is None for r in results) else 1


def main(names: list[str]) -> int:
    load = "--load" in names
    names = [n for n in names if n != "--load"]
    paths = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    if load:
        return main_load(paths)
    results = []
    for path in paths:
        r = time_notebook(path)
        results.append(r)
        status = "ok" if r["error"] is None else f"ERROR {r['error']}"
        print(f"{r['notebook']:40s} {r['seconds']:6.1f} s  {r['cells']:3d} code cells  {status}", flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "notebooks.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["error"] is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
