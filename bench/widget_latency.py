"""Time every control of a notebook in the kernel: the redraw a slider, dropdown or toggle triggers.

Usage: .venv/bin/python bench/widget_latency.py [--profile] NAME [NAME ...]   (e.g. 02 03_tsne solutions/07_...)

Runs the solution notebook in a kernel (as bench/notebooks.py does), with ``interactive_plot`` wrapped so
that each widget it builds is remembered. Then, for every control, it moves the control as the browser
test does (one step, then to the far end, then back to the start) and times each move from setting the
value to the end of the redraw (``draw`` and the PNG it shows), in wall-clock and in the kernel's CPU
time (steadier on a shared machine), with the time spent in full garbage collections, and separately the
``draw`` call alone. This is the kernel's share of the key press to picture latency that
``make test-browser`` measures (the browser adds the transfer and the display). It also reports the
notebook's run time and each cell's CPU time.

Prints one line per control and each notebook's median and maximum of the first moves (the move that
the browser test times); writes bench/results/widget_latency.json. ``--profile`` adds the top functions
of a cProfile of one move per control.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebooks import _run_cell  # noqa: E402  (the blocking-client cell runner of bench/notebooks.py)

ROOT = Path(__file__).resolve().parents[1]

PREAMBLE = """
import course_utils as _cu, course_utils.widgets as _cw
_latency_boxes = []
_interactive_plot = _cw.interactive_plot
def _recording_interactive_plot(draw, **controls):
    box = _interactive_plot(draw, **controls)
    _latency_boxes.append((_latency_cell, draw, box))
    return box
_cw.interactive_plot = _cu.interactive_plot = _recording_interactive_plot
"""

MEASURE = r"""
import json as _json, time as _time, cProfile as _cProfile, pstats as _pstats, io as _io
import matplotlib.pyplot as _plt

