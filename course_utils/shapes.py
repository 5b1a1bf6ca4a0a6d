"""A synthetic data set of coloured shapes on cluttered backgrounds, with the exact mask of every object.

Each image holds one filled shape of one of eight classes, at a random position, size, rotation and
colour, drawn last over a textured, cluttered background. Everything except the shape is drawn from
the same distributions whatever the class, so the object is the only evidence for its class and its
mask is the ground truth against which a saliency map can be scored.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from matplotlib.colors import hsv_to_rgb

__all__ = ["SHAPE_CLASSES", "SHAPES_SPLITS", "SHAPES_SEEDS", "TAG_SIZE", "TAG_COLOURS", "make_shapes", "load_shapes",
           "add_tags"]

SHAPE_CLASSES = ("circle", "triangle", "square", "star", "cross", "ring", "crescent", "arrow")
SHAPES_SPLITS = ("train", "test")
SHAPES_SEEDS = {"train": 0, "test": 1}
_SPLIT_SIZES = {"train": 5000, "test": 1000}

# Shape parameters, in a local frame where the shape fits in the unit disc (radius 1 = R pixels).
_STAR_INNER = 0.45
_RING_INNER = 0.5
_CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH = 0.28, 0.95
_CRESCENT_CUT_CENTER, _CRESCENT_CUT_RADIUS = 0.45, 0.8
_SQUARE_HALF_SIDE = 0.70
_TRIANGLE = np.array([[np.cos(a), np.sin(a)] for a in np.deg2rad([90, 210, 330])])
_STAR = np.array([[r * np.cos(a), r * np.sin(a)]
                  for k, a in enumerate(np.deg2rad(90 + 36 * np.arange(10)))
                  for r in [1.0 if k % 2 == 0 else _STAR_INNER]])
_ARROW = np.array([[-0.97, 0.2], [0.15, 0.2], [0.15, 0.55], [1.0, 0.0], [0.15, -0.55], [0.15, -0.2], [-0.97, -0.2]])

# Sizes and colours (for size=64: object 16 to 34 px across).
_DIAMETER_RANGE = (0.25, 0.53)  # fraction of the image side
_OBJECT_SATURATION, _OBJECT_VALUE = (0.65, 1.0), (0.8, 1.0)
_TINT_SATURATION, _TINT_VALUE = (0.1, 0.6), (0.3, 0.55)
_CLUTTER_SATURATION, _CLUTTER_VALUE = (0.2, 1.0), (0.3, 0.65)
_MAX_LINES, _MAX_BLOBS = 6, 5
_NOISE_STD = 0.025


def _polygon_inside(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd rule: True where the point ``(u, v)`` lies inside the closed polygon ``vertices`` ``(K, 2)``."""
    inside = np.zeros(u.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if y1 == y2:
            continue  # a horizontal edge is never crossed by a horizontal ray
        crosses = ((y1 > v) != (y2 > v)) & (u < x1 + (x2 - x1) * (v - y1) / (y2 - y1))
        inside ^= crosses
    return inside


def _shape_inside(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """True where ``(u, v)``, in the shape's local unit frame, lies inside the shape ``name``."""
    r2 = u * u + v * v
    if name == "circle":
        return r2 <= 1.0
    if name == "ring":
        return (r2 <= 1.0) & (r2 >= _RING_INNER**2)
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= _SQUARE_HALF_SIDE
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        w, h = _CROSS_HALF_WIDTH, _CROSS_HALF_LENGTH
        return ((au <= w) & (av <= h)) | ((av <= w) & (au <= h))
    if name == "crescent":
        return (r2 <= 1.0) & ((u - _CRESCENT_CUT_CENTER) ** 2 + v * v > _CRESCENT_CUT_RADIUS**2)
    polygons = {"triangle": _TRIANGLE, "star": _STAR, "arrow": _ARROW}
    return _polygon_inside(u, v, polygons[name])


@lru_cache(maxsize=1)
def _textures() -> np.ndarray:
    """scikit-image's brick, grass and gravel, float32 ``(3, 512, 512)``, contrast-stretched to [0, 1]."""
    import skimage.data

    stack = []
    for name in ("brick", "grass", "gravel"):
        texture = getattr(skimage.data, name)().astype(np.float32)
        low, high = np.percentile(texture, [2, 98])
        stack.append(np.clip((texture - low) / (high - low), 0.0, 1.0))
    textures = np.stack(stack).astype(np.float32)
    textures.flags.writeable = False
    return textures


def _random_colours(rng: np.random.Generator, n: int, saturation: tuple, value: tuple) -> np.ndarray:
    """Colours of uniformly random hue with saturation and value in the given ranges, float32 ``(n, 3)``."""
    hsv = np.stack([rng.random(n), rng.uniform(*saturation, n), rng.uniform(*value, n)], axis=1)
    return hsv_to_rgb(hsv).astype(np.float32)


def _background(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Random crops of a grayscale texture, randomly transposed and tinted dark, float32 ``(n, 3, size, size)``."""
    textures = _textures()
    side = textures.shape[-1]
    which = rng.integers(0, len(textures), n)
    top, left = rng.integers(0, side - size + 1, (2, n))
    transpose = rng.random(n) < 0.5
    tint = _random_colours(rng, n, _TINT_SATURATION, _TINT_VALUE)
    offsets = np.arange(size)
    crops = textures[which[:, None, None], top[:, None, None] + offsets[:, None], left[:, None, None] + offsets]
    crops[transpose] = crops[transpose].transpose(0, 2, 1)
    return tint[:, :, None, None] * (0.35 + 0.65 * crops[:, None])


def _draw_lines(rng: np.random.Generator, images: np.ndarray) -> None:
    """Draw 2 to 6 thin (1 px) straight segments, 8 to 28 px long, in random dim colours, in place."""
    n, size = images.shape[0], images.shape[-1]
    count = rng.integers(2, _MAX_LINES + 1, n)
    start = rng.uniform(0, size - 1, (n, _MAX_LINES, 2))
    angle = rng.uniform(0, 2 * np.pi, (n, _MAX_LINES))
    length = rng.uniform(8, 28, (n, _MAX_LINES)) * size / 64
    colour = _random_colours(rng, n * _MAX_LINES, _CLUTTER_SATURATION, _CLUTTER_VALUE).reshape(n, _MAX_LINES, 3)
    steps = int(np.ceil(2 * 28 * size / 64)) + 1  # at most half a pixel between samples
    t = np.linspace(0.0, 1.0, steps)
    y = np.rint(start[..., 0, None] + t * length[..., None] * np.sin(angle)[..., None]).astype(np.int64)
    x = np.rint(start[..., 1, None] + t * length[..., None] * np.cos(angle)[..., None]).astype(np.int64)
    image_index = np.broadcast_to(np.arange(n)[:, None, None], y.shape)
    line_index = np.broadcast_to(np.arange(_MAX_LINES)[None, :, None], y.shape)
    keep = (line_index < count[:, None, None]) & (y >= 0) & (y < size) & (x >= 0) & (x < size)
    images[image_index[keep], :, y[keep], x[keep]] = colour[image_index[keep], line_index[keep]]


def _draw_blobs(rng: np.random.Generator, images: np.ndarray) -> None:
    """Blend 1 to 5 small soft Gaussian spots (sigma 0.7 to 1.5 px) in random dim colours, in place."""
    n, size = images.shape[0], images.shape[-1]
    count = rng.integers(1, _MAX_BLOBS + 1, n)
    centre = rng.integers(0, size, (n, _MAX_BLOBS, 2))
    sigma = rng.uniform(0.7, 1.5, (n, _MAX_BLOBS)) * size / 64
    strength = rng.uniform(0.5, 0.9, (n, _MAX_BLOBS))
    colour = _random_colours(rng, n * _MAX_BLOBS, _CLUTTER_SATURATION, _CLUTTER_VALUE).reshape(n, _MAX_BLOBS, 3)
    reach = int(np.ceil(3 * 1.5 * size / 64))
    dy, dx = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1), indexing="ij")
    dy, dx = dy.ravel(), dx.ravel()
    y = centre[..., 0, None] + dy
    x = centre[..., 1, None] + dx
    alpha = strength[..., None] * np.exp(-(dy * dy + dx * dx) / (2 * sigma[..., None] ** 2))
    image_index = np.broadcast_to(np.arange(n)[:, None, None], y.shape)
    blob_index = np.broadcast_to(np.arange(_MAX_BLOBS)[None, :, None], y.shape)
    keep = (blob_index < count[:, None, None]) & (y >= 0) & (y < size) & (x >= 0) & (x < size) & (alpha > 0.02)
    i, y, x, a = image_index[keep], y[keep], x[keep], alpha[keep].astype(np.float32)[:, None]
    images[i, :, y, x] = (1 - a) * images[i, :, y, x] + a * colour[i, blob_index[keep]]


def _object_masks(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Rasterise one shape per image at a random position, size and rotation, bool ``(n, size, size)``."""
    n = len(labels)
    radius = rng.uniform(*_DIAMETER_RANGE, n) * size / 2
    centre = rng.uniform(radius[:, None] + 1, size - 2 - radius[:, None], (n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    # Work in a window just large enough for the largest shape, placed around each object.
    window = min(size, 2 * int(np.ceil(_DIAMETER_RANGE[1] * size / 2)) + 4)
    origin = np.clip(np.floor(centre).astype(np.int64) - window // 2, 0, size - window)
    rows = origin[:, 0, None] + np.arange(window)  # (n, window)
    cols = origin[:, 1, None] + np.arange(window)
    dy = ((rows - centre[:, 0, None]) / radius[:, None]).astype(np.float32)[:, :, None]
    dx = ((cols - centre[:, 1, None]) / radius[:, None]).astype(np.float32)[:, None, :]
    cos, sin = np.cos(angle).astype(np.float32)[:, None, None], np.sin(angle).astype(np.float32)[:, None, None]
    u, v = cos * dx + sin * dy, cos * dy - sin * dx  # rotate the pixel grid into the shape's frame
    inside = np.zeros((n, window, window), dtype=bool)
    for k, name in enumerate(SHAPE_CLASSES):
        members = labels == k
        if members.any():
            inside[members] = _shape_inside(name, u[members], v[members])
    masks = np.zeros((n, size, size), dtype=bool)
    masks[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = inside
    return masks


def _check_args(n, seed, size) -> None:
    """Raise a one-sentence ValueError for a bad ``n``, ``seed`` or ``size``."""
    def is_int(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not is_int(n) or n <= 0:
        raise ValueError(f"n must be a positive integer (the number of images), got {n!r}.")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if not is_int(size) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 (pixels), got {size!r}.")


def make_shapes(n: int, seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate ``n`` images of one coloured shape each, with their labels and exact object masks.

    Classes are balanced (cycled, then shuffled). Each object has a random position (fully inside the
    image, never touching its border), diameter (25% to 53% of the side: 16 to 34 px at 64 x 64),
    rotation and saturated, bright colour of any hue. The background is a random crop of a grayscale
    texture (scikit-image's brick, grass or gravel) tinted a random dim colour, with 2-6 thin line
    segments, 1-5 small soft spots in dim colours, and mild pixel noise. The object is drawn last, so
    clutter never covers it, and nothing but the object depends on the class. The same ``(n, seed,
    size)`` always gives the same images.

    Args:
        n: number of images, a positive int.
        seed: a non-negative int seeding NumPy's generator.
        size: side of the square images in pixels (at least 16).

    Returns:
        ``(images, labels, masks)``: images, float32 ``(n, 3, size, size)`` in [0, 1];
        labels, int64 ``(n,)`` indexing ``SHAPE_CLASSES``; masks, bool ``(n, size, size)``,
        True exactly on the object's pixels.
    """
    _check_args(n, seed, size)
    n, seed, size = int(n), int(seed), int(size)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))
    images = _background(rng, n, size)
    _draw_lines(rng, images)
    _draw_blobs(rng, images)
    masks = _object_masks(rng, labels, size)
    colours = _random_colours(rng, n, _OBJECT_SATURATION, _OBJECT_VALUE)
    np.copyto(images, colours[:, :, None, None], where=masks[:, None])
    images += _NOISE_STD * rng.standard_normal((n, 1, size, size), dtype=np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(masks)


@lru_cache(maxsize=None)
def _split(split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate a split once; callers get copies."""
    return make_shapes(_SPLIT_SIZES[split], SHAPES_SEEDS[split])


def load_shapes(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load the fixed shapes data set: 5,000 training or 1,000 test images of 64 x 64 pixels.

    Each split is ``make_shapes`` with its own fixed seed (``SHAPES_SEEDS``), generated once per
    session and cached.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels, masks)`` as in ``make_shapes``: float32 ``(N, 3, 64, 64)`` in [0, 1],
        int64 ``(N,)``, bool ``(N, 64, 64)``. Fresh tensors: changing them does not change later calls.
    """
    if split not in SHAPES_SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(map(repr, SHAPES_SPLITS))}.")
    return tuple(t.clone() for t in _split(split))


# ---------------------------------------------------------------------------- a "Clever Hans" tag

TAG_SIZE = 6  # pixels; the tag sits 1 px from the bottom-left corner
# One tag colour per class: eight evenly spaced, fully saturated, bright hues (class k: hue k / 8), float32 (8, 3).
# (A tag as dim as the clutter, saturation 0.9 and value 0.5, 5 px, was tried: the network then learned the shapes
# too, 88% accuracy without the tag, and the shortcut is a weak lesson.)
_TAG_SATURATION, _TAG_VALUE = 1.0, 1.0
TAG_COLOURS = hsv_to_rgb(np.stack([np.arange(len(SHAPE_CLASSES)) / len(SHAPE_CLASSES),
                                   np.full(len(SHAPE_CLASSES), _TAG_SATURATION),
                                   np.full(len(SHAPE_CLASSES), _TAG_VALUE)], axis=1)).astype(np.float32)


def add_tags(images: torch.Tensor, tag_classes) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a small coloured tag into the bottom-left corner of each image: a shortcut a network can learn.

    The tag is a ``TAG_SIZE`` x ``TAG_SIZE`` square, 1 px from the image's left and bottom edges, of
    the colour ``TAG_COLOURS[k]`` of class ``k = tag_classes[i]``; ``k = -1`` leaves image ``i`` untagged.
    Tagging every training image with its own class's tag makes the tag a perfect predictor of the
    class in training (the copyright tag on the horse photos of PASCAL VOC that Lapuschkin et al.,
    CVPR 2016, found a classifier relying on); at test time the tag can be left out or chosen at random.
    The tag is drawn over whatever is there, the object included.

    Args:
        images: float ``(N, 3, H, W)`` in [0, 1], e.g. from ``make_shapes``; not changed.
        tag_classes: int ``(N,)`` (tensor, array or list), the class whose tag each image gets, or -1.

    Returns:
        ``(tagged, tag_masks)``: a tagged copy of ``images``, and bool ``(N, H, W)``, True on each
        image's tag pixels (all False for an untagged image).
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 or images.shape[2] < 2 * TAG_SIZE:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor (N, 3, H, W) with H, W >= {2 * TAG_SIZE}, got {got}.")
    tag_classes = torch.as_tensor(tag_classes)
    if tag_classes.shape != (len(images),) or tag_classes.is_floating_point() or not (
            (tag_classes >= -1) & (tag_classes < len(SHAPE_CLASSES))).all():
        raise ValueError(f"tag_classes must hold one class index in 0..{len(SHAPE_CLASSES) - 1} (or -1 for no tag) "
                         f"per image, shape ({len(images)},).")
    height = images.shape[2]
    tag_masks = torch.zeros(len(images), height, images.shape[3], dtype=torch.bool)
    tagged = tag_classes >= 0
    tag_masks[tagged, height - 1 - TAG_SIZE:height - 1, 1:1 + TAG_SIZE] = True
    colours = torch.from_numpy(TAG_COLOURS)[tag_classes.clamp(min=0)].to(images.dtype)      # (N, 3)
    out = torch.where(tag_masks[:, None].to(images.device), colours[:, :, None, None].to(images.device), images)
    return out, tag_masks
