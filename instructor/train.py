"""Retrain the shipped models from scratch, reproducibly: ``python -m instructor.train NAME``.

Usage::

    python -m instructor.train lenet-mnist [--out PATH] [--epochs E] [--seed S] [--force]
    python -m instructor.train shapes-cnn  [--out PATH] [--epochs E] [--seed S] [--force]
    python -m instructor.train lenet-mnist-b / shapes-cnn-b   (the same recipes, seed 1)

Both runs are seeded (weights, data order, augmentation) and use deterministic algorithms, so the
same machine and PyTorch version give the same weights again. On a 2-core CPU ``lenet-mnist``
takes well under a minute and ``shapes-cnn`` a few minutes. The weights (a ``state_dict``) go to
``data/models/NAME.pt`` unless ``--out`` says otherwise; an existing file with different contents is
only replaced with ``--force``.
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data import load_mnist
from course_utils.device import progress, seed_everything
from course_utils.models import MODEL_NAMES, build_model, checkpoint_path
from course_utils.shapes import SHAPES_SEEDS, add_tags, load_shapes, make_shapes

__all__ = ["TRAIN_SETTINGS", "DEFAULT_SEEDS", "accuracy", "train_model", "save_state_dict", "main"]

# Per model: epochs, batch size, peak learning rate, weight decay.
TRAIN_SETTINGS = {
    "lenet-mnist": {"epochs": 30, "batch_size": 64, "lr": 3e-3, "weight_decay": 5e-4},
    "shapes-cnn": {"epochs": 12, "batch_size": 64, "lr": 3e-3, "weight_decay": 1e-4},
}
# The "-b" copies: the same recipe as the model they copy, trained from another seed.
TRAIN_SETTINGS.update({f"{name}-b": dict(TRAIN_SETTINGS[name]) for name in ("lenet-mnist", "shapes-cnn")})
DEFAULT_SEEDS = {"lenet-mnist-b": 1, "shapes-cnn-b": 1}  # every other model: seed 0
# The Clever Hans network of notebook 05: the shapes CNN's recipe for 6 epochs, on images tagged with their class.
TRAIN_SETTINGS["shapes-cnn-tagged"] = dict(TRAIN_SETTINGS["shapes-cnn"], epochs=6)
_TAGGED = ("shapes-cnn-tagged",)  # trained and tested on images that carry their class's tag (shapes.add_tags)


def _is_lenet(name: str) -> bool:
    """Whether ``name`` is trained on MNIST digits (LeNet) rather than on the shapes."""
    return name.startswith("lenet-mnist")
_EXTRA_SHAPES_SEED = 1000  # fresh training shapes of epoch e use seed 1000 + e; never a split's seed
_EXTRA_SHAPES_PER_EPOCH = 5000


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Fraction of ``inputs`` that ``model`` classifies as ``labels``.

    Args:
        model: a classifier returning logits ``(N, C)``; it is put in eval mode.
        inputs: ``(N, C_in, H, W)``.
        labels: int64 ``(N,)``.
        batch_size: how many inputs to run at once.

    Returns:
        The accuracy, a float in [0, 1].
    """
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(inputs), batch_size):
        logits = model(inputs[start:start + batch_size].to(device))
        correct += (logits.argmax(1).cpu() == labels[start:start + batch_size]).sum().item()
    return correct / len(inputs)


def _random_affine(images: torch.Tensor, generator: torch.Generator, max_shift: float = 2.0,
                   max_degrees: float = 10.0, max_scale: float = 0.1) -> torch.Tensor:
    """Shift (up to ``max_shift`` px), rotate and scale each digit of ``(N, 1, H, W)`` at random."""
    n, _, height, width = images.shape
    uniform = torch.rand(n, 4, generator=generator) * 2 - 1  # in [-1, 1)
    angle = uniform[:, 0] * math.radians(max_degrees)
    scale = 1 + uniform[:, 1] * max_scale
    shift = uniform[:, 2:] * 2 * max_shift / torch.tensor([width, height])  # grid units span 2 per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _random_flips(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image of ``(N, C, H, W)`` left-right and/or up-down at random (every shape class is symmetric)."""
    flips = torch.rand(len(images), 2, generator=generator) < 0.5
    images = torch.where(flips[:, 0, None, None, None], images.flip(-1), images)
    return torch.where(flips[:, 1, None, None, None], images.flip(-2), images)


