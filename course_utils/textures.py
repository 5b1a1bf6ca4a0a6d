"""Textures and the tools of neural texture synthesis and style transfer (notebook 10).

* Style images: ``load_texture`` gives the grayscale textures that scikit-image ships (brick, grass,
  gravel) and ``swirl_painting``, a painting-like image made in code (no painting ships with the
  libraries we use): brush strokes from line-integral convolution of a swirling vector field.
* Feature extractors with named layers: ``shapes_extractor`` (the trained shapes CNN),
  ``RandomMultiScaleNet`` (one layer of random filters of several sizes, as in Ustyuzhaninov et al.
  2017) and ``vgg19_extractor`` (VGG-19 from conv1_1 to conv5_1); ``layer_features`` runs one.
* ``optimize_image``: minimizes a loss over the pixels with L-BFGS or Adam, counting function
  evaluations and recording the loss against wall-clock seconds.
* ``anisotropic_tv``, ``out_of_range``, and measures that no extractor optimizes: ``spectrum_distance`` and
  ``colour_distance`` (how far from a texture), ``edge_correlation`` (how much of a photo's layout is kept).

The Gram matrix and the style loss are exercises of notebook 10 and are not here.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TEXTURE_NAMES", "swirl_painting", "load_texture", "shapes_extractor", "RandomMultiScaleNet",
           "vgg19_extractor", "layer_features", "anisotropic_tv", "out_of_range", "optimize_image", "OptimizationResult",
           "spectrum_distance", "colour_distance", "edge_correlation"]

TEXTURE_NAMES = ("swirl", "brick", "grass", "gravel")


# ----------------------------------------------------------------------------------------------- style images
def _bilinear(array: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample a 2-D array at real-valued positions (wrapping around the edges), bilinearly."""
    h, w = array.shape
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    r0, c0 = r0 % h, c0 % w
    r1, c1 = (r0 + 1) % h, (c0 + 1) % w
    top = array[r0, c0] * (1 - fc) + array[r0, c1] * fc
    bottom = array[r1, c0] * (1 - fc) + array[r1, c1] * fc
    return top * (1 - fr) + bottom * fr


