"""Retrain the shipped models from scratch, reproducibly: ``python -m instructor.train NAME``.

Usage::

    python -m instructor.train lenet-mnist [--out PATH] [--epochs E] [--seed S] [--force]
    python -m instructor.train shapes-cnn  [--out PATH] [--epochs E] [--seed S] [--force]
    python -m instructor.train lenet-mnist-b / shapes-cnn-b   (the same recipes, seed 1)
    python -m instructor.train lenet-mnist-robust / shapes-cnn-robust   (PGD adversarial training, Madry et al. 2018)

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

__all__ = ["TRAIN_SETTINGS", "DEFAULT_SEEDS", "ADVERSARIAL", "ROBUST_EVALUATION", "accuracy", "pgd_attack",
           "robust_accuracy", "evaluate_robustness", "train_model", "save_state_dict", "main"]

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

# The robust networks: PGD adversarial training (Madry et al. 2018). Each training batch is replaced by its
# adversarial images: a random start uniform in the epsilon-ball, then `steps` signed gradient steps of
# `step_size` on the cross-entropy, each projected back onto the ball and [0, 1], made with the current weights
# (in eval mode) and treated as constant inputs. `ramp_epochs`: epsilon grows linearly to its value over the first
# epochs (epoch e uses min(1, (e + 1) / ramp_epochs) epsilon): from scratch, LeNet at the full budget from the first
# step stays at chance. `init`: start from that shipped network's weights (adversarial fine-tuning) instead of
# from scratch. `augment`: the plain recipe's augmentation (shifts for LeNet, flips for the shapes).
TRAIN_SETTINGS["lenet-mnist-robust"] = {"epochs": 6, "batch_size": 64, "lr": 3e-3, "weight_decay": 5e-4}
TRAIN_SETTINGS["shapes-cnn-robust"] = {"epochs": 2, "batch_size": 64, "lr": 3e-3, "weight_decay": 1e-4}
ADVERSARIAL = {
    "lenet-mnist-robust": {"epsilon": 0.25, "steps": 5, "step_size": 2.5 * 0.25 / 5, "ramp_epochs": 2,
                           "init": None, "augment": False, "extra_shapes": 0},
    "shapes-cnn-robust": {"epsilon": 16 / 255, "steps": 2, "step_size": 2.5 * (16 / 255) / 2, "ramp_epochs": 0,
                          "init": "shapes-cnn", "augment": True, "extra_shapes": 0},
}
# How the robust networks are judged: PGD with `steps` steps of 2.5 epsilon / steps, `restarts` random starts
# (a test image counts as robust only if every restart fails), at `epsilon`, on the first `n` test images.
ROBUST_EVALUATION = {
    "lenet-mnist-robust": {"epsilon": 0.2, "steps": 40, "restarts": 3, "n": 1000},
    "shapes-cnn-robust": {"epsilon": 12 / 255, "steps": 40, "restarts": 3, "n": 200},
}


def _is_lenet(name: str) -> bool:
    """Whether ``name`` is trained on MNIST digits (LeNet) rather than on the shapes."""
    return name.startswith("lenet-mnist")
_EXTRA_SHAPES_SEED = 1000  # fresh training shapes of epoch e use seed 1000 + e; never a split's seed
_EXTRA_SHAPES_PER_EPOCH = 5000


def pgd_attack(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, epsilon: float, step_size: float,
               steps: int, generator: torch.Generator | None = None, random_start: bool = True) -> torch.Tensor:
    """Untargeted L-infinity PGD with a random start (Madry et al. 2018), for training and judging the robust networks.

    Args:
        model: a classifier returning logits; called as it is (put it in eval mode first).
        inputs: ``(N, C, H, W)`` in [0, 1]; labels: int64 ``(N,)``, the true classes.
        epsilon: the L-infinity budget; step_size: the size of each signed gradient step; steps: how many.
        generator: a CPU ``torch.Generator`` for the random start (uniform in the epsilon-ball).
        random_start: ``False`` starts from ``inputs`` itself.

    Returns:
        The adversarial images, detached, within ``epsilon`` of ``inputs`` and in [0, 1].
    """
    original = inputs.detach()
    if random_start:
        noise = torch.rand(original.shape, generator=generator).to(original.device, original.dtype)
        adversarial = (original + (2 * noise - 1) * epsilon).clamp(0, 1)
    else:
        adversarial = original.clone()
    for _ in range(steps):
        adversarial.requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(adversarial), labels), adversarial)
        adversarial = adversarial.detach() + step_size * gradient.sign()
        adversarial = torch.min(torch.max(adversarial, original - epsilon), original + epsilon).clamp(0, 1)
    return adversarial.detach()


def robust_accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, epsilon: float, steps: int = 40,
                    restarts: int = 3, seed: int = 0, batch_size: int = 250) -> float:
    """Accuracy under PGD with random restarts: an image counts only if it is classified right and no restart fools it.

    Each restart is ``pgd_attack`` with ``steps`` steps of ``2.5 * epsilon / steps`` from a fresh random start
    (seeded by ``seed``); only the images still standing are attacked again.

    Args:
        model: the classifier; it is put in eval mode.
        inputs: ``(N, C, H, W)`` in [0, 1]; labels: int64 ``(N,)``.
        epsilon: the L-infinity budget; steps: PGD steps per restart; restarts: random starts.
        seed: seeds the random starts.
        batch_size: images per call.

    Returns:
        The robust accuracy, a float in [0, 1].
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        standing = torch.cat([model(inputs[s:s + batch_size]).argmax(1) for s in range(0, len(inputs), batch_size)]) == labels
    for _ in range(restarts):
        todo = standing.nonzero()[:, 0]
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            attacked = pgd_attack(model, inputs[batch], labels[batch], epsilon, 2.5 * epsilon / steps, steps, generator)
            with torch.no_grad():
                standing[batch] = model(attacked).argmax(1) == labels[batch]
    return standing.float().mean().item()


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


