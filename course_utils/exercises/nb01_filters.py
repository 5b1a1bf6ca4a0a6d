"""Exercises of notebook 01_filters: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 + seed)


def _hidden_unit_line_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    weight = torch.randn(20, 2, generator=g)
    bias = torch.randn(20, generator=g)
    return [
        Case("one unit, w = (1, 0), b = -0.5: the vertical line x = 0.5",
             {"weight": torch.tensor([[1.0, 0.0]]), "bias": torch.tensor([-0.5])}),
        Case("one unit, w = (0, 2), b = 1: the horizontal line y = -0.5",
             {"weight": torch.tensor([[0.0, 2.0]]), "bias": torch.tensor([1.0])}),
        Case("20 random units", {"weight": weight, "bias": bias}),
        Case("a unit through the origin (b = 0)", {"weight": weight[:1] * 3, "bias": torch.zeros(1)}),
    ]


def _conv_parameter_count_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    c_in, c_out, k = (int(v) for v in torch.randint(1, 65, (3,), generator=g))
    k = 1 + k % 7
    return [
        Case("3 -> 16 channels, 5x5 kernels (the example in the text)",
             {"in_channels": 3, "out_channels": 16, "kernel_size": 5}),
        Case("LeNet's first layer: 1 -> 16, 5x5", {"in_channels": 1, "out_channels": 16, "kernel_size": 5}),
        Case("a rectangular kernel (3, 5) without bias",
             {"in_channels": 16, "out_channels": 32, "kernel_size": (3, 5), "bias": False}),
        Case(f"{c_in} -> {c_out} channels, {k}x{k}", {"in_channels": c_in, "out_channels": c_out, "kernel_size": k}),
    ]


def _cross_correlate_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    return [
        Case("a 3x3 kernel on a 6x7 image", {"image": torch.randn(6, 7, generator=g), "kernel": torch.randn(3, 3, generator=g)}),
        Case("a 5x5 kernel on a 28x28 image", {"image": torch.rand(28, 28, generator=g), "kernel": torch.randn(5, 5, generator=g)}),
        Case("a non-symmetric 2x4 kernel (tells correlation from convolution)",
             {"image": torch.arange(30.0).reshape(5, 6), "kernel": torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, -1.0]])}),
        Case("a 1x1 kernel", {"image": torch.randn(4, 4, generator=g), "kernel": torch.tensor([[2.5]])}),
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
