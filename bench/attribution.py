"""Every attribution method of the workbook against Captum's best setting and against a per-sample loop.

Usage: .venv/bin/python bench/attribution.py [--repeats R]      (Captum is a dependency of the workbook)

For each method and network, in one process, with the repeats interleaved (round-robin over all
variants, so that a slow moment of the machine hits every variant alike), it times:

* the workbook's method at its default settings (occlusion: patch 7, stride 1 on digits as in notebook
  04, and 8/4 on shapes) (the solution notebooks' exercise functions, loaded as
  the expected values are, and the ``course_utils`` functions);
* the same method called on one image at a time (the per-sample loop);
* Captum's implementation at each of its batch settings, keeping the best.

It asserts that the workbook's map equals Captum's on the same inputs (relative to the largest value,
float32 round-off) before timing anything, and prints one table of ratios: default / Captum best and
loop / default. Seconds are best-of-R; ratios are what to compare across machines. SmoothGrad draws its
noise differently from Captum's NoiseTunnel, so it is compared for speed only (its equality with a
per-sample loop over the same noise is tested in tests/test_nb05_saliency.py). Results go to
bench/results/attribution.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import warnings

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

try:
    from captum.attr import (Deconvolution, GuidedBackprop, InputXGradient, LayerAttribution, LayerGradCam,
                             NoiseTunnel, Occlusion, Saliency)
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("bench/attribution.py needs Captum, a dependency of the workbook: run `make lab` (or `.venv/bin/pip install -e .`) first.")

from course_utils import gradient_x_input, load_mnist, load_model, load_shapes
from course_utils.hooks import relu_rule_gradient
from instructor.expected import solution_functions
from course_utils.hooks import get_layer


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|, the self-checks' measure."""
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def per_sample(method, model, inputs, target, **options):
    return torch.cat([method(model, inputs[i:i + 1], target[i:i + 1], **options) for i in range(len(inputs))])


def cases():
    """(name, model, inputs, target, Grad-CAM layer) for the two networks."""
    g = torch.Generator().manual_seed(0)
    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    i = torch.randperm(len(digits), generator=g)[:16]
    j = torch.randperm(len(shapes), generator=g)[:8]
    return [("LeNet, 16 digits", load_model("lenet-mnist", "cpu"), digits[i], digit_labels[i], "relu2"),
            ("shapes CNN, 8 shapes", load_model("shapes-cnn", "cpu"), shapes[j], shape_labels[j], "features.relu3_2")]


