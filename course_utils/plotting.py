"""Plotting: one function per kind of picture, each returning ``(fig, axes)``.

* ``show_images``: a grid of images (digits, photos, feature maps, signed gradients, spectra);
* ``show_filters``: a bank of convolution filters as a normalized grid;
* ``show_heatmap``: attribution maps laid over their images.

Every grid is laid out here, once, in inches (``_Layout``): each row gets a band above its images as tall
as its longest (wrapped) title, the figure title a band of its own, row labels a column on the left and an
optional colour key a column on the right. Titles are wrapped to the width of their image, so no title
runs under the images of another row or into its neighbour, and the layout costs nothing at draw time
(no layout engine runs: tight_layout and constrained layout both measure every artist at every draw).
"""
from __future__ import annotations

import functools
import math
import textwrap
from typing import Mapping, Sequence

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.cm import ScalarMappable
from matplotlib.font_manager import FontProperties

__all__ = ["to_numpy_image", "show_images", "show_filters", "show_heatmap"]

TITLE_SIZE = 9
ROW_LABEL_SIZE = 8
SUPTITLE_SIZE = 12
KEY_SIZE = 7
_GAP = 0.12          # inches between columns
_MARGIN = 0.06       # inches around the figure
_LINE = 1.25         # line height, in font sizes


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


# ----------------------------------------------------------------------------------------------- text

@functools.lru_cache(maxsize=None)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg
    return RendererAgg(8, 8, 72)        # at 72 dpi one pixel is one point


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: float) -> float:
    """Width of one line of text in inches (measured with the Agg renderer, as it will be drawn)."""
    if not text:
        return 0.0
    width, _, _ = _renderer().get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return width / 72.0


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap of ``text`` (which may hold newlines) to lines at most ``width`` inches wide."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and _text_width(candidate, size) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _fit(text: str, size: float, width: float, min_size: float = 6.0) -> tuple[str, float, int]:
    """Wrap ``text`` to ``width`` inches; shrink the font (down to ``min_size``) if one word is still wider.

    Returns the wrapped text, its font size and its number of lines."""
    lines = _wrap(text, size, width)
    widest = max(_text_width(line, size) for line in lines)
    if widest > width and size > min_size:
        size = max(min_size, size * width / widest)
        lines = _wrap(text, size, width)
    return "\n".join(lines), size, len(lines)


def _line_height(size: float, lines: int) -> float:
    return lines * size * _LINE / 72.0


def _set_title(ax, text: str, fontsize: float) -> None:
    # y=1.0 given explicitly fixes the title right above the axes. Without it matplotlib looks, at every
    # draw, for tick labels on top that the title must clear, and to do so lays out the tick labels of
    # both axes even when they are hidden: for a grid of images (axes off, nothing on top) that search
    # was half the time of drawing the figure, and it finds the same place.
    ax.set_title(text, fontsize=fontsize, y=1.0)


# --------------------------------------------------------------------------------------------- layout

