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
        _at_threshold_case(seed, g),
    ]


# Seed 0 gives the self-check's cases, written out by hand; any other seed gives cases of the same
# kinds with fresh numbers (the grader's hidden cases), so that no hidden case repeats a visible one.

def _at_threshold_case(seed: int, g: torch.Generator) -> Case:
    if seed == 0:
        return Case("integer weights that put units exactly at their threshold (h(0) must be 0)",
                    {"inputs": _all_bit_strings(3), "w_x": torch.tensor([1.0, -1.0]), "w_y": torch.tensor([-1.0, 1.0]),
                     "b_h": torch.tensor([0.0, 0.0]), "v": torch.tensor([1.0, 1.0]), "c": 0.0})
    h, length = int(torch.randint(2, 5, (), generator=g)), int(torch.randint(3, 5, (), generator=g))
    weights = {name: torch.randint(-2, 3, (h,), generator=g).float() for name in ("w_x", "w_y")}
    b_h = torch.randint(-1, 2, (h,), generator=g).float()
    v = torch.randint(-2, 3, (h,), generator=g).float()
    c = float(torch.randint(-1, 2, (), generator=g))
    rows = _all_bit_strings(length)[torch.randperm(2 ** length, generator=g)]
    return Case(f"{h} units with small integer weights, all {2 ** length} bit strings of length {length} "
                "(units often exactly at their threshold: h(0) must be 0)",
                {"inputs": rows, **weights, "b_h": b_h, "v": v, "c": c})


def _parity_rnn_cases(seed: int) -> list[Case]:
    g = _generator(seed)
    if seed == 0:
        return [
            Case("all 16 bit strings of length 4", {"inputs": _all_bit_strings(4)}),
            Case("30 random strings of 12 bits", {"inputs": _bits(30, 12, g)}),
            Case("twenty ones in a row", {"inputs": torch.ones(1, 20)}),
            Case("a single bit, 1", {"inputs": torch.ones(1, 1)}),
        ]
    length, ones, n_single = (int(torch.randint(low, high, (), generator=g)) for low, high in ((3, 7), (13, 31), (3, 7)))
    return [
        Case(f"all {2 ** length} bit strings of length {length}, shuffled",
             {"inputs": _all_bit_strings(length)[torch.randperm(2 ** length, generator=g)]}),
        Case("30 random strings of 12 bits", {"inputs": _bits(30, 12, g)}),
        Case(f"{ones} ones in a row", {"inputs": torch.ones(1, ones)}),
        Case(f"{n_single} strings of a single bit", {"inputs": _bits(n_single, 1, g)}),
    ]


def _sum_rnn_gradients_cases(seed: int) -> list[Case]:
    g = _generator(seed)

    def floats(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    if seed == 0:
        first = Case("the sum RNN (w_in = w_rec = 1) on one sequence (1, 2, 3), target 5",
                     {"inputs": torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), "w_in": 1.0, "w_rec": 1.0,
                      "target": torch.tensor([5.0], dtype=torch.float64)})
    else:
        length = int(torch.randint(2, 6, (), generator=g))
        first = Case(f"the sum RNN (w_in = w_rec = 1) on one sequence of {length} whole numbers, a whole-number target",
                     {"inputs": torch.randint(-5, 6, (1, length), generator=g).double(), "w_in": 1.0, "w_rec": 1.0,
                      "target": torch.randint(-9, 10, (1,), generator=g).double()})
    return [
        first,
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
