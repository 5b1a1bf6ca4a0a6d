"""Exercises of notebook 11_rnn_parity: the test inputs only, never the answers."""
from __future__ import annotations

import torch

from . import Case, Exercise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(11000 + seed)


def _bits(n: int, length: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n, length), generator=g).float()


def _all_bit_strings(length: int) -> torch.Tensor:
    codes = torch.arange(2 ** length)
    return ((codes[:, None] >> torch.arange(length - 1, -1, -1)) & 1).float()


def _threshold_rnn_forward_cases(seed: int) -> list[Case]:
    g = _generator(seed)

    def random_weights(h):
        return {name: torch.randn(h, generator=g) for name in ("w_x", "w_y", "b_h", "v")}

    return [
        Case("3 random hidden units, 5 sequences of 6 bits", {"inputs": _bits(5, 6, g), **random_weights(3), "c": 0.3}),
        Case("1 hidden unit, one sequence of one bit", {"inputs": torch.ones(1, 1), **random_weights(1), "c": -0.2}),
        Case("4 random hidden units, 20 sequences of 12 bits", {"inputs": _bits(20, 12, g), **random_weights(4), "c": 0.1}),
        Case("integer weights that put units exactly at their threshold (h(0) must be 0)",
             {"inputs": _all_bit_strings(3), "w_x": torch.tensor([1.0, -1.0]), "w_y": torch.tensor([-1.0, 1.0]),
              "b_h": torch.tensor([0.0, 0.0]), "v": torch.tensor([1.0, 1.0]), "c": 0.0}),
    ]


def _parity_rnn_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    return [
        Case("all 16 bit strings of length 4", {"inputs": _all_bit_strings(4)}),
        Case("30 random strings of 12 bits", {"inputs": _bits(30, 12, g)}),
        Case("twenty ones in a row", {"inputs": torch.ones(1, 20)}),
        Case("a single bit, 1", {"inputs": torch.ones(1, 1)}),
    ]


def _sum_rnn_gradients_cases(seed: int) -> list[Case]:
    g = _generator(seed)

    def floats(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case("the sum RNN (w_in = w_rec = 1) on one sequence (1, 2, 3), target 5",
             {"inputs": torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), "w_in": 1.0, "w_rec": 1.0,
              "target": torch.tensor([5.0], dtype=torch.float64)}),
        Case("8 random sequences of 10 numbers, w_in = 0.5, w_rec = 0.9",
             {"inputs": floats(8, 10), "w_in": 0.5, "w_rec": 0.9, "target": floats(8)}),
        Case("4 random sequences of 20 numbers, w_in = 2, w_rec = 1.1 (growing)",
             {"inputs": floats(4, 20), "w_in": 2.0, "w_rec": 1.1, "target": floats(4)}),
        Case("one step only, w_in = -1.5, w_rec = 0.3",
             {"inputs": floats(3, 1), "w_in": -1.5, "w_rec": 0.3, "target": floats(3)}),
    ]


EXERCISES = [
    Exercise("11_rnn_parity", "11.1", "threshold_rnn_forward", "(inputs, w_x, w_y, b_h, v, c)", 2,
             _threshold_rnn_forward_cases, rtol=0.0,
             description="the forward pass of a recurrent network of binary threshold units fed back its previous output"),
    Exercise("11_rnn_parity", "11.2", "parity_rnn", "(inputs)", 2, _parity_rnn_cases, rtol=0.0,
             description="hand-set weights for the AND/OR/XOR parity RNN, run on a batch of bit strings"),
    Exercise("11_rnn_parity", "11.3", "sum_rnn_gradients", "(inputs, w_in, w_rec, target)", 3,
             _sum_rnn_gradients_cases, rtol=1e-6,
             description="backprop through time by hand for the linear sum RNN with a squared error on its last state"),
]