class _Layout:
    """A grid of image axes placed in inches, with room reserved for every title, label and key.

    Args:
        nrows, ncols: the grid.
        cell_width: inches per image.
        row_heights: inches of image per row.
        titles: one title per cell (row-major) or ``None``; wrapped to the cell's width.
        suptitle: the figure's title, wrapped to the figure's width.
        row_labels: one label per row (left of it), wrapped to at most 1.3 inches.
        key_labels: the tick labels of a colour key on the right (``None``: no key).
    """

    def __init__(self, nrows: int, ncols: int, cell_width: float, row_heights: Sequence[float],
                 titles: Sequence[str] | None = None, suptitle: str | None = None,
                 row_labels: Sequence[str] | None = None, key_labels: Sequence[str] | None = None,
                 key_title: str | None = None, title_size: float = TITLE_SIZE):
        self.nrows, self.ncols, self.cell_width = nrows, ncols, cell_width
        self.row_heights = list(row_heights)
        pad = 6 / 72 + 0.03                                 # matplotlib's title pad (6 pt) and a little air
        self.titles = [None] * (nrows * ncols)
        self.title_bands = [0.08] * nrows
        if titles is not None:
            for i, text in enumerate(titles):
                if text is None or str(text) == "":
                    continue
                wrapped, size, lines = _fit(str(text), title_size, cell_width + _GAP * 0.8)
                self.titles[i] = (wrapped, size)
                r = i // ncols
                self.title_bands[r] = max(self.title_bands[r], _line_height(size, lines) + pad)
        self.row_labels = None
        self.left = 0.0
        if row_labels is not None:
            self.row_labels = []
            for r, text in enumerate(row_labels):
                wrapped, size, lines = _fit(str(text), ROW_LABEL_SIZE, 1.3)
                while _line_height(size, lines) > self.row_heights[r] + self.title_bands[r] and size > 5.0:
                    wrapped, size, lines = _fit(str(text), size - 0.5, 1.3 * ROW_LABEL_SIZE / (size - 0.5), 5.0)
                self.row_labels.append((wrapped, size))
                self.left = max(self.left, max(_text_width(line, size) for line in wrapped.split("\n")) + 0.1)
        self.grid_width = ncols * cell_width + (ncols - 1) * _GAP
        self.key_labels, self.key_title = key_labels, key_title
        self.right = 0.0
        if key_labels is not None:
            self.right = 0.15 + 0.14 + 0.08 + max(_text_width(str(t), KEY_SIZE) for t in key_labels)
            if key_title:
                self.right += _line_height(KEY_SIZE, 1) + 0.04
        self.width = 2 * _MARGIN + self.left + self.grid_width + self.right
        self.suptitle = None
        self.top_band = 0.0
        if suptitle:
            wrapped, size, lines = _fit(str(suptitle), SUPTITLE_SIZE, self.width - 2 * _MARGIN)
            self.suptitle = (wrapped, size)
            self.top_band = _line_height(size, lines) + 0.06
        self.height = 2 * _MARGIN + self.top_band + sum(self.title_bands) + sum(self.row_heights)

    def draw(self):
        """Make the figure and its axes (all off); returns ``(fig, axes)``, axes of shape (nrows, ncols)."""
        W, H = self.width, self.height
        fig = plt.figure(figsize=(W, H))
        axes = np.empty((self.nrows, self.ncols), dtype=object)
        y = H - _MARGIN - self.top_band
        x0 = _MARGIN + self.left
        self.image_top = y - self.title_bands[0]
        for r in range(self.nrows):
            y -= self.title_bands[r] + self.row_heights[r]
            for c in range(self.ncols):
                x = x0 + c * (self.cell_width + _GAP)
                ax = fig.add_axes((x / W, y / H, self.cell_width / W, self.row_heights[r] / H))
                ax.axis("off")
                axes[r, c] = ax
                title = self.titles[r * self.ncols + c]
                if title is not None:
                    _set_title(ax, title[0], title[1])
            if self.row_labels is not None:
                text, size = self.row_labels[r]
                fig.text((x0 - 0.08) / W, (y + self.row_heights[r] / 2) / H, text, ha="right", va="center",
                         fontsize=size, multialignment="right")
        self.image_bottom = y
        if self.suptitle is not None:
            fig.suptitle(self.suptitle[0], fontsize=self.suptitle[1], x=(_MARGIN + (W - 2 * _MARGIN) / 2) / W,
                         y=(H - _MARGIN) / H, ha="center", va="top")
        self.fig = fig
        return fig, axes

    def add_key(self, cmap, norm, ticks: Mapping[float, str] | None = None, label: str | None = None):
        """A colour bar on the right, from the top of the first row's images to the bottom of the last's."""
        fig, W, H = self.fig, self.width, self.height
        x = _MARGIN + self.left + self.grid_width + 0.15
        height = self.image_top - self.image_bottom
        cax = fig.add_axes((x / W, self.image_bottom / H, 0.14 / W, height / H))
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
        if ticks is not None:
            bar.set_ticks(list(ticks), labels=[str(t) for t in ticks.values()])
        cax.tick_params(labelsize=KEY_SIZE, length=2, pad=2)
        cax.minorticks_off()
        if label:
            bar.set_label(label, fontsize=KEY_SIZE, labelpad=2)
        return bar


