"""Exercises of notebook 02_activations: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(2000 + seed)


def _top_activations_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    relu_maps = torch.randn(40, 8, 6, 7, generator=g).clamp(min=0)
    ordered = torch.zeros(5, 2, 3, 4)
    for n in range(5):                         # image n peaks at (n % 3, (2 * n) % 4) with value n + 1
        ordered[n, 1, n % 3, (2 * n) % 4] = n + 1.0
    return [
        Case("5 images with one known peak each, channel 1, k = 3", {"activations": ordered, "channel": 1, "k": 3}),
        Case("40 random ReLU maps (8 x 6 x 7), channel 2, k = 9", {"activations": relu_maps, "channel": 2, "k": 9}),
        Case("the same maps, channel 7, k = 1", {"activations": relu_maps, "channel": 7, "k": 1}),
        Case("signed maps 1 x 1 (a linear layer), k = N",
             {"activations": torch.randn(6, 3, 1, 1, generator=g), "channel": 0, "k": 6}),
    ]


def _nearest_neighbours_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    database = torch.randn(50, 16, generator=g)
    line = torch.arange(10.0)[:, None]
    return [
        Case("points 0..9 on a line, queries 2.2 and 7.9, k = 3",
             {"query": torch.tensor([[2.2], [7.9]]), "database": line, "k": 3}),
        Case("3 random queries among 50 vectors in 16-D, k = 5",
             {"query": torch.randn(3, 16, generator=g), "database": database, "k": 5}),
        Case("the database queried with itself, k = 2 (the first neighbour is the point itself)",
             {"query": database[:10], "database": database, "k": 2}),
        Case("one query, k = N", {"query": torch.randn(1, 4, generator=g), "database": torch.randn(7, 4, generator=g), "k": 7}),
    ]


def _receptive_field_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    n = int(torch.randint(2, 7, (1,), generator=g))
    kernels = [int(v) for v in torch.randint(1, 6, (n,), generator=g)]
    strides = [int(v) for v in torch.randint(1, 3, (n,), generator=g)]
    paddings = [int(v) for v in torch.randint(0, 3, (n,), generator=g)]
    dilations = [int(v) for v in torch.randint(1, 4, (n,), generator=g)]
    return [
        Case("one 3x3 convolution", {"kernel_sizes": [3], "strides": [1], "paddings": [0], "dilations": [1]}),
        Case("LeNet: conv1 (5, pad 2), pool1, conv2 (5), pool2",
             {"kernel_sizes": [5, 2, 5, 2], "strides": [1, 2, 1, 2], "paddings": [2, 0, 0, 0], "dilations": [1, 1, 1, 1]}),
        Case("4 dilated 3x3 convolutions, d = 1, 2, 4, 8 (Yu & Koltun)",
             {"kernel_sizes": [3] * 4, "strides": [1] * 4, "paddings": [1, 2, 4, 8], "dilations": [1, 2, 4, 8]}),
        Case(f"{n} random layers", {"kernel_sizes": kernels, "strides": strides, "paddings": paddings, "dilations": dilations}),
    ]


EXERCISES = [
    Exercise("02_activations", "02.1", "top_activations", "(activations, channel, k)", 2, _top_activations_cases,
             rtol=0.0, description="the k inputs with the largest maximum of one channel, and where that maximum is"),
    Exercise("02_activations", "02.2", "nearest_neighbours", "(query, database, k)", 2, _nearest_neighbours_cases,
             rtol=0.0, description="the indices of the k nearest database vectors of each query, nearest first"),
    Exercise("02_activations", "02.3", "receptive_field", "(kernel_sizes, strides, paddings, dilations)", 2,
             _receptive_field_cases, rtol=1e-9, description="receptive field size, jump and centre after a stack of layers"),
]
