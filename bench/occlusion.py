"""Time the batched occlusion map against a per-position loop, on the same model and input.

Usage: .venv/bin/python bench/occlusion.py [--repeats R]

For LeNet on one MNIST digit and for the shapes CNN on one shapes image, it runs
* the batched occlusion map of notebook 04 (the solution's ``occlusion_map``, batches of 1, 16, 64, 256), and
* a plain loop that copies the image, pastes one patch and classifies that one image, position by position,
checks that they agree, and reports seconds per map and forward passes per second (the best of R runs).
Prints a table and writes bench/results/occlusion.json. Timings depend on the load of the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import load_mnist, load_model, load_shapes  # noqa: E402
from instructor.expected import solution_functions  # noqa: E402

BATCH_SIZES = (16, 64, 256)
SETTINGS = [  # name, model, patch size, stride
    ("LeNet / MNIST 28x28", "lenet-mnist", 8, 2),
    ("LeNet / MNIST 28x28", "lenet-mnist", 6, 1),
    ("shapes CNN 64x64", "shapes-cnn", 16, 8),
    ("shapes CNN 64x64", "shapes-cnn", 16, 4),
]


def loop_occlusion_map(model, inputs, target, patch_size, stride):
    """One forward pass per patch position (zero fill): the definition, without batching."""
    _, _, height, width = inputs.shape
    n_rows, n_cols = (height - patch_size) // stride + 1, (width - patch_size) // stride + 1
    out = torch.empty(inputs.shape[0], n_rows, n_cols)
    with torch.no_grad():
        for i in range(inputs.shape[0]):
            p_clean = model(inputs[i:i + 1]).softmax(dim=1)[0, target[i]]
            for r in range(n_rows):
                for c in range(n_cols):
                    hidden = inputs[i:i + 1].clone()
                    hidden[:, :, r * stride:r * stride + patch_size, c * stride:c * stride + patch_size] = 0
                    out[i, r, c] = p_clean - model(hidden).softmax(dim=1)[0, target[i]]
    return out


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best one counts (default 3)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")
    occlusion_map = solution_functions("04_occlusion")["occlusion_map"]
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    inputs = {"lenet-mnist": (digits[:1], digit_labels[:1]), "shapes-cnn": (shapes[:1], shape_labels[:1])}
    models = {name: load_model(name, device="cpu") for name in inputs}
    rows = []
    header = f"{'model':22s} {'patch':>5s} {'stride':>6s} {'passes':>6s} {'method':>14s} {'seconds':>8s} {'passes/s':>9s} {'speed-up':>8s}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(header)
    print("-" * len(header))
    for label, name, patch_size, stride in SETTINGS:
        model, (x, y) = models[name], inputs[name]
        side_r, side_c = (x.shape[2] - patch_size) // stride + 1, (x.shape[3] - patch_size) // stride + 1
        passes = 1 + side_r * side_c
        reference = loop_occlusion_map(model, x, y, patch_size, stride)
        loop_s = best_time(lambda: loop_occlusion_map(model, x, y, patch_size, stride), args.repeats)
        results = [("per-position loop", loop_s, 0.0)]
        for batch_size in BATCH_SIZES:
            diff = (occlusion_map(model, x, y, patch_size, stride, "zero", batch_size) - reference).abs().max().item()
            seconds = best_time(lambda: occlusion_map(model, x, y, patch_size, stride, "zero", batch_size), args.repeats)
            results.append((f"batched ({batch_size})", seconds, diff))
        for method, seconds, diff in results:
            row = {"model": name, "label": label, "patch_size": patch_size, "stride": stride, "forward_passes": passes,
                   "method": method, "seconds": seconds, "passes_per_second": passes / seconds,
                   "speedup_over_loop": loop_s / seconds, "max_abs_difference_to_loop": diff}
            rows.append(row)
            print(f"{label:22s} {patch_size:5d} {stride:6d} {passes:6d} {method:>14s} {seconds:8.4f} "
                  f"{row['passes_per_second']:9.0f} {row['speedup_over_loop']:7.1f}x")
    worst = max(r["max_abs_difference_to_loop"] for r in rows)
    print(f"largest difference between batched and loop maps: {worst:.1e}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "load_average_1min": os.getloadavg()[0], "repeats": args.repeats}
    (out / "occlusion.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {(out / 'occlusion.json').relative_to(ROOT)}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
