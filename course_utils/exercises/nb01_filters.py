"""Exercises of notebook 01_filters: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise, uniform


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 + seed)


def _sign(g: torch.Generator) -> float:
    return 1.0 if bool(torch.randint(0, 2, (), generator=g)) else -1.0


# Seed 0 gives the self-check's cases, written out by hand; any other seed gives cases of the same
# kinds with fresh numbers (the grader's hidden cases), so that no hidden case repeats a visible one.

def _hidden_unit_line_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    weight = torch.randn(20, 2, generator=g)
    bias = torch.randn(20, generator=g)
    if seed == 0:
        vertical = Case("one unit, w = (1, 0), b = -0.5: the vertical line x = 0.5",
                        {"weight": torch.tensor([[1.0, 0.0]]), "bias": torch.tensor([-0.5])})
        horizontal = Case("one unit, w = (0, 2), b = 1: the horizontal line y = -0.5",
                          {"weight": torch.tensor([[0.0, 2.0]]), "bias": torch.tensor([1.0])})
    else:
        a, b = _sign(g) * uniform(0.5, 3.0, g), uniform(-2.0, 2.0, g)
        vertical = Case("one unit, w = (a, 0): a vertical line",
                        {"weight": torch.tensor([[a, 0.0]]), "bias": torch.tensor([b])})
        a, b = _sign(g) * uniform(0.5, 3.0, g), uniform(-2.0, 2.0, g)
        horizontal = Case("one unit, w = (0, a): a horizontal line",
                          {"weight": torch.tensor([[0.0, a]]), "bias": torch.tensor([b])})
    return [
        vertical,
        horizontal,
        Case("20 random units", {"weight": weight, "bias": bias}),
        Case("a unit through the origin (b = 0)", {"weight": weight[:1] * 3, "bias": torch.zeros(1)}),
    ]


def _conv_parameter_count_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    c_in, c_out, k = (int(v) for v in torch.randint(1, 65, (3,), generator=g))
    k = 1 + k % 7
    if seed == 0:
        fixed = [
            Case("3 -> 16 channels, 5x5 kernels (the example in the text)",
                 {"in_channels": 3, "out_channels": 16, "kernel_size": 5}),
            Case("LeNet's first layer: 1 -> 16, 5x5", {"in_channels": 1, "out_channels": 16, "kernel_size": 5}),
            Case("a rectangular kernel (3, 5) without bias",
                 {"in_channels": 16, "out_channels": 32, "kernel_size": (3, 5), "bias": False}),
        ]
    else:
        rgb_out, rgb_k = int(torch.randint(4, 97, (), generator=g)), int(torch.randint(1, 4, (), generator=g)) * 2 + 1
        first_out, first_k = int(torch.randint(2, 65, (), generator=g)), int(torch.randint(2, 8, (), generator=g))
        r_in, r_out = (int(v) for v in torch.randint(1, 129, (2,), generator=g))
        kh = int(torch.randint(1, 8, (), generator=g))
        kw = kh + int(torch.randint(1, 5, (), generator=g))
        if bool(torch.randint(0, 2, (), generator=g)):
            kh, kw = kw, kh
        fixed = [
            Case(f"3 -> {rgb_out} channels, {rgb_k}x{rgb_k} kernels", {"in_channels": 3, "out_channels": rgb_out, "kernel_size": rgb_k}),
            Case(f"a first layer on grey images: 1 -> {first_out}, {first_k}x{first_k}",
                 {"in_channels": 1, "out_channels": first_out, "kernel_size": first_k}),
            Case(f"a rectangular kernel ({kh}, {kw}) without bias",
                 {"in_channels": r_in, "out_channels": r_out, "kernel_size": (kh, kw), "bias": False}),
        ]
    return fixed + [
        Case(f"{c_in} -> {c_out} channels, {k}x{k}", {"in_channels": c_in, "out_channels": c_out, "kernel_size": k}),
    ]


def _non_symmetric_case(seed: int, g: torch.Generator) -> Case:
    if seed == 0:
        return Case("a non-symmetric 2x4 kernel (tells correlation from convolution)",
                    {"image": torch.arange(30.0).reshape(5, 6), "kernel": torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, -1.0]])})
    kh = int(torch.randint(1, 4, (), generator=g))
    kw = kh + int(torch.randint(1, 4, (), generator=g))
    if bool(torch.randint(0, 2, (), generator=g)):
        kh, kw = kw, kh
    h, w = kh + int(torch.randint(2, 6, (), generator=g)), kw + int(torch.randint(2, 6, (), generator=g))
    image = torch.randint(-9, 10, (h, w), generator=g).float()
    kernel = torch.randint(-4, 5, (kh, kw), generator=g).float()
    if torch.equal(kernel, kernel.flip(0, 1)):  # flipping it must change it
        kernel[0, 0] += 5.0
    return Case(f"a non-square {kh}x{kw} kernel on a {h}x{w} image of whole numbers (tells correlation from convolution)",
                {"image": image, "kernel": kernel})


def _cross_correlate_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    return [
        Case("a 3x3 kernel on a 6x7 image", {"image": torch.randn(6, 7, generator=g), "kernel": torch.randn(3, 3, generator=g)}),
        Case("a 5x5 kernel on a 28x28 image", {"image": torch.rand(28, 28, generator=g), "kernel": torch.randn(5, 5, generator=g)}),
        _non_symmetric_case(seed, g),
        Case("a 1x1 kernel", {"image": torch.randn(4, 4, generator=g),
                              "kernel": torch.tensor([[2.5]]) if seed == 0 else torch.randn(1, 1, generator=g) * 3}),
    ]


EXERCISES = [
    Exercise("01_filters", "01.1", "hidden_unit_line", "(weight, bias)", 2, _hidden_unit_line_cases, rtol=1e-5,
             description="the line {x : w.x + b = 0} of each hidden unit, as its point nearest the origin and a unit direction"),
    Exercise("01_filters", "01.2", "cross_correlate", "(image, kernel)", 2, _cross_correlate_cases, rtol=1e-5,
             description="the 'valid' cross-correlation of one image with one filter, as a convolutional layer computes it"),
    Exercise("01_filters", "01.3", "conv_parameter_count", "(in_channels, out_channels, kernel_size, bias=True)", 1,
             _conv_parameter_count_cases, rtol=0.0,
             description="the number of learnable parameters of an nn.Conv2d layer"),
]
