"""Attribution methods that are not exercises, and the scores that compare attribution maps.

Every method has the workbook's one signature, ``method(model, inputs, target, **options)``, and
returns one map per image:

* ``gradient_x_input``: the input times the gradient of the target's logit (Shrikumar et al. 2016);
* ``lrp``: layer-wise relevance propagation with the epsilon, alpha1-beta0 or alpha2-beta1 rule (Bach et
  al. 2015), max-pools sending relevance to the winner or in proportion to the pooled activations, and
  ``lrp_relevances`` for the relevance that reaches each layer (to check that it is conserved);
* ``cascading_randomization``: copies of a model whose layers are re-initialised from the top down,
  for the sanity check of Adebayo et al. (2018);
* ``pointing_game`` and ``positive_share_inside``: how well a map agrees with a true object mask.

Saliency maps, SmoothGrad, Grad-CAM and occlusion are exercises of notebooks 04 and 05, so they are
not here.
"""
from __future__ import annotations

import copy
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gradient_x_input", "lrp", "lrp_relevances", "LRP_RULES", "cascading_randomization",
           "parameter_layers", "resize_attribution", "pointing_game", "positive_share_inside", "rank_correlation",
           "MAX_POOL_RULES"]

LRP_RULES = ("epsilon", "alpha1beta0", "alpha2beta1")
MAX_POOL_RULES = ("winner", "proportional")


def _check_call(model, inputs, target) -> torch.Tensor:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or not inputs.is_floating_point():
        got = f"shape {tuple(inputs.shape)} and dtype {inputs.dtype}" if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a float tensor of shape (N, C, H, W), got {got}.")
    target = torch.as_tensor(target)
    if target.dim() == 0:
        target = target.expand(len(inputs))
    if target.shape != (len(inputs),) or target.is_floating_point():
        raise ValueError(f"target must hold one integer class index per image, shape ({len(inputs)},), got shape {tuple(target.shape)}.")
    return target.long().to(inputs.device)


def gradient_x_input(model: nn.Module, inputs: torch.Tensor, target) -> torch.Tensor:
    """The input times the gradient of the target class's logit, summed over colour channels.

    Shrikumar, Greenside, Shcherbina, Kundaje, "Not just a black box: learning important features
    through propagating activation differences", arXiv:1605.01713, 2016.

    Args:
        model: a classifier returning logits ``(N, K)``.
        inputs: ``(N, C, H, W)`` float images.
        target: ``(N,)`` int64 class indices (or one int for every image).

    Returns:
        ``(N, H, W)`` signed attribution, ``sum_c inputs[n, c] * d logit_target / d inputs[n, c]``.
    """
    target = _check_call(model, inputs, target)
    x = inputs.detach().requires_grad_(True)  # a new leaf sharing the caller's storage; the caller's tensor is untouched
    logits = model(x)
    score = logits.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, x)
    return (grad * x.detach()).sum(dim=1)


# ---------------------------------------------------------------------------- layer-wise relevance propagation

