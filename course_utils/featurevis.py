"""Feature visualization for colour images, and judges of "does it look like the class" that share nothing with a network.

The tools of Olah, Mordvintsev & Schubert (2017, "Feature Visualization", Distill) for the shapes CNN, plus one
parametrization that only this workbook's data set makes natural:

* ``random_transform``: transformation robustness: pad, jitter, random scale and rotation, differentiable.
* ``colour_correlation_sqrt``: the square root of a data set's RGB covariance (decorrelated colour).
* ``fourier_image``: a decorrelated-colour, 1/f-scaled Fourier parametrization, mapped to valid RGB by a sigmoid.
* ``silhouette_image``: one colour, shown through a soft alpha mask, over a real background.
* ``polygon_mask``: a soft mask with a straight-edged outline (and a hole), a parametrization of silhouettes.
* ``shape_backgrounds``: the test shapes' own backgrounds, without their objects.

and two judges that read pixels, not a network's features:

* ``pixel_judge``: the majority class of the k nearest real images in pixel space (cosine, mean removed).
* ``silhouette_judge``: the majority class of the k nearest real object masks, after centring and scaling.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["pixel_judge", "normalize_silhouettes", "silhouette_judge", "random_transform", "colour_correlation_sqrt",
           "fourier_image", "silhouette_image", "polygon_mask", "shape_backgrounds"]


def _check_images(images, caller: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{caller} expects a float tensor of images (N, C, H, W), got {got}.")


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    x = x.flatten(1).float()
    return F.normalize(x - x.mean(dim=1, keepdim=True), dim=1)


def _vote(queries: torch.Tensor, references: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    if not isinstance(k, int) or k < 1 or k > len(references):
        raise ValueError(f"k must be an integer between 1 and the number of references ({len(references)}), got {k!r}.")
    if len(labels) != len(references):
        raise ValueError(f"Got {len(labels)} labels for {len(references)} reference images: give one label each.")
    similarity = _unit_rows(queries) @ _unit_rows(references).T
    nearest = similarity.topk(k, dim=1).indices
    votes = F.one_hot(labels.to(nearest.device)[nearest], int(labels.max()) + 1).sum(dim=1)
    # Ties go to the class of the nearest neighbour among the tied ones: add a fraction for the rank.
    rank_bonus = torch.zeros_like(votes, dtype=torch.float32)
    rank_bonus.scatter_add_(1, labels.to(nearest.device)[nearest],
                            torch.linspace(0.5, 0.1, k, device=nearest.device).expand(len(nearest), k) / k)
    return (votes + rank_bonus).argmax(dim=1)


def pixel_judge(images: torch.Tensor, references: torch.Tensor, labels: torch.Tensor, k: int = 5) -> torch.Tensor:
    """The class a k-nearest-neighbour vote among real images gives each image, in pixel space.

    Each image and each reference is flattened, its mean removed and scaled to unit length; the k references
    with the largest cosine similarity vote (ties: the nearer neighbours win). Nothing is learned, so nothing a
    network learned can fool it: an image is called a 3 only if it is close to real 3s.

    Args:
        images: ``(N, C, H, W)``, the images to judge.
        references: ``(M, C, H, W)``, real images of the same size (the training set).
        labels: ``(M,)`` int64, their classes.
        k: how many neighbours vote.

    Returns:
        ``(N,)`` int64, the winning class of each image.
    """
    _check_images(images, "pixel_judge")
    _check_images(references, "pixel_judge")
    if images.shape[1:] != references.shape[1:]:
        raise ValueError(f"pixel_judge compares images of the same size: got {tuple(images.shape[1:])} and "
                         f"references {tuple(references.shape[1:])}.")
    return _vote(images.detach().cpu(), references.cpu(), labels.cpu(), k)


def normalize_silhouettes(masks: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Centre each mask on its centre of mass and scale it to a fixed spread (translation and scale removed).

    Args:
        masks: ``(N, H, W)``, values in [0, 1] (bool or float: 1 on the object).
        size: the side of the output.

    Returns:
        ``(N, size, size)`` float: the mask resampled so that its centroid is the centre and its root-mean-square
        radius is ``size / 5`` pixels.
    """
    if not isinstance(masks, torch.Tensor) or masks.dim() != 3:
        got = tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(f"normalize_silhouettes expects masks (N, H, W), got {got}.")
    m = masks.detach().float().cpu()
    n, h, w = m.shape
    total = m.flatten(1).sum(dim=1).clamp(min=1e-6)
    ys, xs = torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32)
    cy, cx = (m.sum(dim=2) * ys).sum(dim=1) / total, (m.sum(dim=1) * xs).sum(dim=1) / total
    r2 = (m * ((ys[None, :, None] - cy[:, None, None]) ** 2 + (xs[None, None, :] - cx[:, None, None]) ** 2))
    radius = (r2.flatten(1).sum(dim=1) / total).sqrt().clamp(min=1e-3)
    # affine_grid maps output coordinates in [-1, 1] to input ones: an output radius of 0.4 (size / 5 pixels)
    # lands at the mask's RMS radius around its centroid.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = radius / 0.4 / ((w - 1) / 2), radius / 0.4 / ((h - 1) / 2)
    theta[:, 0, 2], theta[:, 1, 2] = cx / ((w - 1) / 2) - 1, cy / ((h - 1) / 2) - 1
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=True)
    return F.grid_sample(m[:, None], grid, align_corners=True)[:, 0]


