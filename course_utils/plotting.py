"""Plotting: one function per kind of picture, each returning ``(fig, axes)``.

* ``show_images``: a grid of images (digits, photos, feature maps);
* ``show_filters``: a bank of convolution filters as a normalized grid;
* ``show_heatmap``: attribution maps laid over their images.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["to_numpy_image", "show_images", "show_filters", "show_heatmap"]


def _as_array(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    raise TypeError(f"{what} must be a torch.Tensor or a numpy array, got {type(x).__name__}.")


def to_numpy_image(image) -> np.ndarray:
    """Turn one image into what ``plt.imshow`` expects.

    Args:
        image: a tensor or array of shape ``(3, H, W)``, ``(1, H, W)``, ``(H, W)``,
            ``(H, W, 3)`` or a batch of one, ``(1, C, H, W)``.

    Returns:
        ``(H, W, 3)`` for colour images, ``(H, W)`` for single-channel ones.
    """
    a = _as_array(image, "image")
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    elif a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] in (1, 3) and a.shape[0] != a.shape[-1]:
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 3):
        return a
    raise ValueError(
        f"Cannot show an image of shape {tuple(np.shape(image))}: expected (3, H, W), (1, H, W), (H, W) or (1, C, H, W)."
    )


def _grid(n: int, ncols: int | None, size: float, figsize=None):
    if n <= 0:
        raise ValueError("There is nothing to show: the list of images is empty.")
    ncols = min(n, ncols or min(n, 8))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _set_title(ax, text: str, fontsize: float) -> None:
    # y=1.0 given explicitly fixes the title right above the axes. Without it matplotlib looks, at every
    # draw, for tick labels on top that the title must clear, and to do so lays out the tick labels of
    # both axes even when they are hidden: for a grid of images (axes off, nothing on top) that search
    # was half the time of drawing the figure, and it finds the same place.
    ax.set_title(text, fontsize=fontsize, y=1.0)


def _finish(fig, title: str | None) -> None:
    if title:
        # Room for the title, so that tight_layout does not squeeze a one-row grid to nothing.
        fig.set_figheight(fig.get_figheight() + 0.4)
        fig.suptitle(title)
    fig.tight_layout()


def _split_batch(images, what: str) -> list:
    if isinstance(images, (list, tuple)):
        return list(images)
    a = images
    if isinstance(a, (torch.Tensor, np.ndarray)):
        if a.ndim == 4:
            return [a[i] for i in range(a.shape[0])]
        if a.ndim in (2, 3):
            return [a]
    raise TypeError(f"{what} must be a tensor or array of shape (N, C, H, W) or a list of images, got {type(images).__name__}.")


def show_images(images, titles: Sequence[str] | None = None, *, ncols: int | None = None, cmap: str = "gray",
                size: float = 1.8, normalize: bool = False, vmin=None, vmax=None, suptitle: str | None = None):
    """Show images in a grid.

    Args:
        images: a batch ``(N, C, H, W)`` with C = 1 or 3, or a list of single images.
        titles: one short title per image (optional).
        ncols: images per row (default: up to 8).
        cmap: colour map for single-channel images.
        size: inches per image.
        normalize: stretch each image to its own [min, max] (for feature maps and gradients);
            otherwise values are shown as they are, clipped to [0, 1] for colour images.
        vmin, vmax: fixed colour range for single-channel images.
        suptitle: a title over the whole figure.

    Returns:
        ``(fig, axes)``, axes an array of shape ``(rows, ncols)``.
    """
    items = _split_batch(images, "images")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"Got {len(titles)} titles for {len(items)} images: give one title per image.")
    fig, axes = _grid(len(items), ncols, size)
    for i, (ax, item) in enumerate(zip(axes.flat, items)):
        img = to_numpy_image(item)
        if normalize:
            lo, hi = float(img.min()), float(img.max())
            img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if img.ndim == 3:
            ax.imshow(np.clip(img, 0, 1))
        else:
            ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            _set_title(ax, str(titles[i]), 9)
    _finish(fig, suptitle)
    return fig, axes


def _normalize_filters(w: np.ndarray) -> np.ndarray:
    """Scale each filter so that 0 maps to grey (0.5) and its largest |weight| to 0 or 1."""
    scale = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    scale[scale == 0] = 1.0
    return 0.5 + 0.5 * w / scale.reshape(-1, *([1] * (w.ndim - 1)))


def show_filters(weight, *, ncols: int | None = None, in_channel: int | None = None, size: float = 0.9,
                 title: str | None = None):
    """Show a bank of convolution filters, each scaled so that grey is 0, white positive, black negative.

    Filters with 3 input channels are drawn as colour images, filters with 1 input channel in grey.
    Filters with any other number of input channels are drawn one input channel at a time: all of
    them as a grid (one row per filter, one column per input channel), or only ``in_channel``.

    Args:
        weight: the layer's weight, shape ``(C_out, C_in, kH, kW)``, e.g. ``model.conv1.weight``.
        ncols: filters per row (for C_in = 1 or 3, or when ``in_channel`` is given).
        in_channel: show only this input channel of every filter.
        size: inches per filter.
        title: a title over the grid.

    Returns:
        ``(fig, axes)``.
    """
    w = _as_array(weight, "weight")
    if w.ndim != 4:
        raise ValueError(f"A filter bank has shape (C_out, C_in, kH, kW); got shape {tuple(w.shape)}. Pass e.g. model.conv1.weight.")
    c_out, c_in = w.shape[:2]
    if in_channel is not None:
        if not 0 <= in_channel < c_in:
            raise ValueError(f"in_channel={in_channel} is out of range: this layer has {c_in} input channels (0 to {c_in - 1}).")
        w = w[:, in_channel:in_channel + 1]
        c_in = 1
    w = _normalize_filters(w)
    if c_in in (1, 3):
        fig, axes = _grid(c_out, ncols or min(c_out, 8), size)
        for ax, f in zip(axes.flat, w):
            if c_in == 3:
                ax.imshow(f.transpose(1, 2, 0), interpolation="nearest")
            else:
                ax.imshow(f[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        fig, axes = plt.subplots(c_out, c_in, figsize=(size * c_in, size * c_out), squeeze=False)
        for i in range(c_out):
            for j in range(c_in):
                ax = axes[i, j]
                ax.imshow(w[i, j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    _set_title(ax, f"in {j}", 7)
                if j == 0:
                    ax.set_ylabel(f"out {i}", fontsize=7)
    _finish(fig, title)
    return fig, axes


def _upsample(heat: np.ndarray, shape) -> np.ndarray:
    if heat.shape == tuple(shape):
        return heat
    t = torch.from_numpy(np.ascontiguousarray(heat))[None, None]
    return F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def show_heatmap(images, heatmaps, titles: Sequence[str] | None = None, *, masks=None, alpha: float = 0.5,
                 cmap: str = "jet", ncols: int | None = None, size: float = 2.2, symmetric: bool = False,
                 suptitle: str | None = None):
    """Lay attribution maps over their images (low-resolution maps are upsampled bilinearly).

    Args:
        images: ``(N, C, H, W)``, or one image ``(C, H, W)``.
        heatmaps: ``(N, h, w)`` or ``(h, w)``, one map per image; each is scaled to its own range.
        titles: one title per image (optional).
        masks: optional ``(N, H, W)`` boolean masks, drawn as a white contour (e.g. the true object).
        alpha: opacity of the heat map, between 0 and 1.
        cmap: colour map of the heat map.
        ncols: overlays per row.
        size: inches per overlay.
        symmetric: scale each map to ``[-max|map|, max|map|]`` (for signed attributions, with a
            diverging ``cmap`` such as ``"bwr"``) instead of ``[min, max]``.
        suptitle: a title over the whole figure.

    Returns:
        ``(fig, axes)``.
    """
    imgs = _split_batch(images, "images")
    heats = heatmaps
    if isinstance(heats, (torch.Tensor, np.ndarray)):
        heats = _as_array(heats, "heatmaps")
        if heats.ndim == 4 and heats.shape[1] == 1:
            heats = heats[:, 0]
        if heats.ndim == 2:
            heats = heats[None]
        if heats.ndim != 3:
            raise ValueError(f"heatmaps must have shape (N, h, w) or (h, w); got {tuple(heats.shape)}.")
        heats = list(heats)
    else:
        heats = [_as_array(h, "heatmap") for h in heats]
    if len(heats) != len(imgs):
        raise ValueError(f"Got {len(heats)} heat maps for {len(imgs)} images: give one map per image.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is an opacity between 0 and 1, got {alpha}.")
    mask_list = None
    if masks is not None:
        if isinstance(masks, (torch.Tensor, np.ndarray)) and masks.ndim == 2:
            masks = masks[None]
        mask_list = [_as_array(m, "mask") > 0.5 for m in masks]
    if mask_list is not None and len(mask_list) != len(imgs):
        raise ValueError(f"Got {len(mask_list)} masks for {len(imgs)} images: give one mask per image.")
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"Got {len(titles)} titles for {len(imgs)} images: give one title per image.")
    fig, axes = _grid(len(imgs), ncols, size)
    for i, ax in enumerate(axes.flat[:len(imgs)]):
        img = to_numpy_image(imgs[i])
        heat = _upsample(np.asarray(heats[i], dtype=np.float32), img.shape[:2])
        if symmetric:
            m = float(np.abs(heat).max()) or 1.0
            vmin, vmax = -m, m
        else:
            vmin, vmax = float(heat.min()), float(heat.max())
            if vmax <= vmin:
                vmax = vmin + 1.0
        ax.imshow(np.clip(img, 0, 1), cmap=None if img.ndim == 3 else "gray")
        ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
        if mask_list is not None:
            ax.contour(mask_list[i].astype(float), levels=[0.5], colors="white", linewidths=1.0)
        if titles is not None:
            _set_title(ax, str(titles[i]), 9)
    _finish(fig, suptitle)
    return fig, axes
