"""The exercise registry: which notebook asks for which function, with which signature, for how many points.

Each notebook's exercises live in their own module (``nb01_filters.py``, ...), which lists them with
the *inputs* of their test cases. The expected outputs are not here: they are computed from the
solution notebooks by the course's own script and stored in ``data/expected/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Case", "Exercise", "all_exercises", "get_exercise", "exercises_for", "uniform", "draw_test_images"]


def uniform(low: float, high: float, generator) -> float:
    """A number drawn uniformly from [low, high) with a ``torch.Generator`` (for the case builders)."""
    import torch

    return low + (high - low) * float(torch.rand((), generator=generator))


def draw_test_images(generator, n_digits: int, n_shapes: int):
    """Draw test digits and test shapes for a case builder, and load the two shipped networks (CPU, eval mode).

    The digits are drawn first, then the shapes, each with one ``torch.randperm`` of ``generator``; a
    builder that draws more (other target classes, say) does so afterwards. Models and images are
    loaded here, at check time, so that importing the registry stays cheap.

    Returns:
        ``(lenet, digits, digit_labels, shapes_cnn, shapes, shape_labels)``: digits ``(n_digits, 1, 28, 28)``,
        shapes ``(n_shapes, 3, 64, 64)``, labels int64.
    """
    import torch

    from course_utils.data import load_mnist
    from course_utils.models import load_model
    from course_utils.shapes import load_shapes

    digits, digit_labels = load_mnist("test")
    shapes, shape_labels, _ = load_shapes("test")
    i = torch.randperm(len(digits), generator=generator)[:n_digits]
    j = torch.randperm(len(shapes), generator=generator)[:n_shapes]
    lenet, shapes_cnn = load_model("lenet-mnist", device="cpu"), load_model("shapes-cnn", device="cpu")
    return lenet, digits[i], digit_labels[i], shapes_cnn, shapes[j], shape_labels[j]


@dataclass(frozen=True)
class Case:
    """One test case: a name a student can read, and the keyword arguments of the call."""

    name: str
    kwargs: dict[str, Any]
    hint: str = ""  # shown under the case when it fails: where to look, e.g. "passes with lambda = 0: look at the penalty"
    # A case checked by properties instead of values (where the solution draws random numbers that a correct answer
    # may draw differently): ``verify(output, kwargs)`` returns None when every property holds, else one sentence
    # saying which fails. The output's type, shape and dtype are still compared with the solution's.
    verify: Callable[[Any, dict], "str | None"] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Exercise:
    """One exercise of one notebook.

    Attributes:
        notebook: the notebook's file stem, e.g. ``"01_filters"``.
        id: the exercise's number as shown in the notebook, e.g. ``"01.2"``.
        function: the name of the function the student writes.
        signature: its parameters as written in the notebook, e.g. ``"(weight, bias)"``.
        points: what the exercise is worth.
        cases: ``cases(seed)`` builds the list of ``Case`` inputs; seed 0 gives the cases of the
            self-check, other seeds give fresh inputs of the same kind.
        rtol: the relative tolerance of the comparison (see ``course_utils.checks``).
        atol: absolute differences up to this pass whatever the relative error: for outputs that are
            differences of numbers of order 1 (a drop of a probability near 1 is known only to float32's
            round-off at 1, about 1e-7, however small the drop itself).
        description: one line saying what the function computes.
        contracts: properties checked besides the values (the docstring states them): ``"detached"``, no
            output tensor requires grad. Inputs left unchanged, output type, shape and dtype are always checked.
    """

    notebook: str
    id: str
    function: str
    signature: str
    points: int
    cases: Callable[[int], list[Case]] = field(repr=False)
    rtol: float = 1e-5
    atol: float = 0.0
    description: str = ""
    contracts: tuple[str, ...] = ()  # checked besides the values: "detached" (no output requires grad)


def _load() -> list[Exercise]:
    # Every module ``nbNN_<name>.py`` in this package lists one notebook's exercises in ``EXERCISES``.
    import importlib
    import pkgutil

    registry = []
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb"))
    for name in names:
        registry.extend(importlib.import_module(f"{__name__}.{name}").EXERCISES)
    return registry


def all_exercises() -> list[Exercise]:
    """Return every registered exercise, in notebook order."""
    return _load()


def exercises_for(notebook: str) -> list[Exercise]:
    """Return the exercises of one notebook (its file stem, e.g. ``"01_filters"``)."""
    return [ex for ex in _load() if ex.notebook == notebook]


def get_exercise(key: str) -> Exercise:
    """Find an exercise by its id (``"01.2"``) or by the name of its function (``"cross_correlate"``)."""
    matches = [ex for ex in _load() if key in (ex.id, ex.function)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{ex.id} {ex.function}" for ex in _load())
    if not matches:
        raise KeyError(f"No exercise is called {key!r}; the registered exercises are: {known}.")
    raise KeyError(f"{key!r} names several exercises ({', '.join(ex.id for ex in matches)}): pass the exercise id instead.")
