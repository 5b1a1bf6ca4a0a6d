"""Load the workbook's data: a 5,000-digit MNIST subset and a handful of named photographs.

Nothing is downloaded. The MNIST subset is shipped in ``data/mnist_5000.npz`` (see ``data/README.md``);
the photographs are read from files that scikit-image, scikit-learn and matplotlib install.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.paths import data_dir

__all__ = ["MNIST_FILE", "MNIST_SPLITS", "IMAGE_NAMES", "load_mnist", "load_image"]

MNIST_FILE = "mnist_5000.npz"  # inside data_dir()
MNIST_SPLITS = ("train", "test", "all")

_SKIMAGE_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")
_SKLEARN_NAMES = ("china", "flower")
_MATPLOTLIB_NAMES = ("grace_hopper",)
IMAGE_NAMES = _SKIMAGE_NAMES + _SKLEARN_NAMES + _MATPLOTLIB_NAMES


@lru_cache(maxsize=4)
def _mnist_arrays(path: str) -> dict[str, np.ndarray]:
    """Read the MNIST ``.npz`` file once; the arrays returned are shared, so never modify them."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"The MNIST subset {path} is missing: restore it with `git checkout data/` "
            "(or rebuild it with scripts/make_mnist_subset.py)."
        )
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in ("images", "labels", "train_idx", "test_idx")}
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Load the shipped MNIST subset: 4,000 training and 1,000 test digits, 10 classes, stratified.

    The split was drawn once with a fixed seed (400 training and 100 test digits per class) and is
    stored in the data file, so every call and every machine sees the same digits.

    Args:
        split: ``"train"`` (4,000 digits), ``"test"`` (1,000) or ``"all"`` (5,000, in file order).

    Returns:
        ``(images, labels)``: images, float32 ``(N, 1, 28, 28)`` in [0, 1] (1 = ink);
        labels, int64 ``(N,)`` in 0..9. Fresh tensors: changing them does not change later calls.
    """
    if split not in MNIST_SPLITS:
        raise ValueError(f"Unknown split {split!r}: use one of {', '.join(map(repr, MNIST_SPLITS))}.")
    arrays = _mnist_arrays(str(data_dir() / MNIST_FILE))
    index = {"train": arrays["train_idx"], "test": arrays["test_idx"], "all": slice(None)}[split]
    images = torch.from_numpy(arrays["images"][index].astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(arrays["labels"][index].astype(np.int64))
    return images, labels


@lru_cache(maxsize=None)
def _image_array(name: str) -> np.ndarray:
    """Read a named photograph once as a read-only uint8 array ``(H, W, 3)``."""
    if name in _SKIMAGE_NAMES:
        import skimage.data

        array = getattr(skimage.data, name)()
    elif name in _SKLEARN_NAMES:
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{name}.jpg")
    else:
        from matplotlib.cbook import get_sample_data
        from PIL import Image

        with Image.open(get_sample_data(f"{name}.jpg", asfileobj=False)) as image:
            array = np.asarray(image.convert("RGB"))
    if array.ndim == 2:  # grayscale textures: repeat the one channel three times
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = np.ascontiguousarray(array[:, :, :3], dtype=np.uint8)
    array.flags.writeable = False
    return array


def _check_size(size) -> None:
    """Raise a one-sentence ValueError unless ``size`` is None, a positive int or two positive ints."""
    def positive_int(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0

    if size is None or positive_int(size):
        return
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(positive_int(s) for s in size):
        return
    raise ValueError(f"size must be None, a positive int or a (height, width) pair of positive ints, got {size!r}.")


def _resize(image: torch.Tensor, size) -> torch.Tensor:
    """Resize ``(1, 3, H, W)``: an int scales the shorter side to it and center-crops a square; a pair is exact."""
    height, width = image.shape[-2:]
    if isinstance(size, (tuple, list)):
        return F.interpolate(image, size=(int(size[0]), int(size[1])), mode="bilinear", antialias=True, align_corners=False)
    size = int(size)
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    image = F.interpolate(image, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[:, :, top:top + size, left:left + size]


def load_image(name: str, size=None) -> torch.Tensor:
    """Load one of the named sample photographs as a batch of one RGB image.

    Names (see ``IMAGE_NAMES``): scikit-image's ``astronaut``, ``chelsea``, ``coffee``, ``rocket``
    and the grayscale textures ``brick``, ``grass``, ``gravel`` (repeated to 3 channels);
    scikit-learn's ``china`` and ``flower``; matplotlib's ``grace_hopper``.

    Args:
        name: one of ``IMAGE_NAMES``.
        size: ``None`` keeps the native size; an int ``S`` resizes the shorter side to ``S`` and
            center-crops to ``S x S``; a pair ``(H, W)`` resizes to exactly that (aspect not kept).
            Resizing is bilinear with antialiasing.

    Returns:
        image, float32 ``(1, 3, H, W)`` in [0, 1]; a fresh tensor on the CPU.
    """
    if name not in IMAGE_NAMES:
        raise ValueError(f"Unknown image {name!r}: use one of {', '.join(IMAGE_NAMES)}.")
    _check_size(size)
    array = _image_array(name)
    image = torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()
    if size is not None:
        image = _resize(image, size).clamp_(0.0, 1.0).contiguous()
    return image