def _key_labels(norm, ticks: Mapping[float, str] | None) -> list[str]:
    """The tick labels a colour bar will show (to reserve room for them)."""
    if ticks is not None:
        return [str(t) for t in ticks.values()]
    if isinstance(norm, mcolors.LogNorm):
        return [f"$10^{{{int(math.floor(math.log10(max(norm.vmin, 1e-30))))}}}$", "$10^{-10}$"]
    locator = plt.MaxNLocator(5)
    return [f"{v:g}" for v in locator.tick_values(norm.vmin, norm.vmax)] + ["−0.00"]


def _grid_shape(n: int, ncols: int | None) -> tuple[int, int]:
    if n <= 0:
        raise ValueError("There is nothing to show: the list of images is empty.")
    ncols = min(n, ncols or min(n, 8))
    return math.ceil(n / ncols), ncols


def _row_heights(shapes: Sequence[tuple[int, int]], nrows: int, ncols: int, size: float) -> list[float]:
    """Inches of image per row: ``size`` wide, as tall as the row's tallest image at that width."""
    heights = []
    for r in range(nrows):
        row = shapes[r * ncols:(r + 1) * ncols]
        heights.append(size * max(h / w for h, w in row))
    return heights


def _check_labels(labels, n: int, what: str, per: str) -> None:
    if labels is not None and len(labels) != n:
        raise ValueError(f"Got {len(labels)} {what} for {n} {per}: give one {what[:-1]} per {per[:-1]}.")


def _stretch(img: np.ndarray) -> np.ndarray:
    """An image stretched to its own [min, max] (all zeros when it is constant)."""
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


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


# --------------------------------------------------------------------------------------------- images

