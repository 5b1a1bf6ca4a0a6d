"""Exercises of notebook 06_guided_backprop: the test inputs only, never the answers.

Notebook 06 also uses Grad-CAM (exercise 05.3, ``grad_cam``) and the top-activation search (exercise
02.1, ``top_activations``); students paste their own functions, which are checked against notebooks
05's and 02's expected values. They are registered with those notebooks, not here.
"""
from __future__ import annotations

import torch

from . import Case, Exercise, draw_test_images, uniform

_RULE_HINTS = {"backprop": "backprop is the chain rule: g where s > 0, whatever the sign of g",
               "deconvnet": "the deconvnet ignores the forward pass: g where g > 0, whatever s was",
               "guided": "guided backprop applies both masks: g where s > 0 and g > 0"}

RULES = ("backprop", "deconvnet", "guided")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(6000 + seed)


def _with_zeros(x: torch.Tensor, g: torch.Generator, share: float = 0.2) -> torch.Tensor:
    """``x`` with about ``share`` of its entries set to exactly 0 (where the rules' strict inequalities matter)."""
    return torch.where(torch.rand(x.shape, generator=g) < share, torch.zeros_like(x), x)


# ---------------------------------------------------------------- 06.1 relu_backward

def _relu_backward_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    if seed == 0:
        # Every combination of the signs of s and g, zeros included, in one small tensor.
        s = torch.tensor([[-2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 1.5, 1.5, 1.5]])
        grad = torch.tensor([[-1.0, 0.0, 3.0, -1.0, 0.0, 3.0, -1.0, 0.0, 3.0]])
        small = [Case(f"all nine sign combinations of s and g (zeros included), rule {rule!r}",
                      {"pre_activation": s, "grad_output": grad, "rule": rule},
                      hint=_RULE_HINTS[rule] + "; the inequalities are strict (s = 0 or g = 0 pass nothing)") for rule in RULES]
    else:
        n = int(torch.randint(5, 12, (), generator=g))
        scale = uniform(0.5, 3.0, g)
        s = _with_zeros(torch.randn(1, n, generator=g) * scale, g, 0.3)
        grad = _with_zeros(torch.randn(1, n, generator=g) * scale, g, 0.3)
        small = [Case(f"{n} values of s and g, some exactly 0, rule {rule!r}",
                      {"pre_activation": s, "grad_output": grad, "rule": rule},
                      hint=_RULE_HINTS[rule] + "; the inequalities are strict (s = 0 or g = 0 pass nothing)") for rule in RULES]
    s4 = _with_zeros(torch.randn(2, 3, 4, 5, generator=g), g)
    g4 = _with_zeros(torch.randn(2, 3, 4, 5, generator=g), g)
    big = [Case(f"a (2, 3, 4, 5) feature map and its upstream gradient, rule {rule!r}",
                {"pre_activation": s4, "grad_output": g4, "rule": rule},
                hint="passes on the small case but not here? work elementwise on any shape (no flatten, no loop over a dimension)")
           for rule in RULES]
    return small + big


# ---------------------------------------------------------------- models and images, loaded at check time

def _digits_and_shapes(seed: int, n_digits: int, n_shapes: int):
    g = _generator(seed)
    lenet, digits, digit_labels, shapes_cnn, shapes, shape_labels = draw_test_images(g, n_digits, n_shapes)
    other = (shape_labels + torch.randint(1, 8, (n_shapes,), generator=g)) % 8      # never the true class
    return g, lenet, digits, digit_labels, shapes_cnn, shapes, shape_labels, other


# ---------------------------------------------------------------- 06.2 guided_grad_cam

def _guided_grad_cam_cases(seed: int) -> list[Case]:
    _, lenet, digits, digit_labels, cnn, shapes, shape_labels, other = _digits_and_shapes(seed, 3, 3)
    return [
        Case("shapes CNN, 3 images, their true labels, layer features.relu3_2",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "layer": "features.relu3_2"}),
        Case("shapes CNN, the same images, other target classes, features.relu3_2",
             {"model": cnn, "inputs": shapes, "target": other, "layer": "features.relu3_2"},
             hint="right for the true labels, wrong for others? pass `target` to both factors, guided backprop and Grad-CAM"),
        Case("shapes CNN, a middle layer features.relu2_2",
             {"model": cnn, "inputs": shapes, "target": shape_labels, "layer": "features.relu2_2"},
             hint="right at relu3_2 only? use the `layer` argument in grad_cam, not a fixed layer name"),
        Case("LeNet, 3 digits, layer relu2 (8x8 maps upsampled to 28x28)",
             {"model": lenet, "inputs": digits, "target": digit_labels, "layer": "relu2"}),
    ]


# ---------------------------------------------------------------- 06.3 unit_projection

def _active_channel(model, inputs, layer: str, g: torch.Generator) -> int:
    """A channel of ``layer`` whose largest value is positive on every image (so the chosen unit is switched on)."""
    from course_utils.hooks import capture_activations

    with torch.no_grad(), capture_activations(model, layer) as acts:
        model(inputs)
    peaks = acts[layer].flatten(2).amax(dim=2).min(dim=0).values          # (C,): the weakest image's peak
    candidates = torch.nonzero(peaks > 0).flatten()
    return int(candidates[torch.randint(0, len(candidates), (), generator=g)])


def _unit_projection_cases(seed: int) -> list[Case]:
    g, lenet, digits, _, cnn, shapes, _, _ = _digits_and_shapes(seed, 3, 2)
    channel2 = _active_channel(cnn, shapes, "features.relu2_2", g)
    channel3 = _active_channel(cnn, shapes, "features.conv3_1", g)
    lenet_channel = _active_channel(lenet, digits, "relu2", g)
    cases = [Case(f"shapes CNN, 2 images, features.relu2_2 channel {channel2}, rule {rule!r}",
                  {"model": cnn, "inputs": shapes, "layer": "features.relu2_2", "channel": channel2, "rule": rule})
             for rule in RULES]
    return cases + [
        Case(f"shapes CNN, a convolution's output (before its ReLU) features.conv3_1 channel {channel3}, 'deconvnet'",
             {"model": cnn, "inputs": shapes, "layer": "features.conv3_1", "channel": channel3, "rule": "deconvnet"},
             hint="this map has negative values: take the argmax of the recorded map itself, and differentiate that entry"),
        Case(f"LeNet, 3 digits, relu2 channel {lenet_channel}, rule 'guided'",
             {"model": lenet, "inputs": digits, "layer": "relu2", "channel": lenet_channel, "rule": "guided"}),
    ]


EXERCISES = [
    Exercise("06_guided_backprop", "06.1", "relu_backward", "(pre_activation, grad_output, rule)", 2,
             _relu_backward_cases, rtol=1e-6,
             description="the gradient a ReLU passes down under backprop, the deconvnet or guided backprop"),
    Exercise("06_guided_backprop", "06.2", "guided_grad_cam", "(model, inputs, target, layer)", 3,
             _guided_grad_cam_cases, rtol=1e-4, contracts=("detached",),
             description="guided backprop's map times the upsampled Grad-CAM map (Selvaraju et al. 2017)"),
    Exercise("06_guided_backprop", "06.3", "unit_projection", "(model, inputs, layer, channel, rule)", 3,
             _unit_projection_cases, rtol=1e-4, contracts=("detached",),
             description="one unit's largest response projected back to the input with a ReLU backward rule"),
]
