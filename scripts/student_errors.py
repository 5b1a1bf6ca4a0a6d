"""List every error a notebook shows when run top to bottom, as JupyterLab's Run All runs it.

Usage: .venv/bin/python scripts/student_errors.py [--json OUT] [NAME ...]   (default: every notebook in notebooks/)

For each cell that shows an error (the cell's own, or one drawn by a widget during the cell) it prints
the cell index, the error's name and its traceback's length in lines, and whether the cell also drew a
picture; an unfinished exercise should give exactly one line naming it (course_utils.unfinished).
Cells run with jupyter_client's blocking client, as bench/notebooks.py does.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_notebook(path: Path, timeout: float = 300) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(path.parent))
    found = []
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            msg_id = kc.execute(cell.source, store_history=True, allow_stdin=False)
            deadline = time.monotonic() + timeout
            errors, images, status = [], 0, None
            while True:
                msg = kc.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "error":
                    text = ANSI.sub("", "\n".join(content["traceback"]))
                    errors.append({"ename": content["ename"], "evalue": content["evalue"][:200],
                                   "lines": len(text.splitlines()), "text": text[-600:]})
                elif kind in ("display_data", "execute_result") and "image/png" in content.get("data", {}):
                    images += 1
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            while True:
                reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    status = reply["content"]["status"]
                    break
            if errors or status == "error":
                found.append({"cell": index, "status": status, "images": images,
                              "tags": cell.metadata.get("tags", []), "first_line": cell.source.splitlines()[0][:80],
                              "errors": errors})
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return found


def main(argv: list[str]) -> int:
    out = None
    if "--json" in argv:
        i = argv.index("--json")
        out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if argv:
        paths = [p for p in paths if any(n in p.name for n in argv)]
    results = {}
    for path in paths:
        start = time.perf_counter()
        found = run_notebook(path)
        results[path.stem] = found
        print(f"== {path.name}: {sum(len(f['errors']) for f in found)} error outputs in {len(found)} cells "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        for f in found:
            for e in f["errors"] or [{"ename": "(reply error, no output)", "lines": 0, "text": ""}]:
                last = e["text"].strip().splitlines()[-1][:150] if e["text"].strip() else ""
                where = "cell" if f["status"] == "error" else "widget"  # the cell ran: a widget showed it
                print(f"  cell {f['cell']:3d} {where:6s} {e['ename']:20s} {e['lines']:3d} lines  images={f['images']}  {last}")
    if out:
        out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