def silhouette_judge(masks: torch.Tensor, reference_masks: torch.Tensor, labels: torch.Tensor, k: int = 5) -> torch.Tensor:
    """The class a k-nearest-neighbour vote among real object masks gives each mask, after ``normalize_silhouettes``.

    Position and size are removed, so the vote compares outlines only (rotations are covered by the references:
    the training set holds every class at many angles). Colour, texture and background play no part.

    Args:
        masks: ``(N, H, W)`` in [0, 1], the silhouettes to judge (a soft alpha mask is fine).
        reference_masks: ``(M, H', W')``, real object masks (``load_shapes("train")[2]``).
        labels: ``(M,)`` int64, their classes.
        k: how many neighbours vote.

    Returns:
        ``(N,)`` int64, the winning class of each mask.
    """
    return _vote(normalize_silhouettes(masks), normalize_silhouettes(reference_masks), labels.cpu(), k)


def random_transform(images: torch.Tensor, generator: torch.Generator, *, pad: int = 4, jitter: int = 4,
                     scale: tuple[float, float] = (0.9, 1.1), degrees: float = 10.0) -> torch.Tensor:
    """Transformation robustness (Olah et al. 2017): pad, then a random shift, scale and rotation per image.

    The image is padded by ``pad`` pixels of its own mean colour (so the border of the transformed image is not
    black), moved by up to ``jitter`` pixels, scaled by a factor drawn uniformly from ``scale`` and rotated by up
    to ``degrees`` either way, and cropped back to its size; bilinear sampling, so the result is differentiable.

    Args:
        images: ``(N, C, H, W)``.
        generator: a CPU ``torch.Generator`` that draws the transforms.
        pad: pixels of padding on each side (0: none).
        jitter: the largest shift in pixels.
        scale: ``(low, high)``, the range of the scale factor.
        degrees: the largest rotation, in degrees.

    Returns:
        ``(N, C, H, W)``, the transformed images.
    """
    _check_images(images, "random_transform")
    if pad < 0 or jitter < 0 or degrees < 0 or not 0 < scale[0] <= scale[1]:
        raise ValueError(f"random_transform needs pad, jitter, degrees >= 0 and 0 < scale[0] <= scale[1], got pad={pad}, "
                         f"jitter={jitter}, scale={scale}, degrees={degrees}.")
    n, _, h, w = images.shape
    x = images
    if pad:
        mean = images.mean(dim=(2, 3), keepdim=True)
        x = F.pad(images - mean, (pad, pad, pad, pad)) + mean
    ph, pw = x.shape[2:]
    u = torch.rand(n, 4, generator=generator).to(images.device, images.dtype)
    s = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    angle = math.radians(degrees) * (2 * u[:, 1] - 1)
    shift = jitter * (2 * u[:, 2:] - 1)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos * w / pw, -sin * h / pw, 2 * shift[:, 0] / pw], dim=1),
                         torch.stack([sin * w / ph, cos * h / ph, 2 * shift[:, 1] / ph], dim=1)], dim=1)
    grid = F.affine_grid(theta, (n, x.shape[1], h, w), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_correlation_sqrt(images: torch.Tensor) -> torch.Tensor:
    """A square root ``S`` of the RGB covariance of a set of images, scaled so that its largest column has length 1.

    Independent values mixed by ``S`` are correlated as the data's colours are (Olah et al.'s decorrelated colour
    space, estimated here from the data the network was trained on rather than from ImageNet). As in Lucid, the
    matrix is divided by its largest column norm, so that one unit in a decorrelated channel moves a colour by at
    most one unit.

    Args:
        images: ``(N, 3, H, W)``.

    Returns:
        ``(3, 3)`` float tensor: the symmetric square root of the pixels' colour covariance, up to that scale.
    """
    _check_images(images, "colour_correlation_sqrt")
    if images.shape[1] != 3:
        raise ValueError(f"colour_correlation_sqrt needs RGB images (N, 3, H, W), got {images.shape[1]} channels.")
    pixels = images.detach().permute(1, 0, 2, 3).reshape(3, -1).double()
    values, vectors = torch.linalg.eigh(torch.cov(pixels))
    root = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    return (root / root.norm(dim=0).max()).float()


def _frequency_scale(h: int, w: int, device, decay: float = 1.0) -> torch.Tensor:
    f = torch.sqrt(torch.fft.fftfreq(h, device=device)[:, None] ** 2 + torch.fft.rfftfreq(w, device=device)[None, :] ** 2)
    return 1.0 / f.clamp(min=1.0 / max(h, w)) ** decay


def fourier_image(params: torch.Tensor, size: tuple[int, int], colour_sqrt: torch.Tensor | None = None,
                  decay: float = 1.0) -> torch.Tensor:
    """Decode Fourier parameters into valid images: 1/f-scaled spectrum, decorrelated colour, then a sigmoid.

    ``params`` holds the real and imaginary parts of each channel's real 2-D spectrum; each coefficient is
    multiplied by ``1 / f**decay`` (``f`` its spatial frequency in cycles per pixel, the lowest clamped to one
    cycle per image), transformed back with an orthonormal inverse FFT, the channels mixed by ``colour_sqrt`` (if
    given), and a sigmoid maps every value into (0, 1). An optimizer's equal steps on these parameters then change
    low frequencies and correlated colours most, as in natural images.

    Args:
        params: ``(N, 2C, H, W // 2 + 1)``: real parts of channels 0..C-1, then their imaginary parts.
        size: ``(H, W)`` of the images.
        colour_sqrt: ``(C, C)``, e.g. from ``colour_correlation_sqrt``, or ``None`` for no colour mixing.
        decay: the exponent of ``f`` (1: the 1/f spectrum of natural images; 0: plain Fourier).

    Returns:
        ``(N, C, H, W)`` in (0, 1).
    """
    _check_images(params, "fourier_image")
    h, w = size
    if params.shape[1] % 2 or params.shape[2] != h or params.shape[3] != w // 2 + 1:
        raise ValueError(f"fourier_image needs params (N, 2C, {h}, {w // 2 + 1}) for images of size {size}, "
                         f"got {tuple(params.shape)}.")
    c = params.shape[1] // 2
    spectrum = torch.complex(params[:, :c], params[:, c:]) * _frequency_scale(h, w, params.device, decay)
    x = torch.fft.irfft2(spectrum, s=(h, w), norm="ortho")
    if colour_sqrt is not None:
        x = torch.einsum("ij,njhw->nihw", colour_sqrt.to(x.device, x.dtype), x)
    return torch.sigmoid(x)


def silhouette_image(params: torch.Tensor, background: torch.Tensor, colour) -> tuple[torch.Tensor, torch.Tensor]:
    """An object of one colour, seen through a soft mask, pasted over a background.

    ``params`` are the mask's logits (the mask is their sigmoid); the image is
    ``mask * colour + (1 - mask) * background``. Only the outline can change, and objects in the shapes data set
    are one flat colour over clutter: the network has to say what it wants with a silhouette.

    Args:
        params: ``(N, 1, h, w)``, the mask's logits; upsampled (bilinear) to the background's size, so a coarse
            ``h x w`` gives a smooth outline.
        background: ``(N, 3, H, W)`` or ``(3, H, W)`` in [0, 1], not optimized.
        colour: the object's colour, 3 values in [0, 1] (or ``(N, 3)``, one per image).

    Returns:
        ``(images, masks)``: ``(N, 3, H, W)`` in [0, 1] and ``(N, H, W)`` in (0, 1).
    """
    _check_images(params, "silhouette_image")
    if params.shape[1] != 1:
        raise ValueError(f"silhouette_image needs one channel of mask logits (N, 1, h, w), got {params.shape[1]} channels.")
    if background.dim() not in (3, 4) or background.shape[-3] != 3:
        raise ValueError(f"The background must be an RGB image (3, H, W) or a batch (N, 3, H, W), got {tuple(background.shape)}.")
    colour = torch.as_tensor(colour, dtype=params.dtype, device=params.device).reshape(-1, 3, 1, 1)
    logits = params
    if logits.shape[2:] != background.shape[-2:]:
        logits = F.interpolate(logits, size=background.shape[-2:], mode="bilinear", align_corners=False)
    mask = torch.sigmoid(logits)
    return mask * colour + (1 - mask) * background, mask[:, 0]


HOLE_SHIFT_PIXELS = 3.0


def _star_polygon_margin(log_radii: torch.Tensor, centre: torch.Tensor, size: int, radius: float) -> torch.Tensor:
    # For every pixel: (the polygon's radius in the pixel's direction) - (the pixel's distance to the centre), in pixels.
    k = log_radii.shape[1]
    coords = torch.arange(size, dtype=log_radii.dtype, device=log_radii.device) - (size - 1) / 2
    y = coords[None, :, None] - centre[:, 0, None, None]
    x = coords[None, None, :] - centre[:, 1, None, None]
    distance = (y ** 2 + x ** 2).sqrt()
    angle = torch.atan2(y, x) % (2 * math.pi)
    step = 2 * math.pi / k
    j = (angle / step).floor().long().clamp(max=k - 1)
    t = angle - j * step
    r = radius * log_radii.exp()
    r1 = r.gather(1, j.flatten(1)).view_as(angle)
    r2 = r.gather(1, ((j + 1) % k).flatten(1)).view_as(angle)
    # The straight edge from vertex j to vertex j + 1, where the ray at angle t past vertex j meets it.
    edge = r1 * r2 * math.sin(step) / (r1 * torch.sin(t) + r2 * torch.sin(step - t))
    return edge - distance


def polygon_mask(params: torch.Tensor, size: int = 64, radius: float = 8.0, softness: float = 0.7) -> torch.Tensor:
    """A soft mask: a star-shaped polygon with straight edges, minus a second polygon (a hole, or a bite).

    The outline is ``K`` vertices at the angles ``2 pi k / K`` around the image's centre, vertex ``k`` at the distance
    ``radius * exp(a_k)``, joined by straight edges, so corners are as easy to make as curves. A second polygon of
    ``K`` vertices is cut out of it: centred on the image it makes a ring, moved off centre and out of the outline
    it makes a crescent. Each pixel's mask is the sigmoid of its distance inside the outline (along the ray from the
    centre), divided by ``softness``; the hole's mask is subtracted the same way.

    Args:
        params: ``(N, 1, 1, 2K + 3)`` (a row of numbers shaped as an image, so that ``optimize_input`` can move it):
            ``K`` log-radii of the outline, ``K`` log-radii of the hole, the hole centre's offset ``(dy, dx)`` in
            units of ``HOLE_SHIFT_PIXELS`` pixels, and a log-scale added to all the hole's log-radii.
        size: the side of the mask in pixels.
        radius: the outline's radius in pixels where the log-radii are 0.
        softness: the width of the edge in pixels.

    Returns:
        ``(N, size, size)`` in (0, 1): 1 inside the outline and outside the hole.
    """
    _check_images(params, "polygon_mask")
    n_params = params.shape[-1]
    if params.shape[1:3] != (1, 1) or n_params < 9 or (n_params - 3) % 2:
        raise ValueError(f"polygon_mask needs params (N, 1, 1, 2K + 3) with K >= 3 vertices, got {tuple(params.shape)}.")
    k = (n_params - 3) // 2
    p = params[:, 0, 0]
    outline = torch.sigmoid(_star_polygon_margin(p[:, :k], torch.zeros_like(p[:, :2]), size, radius) / softness)
    hole = torch.sigmoid(_star_polygon_margin(p[:, k:2 * k] + p[:, 2 * k + 2:], HOLE_SHIFT_PIXELS * p[:, 2 * k:2 * k + 2],
                                              size, radius) / softness)
    return outline * (1 - hole)


def shape_backgrounds(split: str = "test") -> torch.Tensor:
    """The backgrounds of the shapes data set's images, without their objects (and without the pixel noise).

    ``make_shapes`` draws the background, the clutter lines and spots, and only then the object, all from one
    seeded generator: replaying the same draws gives each image's background exactly as it was before the object
    was pasted on.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(N, 3, 64, 64)`` float32 in [0, 1], in the order of ``load_shapes(split)``.
    """
    from course_utils import shapes

    if split not in shapes.SHAPES_SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(map(repr, shapes.SHAPES_SPLITS))}.")
    n = shapes._SPLIT_SIZES[split]
    rng = np.random.default_rng(shapes.SHAPES_SEEDS[split])
    rng.permutation(np.arange(n) % len(shapes.SHAPE_CLASSES))  # the labels' draw, replayed
    images = shapes._background(rng, n, 64)
    shapes._draw_lines(rng, images)
    shapes._draw_blobs(rng, images)
    return torch.from_numpy(np.clip(images, 0.0, 1.0).astype(np.float32))
