"""How far the chosen chunk size is from the fastest one, for occlusion and SmoothGrad on three networks.

Usage: .venv/bin/python bench/chunking.py [--repeats R] [--quick]

For LeNet on MNIST digits, the shapes CNN and an untrained torchvision VGG-16 at 224 px it times
the solution's ``occlusion_map`` (exercise 04.1) and ``smoothgrad`` (exercise 05.2) with every
power-of-two chunk size up to the number of inputs to process, with all of them, and at the default
(``batch_size=None``: ``course_utils.choose_batch_size``), in one process with the repeats
interleaved (round-robin over the chunk sizes, so that a slow moment of the machine hits every size
alike); each time is the best of R, in CPU seconds of this process (``time.process_time``: PyTorch runs
on one thread here, see ``course_utils.device``, so that is the time an idle machine would take,
and other programs on a busy machine do not add their time slices to it; wall-clock ratios are
recorded too). It reports default / best (goal: at most 1.1), the old
constants (256 for occlusion, 64 for SmoothGrad) / best, and the working set that the best chunk
size implies (``layer_bytes_per_input`` x chunk), which is what ``TARGET_BYTES`` is set from.
It checks that every chunk size gives the same map (float round-off). Writes
bench/results/chunking.json. Timings depend on the machine and its load; the ratios are what to compare.
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
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import load_mnist, load_model, load_shapes  # noqa: E402
from course_utils.batching import TARGET_BYTES, choose_batch_size, layer_bytes_per_input  # noqa: E402
from instructor.expected import solution_functions  # noqa: E402

OLD_DEFAULTS = {"occlusion": 256, "smoothgrad": 64}


def cases(quick: bool):
    """(network, method, description, call(batch_size), model, inputs like the chunks', inputs to process, backward)."""
    nb04, nb05 = solution_functions("04_occlusion"), solution_functions("05_saliency")
    occlusion_map, smoothgrad = nb04["occlusion_map"], nb05["smoothgrad"]
    g = torch.Generator().manual_seed(0)
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    lenet, shapes_cnn = load_model("lenet-mnist", "cpu"), load_model("shapes-cnn", "cpu")
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).eval()
    photo = torch.rand(1, 3, 224, 224, generator=g)
    d = torch.randperm(len(digits), generator=g)[:16]
    s = torch.randperm(len(shapes), generator=g)[:8]
    n_samples = 25
    out = []
    for network, model, images, labels, patch, stride, n_images, vgg_samples in [
            ("LeNet 28x28", lenet, digits[d], digit_labels[d], 6, 1, 16, None),
            ("shapes CNN 64x64", shapes_cnn, shapes[s], shape_labels[s], 8, 2, 8, None),
            ("VGG-16 224x224 (untrained)", vgg, photo, torch.tensor([0]), 112, 56, 1, 6)]:
        x, t = images[:1], labels[:1]
        positions = ((x.shape[2] - patch) // stride + 1) * ((x.shape[3] - patch) // stride + 1)
        out.append((network, "occlusion", f"1 image, patch {patch}, stride {stride}: {positions} positions",
                    lambda b, m=model, x=x, t=t, p=patch, st=stride: occlusion_map(m, x, t, p, st, "zero", b),
                    model, x, positions, False))
        samples = vgg_samples or n_samples
        xs, ts = images[:n_images], labels[:n_images]
        out.append((network, "smoothgrad", f"{n_images} image(s) x {samples} samples: {n_images * samples} passes",
                    lambda b, m=model, x=xs, t=ts, k=samples: smoothgrad(m, x, t, 0.15, k, b, 0),
                    model, xs, n_images * samples, True))
    if quick:
        out = [c for c in out if not c[0].startswith("VGG")]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of every chunk size, best kept (default 3)")
    parser.add_argument("--quick", action="store_true", help="skip VGG-16 (about two thirds of the time)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; TARGET_BYTES {TARGET_BYTES / 2**20:.0f} MiB; best of {args.repeats}, interleaved",
          flush=True)
    rows = []
    for network, method, what, call, model, inputs, total, backward in cases(args.quick):
        per_input = layer_bytes_per_input(model, inputs)
        default = choose_batch_size(model, inputs, None, total=total)
        sizes = sorted({2**k for k in range(20) if 2**k < total} | {total})
        variants = [("default", None)] + [(str(b), b) for b in sizes]
        reference = call(1 if total <= 64 else sizes[len(sizes) // 2])
        worst = 0.0
        for _, b in variants:  # warm-up, and every chunk size must give the same map
            worst = max(worst, float((call(b) - reference).abs().max() / reference.abs().max().clamp(min=1e-12)))
        best = {name: float("inf") for name, _ in variants}
        wall = {name: float("inf") for name, _ in variants}
        for _ in range(args.repeats):
            for name, b in variants:
                start, start_wall = time.process_time(), time.perf_counter()
                call(b)
                best[name] = min(best[name], time.process_time() - start)
                wall[name] = min(wall[name], time.perf_counter() - start_wall)
        fastest = min(sizes, key=lambda b: best[str(b)])
        old = min(OLD_DEFAULTS[method], total)
        row = {"network": network, "method": method, "work": what, "inputs_to_process": total,
               "layer_bytes_per_input": per_input, "default_chunk": default, "best_chunk": fastest,
               "best_chunk_working_set_MiB": per_input * fastest / 2**20,
               "default_s": best["default"], "best_s": best[str(fastest)],
               "default_over_best": best["default"] / best[str(fastest)],
               "old_default_chunk": old, "old_default_over_best": best[str(old)] / best[str(fastest)],
               "wall_default_over_best": wall["default"] / min(wall[str(b)] for b in sizes),
               "max_rel_diff_between_chunk_sizes": worst,
               "cpu_seconds_by_chunk": {name: best[name] for name, _ in variants},
               "wall_seconds_by_chunk": {name: wall[name] for name, _ in variants}}
        rows.append(row)
        curve = " ".join(f"{b}:{best[str(b)] / best[str(fastest)]:.2f}" for b in sizes)
        print(f"{network:28s} {method:10s} {what}\n    {per_input / 1024:.0f} KiB per input; default {default} "
              f"-> {row['default_over_best']:.2f} x best ({fastest}, {row['best_chunk_working_set_MiB']:.1f} MiB); "
              f"old {old} -> {row['old_default_over_best']:.2f}; time / best by chunk: {curve}; "
              f"max rel. diff {worst:.1e}", flush=True)
    print(f"\n{'network':28s} {'method':10s} {'default':>7s} {'best':>5s} {'default/best':>12s} {'old/best':>9s} {'wall d/b':>9s}")
    for r in rows:
        print(f"{r['network']:28s} {r['method']:10s} {r['default_chunk']:7d} {r['best_chunk']:5d} "
              f"{r['default_over_best']:12.2f} {r['old_default_over_best']:9.2f} {r['wall_default_over_best']:9.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "processor": platform.processor(), "load_average_1min": os.getloadavg()[0],
            "repeats": args.repeats, "target_bytes": TARGET_BYTES, "clock": "process_time (CPU seconds)"}
    (out / "chunking.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {(out / 'chunking.json').relative_to(ROOT)}")
    worst = max(r["max_rel_diff_between_chunk_sizes"] for r in rows)
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
