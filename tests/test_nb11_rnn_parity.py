"""Notebook 11: the solution's threshold RNN, parity RNN and BPTT gradients against scalar loops and autograd."""
import itertools

import pytest
import torch

from instructor.expected import solution_functions


@pytest.fixture(scope="module")
def nb11():
    return solution_functions("11_rnn_parity")


def all_bit_strings(length, dtype=torch.float32):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=length)), dtype=dtype)


def loop_threshold_rnn(bits, w_x, w_y, b_h, v, c):
    """One sequence, one unit at a time, in Python floats: h_k = [w_x x + w_y y_prev + b > 0], y = [v . h + c > 0]."""
    previous, hidden, outputs = 0.0, [], []
    for x in bits:
        h = [1.0 if w_x[k] * x + w_y[k] * previous + b_h[k] > 0 else 0.0 for k in range(len(w_x))]
        previous = 1.0 if sum(v[k] * h[k] for k in range(len(h))) + c > 0 else 0.0
        hidden.append(h)
        outputs.append(previous)
    return hidden, outputs


# ---------------------------------------------------------------- 11.1 threshold_rnn_forward

@pytest.mark.parametrize("seed,n_hidden", [(0, 1), (1, 2), (2, 3), (3, 5)])
def test_threshold_rnn_equals_a_scalar_loop_on_every_short_string(nb11, seed, n_hidden):
    g = torch.Generator().manual_seed(seed)
    w_x, w_y, b_h, v = (torch.randn(n_hidden, generator=g, dtype=torch.float64) for _ in range(4))
    c = float(torch.randn(1, generator=g))
    for length in range(1, 7):
        inputs = all_bit_strings(length, torch.float64)
        hidden, outputs = nb11["threshold_rnn_forward"](inputs, w_x, w_y, b_h, v, c)
        assert hidden.shape == (len(inputs), length, n_hidden) and outputs.shape == (len(inputs), length)
        assert hidden.dtype == outputs.dtype == torch.float64
        for row, bits in enumerate(inputs.tolist()):
            loop_hidden, loop_outputs = loop_threshold_rnn(bits, w_x.tolist(), w_y.tolist(), b_h.tolist(), v.tolist(), c)
            assert hidden[row].tolist() == loop_hidden and outputs[row].tolist() == loop_outputs, bits


def test_threshold_rnn_counts_exactly_zero_as_off_and_keeps_float32(nb11):
    # The hidden unit sees exactly 0 when x = 1 (1 - 1), the output exactly 0 (0 + 0): both must stay off.
    inputs = all_bit_strings(3)
    hidden, outputs = nb11["threshold_rnn_forward"](inputs, torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([-1.0]),
                                                    torch.tensor([1.0]), 0.0)
    assert hidden.dtype == outputs.dtype == torch.float32
    assert torch.all(hidden == 0) and torch.all(outputs == 0)
    # A bias just above the threshold switches the unit on exactly where x = 1, and the output with it.
    hidden, outputs = nb11["threshold_rnn_forward"](inputs, torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([-0.99]),
                                                    torch.tensor([1.0]), -0.5)
    assert torch.equal(hidden[..., 0], inputs) and torch.equal(outputs, inputs)


def test_threshold_rnn_feeds_back_its_previous_output(nb11):
    # A unit that only sees the previous output (w_x = 0) with y = NOT h: the outputs alternate 1, 0, 1, ... whatever the input.
    inputs = torch.randint(0, 2, (4, 9), generator=torch.Generator().manual_seed(0)).float()
    _, outputs = nb11["threshold_rnn_forward"](inputs, torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([-0.5]),
                                               torch.tensor([-1.0]), 0.5)
    assert torch.equal(outputs, (torch.arange(9) % 2 == 0).float().expand(4, 9))


# ---------------------------------------------------------------- 11.2 parity_rnn

