"""Hooks as context managers: look at a network's activations, or change how its ReLUs backpropagate.

``relu_rule_gradient`` uses the second to compute the input "gradient" of a class logit under the
backprop, deconvnet or guided-backprop rule (notebook 06).

Every hook is registered on entry and removed in a ``finally`` block, so nothing is
left on the model after the ``with`` block, even when the block raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

__all__ = ["capture_activations", "relu_backward_rule", "relu_rule_gradient", "layer_names", "get_layer", "RELU_RULES"]


def layer_names(model: nn.Module) -> list[str]:
    """Return the names of every submodule of ``model``, as ``capture_activations`` expects them.

    Args:
        model: any ``nn.Module``.

    Returns:
        A list such as ``["conv1", "relu1", ...]`` or ``["features.0", "features.1", ...]``.
    """
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the submodule called ``name`` (a dotted path such as ``"features.conv3_2"``).

    Args:
        model: any ``nn.Module``.
        name: a name from ``layer_names(model)``.

    Returns:
        The submodule.
    """
    if not isinstance(name, str):
        raise TypeError(f"A layer is named by a string such as 'conv1', got {type(name).__name__}.")
    modules = dict(model.named_modules())
    if name not in modules or not name:
        known = layer_names(model)
        shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
        raise ValueError(f"The model has no layer called {name!r}; its layers are: {shown}.")
    return modules[name]


@contextmanager
def capture_activations(model: nn.Module, layers: str | Sequence[str], *, detach: bool = True) -> Iterator[dict]:
    """Record the outputs of named layers during the forward passes run inside the ``with`` block.

    The output is copied (``clone``) when it is recorded, so a later in-place ReLU
    (``nn.ReLU(inplace=True)``) cannot change what was captured.

    Args:
        model: the network.
        layers: one layer name or a list of names from ``layer_names(model)``.
        detach: ``True`` stores plain tensors; ``False`` keeps them in the autograd graph
            (needed to differentiate with respect to an activation, as Grad-CAM does).

    Returns:
        (as the ``with`` target) a dict ``{name: tensor}`` filled by each forward pass;
        a later forward pass overwrites the earlier one, e.g. ``acts["conv1"]`` of shape
        ``(N, C, H, W)``.

    Example:
        >>> with capture_activations(model, ["conv1", "conv2"]) as acts:
        ...     model(images)
        >>> acts["conv1"].shape
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("capture_activations needs at least one layer name, e.g. capture_activations(model, 'conv1').")
    modules = [get_layer(model, name) for name in names]
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"Layer {name!r} returns a {type(output).__name__}, not a tensor; capture a layer that returns a tensor.")
            if detach:
                captured[name] = output.detach().clone()
                return None
            # Keep the copy in the graph: the rest of the network continues from a copy of it, so that
            # gradients with respect to captured[name] exist (Grad-CAM), and an in-place ReLU further
            # on changes that second copy, not the recorded one.
            captured[name] = output.clone()
            return captured[name].clone()
        return hook

    try:
        for name, module in zip(names, modules):
            handles.append(module.register_forward_hook(make_hook(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


class _ReLUWithRule(torch.autograd.Function):
    """ReLU whose forward pass is the usual one and whose backward pass follows a chosen rule."""

    @staticmethod
    def forward(ctx, x, rule):
        ctx.rule = rule
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":
            return grad_output.clamp(min=0), None
        if ctx.rule == "guided":
            grad_output = grad_output.clamp(min=0)
        # grad_output where x > 0, else 0: ReLU's own backward kernel, one pass instead of a mask and a product
        return torch.ops.aten.threshold_backward(grad_output, x, 0), None


RELU_RULES = ("backprop", "deconvnet", "guided")


@contextmanager
def relu_backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Swap the backward pass of every ``nn.ReLU`` in ``model`` inside the ``with`` block.

    The forward pass is unchanged. The gradient that flows back through a ReLU with
    input ``x`` and upstream gradient ``g`` becomes:

    * ``"backprop"``: ``g * (x > 0)``, the true gradient;
    * ``"deconvnet"``: ``max(g, 0)``, Zeiler & Fergus (2014);
    * ``"guided"``: ``max(g, 0) * (x > 0)``, guided backpropagation, Springenberg et al. (2014).

    It works by giving each ReLU module a ``forward`` that calls a ``torch.autograd.Function``,
    which, unlike a full backward hook, also works with ``nn.ReLU(inplace=True)``. The original
    ``forward`` is restored on exit, also after an exception. ReLUs written as ``F.relu`` inside a
    ``forward`` method cannot be reached; the models of this course all use ``nn.ReLU`` modules.

    Args:
        model: the network.
        rule: one of ``RELU_RULES``.

    Returns:
        (as the ``with`` target) the same model.
    """
    if rule not in RELU_RULES:
        raise ValueError(f"Unknown ReLU backward rule {rule!r}: use one of {', '.join(RELU_RULES)}.")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("The model has no nn.ReLU modules, so there is no ReLU backward rule to swap.")
    patched = []
    try:
        for module in relus:
            if "forward" in module.__dict__:
                raise RuntimeError("A ReLU already has a swapped backward rule: relu_backward_rule blocks cannot be nested.")
            module.forward = lambda x, _rule=rule: _ReLUWithRule.apply(x, _rule)
            patched.append(module)
        yield model
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


def relu_rule_gradient(model: nn.Module, inputs: torch.Tensor, target, rule: str) -> torch.Tensor:
    """The input "gradient" of the target class's logit, with every ReLU's backward pass following ``rule``.

    ``rule="backprop"`` (the true gradient) is refused: that gradient is exercise 05.1, and no helper of the
    workbook computes an exercise's answer (use ``relu_backward_rule`` and ``torch.autograd.grad``, or
    your own ``saliency_map``). With ``"deconvnet"`` it is the deconvnet's
    projection of the logit back to the input (Zeiler & Fergus, "Visualizing and understanding
    convolutional networks", ECCV 2014); with ``"guided"`` it is guided backpropagation (Springenberg,
    Dosovitskiy, Brox, Riedmiller, "Striving for simplicity: the all convolutional net", ICLR workshop
    2015). The rules are those of ``relu_backward_rule``; only ``nn.ReLU`` modules follow them.

    Args:
        model: a classifier returning logits ``(N, K)``, built from ``nn.ReLU`` modules (in place or not).
        inputs: ``(N, C, H, W)`` float images (not changed, no ``.grad`` left on them).
        target: ``(N,)`` int64 class indices (or one int for every image).
        rule: ``"deconvnet"`` or ``"guided"`` (``"backprop"`` raises a ``ValueError``, see above).

    Returns:
        ``(N, C, H, W)``, signed, detached: one value per input entry and colour channel.
    """
    from .attribution import _check_call  # the checks every attribution method makes (imported here: no cycle)

    if rule == RELU_RULES[0]:   # "backprop"
        raise ValueError("relu_rule_gradient draws the deconvnet ('deconvnet') and guided backprop ('guided'); the plain "
                         "gradient ('backprop') is exercise 05.1: compute it with torch.autograd.grad.")

    target = _check_call(model, inputs, target)
    x = inputs.detach().clone().requires_grad_(True)
    with relu_backward_rule(model, rule):
        score = model(x).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, x)
    return grad.detach()