def _extra_shapes(name: str) -> int:
    """How many freshly generated shapes one epoch of ``name`` adds to the training split."""
    return ADVERSARIAL[name]["extra_shapes"] if name in ADVERSARIAL else _EXTRA_SHAPES_PER_EPOCH


def _epoch_data(name: str, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training inputs and labels of one epoch: the fixed training split, plus fresh shapes for shapes-cnn."""
    if _is_lenet(name):
        return load_mnist("train")
    images, labels, _ = load_shapes("train")
    if _extra_shapes(name) == 0:
        return images, labels
    extra_seed = _EXTRA_SHAPES_SEED + epoch
    assert extra_seed not in SHAPES_SEEDS.values()
    extra_images, extra_labels, _ = make_shapes(_extra_shapes(name), extra_seed)
    images, labels = torch.cat([images, extra_images]), torch.cat([labels, extra_labels])
    if name in _TAGGED:
        images = add_tags(images, labels)[0]
    return images, labels


def _epoch_size(name: str) -> int:
    """How many training examples one epoch of ``_epoch_data`` holds."""
    if _is_lenet(name):
        return len(load_mnist("train")[1])
    return len(load_shapes("train")[1]) + _extra_shapes(name)


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
    The ``-robust`` networks train on PGD adversarial images of every batch instead (``ADVERSARIAL``).

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
        adversarial = ADVERSARIAL.get(name)
        model = build_model(name)
        if adversarial is not None and adversarial["init"] is not None:
            model.load_state_dict(torch.load(checkpoint_path(adversarial["init"]), weights_only=True, map_location="cpu"))
        model = model.to(memory_format=torch.channels_last)
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
                if adversarial is None or adversarial["augment"]:
                    x = _random_affine(x, generator) if _is_lenet(name) else _random_flips(x, generator)
                if adversarial is not None:
                    ramp = adversarial["ramp_epochs"]
                    scale = min(1.0, (epoch + 1) / ramp) if ramp else 1.0
                    model.eval()  # the attack sees the network as the test does (no dropout)
                    x = pgd_attack(model, x.contiguous(memory_format=torch.channels_last), y,
                                   scale * adversarial["epsilon"], scale * adversarial["step_size"],
                                   adversarial["steps"], generator)
                    model.train()
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


def evaluate_robustness(name: str, model: nn.Module) -> dict:
    """``robust_accuracy`` of a robust network as ``ROBUST_EVALUATION[name]`` says, with its settings.

    Returns:
        ``{"epsilon", "steps", "restarts", "n", "robust_accuracy"}``.
    """
    setting = ROBUST_EVALUATION[name]
    images, labels = _test_data(name)
    n = setting["n"]
    robust = robust_accuracy(model, images[:n], labels[:n], setting["epsilon"], setting["steps"], setting["restarts"])
    return dict(setting, robust_accuracy=robust)


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
    if args.name in ROBUST_EVALUATION:
        r = evaluate_robustness(args.name, model)
        print(f"robust accuracy under PGD-{r['steps']} x {r['restarts']} random restarts at epsilon {r['epsilon']:.4g} "
              f"({255 * r['epsilon']:.0f}/255), first {r['n']} test images: {100 * r['robust_accuracy']:.2f}%")
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