def test_parity_rnn_is_right_on_every_string_up_to_length_10(nb11):
    for length in range(1, 11):
        inputs = all_bit_strings(length)
        hidden, outputs = nb11["parity_rnn"](inputs)
        assert hidden.shape == (len(inputs), length, 2) and outputs.shape == (len(inputs), length)
        parity = inputs.cumsum(dim=1) % 2
        assert torch.equal(outputs, parity)
        previous = torch.cat([torch.zeros(len(inputs), 1), parity[:, :-1]], dim=1)     # y(t-1), with y(0) = 0
        assert torch.equal(hidden[..., 0], previous * inputs), "unit 0 must be AND(previous output, input)"
        assert torch.equal(hidden[..., 1], torch.maximum(previous, inputs)), "unit 1 must be OR(previous output, input)"


def test_parity_rnn_on_long_strings_and_in_float64(nb11):
    inputs = torch.randint(0, 2, (16, 300), generator=torch.Generator().manual_seed(1)).double()
    hidden, outputs = nb11["parity_rnn"](inputs)
    assert hidden.dtype == outputs.dtype == torch.float64
    assert torch.equal(outputs, inputs.cumsum(dim=1) % 2)
    assert torch.equal(nb11["parity_rnn"](torch.ones(1, 25))[1][0], torch.arange(1, 26) % 2 * 1.0)


# ---------------------------------------------------------------- 11.3 sum_rnn_gradients

def autograd_gradients(inputs, w_in, w_rec, target):
    """The same loss built from tensors that require gradients, differentiated by torch.autograd."""
    w_in_param = torch.tensor(w_in, dtype=inputs.dtype, requires_grad=True)
    w_rec_param = torch.tensor(w_rec, dtype=inputs.dtype, requires_grad=True)
    x = inputs.clone().requires_grad_(True)
    state = torch.zeros(len(inputs), dtype=inputs.dtype)
    for t in range(inputs.shape[1]):
        state = w_rec_param * state + w_in_param * x[:, t]
    loss = 0.5 * ((state - target) ** 2).sum()
    return torch.autograd.grad(loss, [w_in_param, w_rec_param, x])


@pytest.mark.parametrize("seed,n,length,w_in,w_rec", [(0, 1, 1, -1.5, 0.3), (1, 5, 7, 0.7, 0.9), (2, 3, 25, 1.3, 1.05),
                                                     (3, 8, 12, 0.5, -0.8), (4, 2, 4, 2.0, 0.0)])
def test_sum_rnn_gradients_equal_autograd(nb11, seed, n, length, w_in, w_rec):
    g = torch.Generator().manual_seed(seed)
    inputs, target = torch.randn(n, length, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    grad_w_in, grad_w_rec, grad_inputs = nb11["sum_rnn_gradients"](inputs, w_in, w_rec, target)
    assert type(grad_w_in) is float and type(grad_w_rec) is float
    assert grad_inputs.shape == inputs.shape and grad_inputs.dtype == torch.float64
    expected_w_in, expected_w_rec, expected_inputs = autograd_gradients(inputs, w_in, w_rec, target)
    assert grad_w_in == pytest.approx(expected_w_in.item(), rel=1e-10, abs=1e-12)
    assert grad_w_rec == pytest.approx(expected_w_rec.item(), rel=1e-10, abs=1e-12)
    torch.testing.assert_close(grad_inputs, expected_inputs, rtol=1e-10, atol=1e-12)


def test_sum_rnn_gradients_in_float32_and_inputs_untouched(nb11):
    g = torch.Generator().manual_seed(5)
    inputs, target = torch.randn(4, 6, generator=g), torch.randn(4, generator=g)
    before = inputs.clone()
    grad_w_in, grad_w_rec, grad_inputs = nb11["sum_rnn_gradients"](inputs, 0.8, 0.95, target)
    assert grad_inputs.dtype == torch.float32 and torch.equal(inputs, before)
    expected_w_in, expected_w_rec, expected_inputs = autograd_gradients(inputs.double(), 0.8, 0.95, target.double())
    assert grad_w_in == pytest.approx(expected_w_in.item(), rel=1e-4)
    assert grad_w_rec == pytest.approx(expected_w_rec.item(), rel=1e-4)
    torch.testing.assert_close(grad_inputs, expected_inputs.float(), rtol=1e-4, atol=1e-5)