_PASS_THROUGH = (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def _chain(model: nn.Module, inputs: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The model's leaf layers in registration order, after checking that applying them in turn is the model."""
    leaves = [(name, m) for name, m in model.named_modules() if name and not list(m.children())]
    unsupported = [f"{name} ({type(m).__name__})" for name, m in leaves
                   if not isinstance(m, (nn.Conv2d, nn.Linear) + _POOLS + _PASS_THROUGH)]
    if unsupported:
        raise ValueError(f"LRP here handles chains of Conv2d, Linear, ReLU, pooling, Flatten and Dropout layers; "
                         f"this model also has {', '.join(unsupported)}.")
    with torch.no_grad():
        x = inputs
        try:
            for _, layer in leaves:
                x = layer(x)
        except RuntimeError:
            x = None
        same = x is not None and x.shape == model(inputs).shape and torch.allclose(x, model(inputs), rtol=1e-4, atol=1e-5)
    if not same:
        raise ValueError("LRP needs a model whose forward pass applies its layers one after the other in the order "
                         "they are defined (as LeNet and the shapes CNN do); this model's forward does something else.")
    return leaves


def _stabilize(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    # z + epsilon * sign(z), with sign(0) = +1, so that no denominator is zero.
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0)


def _apply_weights(layer: nn.Module, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer's linear map with other weights and no bias: ``z_k = sum_j a_j weight_jk``."""
    if isinstance(layer, nn.Linear):
        return F.linear(a, weight)
    return F.conv2d(a, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def _share(z: torch.Tensor, a: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """``R_j = a_j sum_k (dz_k / da_j) R_k / z_k``: each output's relevance split in proportion to ``a_j dz_k/da_j``."""
    s = (relevance / z).detach()
    (c,) = torch.autograd.grad(z, a, grad_outputs=s)
    return a * c


def _relevance_step(layer: nn.Module, a: torch.Tensor, relevance: torch.Tensor, rule: str, epsilon: float,
                    max_pool: str = "winner") -> torch.Tensor:
    """Send the relevance at a layer's output back to its input ``a`` (the 'gradient trick' of Montavon et al. 2019)."""
    if isinstance(layer, _PASS_THROUGH):
        return relevance.reshape(a.shape)  # ReLU, Flatten, Dropout in eval mode: relevance passes unchanged
    a = a.detach().clone().requires_grad_(True)
    if isinstance(layer, nn.MaxPool2d) and max_pool == "proportional":
        # Each pooled output's relevance split over its window in proportion to the activations (a sum-pool).
        z = F.avg_pool2d(a, layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        out = _share(_stabilize(z, 1e-9), a, relevance)
    elif isinstance(layer, _POOLS):
        out = _share(_stabilize(layer(a), 1e-9), a, relevance)  # a max-pool: everything to the winner
    elif rule == "epsilon":
        out = _share(_stabilize(layer(a), epsilon), a, relevance)
    else:  # alpha-beta: positive and negative contributions apart, no bias; inputs a >= 0 (pixels in [0, 1], ReLU outputs)
        alpha, beta = (1.0, 0.0) if rule == "alpha1beta0" else (2.0, 1.0)
        weight = layer.weight.detach()
        out = alpha * _share(_apply_weights(layer, a, weight.clamp(min=0)) + 1e-9, a, relevance)
        if beta:
            out = out - beta * _share(_apply_weights(layer, a, weight.clamp(max=0)) - 1e-9, a, relevance)
    return out.detach()


def lrp_relevances(model: nn.Module, inputs: torch.Tensor, target, rule: str = "epsilon",
                   epsilon: float = 0.25, max_pool: str = "winner") -> list[tuple[str, torch.Tensor]]:
    """Layer-wise relevance propagation, keeping the relevance that reaches the input of every layer.

    The output relevance is the target class's logit (every other output gets 0). A linear or
    convolutional layer ``z_k = sum_j a_j w_jk + b_k`` sends relevance back with

    * ``"epsilon"``: ``R_j = sum_k a_j w_jk / (z_k + epsilon sign(z_k)) R_k``;
    * ``"alpha1beta0"``: ``R_j = sum_k a_j w_jk^+ / (sum_j a_j w_jk^+) R_k`` (positive weights only,
      bias ignored), which conserves relevance exactly when every ``a_j >= 0``;
    * ``"alpha2beta1"``: ``R_j = sum_k (2 a_j w_jk^+ / sum_j a_j w_jk^+  -  a_j w_jk^- / sum_j a_j w_jk^-) R_k``
      (bias ignored), which conserves relevance (2 - 1 = 1) at every unit that has both positive and
      negative contributions, and lets negative evidence through as negative relevance.

    Average pools use the epsilon formula with their own weights. A max-pool sends each output's
    relevance to the input that won (``max_pool="winner"``) or splits it over its window in
    proportion to the activations (``max_pool="proportional"``), the two options in Solberg's
    lecture. ReLU, Flatten and Dropout pass relevance through unchanged.

    Bach, Binder, Montavon, Klauschen, Müller, Samek, "On pixel-wise explanations for non-linear
    classifier decisions by layer-wise relevance propagation", PLoS ONE 10(7), 2015; Montavon, Binder,
    Lapuschkin, Samek, Müller, "Layer-wise relevance propagation: an overview", 2019.

    Args:
        model: a chain of ``Conv2d``, ``Linear``, ``ReLU``, pooling, ``Flatten`` and ``Dropout`` layers
            (LeNet, the shapes CNN), in eval mode.
        inputs: ``(N, C, H, W)`` float images.
        target: ``(N,)`` int64 class indices (or one int).
        rule: one of ``LRP_RULES``.
        epsilon: the stabilizer of the epsilon rule (in units of the layer's pre-activations).
        max_pool: one of ``MAX_POOL_RULES``, how a max-pool passes relevance back.

    Returns:
        A list of ``(name, relevance)`` from the output down to the input: ``("output", (N, K))``, then
        for each layer ``(layer name, relevance at that layer's input)``, the last one ``(N, C, H, W)``.
    """
    target = _check_call(model, inputs, target)
    if rule not in LRP_RULES:
        raise ValueError(f"Unknown LRP rule {rule!r}: use one of {', '.join(LRP_RULES)}.")
    if max_pool not in MAX_POOL_RULES:
        raise ValueError(f"Unknown max-pool rule {max_pool!r}: use one of {', '.join(MAX_POOL_RULES)}.")
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be a number >= 0, got {epsilon}.")
    if model.training:
        raise ValueError("LRP explains a model in eval mode: call model.eval() first (dropout would change the forward pass).")
    layers = _chain(model, inputs)
    activations = [inputs.detach()]
    with torch.no_grad():
        for _, layer in layers:
            activations.append(layer(activations[-1]))
    logits = activations[-1]
    relevance = torch.zeros_like(logits).scatter(1, target[:, None], logits.gather(1, target[:, None]))
    out = [("output", relevance)]
    for (name, layer), a in zip(reversed(layers), reversed(activations[:-1])):
        relevance = _relevance_step(layer, a, relevance, rule, epsilon, max_pool)
        out.append((name, relevance))
    return out


def lrp(model: nn.Module, inputs: torch.Tensor, target, rule: str = "epsilon", epsilon: float = 0.25,
        max_pool: str = "winner") -> torch.Tensor:
    """Layer-wise relevance propagation (Bach et al. 2015) down to the pixels, summed over colour channels.

    Args:
        model, inputs, target, rule, epsilon, max_pool: as in ``lrp_relevances``.

    Returns:
        ``(N, H, W)`` signed relevance; with ``rule="alpha1beta0"`` it is >= 0 and each image's map
        sums to its target logit when that logit is positive.
    """
    return lrp_relevances(model, inputs, target, rule=rule, epsilon=epsilon, max_pool=max_pool)[-1][1].sum(dim=1)


# ---------------------------------------------------------------------------- sanity check

def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the layers that hold weights (convolutions and linear layers), from the input to the output."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def cascading_randomization(model: nn.Module, seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Copies of ``model`` with more and more of its layers re-initialised, from the output down.

    The k-th copy has the top k weight layers (see ``parameter_layers``) replaced by fresh random
    weights (each layer's own ``reset_parameters``, seeded); the model itself is not changed.
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, "Sanity checks for saliency maps", NeurIPS 2018.

    Args:
        model: the trained network.
        seed: seeds the random weights, so that two runs give the same copies.

    Returns:
        An iterator of ``(name of the last layer randomized, randomized copy in eval mode)``.
    """
    names = parameter_layers(model)
    if not names:
        raise ValueError("The model has no Conv2d or Linear layers, so there is nothing to randomize.")
    randomized = copy.deepcopy(model).eval()
    modules = dict(randomized.named_modules())
    generator_state = torch.random.get_rng_state()
    try:
        for k, name in enumerate(reversed(names)):
            torch.manual_seed(seed + k)
            with torch.no_grad():
                modules[name].reset_parameters()
            yield name, copy.deepcopy(randomized)
    finally:
        torch.random.set_rng_state(generator_state)


# ---------------------------------------------------------------------------- scores against true masks

def resize_attribution(attribution: torch.Tensor, size) -> torch.Tensor:
    """Upsample ``(N, h, w)`` maps bilinearly to ``size = (H, W)`` (unchanged when they already have that size)."""
    attribution = torch.as_tensor(attribution)
    if attribution.dim() != 3:
        raise ValueError(f"attribution must have shape (N, h, w), got {tuple(attribution.shape)}.")
    if tuple(attribution.shape[1:]) == tuple(size):
        return attribution
    return F.interpolate(attribution[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def _check_masks(attribution, masks) -> tuple[torch.Tensor, torch.Tensor]:
    masks = torch.as_tensor(masks)
    attribution = torch.as_tensor(attribution).detach().float()
    if masks.dim() != 3 or masks.dtype != torch.bool:
        raise ValueError(f"masks must be a bool tensor of shape (N, H, W), got shape {tuple(masks.shape)} and dtype {masks.dtype}.")
    if attribution.dim() != 3 or len(attribution) != len(masks):
        raise ValueError(f"attribution must have shape (N, h, w) with one map per mask ({len(masks)}), "
                         f"got {tuple(attribution.shape)}.")
    return resize_attribution(attribution.cpu(), masks.shape[1:]), masks.cpu()


def pointing_game(attribution: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Does each map's largest value fall inside the object? (Zhang et al., 'Top-down neural attention
    by excitation backprop', ECCV 2016.)

    Args:
        attribution: ``(N, h, w)`` maps (upsampled bilinearly to the masks' size when smaller).
        masks: ``(N, H, W)`` bool, True on the object.

    Returns:
        ``(N,)`` bool: a hit for every image whose map's maximum (the first one, on ties) lies in the mask.
    """
    attribution, masks = _check_masks(attribution, masks)
    flat = attribution.flatten(1).argmax(dim=1)
    return masks.flatten(1).gather(1, flat[:, None])[:, 0]


def positive_share_inside(attribution: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The share of each map's positive attribution that lies inside the object.

    Args:
        attribution: ``(N, h, w)`` maps (upsampled bilinearly to the masks' size when smaller).
        masks: ``(N, H, W)`` bool, True on the object.

    Returns:
        ``(N,)`` float in [0, 1]: ``sum(max(A, 0) inside) / sum(max(A, 0))``, 0 for a map with nothing positive.
    """
    attribution, masks = _check_masks(attribution, masks)
    positive = attribution.clamp(min=0).flatten(1)
    total = positive.sum(dim=1)
    inside = (positive * masks.flatten(1)).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.zeros_like(total))


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between two maps of the same image, one value per image.

    Args:
        first, second: ``(N, H, W)`` maps of the same shape.

    Returns:
        ``(N,)`` float: the Pearson correlation of the maps' ranks (ties broken by position), in [-1, 1].
    """
    first, second = torch.as_tensor(first).detach().cpu(), torch.as_tensor(second).detach().cpu()
    if first.shape != second.shape or first.dim() < 2:
        raise ValueError(f"rank_correlation compares maps of the same shape (N, H, W), got {tuple(first.shape)} and {tuple(second.shape)}.")

    def ranks(x):
        flat = x.flatten(1).double()
        return flat.argsort(dim=1).argsort(dim=1).double()

    ra, rb = ranks(first), ranks(second)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return ((ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp(min=1e-12)).float()