def _epoch_data(name: str, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training inputs and labels of one epoch: the fixed training split, plus fresh shapes for shapes-cnn."""
    if _is_lenet(name):
        return load_mnist("train")
    images, labels, _ = load_shapes("train")
    extra_seed = _EXTRA_SHAPES_SEED + epoch
    assert extra_seed not in SHAPES_SEEDS.values()
    extra_images, extra_labels, _ = make_shapes(_EXTRA_SHAPES_PER_EPOCH, extra_seed)
    images, labels = torch.cat([images, extra_images]), torch.cat([labels, extra_labels])
    if name in _TAGGED:
        images = add_tags(images, labels)[0]
    return images, labels


def _epoch_size(name: str) -> int:
    """How many training examples one epoch of ``_epoch_data`` holds."""
    if _is_lenet(name):
        return len(load_mnist("train")[1])
    return len(load_shapes("train")[1]) + _EXTRA_SHAPES_PER_EPOCH


def _test_data(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out test inputs and labels of a model."""
    if _is_lenet(name):
        return load_mnist("test")
    images, labels, _ = load_shapes("test")
    if name in _TAGGED:
        images = add_tags(images, labels)[0]  # tagged like the training images; without the tag see notebook 05
    return images, labels


def train_model(name: str, epochs: int | None = None, seed: int | None = None) -> tuple[nn.Module, dict]:
    """Train a local model from scratch on the CPU with AdamW and a one-cycle learning-rate schedule.

    ``lenet-mnist`` trains on the 4,000 MNIST training digits with small random shifts, rotations
    and scalings; ``shapes-cnn`` on the 5,000 training shapes plus 5,000 freshly generated ones per
    epoch (seeds 1000 + epoch, never the test seed), randomly mirrored; ``shapes-cnn-tagged`` the same way
    for 6 epochs, with every image carrying its class's corner tag (``course_utils.shapes.add_tags``).

    Args:
        name: one of ``MODEL_NAMES``.
        epochs: passes over the training data; ``None`` uses ``TRAIN_SETTINGS[name]["epochs"]``.
        seed: seeds the weights, the data order and the augmentation; ``None`` uses the shipped
            weights' seed (``DEFAULT_SEEDS``, else 0).

    Returns:
        ``(model, info)``: the trained model in eval mode on the CPU, and a dict with ``"seconds"``
        (training time), ``"test_accuracy"`` and ``"epochs"``.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown local model {name!r}: use one of {', '.join(MODEL_NAMES)}.")
    settings = TRAIN_SETTINGS[name]
    seed = DEFAULT_SEEDS.get(name, 0) if seed is None else int(seed)
    epochs = settings["epochs"] if epochs is None else int(epochs)
    if epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        seed_everything(seed)
        generator = torch.Generator().manual_seed(seed)
        model = build_model(name).to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
        batch_size = settings["batch_size"]
        steps_per_epoch = math.ceil(_epoch_size(name) / batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings["lr"], epochs=epochs,
                                                        steps_per_epoch=steps_per_epoch)
        start = time.perf_counter()
        bar = progress(total=epochs * steps_per_epoch, desc=f"training {name}", leave=True, mininterval=1.0)
        for epoch in range(epochs):
            inputs, labels = _epoch_data(name, epoch)
            model.train()
            order = torch.randperm(len(labels), generator=generator)
            for step in range(steps_per_epoch):
                batch = order[step * batch_size:(step + 1) * batch_size]
                x, y = inputs[batch], labels[batch]
                x = _random_affine(x, generator) if _is_lenet(name) else _random_flips(x, generator)
                loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}", refresh=False)
        bar.close()
        seconds = time.perf_counter() - start
        model = model.to(memory_format=torch.contiguous_format).eval()
        test_accuracy = accuracy(model, *_test_data(name))
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return model, {"seconds": seconds, "test_accuracy": test_accuracy, "epochs": epochs}


def save_state_dict(model: nn.Module, out: Path, force: bool = False) -> str:
    """Write ``model.state_dict()`` to ``out``, refusing to replace a different existing file unless ``force``.

    Args:
        model: the trained model.
        out: the file to write.
        force: replace ``out`` even if it holds different weights.

    Returns:
        ``"written"``, ``"unchanged"`` (same bytes already there) or ``"refused"``.
    """
    buffer = io.BytesIO()
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    torch.save(state, buffer)
    data = buffer.getvalue()
    out = Path(out)
    if out.is_file():
        if out.read_bytes() == data:
            return "unchanged"
        if not force:
            return "refused"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return "written"


def main(argv: list[str] | None = None) -> int:
    """Command line: train one model, print its time and test accuracy, save its weights."""
    parser = argparse.ArgumentParser(prog="python -m instructor.train",
                                     description="Retrain a shipped model from scratch, reproducibly.")
    parser.add_argument("name", choices=MODEL_NAMES, help="the model to train")
    parser.add_argument("--out", type=Path, default=None, help="where to write the state_dict (default: data/models/NAME.pt)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training data (default: per model)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the shipped weights' seed: 1 for the -b copies, else 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing file with different weights")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else checkpoint_path(args.name)

    model, info = train_model(args.name, epochs=args.epochs, seed=args.seed)
    print(f"{args.name}: trained {info['epochs']} epochs in {info['seconds']:.1f} s on "
          f"{torch.get_num_threads()} CPU threads; test accuracy {100 * info['test_accuracy']:.2f}%")
    outcome = save_state_dict(model, out, force=args.force)
    if outcome == "refused":
        print(f"Not written: {out} exists and holds different weights. Use --force to replace it, "
              "or --out to write elsewhere.", file=sys.stderr)
        return 1
    size_kb = out.stat().st_size / 1024
    print(f"{'wrote' if outcome == 'written' else 'unchanged (identical weights already there):'} {out} ({size_kb:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
