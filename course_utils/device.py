"""Device selection, seeding and progress bars: the three things every notebook sets up first."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["get_device", "seed_everything", "progress"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CUDA when present, else the CPU.

    Args:
        prefer: ``"cpu"`` or ``"cuda"`` to override the choice; ``None`` picks
            automatically. The environment variable ``COURSE_DEVICE`` overrides too.

    Returns:
        A ``torch.device``.
    """
    choice = prefer or os.environ.get("COURSE_DEVICE") or None  # COURSE_DEVICE= (empty) means: choose
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"Unknown device {choice!r}: use 'cpu' or 'cuda'.")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("A CUDA device was asked for but none is available: use 'cpu' or leave the choice to get_device().")
    return torch.device(choice)


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so that a notebook run twice prints the same numbers.

    Args:
        seed: a non-negative integer below 2**64 (PyTorch's limit).

    Returns:
        The seed, for printing.
    """
    # Checked before anything is seeded, so that a bad seed changes nothing.
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be a non-negative integer below 2**64, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, leave: bool = False, **kwargs):
    """Wrap a loop in a tqdm progress bar (a widget in Jupyter, text elsewhere).

    Set the environment variable ``COURSE_QUIET=1`` to hide every bar (the tests do).

    Args:
        iterable: what to loop over.
        desc: a few words shown before the bar.
        total: the number of steps, when ``iterable`` has no ``len``.
        leave: keep the finished bar on screen.

    Returns:
        A tqdm iterator.
    """
    disable = kwargs.pop("disable", None)
    if disable is None:
        disable = os.environ.get("COURSE_QUIET", "") not in ("", "0")
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable, **kwargs)
