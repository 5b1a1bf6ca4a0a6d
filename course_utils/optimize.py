"""Optimizing the input: a seeded gradient-ascent loop on images, with the two image transforms it can use.

``optimize_input`` maximizes any differentiable score of a batch of images with Adam, optionally
shifting the images at random before each step (jitter) and blurring them every few steps. What the
score is (a class logit, a channel's mean activation, minus a reconstruction error, minus a prior) is
the caller's business: notebooks 07-10 pass it in as a function.

* ``noise_images``: a seeded batch of small Gaussian noise, the usual starting point.
* ``random_shift``: roll each image by its own random offset (and back), for jitter.
* ``gaussian_blur``: a separable Gaussian blur of every channel, with reflected borders.
* ``optimize_input``: the loop, with a progress bar.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .device import progress

__all__ = ["noise_images", "random_shift", "gaussian_blur", "optimize_input"]


def _check_images(images, caller: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{caller} expects a float tensor of images (N, C, H, W), got {got}.")


def noise_images(shape, std: float = 0.01, seed: int = 0, device=None) -> torch.Tensor:
    """Images of Gaussian noise N(0, std^2), drawn from their own generator (the global one is untouched).

    Args:
        shape: ``(N, C, H, W)``.
        std: the noise's standard deviation (Fleuret starts from N(0, 0.01^2)).
        seed: seeds the draw.
        device: where to put the result (the draw itself happens on the CPU, so it is the same everywhere).

    Returns:
        ``(N, C, H, W)`` float32 tensor.
    """
    if len(tuple(shape)) != 4:
        raise ValueError(f"noise_images needs a shape (N, C, H, W), got {tuple(shape)}.")
    if std < 0:
        raise ValueError(f"The noise's standard deviation must be >= 0, got {std}.")
    g = torch.Generator().manual_seed(seed)
    return (std * torch.randn(tuple(shape), generator=g)).to(device or "cpu")


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator):
    """Roll each image by its own random offset in [-max_shift, max_shift] along height and width.

    The roll is circular (what leaves one side comes back on the other), so no pixel is lost and the
    shift can be undone exactly with ``random_shift``'s second output.

    Args:
        images: ``(N, C, H, W)``.
        max_shift: the largest shift in pixels, >= 0.
        generator: a ``torch.Generator`` on the CPU that draws the offsets.

    Returns:
        ``(shifted, undo)``: the shifted images ``(N, C, H, W)`` and a function that rolls a tensor
        of the same shape back by the same offsets.
    """
    _check_images(images, "random_shift")
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer number of pixels, got {max_shift!r}.")
    offsets = torch.randint(-max_shift, max_shift + 1, (len(images), 2), generator=generator).tolist()

    def roll(x: torch.Tensor, sign: int) -> torch.Tensor:
        return torch.stack([torch.roll(x[i], (sign * dy, sign * dx), dims=(1, 2)) for i, (dy, dx) in enumerate(offsets)])

    return roll(images, 1), lambda x: roll(x, -1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every channel of every image with a Gaussian of standard deviation ``sigma`` pixels.

    The kernel is sampled on [-3 sigma, 3 sigma] and normalized to sum 1; borders are reflected, so a
    constant image stays constant. ``sigma = 0`` returns a copy.

    Args:
        images: ``(N, C, H, W)``.
        sigma: the blur's width in pixels, >= 0.

    Returns:
        ``(N, C, H, W)``, the blurred images.
    """
    _check_images(images, "gaussian_blur")
    if sigma < 0:
        raise ValueError(f"The blur's sigma must be >= 0 pixels, got {sigma}.")
    if sigma == 0:
        return images.clone()
    radius = max(1, int(3 * sigma + 0.5))
    radius = min(radius, min(images.shape[2:]) - 1)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    # Every channel of every image blurred on its own: one grey image each, then back to (N, C, H, W).
    planes = images.flatten(0, 1).unsqueeze(1)
    planes = F.conv2d(F.pad(planes, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    planes = F.conv2d(F.pad(planes, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return planes.reshape(images.shape)


def optimize_input(objective: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, *, steps: int = 250,
                   lr: float = 0.1, jitter: int = 0, blur_every: int = 0, blur_sigma: float = 0.5, bounds=None,
                   seed: int = 0, desc: str | None = None) -> torch.Tensor:
    """Maximize ``objective(images)`` over the images by Adam, starting from ``inputs``.

    Each step: shift the images at random by up to ``jitter`` pixels (if ``jitter > 0``), compute
    ``objective`` of the shifted images, take one Adam step on ``-objective(...).sum()`` (each image's
    score depends on that image only, so the images are optimized independently, in one batch), and,
    every ``blur_every`` steps, blur the images with ``gaussian_blur(., blur_sigma)``; finally clip the
    pixels into ``bounds`` when given.

    Args:
        objective: a function of images ``(N, C, H, W)`` returning one score per image, ``(N,)``, to
            be maximized; a class logit, say, or a logit minus a prior.
        inputs: ``(N, C, H, W)``, the starting images (not modified).
        steps: the number of Adam steps.
        lr: Adam's learning rate (Fleuret uses 0.1 for 250 steps).
        jitter: the largest random shift in pixels (0: none). The objective sees the shifted images;
            the images being optimized are not shifted.
        blur_every: blur every this many steps (0: never).
        blur_sigma: the blur's width in pixels.
        bounds: ``(low, high)`` to clip every pixel into after each step (``(0, 1)``: a valid image),
            or ``None`` for no limit.
        seed: seeds the random shifts (nothing else is random).
        desc: the progress bar's label.

    Returns:
        ``(N, C, H, W)``, the optimized images, detached.
    """
    _check_images(inputs, "optimize_input")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}.")
    if not isinstance(blur_every, int) or blur_every < 0:
        raise ValueError(f"blur_every must be a non-negative integer (0: never blur), got {blur_every!r}.")
    g = torch.Generator().manual_seed(seed)
    images = inputs.detach().clone()
    images.requires_grad_(True)
    optimizer = torch.optim.Adam([images], lr=lr)
    for step in progress(range(steps), desc=desc or "optimizing the input"):
        seen = images
        if jitter:
            seen, _ = random_shift(images, jitter, g)
        scores = objective(seen)
        if scores.shape != (len(images),):
            raise ValueError(f"The objective must return one score per image, shape ({len(images)},), "
                             f"got {tuple(scores.shape)}.")
        # autograd.grad, not backward(): the model's parameters get no .grad and cost no work.
        (grad,) = torch.autograd.grad(-scores.sum(), images)
        images.grad = grad
        optimizer.step()
        if blur_every > 0 and (step + 1) % blur_every == 0:
            with torch.no_grad():
                images.copy_(gaussian_blur(images, blur_sigma))
        if bounds is not None:
            with torch.no_grad():
                images.clamp_(*bounds)
    images.requires_grad_(False)
    return images
