"""Notebook 01: the solution's hidden-unit lines, cross-correlation and parameter count against independent computations."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb01():
    return solution_functions("01_filters")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_unit_line_is_the_least_norm_solution_and_its_direction(nb01, seed):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(7, 2, generator=g, dtype=torch.float64) * 3
    bias = torch.randn(7, generator=g, dtype=torch.float64)
    points, directions = nb01["hidden_unit_line"](weight, bias)
    for j in range(len(weight)):
        # The point of {x : w . x = -b} closest to the origin is numpy's least-norm solution of that 1 x 2 system.
        closest = np.linalg.lstsq(weight[j:j + 1].numpy(), -bias[j:j + 1].numpy(), rcond=None)[0]
        np.testing.assert_allclose(points[j].numpy(), closest, rtol=1e-10, atol=1e-12)
        w, d = weight[j].numpy(), directions[j].numpy()
        assert abs(np.linalg.norm(d) - 1) < 1e-12 and abs(w @ d) < 1e-12
        assert w[0] * d[1] - w[1] * d[0] > 0, "the direction is w turned counter-clockwise"


@pytest.mark.parametrize("shape,kernel", [((6, 7), (3, 3)), ((28, 28), (5, 5)), ((5, 9), (2, 4)), ((4, 4), (1, 1))])
def test_cross_correlate_equals_conv2d(nb01, shape, kernel):
    g = torch.Generator().manual_seed(sum(shape) + sum(kernel))
    image = torch.randn(*shape, generator=g, dtype=torch.float64)
    k = torch.randn(*kernel, generator=g, dtype=torch.float64)
    out = nb01["cross_correlate"](image, k)
    expected = F.conv2d(image[None, None], k[None, None])[0, 0]   # PyTorch's "convolution" is a cross-correlation
    assert out.dtype == torch.float64 and out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_in,c_out,kernel,bias", [(3, 16, 5, True), (1, 16, 5, True), (16, 32, (3, 5), False), (52, 24, 2, True)])
def test_conv_parameter_count_equals_what_pytorch_stores(nb01, c_in, c_out, kernel, bias):
    layer = nn.Conv2d(c_in, c_out, kernel, bias=bias)
    count = nb01["conv_parameter_count"](c_in, c_out, kernel, bias)
    assert type(count) is int and count == sum(p.numel() for p in layer.parameters())