def swirl_painting(size: int = 64, seed: int = 0) -> torch.Tensor:
    """A painting-like image made in code: swirling brush strokes in blues and yellows.

    How it is made (all with NumPy, from ``seed``):

    1. A swirling vector field: the sum of nine vortices, each turning around a random centre
       (clockwise or not) with a Gaussian fall-off of radius 8-20 % of the side, plus a gentle uniform
       drift; normalized to length 1.
    2. Brush strokes by line-integral convolution (Cabral & Leedom, SIGGRAPH 1993): every pixel
       averages a white-noise image (drawn at half resolution, so strokes are about 2 px wide) along
       the field's streamline through it, traced 0.5 px at a time for ``size / 8`` px both ways,
       with a triangular weight. Averaging along a streamline smears the noise into streaks that
       follow the field, like brush strokes.
    3. Colour: a smooth scalar field (the vortices' signed strengths, summed) picks a colour on a
       palette from deep blue through blue and ochre to pale yellow; the stroke image modulates its
       brightness (+/- 50 %), then the image is clipped to [0, 1].

    Args:
        size: side of the square image in pixels (at least 16).
        seed: non-negative int; the same ``(size, seed)`` gives the same image.

    Returns:
        image, float32 ``(1, 3, size, size)`` in [0, 1].
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 16:
        raise ValueError(f"size must be an int of at least 16 pixels, got {size!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    rng = np.random.default_rng(int(seed))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    vr, vc = np.full((size, size), 0.15), np.full((size, size), 0.25)   # the drift
    strength = np.zeros((size, size))
    for _ in range(9):
        cr, cc = rng.uniform(0, size, 2)
        radius = rng.uniform(0.08, 0.2) * size
        sign = rng.choice([-1.0, 1.0])
        dr, dc = rows - cr, cols - cc
        weight = np.exp(-(dr ** 2 + dc ** 2) / (2 * radius ** 2))
        vr += sign * dc / radius * weight      # perpendicular to the radius: a rotation about (cr, cc)
        vc -= sign * dr / radius * weight
        strength += sign * weight
    norm = np.sqrt(vr ** 2 + vc ** 2) + 1e-8
    vr, vc = vr / norm, vc / norm

    coarse = rng.random((size // 2, size // 2))
    noise = np.kron(coarse, np.ones((2, 2)))[:size, :size]
    steps = max(4, int(size / 8 / 0.5))
    total, weights = noise.copy() * steps, np.full((size, size), float(steps))
    for direction in (1.0, -1.0):
        r, c = rows.copy(), cols.copy()
        for k in range(1, steps):
            r = r + direction * 0.5 * _bilinear(vr, r, c)
            c = c + direction * 0.5 * _bilinear(vc, r, c)
            w = steps - k
            total += w * _bilinear(noise, r, c)
            weights += w
    strokes = total / weights
    strokes = (strokes - strokes.mean()) / (strokes.std() + 1e-8)

    palette = np.array([[0.05, 0.10, 0.35], [0.15, 0.30, 0.70], [0.35, 0.55, 0.85], [0.80, 0.65, 0.25],
                        [0.98, 0.90, 0.55]])
    t = (strength - strength.min()) / (strength.max() - strength.min() + 1e-8) * (len(palette) - 1)
    low = np.clip(np.floor(t).astype(int), 0, len(palette) - 2)
    frac = (t - low)[..., None]
    colour = palette[low] * (1 - frac) + palette[low + 1] * frac
    image = colour * (1 + 0.5 * np.clip(strokes, -2.5, 2.5)[..., None] / 2.5)
    image = np.clip(image, 0, 1).astype(np.float32)
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_texture(name: str, size: int = 64) -> torch.Tensor:
    """Load a style image: ``"swirl"`` (``swirl_painting``, seed 0) or a scikit-image texture.

    Args:
        name: one of ``TEXTURE_NAMES``: ``"swirl"``, ``"brick"``, ``"grass"``, ``"gravel"`` (the last
            three are scikit-image's grayscale textures, repeated to 3 channels, center-cropped).
        size: side of the square image in pixels.

    Returns:
        image, float32 ``(1, 3, size, size)`` in [0, 1].
    """
    if name not in TEXTURE_NAMES:
        raise ValueError(f"Unknown texture {name!r}: use one of {', '.join(TEXTURE_NAMES)}.")
    if name == "swirl":
        return swirl_painting(size, seed=0)
    from course_utils.data import load_image

    return load_image(name, size)


# --------------------------------------------------------------------------------------- feature extractors
def shapes_extractor(model: nn.Module) -> nn.Sequential:
    """The convolutional part of the shapes CNN, as a named ``nn.Sequential`` (conv1_1, relu1_1, ...).

    Args:
        model: the ``ShapesCNN`` from ``load_model("shapes-cnn")``; its weights are shared, not copied.

    Returns:
        ``model.features``, frozen (``requires_grad`` off), in eval mode. It takes images in [0, 1]
        of any size (not only 64 x 64).
    """
    features = model.features
    for parameter in features.parameters():
        parameter.requires_grad_(False)
    return features.eval()


class RandomMultiScaleNet(nn.Module):
    """One convolutional layer of random filters of several sizes, ReLU, no pooling.

    After Ustyuzhaninov, Brendel, Gatys & Bethge, "What does it take to generate natural textures?",
    ICLR 2017, who synthesized textures from a single layer of random filters of several sizes.
    Each scale ``k`` is a branch ``scale{k}``: a ``k x k`` convolution of the centred image
    (``image - 0.5``) with ``channels`` random filters (zero mean, unit norm, reflect padding), then a
    ReLU; its output ``(N, channels, H, W)`` is the layer ``scale{k}``.

    Args:
        kernel_sizes: the filter sizes, odd ints.
        channels: filters per size.
        seed: seeds the filters (``torch.Generator``), so the network is the same on every machine.
    """

    def __init__(self, kernel_sizes=(3, 5, 7, 11, 15), channels: int = 32, seed: int = 0):
        super().__init__()
        if not kernel_sizes or any(int(k) % 2 == 0 or int(k) < 1 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd positive ints, got {kernel_sizes!r}.")
        generator = torch.Generator().manual_seed(seed)
        branches = OrderedDict()
        for k in kernel_sizes:
            conv = nn.Conv2d(3, channels, int(k), padding=int(k) // 2, padding_mode="reflect")
            with torch.no_grad():
                weight = torch.randn(conv.weight.shape, generator=generator)
                weight -= weight.mean(dim=(1, 2, 3), keepdim=True)
                conv.weight.copy_(weight / weight.flatten(1).norm(dim=1)[:, None, None, None])
                conv.bias.copy_(0.1 * torch.randn(channels, generator=generator))
            branches[f"scale{k}"] = nn.Sequential(conv, nn.ReLU())
        self.branches = nn.ModuleDict(branches)
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()

    @property
    def layer_names(self) -> list[str]:
        """The names of the layers, one per filter size: ``["scale3", "scale5", ...]``."""
        return list(self.branches)

    def forward(self, images: torch.Tensor, layers=None) -> dict:
        """Return ``{name: (N, channels, H, W)}`` for the layers asked for (all when ``layers`` is None)."""
        names = self.layer_names if layers is None else list(layers)
        return {name: self.branches[name](images - 0.5) for name in names}


_VGG19_BLOCKS = (2, 2, 4, 4, 4)


def vgg19_extractor(vgg: nn.Module, last: str = "conv5_1") -> nn.Sequential:
    """VGG-19's convolutional layers up to ``last``, named as in Gatys et al. (conv1_1, relu1_1, pool1, ...).

    The ImageNet normalization comes first (layer ``normalize``: the extractor takes images in [0, 1]).
    As Gatys et al. (2015, 2016) did, max pooling is replaced by average pooling; ReLUs are not in
    place, so a conv layer's recorded output is not overwritten. The weights are shared, frozen.

    Args:
        vgg: a torchvision ``vgg19`` (trained, from ``load_model("vgg19")``, or untrained in tests).
        last: the last layer kept, e.g. ``"conv5_1"`` or ``"relu5_1"``.

    Returns:
        an ``nn.Sequential`` in eval mode.
    """
    from course_utils.imagenet import IMAGENET_MEAN, IMAGENET_STD

    features = getattr(vgg, "features", None)
    convs = [m for m in features.children() if isinstance(m, nn.Conv2d)] if features is not None else []
    if len(convs) != sum(_VGG19_BLOCKS):
        raise ValueError(f"vgg19_extractor needs a torchvision VGG-19 (16 conv layers in .features), got {type(vgg).__name__}.")

    class Normalize(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, images):
            return (images - self.mean) / self.std

    layers = OrderedDict(normalize=Normalize().to(convs[0].weight.device))
    conv_iter = iter(convs)
    for block, n in enumerate(_VGG19_BLOCKS, start=1):
        for i in range(1, n + 1):
            layers[f"conv{block}_{i}"] = next(conv_iter)
            if f"conv{block}_{i}" == last:
                break
            layers[f"relu{block}_{i}"] = nn.ReLU()
            if f"relu{block}_{i}" == last:
                break
        else:
            layers[f"pool{block}"] = nn.AvgPool2d(2)
            continue
        break
    if last not in layers:
        raise ValueError(f"VGG-19 has no layer {last!r}: use a name like 'conv5_1' or 'relu4_2'.")
    extractor = nn.Sequential(layers)
    for parameter in extractor.parameters():
        parameter.requires_grad_(False)
    return extractor.eval()


def layer_features(extractor: nn.Module, images: torch.Tensor, layers) -> dict:
    """Run ``images`` through a feature extractor and return the named layers' outputs (in the graph).

    Args:
        extractor: a named ``nn.Sequential`` (``shapes_extractor``, ``vgg19_extractor``: the forward
            pass stops after the last layer asked for) or a ``RandomMultiScaleNet``.
        images: float tensor ``(N, 3, H, W)`` in [0, 1].
        layers: a list of layer names.

    Returns:
        ``{name: tensor (N, C, h, w)}``, differentiable with respect to ``images``.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    if isinstance(extractor, RandomMultiScaleNet):
        unknown = [n for n in names if n not in extractor.layer_names]
        if unknown:
            raise ValueError(f"This network has no layer {unknown[0]!r}; its layers are {', '.join(extractor.layer_names)}.")
        return extractor(images, names)
    if not isinstance(extractor, nn.Sequential):
        raise TypeError(f"layer_features needs a named nn.Sequential or a RandomMultiScaleNet, got {type(extractor).__name__}.")
    known = [name for name, _ in extractor.named_children()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"The extractor has no layer {unknown[0]!r}; its layers are {', '.join(known)}.")
    wanted, found, x = set(names), {}, images
    for name, module in extractor.named_children():
        x = module(x)
        if name in wanted:
            found[name] = x
            if len(found) == len(wanted):
                break
    return {name: found[name] for name in names}


def anisotropic_tv(images: torch.Tensor) -> torch.Tensor:
    """The anisotropic total variation: mean absolute difference between vertical and horizontal neighbours.

    It penalizes high-frequency noise in an optimized image (the L1 form of the smoothness prior;
    Mahendran & Vedaldi, CVPR 2015, used a related family, which notebook 07 asks for).

    Args:
        images: ``(N, C, H, W)``.

    Returns:
        ``(N,)`` tensor: mean |x[:, :, i+1, j] - x[:, :, i, j]| plus mean |x[:, :, i, j+1] - x[:, :, i, j]|.
    """
    dv = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().flatten(1).mean(dim=1)
    dh = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().flatten(1).mean(dim=1)
    return dv + dh


def out_of_range(images: torch.Tensor) -> torch.Tensor:
    """How far pixels stray outside [0, 1]: the mean over pixels of the squared excess, per image.

    Added to a loss (with a large weight) it keeps an optimized image displayable without clamping,
    which would upset L-BFGS's line search.

    Args:
        images: ``(N, C, H, W)``.

    Returns:
        ``(N,)`` tensor, zero when every pixel is in [0, 1].
    """
    return (F.relu(-images).pow(2) + F.relu(images - 1).pow(2)).flatten(1).mean(dim=1)


# ------------------------------------------------------------------------------------------------ optimizer
@dataclass
class OptimizationResult:
    """What ``optimize_image`` returns.

    Attributes:
        image: the final image, detached, ``(N, C, H, W)`` (not clamped).
        losses: the loss at every function evaluation, in order.
        seconds: wall-clock seconds since the start at every function evaluation.
        evaluations: the number of function evaluations (forward and backward passes).
        steps: the number of ``optimizer.step`` calls.
        evaluations_per_step: how many evaluations each ``step`` call made.
    """

    image: torch.Tensor
    losses: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    evaluations: int = 0
    steps: int = 0
    evaluations_per_step: list = field(default_factory=list)

    @property
    def best_losses(self) -> np.ndarray:
        """The lowest loss seen up to each evaluation (L-BFGS's line search also tries worse points)."""
        return np.minimum.accumulate(np.asarray(self.losses, dtype=np.float64))


def optimize_image(loss_fn, init: torch.Tensor, *, method: str = "lbfgs", max_evals: int = 100, lr: float | None = None,
                   max_iter_per_step: int = 20, bar=None) -> OptimizationResult:
    """Minimize ``loss_fn(image)`` over the pixels of ``image``, starting from ``init``.

    Every function evaluation (one forward and one backward pass) is counted and timed. Adam makes
    one evaluation per step. L-BFGS (``torch.optim.LBFGS`` with a strong-Wolfe line search) makes one
    or more per step: ``step(closure)`` runs up to ``max_iter_per_step`` iterations, each calling the
    closure once plus once per extra line-search trial. Both stop at ``max_evals`` evaluations
    (L-BFGS may finish its current line search first, a few evaluations over).

    Args:
        loss_fn: maps an image ``(N, C, H, W)`` to a scalar tensor (sum per-image losses for a batch).
        init: the starting image; not modified.
        method: ``"lbfgs"`` or ``"adam"``.
        max_evals: the budget of function evaluations.
        lr: the step size: default 1 for L-BFGS (its line search adapts it), 0.02 for Adam.
        max_iter_per_step: L-BFGS iterations per ``step`` call (torch's own default is 20).
        bar: an optional progress bar (``course_utils.progress``) advanced once per evaluation.

    Returns:
        an ``OptimizationResult``.
    """
    if method not in ("lbfgs", "adam"):
        raise ValueError(f"method must be 'lbfgs' or 'adam', got {method!r}.")
    if not isinstance(max_evals, int) or max_evals < 1:
        raise ValueError(f"max_evals must be a positive int, got {max_evals!r}.")
    image = init.detach().clone().requires_grad_(True)
    result = OptimizationResult(image=image)
    start = time.perf_counter()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(image)
        loss.backward()
        result.losses.append(float(loss.detach()))
        result.seconds.append(time.perf_counter() - start)
        result.evaluations += 1
        if bar is not None:
            bar.update(1)
        return loss

    if method == "adam":
        optimizer = torch.optim.Adam([image], lr=0.02 if lr is None else lr)
    else:
        optimizer = torch.optim.LBFGS([image], lr=1.0 if lr is None else lr, max_iter=max_iter_per_step,
                                      history_size=20, line_search_fn="strong_wolfe",
                                      tolerance_grad=0.0, tolerance_change=0.0)
    while result.evaluations < max_evals:
        before = result.evaluations
        if method == "lbfgs":   # torch checks max_eval after each iteration: a line search may run a few over
            optimizer.param_groups[0]["max_eval"] = min(max_iter_per_step * 5 // 4, max_evals - before)
        optimizer.step(closure)
        result.steps += 1
        result.evaluations_per_step.append(result.evaluations - before)
    result.image = image.detach()
    return result


# -------------------------------------------------------------------------------- distances no one optimizes
def _radial_log_spectrum(images: torch.Tensor, n_bins: int) -> torch.Tensor:
    grey = images.mean(dim=1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fftshift(torch.fft.fft2(grey).abs().pow(2), dim=(-2, -1))
    h, w = grey.shape[-2:]
    fy = torch.arange(h, dtype=torch.float64) - h // 2
    fx = torch.arange(w, dtype=torch.float64) - w // 2
    radius = torch.sqrt((fy[:, None] / h) ** 2 + (fx[None, :] / w) ** 2)
    bins = torch.clamp((radius / 0.5 * n_bins).long(), max=n_bins)   # bin n_bins: the corners beyond 0.5
    flat = power.flatten(1).double()
    counts = torch.bincount(bins.flatten(), minlength=n_bins + 1)[:n_bins].clamp(min=1)
    sums = torch.stack([torch.bincount(bins.flatten(), weights=row, minlength=n_bins + 1)[:n_bins] for row in flat])
    return torch.log10(sums / counts + 1e-12)


def spectrum_distance(images: torch.Tensor, target: torch.Tensor, n_bins: int = 16) -> torch.Tensor:
    """How differently two textures distribute their energy over spatial frequencies.

    Both are turned to grey, their mean removed, and their power spectra averaged over rings of equal
    frequency (``n_bins`` rings up to the Nyquist frequency); the distance is the root mean square
    difference of the log10 ring powers (1.0 = a factor 10 off on average).

    Args:
        images: ``(N, 3, H, W)``.
        target: ``(1, 3, H', W')`` (any size: frequencies are in cycles per pixel).

    Returns:
        ``(N,)`` float64 tensor, >= 0.
    """
    a = _radial_log_spectrum(images.detach().cpu(), n_bins)
    b = _radial_log_spectrum(target.detach().cpu(), n_bins)
    return (a - b).pow(2).mean(dim=1).sqrt()


def colour_distance(images: torch.Tensor, target: torch.Tensor, n_quantiles: int = 101) -> torch.Tensor:
    """How differently two images distribute their colours: the mean 1-D earth mover's distance per channel.

    For each colour channel, the distance between the two distributions of pixel values is the mean
    absolute difference of their quantiles (``n_quantiles`` levels), the 1-D Wasserstein distance;
    the three channels are averaged. Pixel values are clamped to [0, 1] first, as when shown.

    Args:
        images: ``(N, 3, H, W)``.
        target: ``(1, 3, H', W')``.

    Returns:
        ``(N,)`` float64 tensor in [0, 1].
    """
    levels = torch.linspace(0, 1, n_quantiles, dtype=torch.float64)
    a = torch.quantile(images.detach().cpu().double().clamp(0, 1).flatten(2), levels, dim=2)   # (Q, N, 3)
    b = torch.quantile(target.detach().cpu().double().clamp(0, 1).flatten(2), levels, dim=2)   # (Q, 1, 3)
    return (a - b).abs().mean(dim=(0, 2))


def _edge_magnitude(images: torch.Tensor) -> torch.Tensor:
    grey = images.detach().cpu().double().clamp(0, 1).mean(dim=1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)[None, None]
    gx, gy = F.conv2d(grey, sobel), F.conv2d(grey, sobel.transpose(2, 3))
    return (gx ** 2 + gy ** 2).sqrt().flatten(1)


def edge_correlation(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """How much of a photo's layout an image keeps: the correlation of their edge maps.

    Both are turned to grey (pixel values clamped to [0, 1], as when shown); the edge map is the
    magnitude of the Sobel gradient at every inner pixel; the result is the Pearson correlation
    between the image's edge map and the reference's (1: the same edges, 0: unrelated).

    Args:
        images: ``(N, C, H, W)``.
        reference: ``(1, C, H, W)``, the same size.

    Returns:
        ``(N,)`` float64 tensor in [-1, 1].
    """
    if images.shape[-2:] != reference.shape[-2:] or reference.shape[0] != 1:
        raise ValueError(f"edge_correlation compares images with one reference of the same size, got "
                         f"{tuple(images.shape)} and {tuple(reference.shape)}: resize one of them first.")
    a, b = _edge_magnitude(images), _edge_magnitude(reference)
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)
