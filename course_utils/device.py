"""Device selection, seeding and progress bars: the three things every notebook sets up first."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["get_device", "seed_everything", "progress", "default_threads", "use_threads"]


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


def default_threads(cpu_count: int | None = None) -> int:
    """How many threads PyTorch should use on the CPU for this workbook's small networks.

    Half the cores, at most 4, at least 1: one on a 2-core laptop. The networks here are small, so
    a parallel region is short, and OpenMP makes every thread wait at its end for the slowest one:
    when another program holds a core, a thread that shares that core is descheduled and each of
    thousands of small operations waits for it (measured: a notebook's tiny training loop 6x
    slower with 2 threads than with 1 with a busy core beside it). Leaving cores free avoids that.
    The environment variable ``COURSE_THREADS`` overrides it.

    Args:
        cpu_count: the number of cores (default: ``os.cpu_count()``).

    Returns:
        The number of threads.
    """
    chosen = os.environ.get("COURSE_THREADS", "").strip()
    if chosen:
        if not chosen.isdigit() or int(chosen) < 1:
            raise ValueError(f"COURSE_THREADS must be a positive integer, got {chosen!r}.")
        return int(chosen)
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, min(4, cpus // 2))


def use_threads(threads: int | None = None) -> int:
    """Set PyTorch's CPU thread count (``default_threads()`` when ``None``); ``course_utils`` calls it on import.

    The OpenMP and BLAS thread pools of other libraries already loaded (scikit-learn's t-SNE, NumPy's
    OpenBLAS, through threadpoolctl) get the same limit, for the same reason: one t-SNE of 500 points
    beside two busy processes took 8 s with 1 thread and 90 s with 2, and 200 NumPy products of
    300 x 300 matrices beside one busy process 0.45 s with OpenBLAS's 2 threads and 0.15 s with 1
    (0.11 and 0.14 s on an idle machine; measured here, 2 cores). A library loaded later keeps its own
    default; call ``use_threads()`` again after importing it.

    Args:
        threads: a positive integer, or ``None`` for ``default_threads()``.

    Returns:
        The thread count now in force.
    """
    threads = default_threads() if threads is None else threads
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}.")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # it comes with scikit-learn; without it the other pools keep their defaults
        return threads
    threadpool_limits(threads)  # every OpenMP and BLAS pool loaded so far
    return threads


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
