"""How many inputs to send through a network per call: the chunk size of the batched methods.

Occlusion classifies hundreds of occluded copies of an image, SmoothGrad differentiates dozens of
noisy copies; both cut them into chunks. A chunk that is too small pays the fixed cost of every
layer call (Python, dispatch, setting up a kernel) for little arithmetic; one that is too large no
longer fits in the processor's cache, and every layer then streams its input and output through
main memory. So the best size depends on the network and the input size, not a constant: chunks
of 256 suit LeNet's 28x28 digits well but are more than twice as slow as chunks of 32 for the
shapes CNN's 64x64 images.

``choose_batch_size`` picks it from the work. It measures, once per model and input shape, the
largest number of bytes that one layer reads and writes for one input (its input plus its output,
recorded with forward hooks during one forward pass of one input), and chooses how many inputs
make that about ``TARGET_BYTES``: 16 MiB, half the 32 MiB last-level cache of the machine it was
measured on (the course's chunking benchmark, one thread, CPU seconds). There, the time per input falls
as the chunk grows until the largest layer's working set nears the cache's size, and jumps past
it: the shapes CNN (512 KiB per input) is fastest at 32 inputs (16 MiB) and 1.7 times slower at 64;
LeNet (98 KiB) is fastest at 128-256 and 1.5 times slower at 384. The rule gives LeNet 167, the
shapes CNN 32 and VGG-16 at 224 px (25 MiB per input) 1, forward or forward and backward alike; given
the number of inputs, it then evens out the chunks (529 occlusion positions on LeNet: 4 chunks of 133).
The same rule on every machine means the same chunks, hence the same float round-off, everywhere.
"""
from __future__ import annotations

import numbers
import weakref
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["choose_batch_size", "layer_bytes_per_input", "measuring", "TARGET_BYTES", "TARGET_BYTES_GPU"]

TARGET_BYTES = 16 * 2**20  # the largest layer's input + output for a whole chunk; see the module docstring
# On a GPU every call costs a kernel launch per layer and memory is large: aim far higher. A guess, not
# measured here (the course's machines have no GPU); set batch_size by hand to tune it.
TARGET_BYTES_GPU = 512 * 2**20

# model -> {(input shape without the batch, dtype, device): bytes}; forgets a model when it is deleted.
_MEASURED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


_measuring_depth = 0  # > 0 while the measuring forward pass runs


def measuring() -> bool:
    """True while ``layer_bytes_per_input`` runs its measuring forward pass (one input, no gradients).

    A module that keeps count of its calls (``robustness.QueryCounter``) asks this to leave the
    measuring pass out of its count.
    """
    return _measuring_depth > 0


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
        global _measuring_depth
        _measuring_depth += 1
        try:
            with _recording_layer_bytes(model) as sizes, torch.no_grad():
                model(inputs[:1].detach())
        finally:
            _measuring_depth -= 1
        known[key] = max(sizes + [_tensor_bytes(inputs[:1])], default=1) or 1
    return known[key]


def choose_batch_size(model: nn.Module, inputs: torch.Tensor, batch_size=None, total: int | None = None) -> int:
    """The number of inputs per call of ``model``: ``batch_size`` when given, else chosen from the work.

    Chosen means ``TARGET_BYTES // layer_bytes_per_input(model, inputs)`` (``TARGET_BYTES_GPU`` for
    inputs that are not on the CPU), at least 1; when ``total`` is given, that many inputs are split into
    the fewest chunks of at most this size, all of (nearly) equal size: ``ceil(total / ceil(total / size))``. It changes the time, never the result (beyond float round-off), as long as the model
    treats the inputs of a batch independently (no batch statistics, as in eval mode).

    Args:
        model: the network the chunks go through.
        inputs: ``(N, ...)``, inputs like the ones that will be chunked (only ``inputs[:1]`` is run, once).
        batch_size: a positive int to set it by hand, or ``None`` (or ``"auto"``) to choose it.
        total: how many inputs there are to process; when given, the chosen size splits them into equal chunks.

    Returns:
        A positive int.
    """
    if batch_size is not None and not (isinstance(batch_size, str) and batch_size == "auto"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, or None to choose it from the model, "
                             f"got {batch_size!r}.")
        return int(batch_size)
    if total is not None and (isinstance(total, bool) or not isinstance(total, numbers.Integral) or total < 0):
        raise ValueError(f"total must be the number of inputs to process (an integer >= 0), got {total!r}.")
    target = TARGET_BYTES if inputs.device.type == "cpu" else TARGET_BYTES_GPU
    chosen = max(1, target // layer_bytes_per_input(model, inputs))
    if total is None:
        return chosen
    # As many chunks as that size needs, of equal size: 529 positions in chunks of at most 167 become
    # 4 chunks of 133 rather than 3 of 167 and a small last one, which costs a whole chunk's overhead
    # for a few inputs (LeNet's occlusion is 1.1-1.3 times slower with the ragged tail).
    n_chunks = max(1, -(-int(total) // chosen))
    return max(1, -(-int(total) // n_chunks))
