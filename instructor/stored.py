"""Results a notebook reads when an earlier notebook's exercise is not done: values, never code.

A later lecture that builds on an earlier exercise uses the student's function when it passes its check
(``course_utils.checks.earlier_exercise``) and otherwise an independent result: a library's implementation
where one exists (Captum's ``Occlusion`` in 05, ``LayerGradCam`` in 06), or, where none does, the values
for the notebook's own inputs, computed here once with the solution's function and shipped in
``data/stored/`` (provenance: ``data/README.md``). Students never receive the solution's code.

    python -m instructor.stored            # rewrites data/stored/06_top_activations.npz
"""
from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np
import torch

from course_utils.hooks import capture_activations
from course_utils.models import load_model
from course_utils.paths import data_dir
from course_utils.shapes import load_shapes
from instructor.expected import solution_functions

__all__ = ["TOP_LAYERS", "TOP_POOL", "TOP_K", "top_activations_table", "stored_path", "main"]

# Notebook 06, section 5: the top 9 of every channel of three layers of the shapes CNN on test shapes 0..499.
TOP_LAYERS = ("features.relu2_2", "features.relu3_1", "features.relu3_2")
TOP_POOL, TOP_K = 500, 9


def stored_path(name: str):
    return data_dir() / "stored" / name


def top_activations_table() -> dict[str, np.ndarray]:
    """``{"<layer>.indices" | ".rows" | ".cols": int64 (C, 9), "<layer>.values": float32 (C, 9)}`` from the solution's
    ``top_activations`` (exercise 02.1) on the shipped shapes CNN's activations of test shapes 0..499 (CPU)."""
    with contextlib.redirect_stdout(io.StringIO()):
        top_activations = solution_functions("02_activations")["top_activations"]
    model = load_model("shapes-cnn", device="cpu")
    shapes = load_shapes("test")[0][:TOP_POOL]
    with torch.no_grad(), capture_activations(model, list(TOP_LAYERS)) as recorded:
        model(shapes)
    table = {}
    for layer in TOP_LAYERS:
        activations = recorded[layer]
        found = [top_activations(activations, channel, TOP_K) for channel in range(activations.shape[1])]
        indices, rows, cols = (torch.stack([f[j] for f in found]) for j in range(3))
        channels = torch.arange(activations.shape[1])[:, None].expand_as(indices)
        table[f"{layer}.indices"], table[f"{layer}.rows"], table[f"{layer}.cols"] = indices.numpy(), rows.numpy(), cols.numpy()
        table[f"{layer}.values"] = activations[indices, channels, rows, cols].numpy().astype(np.float32)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.stored", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    torch.set_num_threads(1)
    path = stored_path("06_top_activations.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = top_activations_table()
    np.savez_compressed(path, **table)
    print(f"wrote {path} ({path.stat().st_size} bytes): {', '.join(f'{k} {v.shape}' for k, v in table.items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
