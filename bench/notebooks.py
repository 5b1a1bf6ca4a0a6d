"""Time every notebook end to end, as a student's Run All would run it.

Usage: .venv/bin/python bench/notebooks.py [--load] [--repeat N [--jobs J]] [NAME ...]
(default: every notebook in solutions/ and notebooks/)

Prints one line per notebook (seconds, cells, errors) and writes bench/results/notebooks.json.
The budget is 60 s per notebook on a 2-core laptop CPU.

``--load`` runs each notebook twice, quietly and then beside a CPU hog (one process that keeps one
core busy, as a lecture laptop's browser or video call does), and reports both times and their ratio
(budget: at most 2x); the results go to bench/results/notebooks-load.json, and the quiet runs to
bench/results/notebooks.json as without ``--load``. Each table keeps the rows of the notebooks not run,
so ``--load 03`` re-measures one lecture.

``--repeat N`` is the hang hunt: it runs each notebook N times beside the CPU hog, with a cell
timeout of ``HANG_SECONDS``; a cell that runs past it counts as a hang, and the stuck kernel's Python
stack is dumped with py-spy (if installed) before the run is abandoned. Results (every run's time,
every hang with its stack) go to bench/results/notebooks-hangs.json.
"""
from __future__ import annotations

import json
import multiprocessing
import queue
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600  # seconds for one cell
HANG_SECONDS = 180  # --repeat: a cell this slow counts as a hang (the slowest cell takes about 20 s loaded)


class CellError(Exception):
    """A cell not tagged raises-exception raised an error."""


def _run_cell(kc, source: str, timeout: float) -> dict:
    """Execute one cell and wait for its reply and for the kernel to go idle; return the reply's content.

    This uses jupyter_client's blocking client, as nbval does. nbclient's asyncio client (which this
    benchmark used before) can miss the ZeroMQ wake-up for the reply of a cell that shows widgets and
    then sits until the cell's timeout runs out before it looks again: that was the "hang".
    """
    msg_id = kc.execute(source, store_history=True, allow_stdin=False)
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    while True:  # drain this cell's outputs until the kernel says it is idle
        msg = kc.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            return reply["content"]


def _kernel_stack(km) -> str:
    """The kernel's Python stack (py-spy dump), or why it could not be had."""
    try:
        pid = km.provisioner.process.pid
        dump = subprocess.run([str(Path(sys.executable).with_name("py-spy")), "dump", "--pid", str(pid)],
                              capture_output=True, text=True, timeout=60)
        return (dump.stdout or dump.stderr)[:6000]
    except Exception as exc:  # no py-spy, no permission: say so in the results
        return f"no stack: {type(exc).__name__}: {exc}"


def time_notebook(path: Path, cell_timeout: float = CELL_TIMEOUT) -> dict:
    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="optimizing-the-input", cwd=str(path.parent))
    stack = None
    start = time.perf_counter()
    error = None
    try:
        # Like JupyterLab's Run All: cells tagged raises-exception may fail, others may not.
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            try:
                content = _run_cell(kc, cell.source, cell_timeout)
            except queue.Empty:
                stack = _kernel_stack(km)
                raise TimeoutError(f"cell {index} ran past {cell_timeout:.0f} s") from None
            if content["status"] == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                raise CellError(f"cell {index}: {content.get('ename')}: {content.get('evalue', '')[:150]}")
    except Exception as exc:  # an error cell, or a timeout (queue.Empty), ends the run
        error = (str(exc) or type(exc).__name__).splitlines()[0][:200]
    finally:
        seconds = time.perf_counter() - start
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return {"notebook": f"{path.parent.name}/{path.name}", "seconds": round(seconds, 1),
            "cells": sum(c.cell_type == "code" for c in nb.cells), "error": error, "stack": stack}


def main_repeat(paths: list[Path], repeat: int, jobs: int = 1) -> int:
    """Run each notebook ``repeat`` times beside the CPU hog, ``jobs`` runs at a time (each in its own process).

    ``--jobs 2`` is the harder test on a 2-core machine, as ``make test`` runs two notebooks at once: two
    kernels and the hog compete for the two cores. Results merge into notebooks-hangs.json by notebook name,
    so a hunt over some notebooks keeps the runs recorded for the others.
    """
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    context = multiprocessing.get_context("spawn")
    with cpu_hog(), ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {path: [pool.submit(time_notebook, path, HANG_SECONDS) for _ in range(repeat)] for path in paths}
        for path in paths:
            runs = [future.result() for future in futures[path]]
            hangs = [r for r in runs if r["stack"] is not None]
            errors = [r["error"] for r in runs if r["error"] and r["stack"] is None]
            seconds = sorted(r["seconds"] for r in runs)
            entry = {"notebook": runs[0]["notebook"], "runs": len(runs), "jobs": jobs, "hangs": len(hangs),
                     "errors": errors, "seconds_median": seconds[len(seconds) // 2],
                     "seconds_max": seconds[-1], "stacks": [r["stack"] for r in hangs]}
            ok = ok and not hangs and not errors
            print(f"{entry['notebook']:40s} {len(runs)} loaded runs, {len(hangs)} hangs, {len(errors)} errors, "
                  f"median {entry['seconds_median']:.1f} s, max {entry['seconds_max']:.1f} s", flush=True)
            _merge(out / "notebooks-hangs.json", [entry])  # written after each notebook: a long hunt keeps what it found
    return 0 if ok else 1


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
    results, quiet_runs = [], []
    for path in paths:
        quiet = time_notebook(path)
        quiet_runs.append({k: v for k, v in quiet.items() if k != "stack"})
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
    _merge(out / "notebooks-load.json", results)
    _merge(out / "notebooks.json", quiet_runs)  # the quiet runs are the plain table
    return 0 if all(r["error"] is None for r in results) else 1


def main(names: list[str]) -> int:
    load = "--load" in names
    names = [n for n in names if n != "--load"]
    repeat = 0
    if "--repeat" in names:
        at = names.index("--repeat")
        if at + 1 >= len(names) or not names[at + 1].isdigit() or int(names[at + 1]) < 1:
            print("error: --repeat needs a positive number of runs, e.g. --repeat 20", file=sys.stderr)
            return 2
        repeat = int(names.pop(at + 1))
        names.pop(at)
    jobs = 1
    if "--jobs" in names:
        at = names.index("--jobs")
        if at + 1 >= len(names) or not names[at + 1].isdigit() or int(names[at + 1]) < 1:
            print("error: --jobs needs a positive number of parallel runs, e.g. --jobs 2", file=sys.stderr)
            return 2
        jobs = int(names.pop(at + 1))
        names.pop(at)
    paths = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    if repeat:
        return main_repeat(paths, repeat, jobs)
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
    _merge(out / "notebooks.json", results)
    return 0 if all(r["error"] is None for r in results) else 1


def _merge(record: Path, entries: list[dict]) -> None:
    """Write ``entries`` into the JSON list at ``record``, replacing rows of the same notebook and keeping the others.

    So a run over some notebooks (``bench/notebooks.py --load 03``) updates their rows of the table and
    leaves the rest as last measured; rows are kept in notebook order (solutions first).
    """
    rows = {r["notebook"]: r for r in (json.loads(record.read_text()) if record.exists() else [])}
    rows.update({r["notebook"]: r for r in entries})
    order = sorted(rows, key=lambda name: (not name.startswith("solutions/"), name))
    record.write_text(json.dumps([rows[name] for name in order], indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