def methods(nb04, nb05):
    """Per method: the workbook's call, its Captum counterparts by setting, and an equality check."""
    occlusion_map, saliency_map, smoothgrad, grad_cam = (nb04["occlusion_map"], nb05["saliency_map"],
                                                         nb05["smoothgrad"], nb05["grad_cam"])

    def probs(model):
        return lambda x: model(x).softmax(dim=1)

    def occlusion_captum(model, x, t, patch, stride, per_eval):
        return Occlusion(probs(model)).attribute(x, sliding_window_shapes=(x.shape[1], patch, patch),
                                                 strides=(x.shape[1], stride, stride), target=t, baselines=0.0,
                                                 perturbations_per_eval=per_eval)

    def occlusion_equal(model, x, t, layer):
        # With stride = patch (every pixel under exactly one window) Captum's per-pixel map is the
        # workbook's per-position map repeated over each patch.
        patch = 4 if x.shape[-1] == 28 else 8
        ours = occlusion_map(model, x, t, patch_size=patch, stride=patch, fill="zero")
        theirs = occlusion_captum(model, x, t, patch, patch, 64)[:, 0]
        return rel_diff(ours.repeat_interleave(patch, 1).repeat_interleave(patch, 2), theirs)

    def smooth_captum(model, x, t, batch):
        spread = x.flatten(1)
        std = float(0.15 * (spread.max(1).values - spread.min(1).values).mean())
        return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=25, stdevs=std,
                                                      nt_samples_batch_size=batch, target=t, abs=True).amax(1)

    return {
        "saliency (05.1)": {
            "ours": lambda m, x, t, layer: saliency_map(m, x, t),
            "captum": {"Saliency": lambda m, x, t, layer: Saliency(m).attribute(x, target=t, abs=True).amax(1)},
            "equal": lambda m, x, t, layer: rel_diff(saliency_map(m, x, t),
                                                     Saliency(m).attribute(x, target=t, abs=True).amax(1)),
        },
        "gradient x input": {
            "ours": lambda m, x, t, layer: gradient_x_input(m, x, t),
            "captum": {"InputXGradient": lambda m, x, t, layer: InputXGradient(m).attribute(x, target=t).sum(1)},
            "equal": lambda m, x, t, layer: rel_diff(gradient_x_input(m, x, t),
                                                     InputXGradient(m).attribute(x, target=t).sum(1)),
        },
        "guided backprop": {
            "ours": lambda m, x, t, layer: relu_rule_gradient(m, x, t, "guided"),
            "captum": {"GuidedBackprop": lambda m, x, t, layer: GuidedBackprop(m).attribute(x, target=t)},
            "equal": lambda m, x, t, layer: rel_diff(relu_rule_gradient(m, x, t, "guided"),
                                                     GuidedBackprop(m).attribute(x, target=t)),
        },
        "deconvnet": {
            "ours": lambda m, x, t, layer: relu_rule_gradient(m, x, t, "deconvnet"),
            "captum": {"Deconvolution": lambda m, x, t, layer: Deconvolution(m).attribute(x, target=t)},
            "equal": lambda m, x, t, layer: rel_diff(relu_rule_gradient(m, x, t, "deconvnet"),
                                                     Deconvolution(m).attribute(x, target=t)),
        },
        "Grad-CAM (05.3)": {
            "ours": lambda m, x, t, layer: grad_cam(m, x, t, layer),
            "captum": {"LayerGradCam": lambda m, x, t, layer: LayerAttribution.interpolate(
                LayerGradCam(m, get_layer(m, layer)).attribute(x, target=t, relu_attributions=True),
                tuple(x.shape[2:]), interpolate_mode="bilinear")[:, 0]},
            "equal": lambda m, x, t, layer: rel_diff(grad_cam(m, x, t, layer), LayerAttribution.interpolate(
                LayerGradCam(m, get_layer(m, layer)).attribute(x, target=t, relu_attributions=True),
                tuple(x.shape[2:]), interpolate_mode="bilinear")[:, 0]),
        },
        "SmoothGrad n=25 (05.2)": {
            "ours": lambda m, x, t, layer: smoothgrad(m, x, t, sigma=0.15, n_samples=25),
            "captum": {f"NoiseTunnel batch {b}": (lambda b: lambda m, x, t, layer: smooth_captum(m, x, t, b))(b)
                       for b in (1, 5, 25)},
            "equal": None,
        },
        "occlusion (04.1)": {
            "ours": lambda m, x, t, layer: occlusion_map(m, x, t, patch_size=8 if x.shape[-1] > 28 else 7,
                                                          stride=4 if x.shape[-1] > 28 else 1),
            "captum": {f"Occlusion {b} per eval": (lambda b: lambda m, x, t, layer: occlusion_captum(
                m, x, t, 8 if x.shape[-1] > 28 else 7, 4 if x.shape[-1] > 28 else 1, b))(b) for b in (1, 16, 64, 256)},
            "equal": occlusion_equal,
        },
    }


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")  # Captum warns about inputs that need no grad and about hooks
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of every variant (best is kept)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    nb04, nb05 = solution_functions("04_occlusion"), solution_functions("05_saliency")
    table = methods(nb04, nb05)
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; best of {args.repeats}, interleaved", flush=True)
    for case_name, model, x, t, layer in cases():
        for method, spec in table.items():
            equal = spec["equal"](model, x, t, layer) if spec["equal"] else None
            if equal is not None:
                assert equal < 1e-4, f"{method} on {case_name}: the workbook and Captum differ by {equal:.1e}"
            variants = {"default": spec["ours"], "per-sample loop": lambda m, x, t, layer, f=spec["ours"]: per_sample(
                lambda m_, x_, t_: f(m_, x_, t_, layer), m, x, t)}
            variants.update({f"captum: {k}": v for k, v in spec["captum"].items()})
            best = {name: float("inf") for name in variants}
            for _ in range(args.repeats):
                for name, call in variants.items():
                    start = time.perf_counter()
                    call(model, x, t, layer)
                    best[name] = min(best[name], time.perf_counter() - start)
            captum_best = min((v, k) for k, v in best.items() if k.startswith("captum"))
            row = {"case": case_name, "method": method, "default_s": best["default"],
                   "loop_s": best["per-sample loop"], "captum_best_s": captum_best[0],
                   "captum_best": captum_best[1][len("captum: "):],
                   "default_over_captum": best["default"] / captum_best[0],
                   "loop_over_default": best["per-sample loop"] / best["default"], "max_rel_diff_vs_captum": equal,
                   "all_s": best}
            rows.append(row)
            same = "speed only" if equal is None else f"equal ({equal:.0e})"
            print(f"{case_name:22s} {method:24s} default {row['default_s']:.4f} s | loop/default "
                  f"{row['loop_over_default']:5.2f} | default/Captum best {row['default_over_captum']:5.2f} "
                  f"({row['captum_best']}) | {same}", flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "attribution.json").write_text(json.dumps(rows, indent=1) + "\n")
    over = [f"{r['case']}: {r['method']} ({r['default_over_captum']:.2f})" for r in rows if r["default_over_captum"] > 1.0]
    print("default slower than Captum's best: " + ("; ".join(over) if over else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
