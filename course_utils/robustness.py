"""Measuring robustness (notebook 08): batched predictions and attacks, accuracy against epsilon, norms of
perturbations, 8-bit rounding, a black box that counts its queries, and a model that sees only part of the image.

None of this is an attack: the attacks themselves (FGSM, PGD, the adversarial-training loss) are the
exercises of notebook 08. ``attack`` below is any function ``attack(model, inputs, target, epsilon, **options)``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from course_utils.batching import choose_batch_size, measuring
from course_utils.device import progress

__all__ = ["predict", "attack_in_batches", "accuracy_against_epsilon", "survives_restarts", "format_table",
           "perturbation_norms", "quantize_8bit", "random_signs", "QueryCounter", "FixedOutside", "mark_outcomes"]


def _check_batch(inputs, what: str = "inputs") -> None:
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or not inputs.is_floating_point():
        got = f"{tuple(inputs.shape)} {inputs.dtype}" if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"{what} must be a float tensor of images (N, C, H, W), got {got}.")


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """The class each image is given, computed in batches without gradients.

    Args:
        model: a classifier returning logits (N, K).
        inputs: (N, C, H, W) float tensor, on the model's device.
        batch_size: how many images go through the model at once; ``None`` chooses it from the size of
            the model's layers (``course_utils.choose_batch_size``).

    Returns:
        (N,) int64 tensor of predicted classes, on the inputs' device.
    """
    _check_batch(inputs)
    batch_size = choose_batch_size(model, inputs, batch_size, total=len(inputs))
    return torch.cat([model(inputs[s:s + batch_size]).argmax(dim=1) for s in range(0, len(inputs), batch_size)])


def attack_in_batches(attack: Callable, model: nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                      batch_size: int | None = None, desc: str | None = None, **options) -> torch.Tensor:
    """Run ``attack(model, inputs, target, **options)`` on consecutive batches and stack the results.

    Batches keep memory small and show progress; an attack that treats images independently (FGSM and PGD
    do: each image's gradient depends only on that image) gives the same images as one call on everything.

    Args:
        attack: a function ``attack(model, inputs, target, **options)`` returning perturbed images.
        model: the classifier attacked.
        inputs: (N, C, H, W) float tensor.
        target: (N,) int64 tensor.
        batch_size: images per call; ``None`` chooses it from the size of the model's layers
            (``course_utils.choose_batch_size``: an attack's steps are forward and backward passes, which
            were measured to want the same chunks as forward passes alone).
        desc: the progress bar's label (no bar when None).
        **options: passed on to ``attack``, e.g. ``epsilon=0.1``.

    Returns:
        (N, C, H, W) tensor, the perturbed images, detached.
    """
    _check_batch(inputs)
    batch_size = choose_batch_size(model, inputs, batch_size, total=len(inputs))
    if not isinstance(target, torch.Tensor) or target.shape != (len(inputs),):
        raise ValueError(f"target must be a tensor with one class per image, shape ({len(inputs)},), "
                         f"got {tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__}.")
    starts = range(0, len(inputs), batch_size)
    if desc is not None:
        starts = progress(starts, desc=desc)
    return torch.cat([attack(model, inputs[s:s + batch_size], target[s:s + batch_size], **options).detach()
                      for s in starts])


def accuracy_against_epsilon(attack: Callable, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                             epsilons: Sequence[float], options: Callable[[float], dict] | None = None,
                             batch_size: int | None = None, desc: str | None = None, keep: bool = False):
    """Accuracy on attacked images, one untargeted attack per epsilon (epsilon 0 is the clean accuracy).

    Args:
        attack: ``attack(model, inputs, target, epsilon, **options)``, e.g. FGSM or PGD.
        model: the classifier attacked and judged.
        inputs: (N, C, H, W) float tensor; labels: (N,) int64, the true classes (the attack's target).
        epsilons: the L-infinity budgets.
        options: ``options(epsilon)`` gives further keyword arguments, e.g. PGD's step size for that epsilon.
        batch_size: images per call of the attack (``None``: chosen from the model, as in ``attack_in_batches``).
        desc: the progress bar's label (one step per epsilon; no bar when None).
        keep: also return the attacked images.

    Returns:
        ``{epsilon: accuracy}`` (floats), or ``(accuracies, {epsilon: images})`` when ``keep``.
    """
    accuracies, images = {}, {}
    for epsilon in progress(list(epsilons), desc=desc, disable=None if desc else True):
        if epsilon == 0:
            attacked = inputs
        else:
            extra = options(epsilon) if options is not None else {}
            attacked = attack_in_batches(attack, model, inputs, labels, batch_size=batch_size, epsilon=epsilon, **extra)
        accuracies[epsilon] = (predict(model, attacked) == labels).float().mean().item()
        if keep:
            images[epsilon] = attacked
    return (accuracies, images) if keep else accuracies


def survives_restarts(attack: Callable, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, restarts: int,
                      standing: torch.Tensor | None = None, batch_size: int | None = None, desc: str | None = None,
                      **options) -> torch.Tensor:
    """Which images resist every one of ``restarts`` randomly started runs of an untargeted attack (Madry et al. 2018).

    Restart ``r`` calls ``attack(model, images, labels, random_start=seed, **options)`` on the images still
    standing, chunk ``c`` of them with ``seed = 1000 * r + c``, so each run starts from its own random point of
    the epsilon-ball; an image fooled once stays fooled (the attacker keeps the image that worked).

    Args:
        attack: e.g. PGD, taking a ``random_start`` seed.
        model: the classifier attacked and judged.
        inputs: (N, C, H, W) float tensor; labels: (N,) int64, the true classes.
        restarts: how many random starts.
        standing: (N,) bool, the images still unbroken (e.g. after weaker attacks); default: those classified right.
        batch_size: images per call (``None``: chosen from the model, as in ``attack_in_batches``).
        desc: the progress bar's label (one step per restart; no bar when None).
        **options: passed on to ``attack``, e.g. ``epsilon``, ``step_size``, ``steps``.

    Returns:
        (N,) bool tensor: True where the image is classified right and no restart fooled it.
    """
    _check_batch(inputs)
    standing = (predict(model, inputs) == labels) if standing is None else standing.clone().bool()
    if standing.shape != labels.shape:
        raise ValueError(f"standing must hold one bool per image, shape ({len(labels)},), got {tuple(standing.shape)}.")
    batch_size = choose_batch_size(model, inputs, batch_size, total=len(inputs))
    for restart in progress(range(restarts), desc=desc, disable=None if desc else True):
        todo = standing.nonzero()[:, 0]
        for chunk, start in enumerate(range(0, len(todo), batch_size)):
            rows = todo[start:start + batch_size]
            attacked = attack(model, inputs[rows], labels[rows], random_start=1000 * restart + chunk, **options)
            standing[rows] = predict(model, attacked.detach()) == labels[rows]
    return standing


def mark_outcomes(axes, correct: Sequence, right: str = "tab:green", wrong: str = "tab:red") -> None:
    """Colour the titles of an image grid: ``right`` where the network is right, ``wrong`` where it is fooled.

    Args:
        axes: the axes of the grid (e.g. the second value ``show_images`` returns), in reading order.
        correct: one entry per image: True (right), False (fooled) or None (leave the title black).
        right, wrong: matplotlib colours.
    """
    flat = list(np.ravel(axes))
    if len(correct) > len(flat):
        raise ValueError(f"correct has {len(correct)} entries but the grid has only {len(flat)} images.")
    for ax, ok in zip(flat, correct):
        if ok is not None:
            ax.title.set_color(right if bool(ok) else wrong)


def format_table(header: Sequence[str], rows: Sequence[Sequence], formats: Sequence[str] | None = None,
                 width: int = 10) -> str:
    """A plain-text table: a header line and one line per row, columns right-aligned.

    Args:
        header: the column titles.
        rows: the rows, each with one value per column.
        formats: one format spec per column (e.g. ``".3f"``, ``"s"``); plain ``str`` when None.
        width: the least width of a column.

    Returns:
        The table as one string (print it).
    """
    formats = list(formats) if formats is not None else [""] * len(header)
    if len(formats) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row and the formats need {len(header)} entries, one per column of the header.")
    cells = [[format(value, spec) for value, spec in zip(row, formats)] for row in rows]
    widths = [max(width, len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def perturbation_norms(original: torch.Tensor, perturbed: torch.Tensor, threshold: float = 1e-6) -> dict:
    """The size of ``perturbed - original`` per image in three norms.

    Args:
        original, perturbed: (N, C, H, W) float tensors of the same shape.
        threshold: a pixel counts as changed (L0) when it moved by more than this.

    Returns:
        ``{"Linf": (N,), "L2": (N,), "L0": (N,)}``: the largest change, the Euclidean length, and the
        number of values that changed.
    """
    _check_batch(original, "original")
    _check_batch(perturbed, "perturbed")
    if original.shape != perturbed.shape:
        raise ValueError(f"original and perturbed must have the same shape, got {tuple(original.shape)} "
                         f"and {tuple(perturbed.shape)}.")
    delta = (perturbed - original).detach().flatten(1)
    return {"Linf": delta.abs().amax(dim=1), "L2": delta.norm(dim=1), "L0": (delta.abs() > threshold).sum(dim=1)}


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round images in [0, 1] to the nearest of the 256 levels k / 255 (what saving as 8-bit pixels does).

    Args:
        images: float tensor with values in [0, 1].

    Returns:
        A tensor of the same shape and dtype, every value a multiple of 1/255.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError("quantize_8bit needs a float tensor with values in [0, 1].")
    return (images.clamp(0, 1) * 255).round() / 255


def random_signs(shape, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """A random perturbation with every entry +epsilon or -epsilon, each with probability 1/2.

    It has the same L-infinity, L2 and L0 norms as an FGSM perturbation of the same epsilon (before
    clipping), but a random direction.

    Args:
        shape: the shape of the perturbation, e.g. ``inputs.shape``.
        epsilon: the size of every entry.
        generator: a seeded ``torch.Generator`` (CPU).

    Returns:
        A float32 tensor on the CPU.
    """
    return epsilon * (2 * torch.randint(0, 2, tuple(shape), generator=generator) - 1).float()


class QueryCounter(nn.Module):
    """A black box: it answers class probabilities, never gradients, and counts the images it was asked about.

    Args:
        model: the classifier hidden inside.

    Attributes:
        queries: the number of images answered so far (a batch of 10 images counts 10).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.queries = 0

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Probabilities (N, K) for images (N, C, H, W); counts N queries (not the pass that sizes batches)."""
        if not measuring():
            self.queries += len(inputs)
        return torch.softmax(self.model(inputs.detach()), dim=1)


class FixedOutside(nn.Module):
    """A classifier that reads only the pixels inside ``masks``; everywhere else it sees ``images``.

    ``FixedOutside(model, images, masks)(x)`` is ``model(masks * x + (1 - masks) * images)``. Its gradient
    is zero outside the mask, so an attack on it (whose steps follow the gradient's sign, and sign(0) = 0)
    changes only the pixels inside: a region-restricted attack without changing the attack's code.
    It must be called on a batch of the same images, in the same order.

    Args:
        model: the classifier.
        images: (N, C, H, W) the images whose pixels outside the mask stay fixed.
        masks: (N, H, W) or (N, 1, H, W), 1 where the attack may change pixels, 0 elsewhere.
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, masks: torch.Tensor):
        super().__init__()
        _check_batch(images, "images")
        masks = masks if masks.dim() == 4 else masks[:, None]
        if masks.shape[0] != images.shape[0] or masks.shape[2:] != images.shape[2:]:
            raise ValueError(f"masks must be (N, H, W) matching images {tuple(images.shape)}, got {tuple(masks.shape)}.")
        self.model = model
        self.images = images.detach()
        self.masks = masks.to(images.dtype).to(images.device)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of ``model`` on the images with only the masked pixels taken from ``inputs``."""
        if inputs.shape != self.images.shape:
            raise ValueError(f"FixedOutside was built for a batch of shape {tuple(self.images.shape)}, "
                             f"got {tuple(inputs.shape)}: call it on the same images.")
        return self.model(self.masks * inputs + (1 - self.masks) * self.images)
