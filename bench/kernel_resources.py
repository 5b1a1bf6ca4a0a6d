"""What one student's kernel costs a hub: peak memory and CPU seconds of each notebook, Run All top to bottom.

Usage: .venv/bin/python bench/kernel_resources.py [NAME or PATH ...]   (default: every notebook in solutions/)

Each notebook runs in a fresh kernel of the workbook ("optimizing-the-input"), cell by cell as in
bench/notebooks.py, with one thread (OMP_NUM_THREADS=1, as config/jupyterhub/jupyterhub_config.py sets for every
student's server). Before the kernel is shut down, its /proc entry gives its peak resident memory (VmHWM) and
the CPU seconds it used (user + system, its waited-for children included). The solutions are measured: a student's
finished notebook runs the same code; an unfinished one runs less. Results go to bench/results/kernel_resources.json
(rows of notebooks not run are kept); the README's "Teaching on a JupyterHub" sizes the hub's guarantees from them.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # before any kernel starts: the hub's setting

import nbformat  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "kernel_resources.json"
_spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "bench" / "notebooks.py")
_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_notebooks)


def _proc_usage(pid: int) -> tuple[float, float]:
    """``(peak RSS in MiB, CPU seconds)`` of a live process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return peak_kb / 1024, ticks / os.sysconf("SC_CLK_TCK")


def measure(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="optimizing-the-input", cwd=str(path.parent))
    start, error = time.perf_counter(), None
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            content = _notebooks._run_cell(kc, cell.source, _notebooks.CELL_TIMEOUT)
            if content["status"] == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                error = f"cell {index}: {content.get('ename')}"
                break
        peak_mib, cpu_s = _proc_usage(km.provisioner.process.pid)
    finally:
        seconds = time.perf_counter() - start
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return {"notebook": f"{path.parent.name}/{path.name}", "peak_rss_mib": round(peak_mib), "cpu_s": round(cpu_s, 1),
            "wall_s": round(seconds, 1), "error": error}


def main(names: list[str]) -> int:
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    if names:  # names, or paths of notebooks (another copy of a solution: it takes that solution's row)
        paths = [Path(n) for n in names if Path(n).is_file()] + [p for p in paths if any(n in p.name for n in names)]
    rows = []
    for path in paths:
        row = measure(path)
        rows.append(row)
        print(f"{row['notebook']:45s} peak RSS {row['peak_rss_mib']:5d} MiB  CPU {row['cpu_s']:6.1f} s  "
              f"wall {row['wall_s']:6.1f} s  {row['error'] or ''}", flush=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    done = {r["notebook"] for r in rows}
    merged = sorted([r for r in old if r["notebook"] not in done] + rows, key=lambda r: r["notebook"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(merged, indent=1) + "\n")
    heaviest = max(merged, key=lambda r: r["peak_rss_mib"])
    print(f"heaviest: {heaviest['notebook']} at {heaviest['peak_rss_mib']} MiB; CPU seconds per notebook: "
          f"{min(r['cpu_s'] for r in merged)}-{max(r['cpu_s'] for r in merged)} (sum {sum(r['cpu_s'] for r in merged):.0f})")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
