"""Exercises of notebook 02_activations: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise, uniform


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(2000 + seed)


def _int(low: int, high: int, g: torch.Generator) -> int:
    """A whole number in [low, high)."""
    return int(torch.randint(low, high, (), generator=g))


# Seed 0 gives the self-check's cases, written out by hand; any other seed gives cases of the same
# kinds with fresh numbers (the grader's hidden cases), so that no hidden case repeats a visible one.

def _known_peaks_case(seed: int, g: torch.Generator) -> Case:
    if seed == 0:
        ordered = torch.zeros(5, 2, 3, 4)
        for n in range(5):                         # image n peaks at (n % 3, (2 * n) % 4) with value n + 1
            ordered[n, 1, n % 3, (2 * n) % 4] = n + 1.0
        return Case("5 images with one known peak each, channel 1, k = 3", {"activations": ordered, "channel": 1, "k": 3})
    n, c, h, w = _int(4, 9, g), _int(2, 5, g), _int(2, 6, g), _int(2, 6, g)
    channel, k = _int(0, c, g), _int(1, n + 1, g)
    peaks = torch.zeros(n, c, h, w)
    values = (torch.randperm(n, generator=g) + 1).float() * uniform(0.5, 2.0, g)  # distinct heights
    for image, value in enumerate(values):
        peaks[image, channel, _int(0, h, g), _int(0, w, g)] = value
    return Case(f"{n} images with one known peak each, channel {channel}, k = {k}",
                {"activations": peaks, "channel": channel, "k": k})


def _top_activations_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    relu_maps = torch.randn(40, 8, 6, 7, generator=g).clamp(min=0)
    return [
        _known_peaks_case(seed, g),
        Case("40 random ReLU maps (8 x 6 x 7), channel 2, k = 9", {"activations": relu_maps, "channel": 2, "k": 9}),
        Case("the same maps, channel 7, k = 1", {"activations": relu_maps, "channel": 7, "k": 1}),
        Case("signed maps 1 x 1 (a linear layer), k = N",
             {"activations": torch.randn(6, 3, 1, 1, generator=g), "channel": 0, "k": 6}),
    ]


def _points_on_a_line_case(seed: int, g: torch.Generator) -> Case:
    if seed == 0:
        return Case("points 0..9 on a line, queries 2.2 and 7.9, k = 3",
                    {"query": torch.tensor([[2.2], [7.9]]), "database": torch.arange(10.0)[:, None], "k": 3})
    n, spacing, offset = _int(8, 16, g), uniform(0.5, 2.0, g), uniform(-5.0, 5.0, g)
    # Each query lies a fraction 0.15..0.35 or 0.65..0.85 of the spacing past a point: no two distances tie.
    steps = torch.randint(0, n - 1, (2,), generator=g).double()
    fractions = 0.15 + 0.2 * torch.rand(2, generator=g, dtype=torch.float64)
    fractions = torch.where(torch.rand(2, generator=g) < 0.5, fractions, 1.0 - fractions)
    database = (offset + spacing * torch.arange(n, dtype=torch.float64))[:, None]
    query = (offset + spacing * (steps + fractions))[:, None]
    return Case(f"{n} evenly spaced points on a line, 2 queries between them, k = 3",
                {"query": query.float(), "database": database.float(), "k": 3})


def _nearest_neighbours_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    database = torch.randn(50, 16, generator=g)
    return [
        _points_on_a_line_case(seed, g),
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
    if seed == 0:
        fixed = [
            Case("one 3x3 convolution", {"kernel_sizes": [3], "strides": [1], "paddings": [0], "dilations": [1]}),
            Case("LeNet: conv1 (5, pad 2), pool1, conv2 (5), pool2",
                 {"kernel_sizes": [5, 2, 5, 2], "strides": [1, 2, 1, 2], "paddings": [2, 0, 0, 0], "dilations": [1, 1, 1, 1]}),
            Case("4 dilated 3x3 convolutions, d = 1, 2, 4, 8 (Yu & Koltun)",
                 {"kernel_sizes": [3] * 4, "strides": [1] * 4, "paddings": [1, 2, 4, 8], "dilations": [1, 2, 4, 8]}),
        ]
    else:
        k, s, p = _int(1, 8, g), _int(1, 4, g), _int(0, 3, g)
        k1, k2 = 2 * _int(1, 4, g) + 1, 2 * _int(1, 4, g) + 1
        pool = _int(2, 4, g)
        m = _int(3, 6, g)
        dil = [int(v) for v in torch.randint(1, 9, (m,), generator=g)]
        fixed = [
            Case(f"one {k}x{k} convolution, stride {s}, padding {p}",
                 {"kernel_sizes": [k], "strides": [s], "paddings": [p], "dilations": [1]}),
            Case(f"conv ({k1}, pad {k1 // 2}), pool ({pool}), conv ({k2}), pool ({pool})",
                 {"kernel_sizes": [k1, pool, k2, pool], "strides": [1, pool, 1, pool], "paddings": [k1 // 2, 0, 0, 0],
                  "dilations": [1, 1, 1, 1]}),
            Case(f"{m} dilated 3x3 convolutions, d = {', '.join(map(str, dil))}",
                 {"kernel_sizes": [3] * m, "strides": [1] * m, "paddings": dil, "dilations": dil}),
        ]
    return fixed + [
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