def _moves(control):
    if hasattr(control, "options") and not hasattr(control, "min"):
        values = [v[1] if isinstance(v, tuple) else v for v in control.options]
        others = [v for v in values if v != control.value]
        return [others[0], others[-1], others[len(others) // 2]]
    step, lo, hi, v = control.step, control.min, control.max, control.value
    return [v + step if v + step <= hi else v - step, hi if v != hi else lo, lo if v != lo else hi]

import gc as _gc
_gc_log = []
def _gc_timer(phase, info, _start=[0.0]):
    if phase == "start":
        _start[0] = _time.perf_counter()
    elif info["generation"] == 2:
        _gc_log.append(_time.perf_counter() - _start[0])
_gc.callbacks.append(_gc_timer)

def _measure(profile):
    results = []
    for cell, draw, box in _latency_boxes:
        controls = getattr(box, "controls", {})
        if not hasattr(box, "redraw"):
            continue
        for name, control in controls.items():
            row = {"cell": cell, "control": f"{type(control).__name__} {control.description!r}", "moves": []}
            for target in _moves(control):
                if target == control.value:
                    continue
                start, cpu = _time.perf_counter(), _time.process_time()
                _gc_log.clear()
                try:
                    control.value = target
                except Exception as exc:
                    row["moves"].append({"value": repr(target), "error": f"{type(exc).__name__}: {exc}"})
                    _plt.close("all")
                    continue
                total, total_cpu = _time.perf_counter() - start, _time.process_time() - cpu
                gc_ms = sum(_gc_log)
                values = {n: c.value for n, c in controls.items()}
                start = _time.perf_counter()
                with box.output:
                    draw(**values)
                draw_only = _time.perf_counter() - start
                figures = [_plt.figure(n) for n in _plt.get_fignums()]
                pixels = sum(int(f.get_figwidth() * f.dpi) * int(f.get_figheight() * f.dpi) for f in figures)
                _plt.close("all")
                box.output.clear_output()
                row["moves"].append({"value": repr(target), "ms": round(1000 * total, 1), "cpu_ms": round(1000 * total_cpu, 1), "gc2_ms": round(1000 * gc_ms, 1),
                                     "draw_ms": round(1000 * draw_only, 1), "figures": len(figures),
                                     "megapixels": round(pixels / 1e6, 2)})
            if profile:
                profiler = _cProfile.Profile()
                profiler.enable()
                try:
                    control.value = _moves(control)[0]
                except Exception:
                    pass
                profiler.disable()
                text = _io.StringIO()
                _pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
                row["profile"] = text.getvalue()
            results.append(row)
    return results

print("LATENCY" + _json.dumps(_measure(PROFILE)))
print(f"GC tracked objects: {len(_gc.get_objects())}, frozen: {_gc.get_freeze_count()}")
"""


def measure(path: Path, profile: bool = False) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(path.parent))
    try:
        _run_cell(kc, PREAMBLE + "\n_latency_cell = None", 120)
        _run_cell(kc, "import time as _t; _cpu = {}", 30)
        wall = {}
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            _run_cell(kc, f"_latency_cell = {index}; _cpu[{index}] = _t.process_time()", 30)
            start = time.perf_counter()
            _run_cell(kc, cell.source, 600)
            wall[index] = time.perf_counter() - start
            _run_cell(kc, f"_cpu[{index}] = _t.process_time() - _cpu[{index}]", 30)
        cells = {"wall_s": round(sum(wall.values()), 1)}
        msg_id = kc.execute("import json as _json\nprint('CELLS' + _json.dumps({k: round(v, 2) for k, v in _cpu.items()}))\n"
                            + MEASURE.replace("PROFILE", str(profile)))
        text = ""
        while True:
            msg = kc.get_iopub_msg(timeout=600)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            elif msg["msg_type"] == "error":  # a redraw's error, shown in its Output widget (or the cell's own)
                print(f"{path.stem}: error while moving controls: {msg['content']['ename']}: {msg['content']['evalue'][:200]}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        cpu = next((line for line in text.splitlines() if line.startswith("CELLS")), None)
        if cpu is not None:
            cells["cpu_s_per_cell"] = json.loads(cpu[len("CELLS"):])
            cells["cpu_s"] = round(sum(cells["cpu_s_per_cell"].values()), 1)
            print(f"{path.stem}: ran in {cells['wall_s']} s wall, {cells['cpu_s']} s kernel CPU; slowest cells (CPU s): "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(cells["cpu_s_per_cell"].items(), key=lambda kv: -kv[1])[:4]))
        line = next((line for line in text.splitlines() if line.startswith("LATENCY")), None)
        if line is None:
            raise RuntimeError(f"the measuring cell printed no result:\n{text[-2000:]}")
        return cells, json.loads(line[len("LATENCY"):])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _median(values):
    values = sorted(values)
    m = len(values) // 2
    return values[m] if len(values) % 2 else (values[m - 1] + values[m]) / 2


def main(argv: list[str]) -> None:
    profile = "--profile" in argv
    names = [a for a in argv if not a.startswith("--")]
    results_path = ROOT / "bench" / "results" / "widget_latency.json"
    try:
        results = json.loads(results_path.read_text())
    except (FileNotFoundError, ValueError):
        results = {}
    for name in names:
        path = Path(name) if name.endswith(".ipynb") else next((ROOT / "solutions").glob(f"{name}*.ipynb"))
        cells, rows = measure(path, profile)
        for row in rows:
            moves = ", ".join(m["error"][:60] if "error" in m else f"{m['ms']:.0f} (cpu {m['cpu_ms']:.0f}; draw {m['draw_ms']:.0f}" + (f"; gc {m['gc2_ms']:.0f})" if m["gc2_ms"] else ")")
                              for m in row["moves"])
            print(f"{path.stem} cell {row['cell']:2d} {row['control']:40s} ms: {moves}")
            if profile:
                print(row["profile"])
        first = [row["moves"][0]["ms"] for row in rows if row["moves"] and "ms" in row["moves"][0]]
        every = [m["ms"] for row in rows for m in row["moves"] if "ms" in m]
        summary = {"controls": len(rows), "median_ms": round(_median(first)) if first else None,
                   "max_ms": round(max(first)) if first else None,
                   "median_all_moves_ms": round(_median(every)) if every else None,
                   "max_all_moves_ms": round(max(every)) if every else None}
        print(f"{path.stem}: {summary}")
        results[path.stem] = {**summary, "run": cells, "controls_detail": [{k: v for k, v in r.items() if k != "profile"} for r in rows]}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