def show_images(images, titles: Sequence[str] | None = None, *, ncols: int | None = None, cmap: str = "gray",
                size: float = 1.8, normalize: bool = False, vmin=None, vmax=None, suptitle: str | None = None,
                row_labels: Sequence[str] | None = None, symmetric: bool = False, log: bool = False,
                colorbar: bool = False, colorbar_label: str | None = None,
                colorbar_ticks: Mapping[float, str] | None = None, title_size: float = TITLE_SIZE):
    """Show images in a grid, with room for every title (titles wrap to their image's width).

    Args:
        images: a batch ``(N, C, H, W)`` with C = 1 or 3, or a list of single images.
        titles: one short title per image (optional).
        ncols: images per row (default: up to 8).
        cmap: colour map for single-channel images.
        size: inches per image (its width).
        normalize: give each image its own scale: stretch it to its own [min, max] (with ``symmetric``:
            divide it by its own max |value|; with ``log``: by its own max), so that no image looks empty
            beside a brighter one. Otherwise values are shown as they are, colour images clipped to [0, 1].
        vmin, vmax: fixed colour range for single-channel images.
        suptitle: a title over the whole figure.
        row_labels: one label per row, written left of it (e.g. the setting the row shows).
        symmetric: a signed map: single-channel images share the range ``[-m, m]``, m the largest |value|
            of all of them (of each, with ``normalize``), so that 0 is the middle colour of ``cmap``
            (use a diverging one such as ``"RdBu_r"``, or ``"gray"``: 0 is grey).
        log: a logarithmic colour scale (spectra), from ``vmin`` (default: ``vmax`` / 10^6) to ``vmax``.
        colorbar: draw a colour key on the right. Its ticks are values (one shared scale), or words
            ("min", "max", "−max|x|", "0", "+max|x|") where each image has its own scale. For colour
            images it is a grey ramp of one channel's value (give ``colorbar_ticks`` to name its ends).
        colorbar_label: the key's label, e.g. ``"d logit / d pixel"``.
        colorbar_ticks: ``{value: label}`` for the key's ticks, in the units of the scale shown.
        title_size: font size of the titles.

    Returns:
        ``(fig, axes)``, axes an array of shape ``(rows, ncols)``.
    """
    items = _split_batch(images, "images")
    _check_labels(titles, len(items), "titles", "images")
    nrows, ncols = _grid_shape(len(items), ncols)
    _check_labels(row_labels, nrows, "row labels", "rows")
    if symmetric and log:
        raise ValueError("A scale cannot be both symmetric (signed maps) and logarithmic (positive values): pick one.")
    pictures = [to_numpy_image(item) for item in items]
    grey = [p for p in pictures if p.ndim == 2]
    per_image = normalize
    # One shared scale for the single-channel images, when one is asked for (a key, a signed or log map).
    shared = None
    if grey and not per_image:
        if log:
            hi = float(vmax) if vmax is not None else max(float(p.max()) for p in grey)
            hi = hi if hi > 0 else 1.0
            lo = float(vmin) if vmin is not None else hi * 1e-6
            shared = mcolors.LogNorm(vmin=lo, vmax=hi, clip=True)
        elif symmetric:
            m = max(float(np.abs(p).max()) for p in grey) or 1.0
            shared = mcolors.Normalize(-m, m)
        elif colorbar or (vmin is not None and vmax is not None):
            lo = float(vmin) if vmin is not None else min(float(p.min()) for p in grey)
            hi = float(vmax) if vmax is not None else max(float(p.max()) for p in grey)
            shared = mcolors.Normalize(lo, hi if hi > lo else lo + 1.0)
    elif grey and per_image:
        if log:
            shared = mcolors.LogNorm(vmin=float(vmin) if vmin is not None else 1e-6, vmax=1.0, clip=True)
        elif symmetric:
            shared = mcolors.Normalize(-1.0, 1.0)
    key_norm = key_ticks = key_cmap = None
    if colorbar:
        if grey:
            key_cmap = cmap
            key_norm = shared if shared is not None else mcolors.Normalize(0.0, 1.0)
            if per_image and not log:
                key_ticks = {-1.0: "−max|x|", 0.0: "0", 1.0: "+max|x|"} if symmetric else {0.0: "min", 1.0: "max"}
            if per_image and colorbar_label is None:
                colorbar_label = "each image: its own max" if log else "each image: its own scale"
        else:
            key_cmap, key_norm = "gray", mcolors.Normalize(0.0, 1.0)
        if colorbar_ticks is not None:
            key_ticks = dict(colorbar_ticks)
    layout = _Layout(nrows, ncols, size, _row_heights([p.shape[:2] for p in pictures], nrows, ncols, size),
                     titles=titles, suptitle=suptitle, row_labels=row_labels,
                     key_labels=_key_labels(key_norm, key_ticks) if colorbar else None, key_title=colorbar_label,
                     title_size=title_size)
    fig, axes = layout.draw()
    for ax, img in zip(axes.flat, pictures):
        if img.ndim == 3:
            ax.imshow(np.clip(_stretch(img) if normalize else img, 0, 1))
            continue
        if per_image:
            if log:
                img = img / (float(img.max()) or 1.0)
            elif symmetric:
                img = img / (float(np.abs(img).max()) or 1.0)
            else:
                lo, hi = float(img.min()), float(img.max())
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if shared is not None:
            ax.imshow(img, cmap=cmap, norm=shared)
        else:
            ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
    if colorbar:
        layout.add_key(key_cmap, key_norm, key_ticks, colorbar_label)
    return fig, axes


def _normalize_filters(w: np.ndarray) -> np.ndarray:
    """Scale each filter so that 0 maps to grey (0.5) and its largest |weight| to 0 or 1."""
    scale = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    scale[scale == 0] = 1.0
    return 0.5 + 0.5 * w / scale.reshape(-1, *([1] * (w.ndim - 1)))


_FILTER_KEY = {0.0: "−max|w|", 0.5: "0", 1.0: "+max|w|"}


