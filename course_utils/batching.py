"""How many inputs to send through a network per call: the chunk size of the batched methods.

Occlusion classifies hundreds of occluded copies of an image, SmoothGrad differentiates dozens of
noisy copies; both cut them into chunks. A chunk that is too small pays the fixed cost of every
layer call (Python, dispatch, launching a kernel) for little arithmetic; one that is too large no
longer fits in the processor's cache, and every layer then streams its input and output through
main memory (and the allocator hands out fresh pages that must be zeroed). The best size is a
property of the network and the input size, not a constant: batches of 256 suit LeNet's 28x28
digits but are about twice as slow as batches of 16 for the shapes CNN.

``choose_batch_size`` picks it from the work. It measures, once per model and input shape, the
largest number of bytes that one layer reads and writes for one input (its input plus its output,
recorded with forward hooks during one forward pass of one input), and chooses the number of
inputs whose largest layer then touches about ``TARGET_BYTES``. Measured on a 2-core laptop-class
CPU (``bench/chunking.py``), this puts LeNet at about 80 inputs per call, the shapes CNN at 16 and
VGG-16 at 224 px at 1, each within a few percent of the fastest chunk size there. A chunk that
also runs backward (SmoothGrad) keeps the forward activations and their gradients, so it gets
half the bytes.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["choose_batch_size", "layer_bytes_per_input", "TARGET_BYTES"]

TARGET_BYTES = 8 * 2**20  # the largest layer's input + output for a whole chunk; see the module docstring

# model -> {(input shape without the batch, dtype, device): bytes}; forgets a model when it is deleted.
_MEASURED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _tensor_bytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


@contextmanager
def _recording_layer_bytes(model: nn.Module) -> Iterator[list]:
    """Record, for every module called inside the block, the bytes of its inputs plus its outputs.

    The hooks are removed and every module's training flag restored on exit, even after an exception.
    """
    sizes: list[int] = []

    def record(module, args, output):
        sizes.append(_tensor_bytes(args) + _tensor_bytes(output))

    modes = {module: module.training for module in model.modules()}
    handles = [module.register_forward_hook(record) for module in model.modules()]
    try:
        model.eval()  # no dropout draws, no batch-norm statistics updated by the measuring pass
        yield sizes
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training


def layer_bytes_per_input(model: nn.Module, inputs: torch.Tensor) -> int:
    """The largest input + output, in bytes, of any layer of ``model`` for one input like ``inputs[0]``.

    Runs the model once on ``inputs[:1]`` (no gradients, eval mode) the first time it sees this model
    with inputs of this shape, dtype and device, and remembers the answer.

    Args:
        model: any ``nn.Module`` that takes a batch ``(N, ...)``.
        inputs: a batch ``(N, ...)``; only its first element's shape, dtype and device matter.

    Returns:
        The number of bytes (an int >= 1).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 1 or len(inputs) == 0:
        got = f"shape {tuple(inputs.shape)}" if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a tensor holding at least one input, got {got}.")
    key = (tuple(inputs.shape[1:]), inputs.dtype, str(inputs.device))
    known = _MEASURED.setdefault(model, {})
    if key not in known:
        with _recording_layer_bytes(model) as sizes, torch.no_grad():
            model(inputs[:1].detach())
        known[key] = max(sizes + [_tensor_bytes(inputs[:1])], default=1) or 1
    return known[key]


def choose_batch_size(model: nn.Module, inputs: torch.Tensor, batch_size=None, total: int | None = None,
                      backward: bool = False) -> int:
    """The number of inputs per call of ``model``: ``batch_size`` when given, else chosen from the work.

    Chosen means ``TARGET_BYTES`` (halved when ``backward``) divided by ``layer_bytes_per_input``, at
    least 1 and at most ``total``. Changing it changes the time, never the result (beyond float
    round-off), as long as the model treats the inputs of a batch independently.

    Args:
        model: the network the chunks go through.
        inputs: ``(N, ...)``, inputs like the ones that will be chunked (only ``inputs[:1]`` is run).
        batch_size: a positive int to set it by hand, or ``None`` (or ``"auto"``) to choose it.
        total: how many inputs there are to process; the chosen size is at most this (when given).
        backward: True when each chunk is also differentiated (SmoothGrad): half the bytes.

    Returns:
        A positive int.
    """
    if batch_size is not None and batch_size != "auto":
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, or None to choose it from the model, "
                             f"got {batch_size!r}.")
        return batch_size
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ValueError(f"total must be the number of inputs to process (an integer >= 0), got {total!r}.")
    target = TARGET_BYTES // 2 if backward else TARGET_BYTES
    chosen = max(1, target // layer_bytes_per_input(model, inputs))
    return max(1, min(chosen, total)) if total is not None else chosen