def show_filters(weight, *, ncols: int | None = None, in_channel: int | None = None, size: float = 0.9,
                 title: str | None = None, colorbar: bool = False):
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
        colorbar: draw the key (black −max|w|, grey 0, white +max|w|, each filter its own max).

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
    kh, kw = w.shape[2:]
    key = dict(key_labels=list(_FILTER_KEY.values()), key_title="each filter" if colorbar else None) if colorbar else {}
    if c_in in (1, 3):
        nrows, ncols = _grid_shape(c_out, ncols or min(c_out, 8))
        layout = _Layout(nrows, ncols, size, [size * kh / kw] * nrows, suptitle=title, **key)
        fig, axes = layout.draw()
        for ax, f in zip(axes.flat, w):
            if c_in == 3:
                ax.imshow(f.transpose(1, 2, 0), interpolation="nearest")
            else:
                ax.imshow(f[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        layout = _Layout(c_out, c_in, size, [size * kh / kw] * c_out, suptitle=title,
                         titles=[f"in {j}" for j in range(c_in)] + [None] * (c_in * (c_out - 1)),
                         row_labels=[f"out {i}" for i in range(c_out)], title_size=7, **key)
        fig, axes = layout.draw()
        for i in range(c_out):
            for j in range(c_in):
                axes[i, j].imshow(w[i, j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if colorbar:
        layout.add_key("gray", mcolors.Normalize(0.0, 1.0), _FILTER_KEY, "each filter")
    return fig, axes


def _upsample(heat: np.ndarray, shape) -> np.ndarray:
    if heat.shape == tuple(shape):
        return heat
    t = torch.from_numpy(np.ascontiguousarray(heat))[None, None]
    return F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def show_heatmap(images, heatmaps, titles: Sequence[str] | None = None, *, masks=None, alpha: float = 0.5,
                 cmap: str = "jet", ncols: int | None = None, size: float = 2.2, symmetric: bool = False,
                 suptitle: str | None = None, shared: bool = False, colorbar: bool = False,
                 colorbar_label: str | None = None, row_labels: Sequence[str] | None = None):
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
        shared: one scale for all maps (their overall range) instead of one per map.
        colorbar: draw the colour key on the right: values for a shared scale, words ("min", "max",
            "−max", "0", "+max" of each map) otherwise.
        colorbar_label: the key's label.
        row_labels: one label per row, written left of it.

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
    nrows, ncols = _grid_shape(len(imgs), ncols)
    _check_labels(row_labels, nrows, "row labels", "rows")
    pictures = [to_numpy_image(image) for image in imgs]
    heats = [np.asarray(h, dtype=np.float32) for h in heats]
    if shared:
        if symmetric:
            m = max(float(np.abs(h).max()) for h in heats) or 1.0
            common = (-m, m)
        else:
            lo, hi = min(float(h.min()) for h in heats), max(float(h.max()) for h in heats)
            common = (lo, hi if hi > lo else lo + 1.0)
    key_ticks = None
    if colorbar:
        if shared:
            key_norm = mcolors.Normalize(*common)
        else:
            key_norm = mcolors.Normalize(-1.0, 1.0) if symmetric else mcolors.Normalize(0.0, 1.0)
            key_ticks = {-1.0: "−max", 0.0: "0", 1.0: "+max"} if symmetric else {0.0: "min", 1.0: "max"}
            colorbar_label = colorbar_label or "each map: its own scale"
    layout = _Layout(nrows, ncols, size, _row_heights([p.shape[:2] for p in pictures], nrows, ncols, size),
                     titles=titles, suptitle=suptitle, row_labels=row_labels,
                     key_labels=_key_labels(key_norm, key_ticks) if colorbar else None, key_title=colorbar_label)
    fig, axes = layout.draw()
    for i, ax in enumerate(axes.flat[:len(imgs)]):
        img = pictures[i]
        heat = _upsample(heats[i], img.shape[:2])
        if shared:
            vmin, vmax = common
        elif symmetric:
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
    if colorbar:
        layout.add_key(cmap, key_norm, key_ticks, colorbar_label)
    return fig, axes
