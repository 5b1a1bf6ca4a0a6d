"""No public ``course_utils`` helper may compute an exercise's answer (issue 29).

Students receive ``course_utils`` with the first notebook. If a helper, called on an exercise's own
visible cases (with the other parameters it needs taken from a few plausible values, and its output put
through the one-line reductions a student would try), gives the expected values, the exercise can be
answered in one line without doing it. Each such call is a failure here.
"""
from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np
import pytest
import torch

import course_utils
from course_utils.checks import compare_output, load_expected
from course_utils.exercises import all_exercises

# Values tried for a helper's required parameters that a case does not give.
CANDIDATES = {
    "rule": ["backprop", "deconvnet", "guided", "epsilon", "alpha1beta0", "z"],
    "layer": ["features.relu3_2", "relu2", "features.relu2_2"],
    "sigma": [0.0, 0.15], "n_samples": [1, 25], "epsilon": [0.1], "k": [3, 5, 9], "channel": [0, 1],
}
# What a student might do to a helper's output in one line.
REDUCTIONS = {
    "as is": lambda out: out,
    "abs": lambda out: out.abs() if isinstance(out, torch.Tensor) else out,
    "abs, max over channels": lambda out: out.abs().amax(dim=1) if isinstance(out, torch.Tensor) and out.ndim == 4 else None,
    "max over channels": lambda out: out.amax(dim=1) if isinstance(out, torch.Tensor) and out.ndim == 4 else None,
    "sum over channels": lambda out: out.sum(dim=1) if isinstance(out, torch.Tensor) and out.ndim == 4 else None,
}
# Helpers that do not compute anything from an exercise's inputs (loading, drawing, widgets, seeding).
NOT_COMPUTING = ("load_", "show_", "imagenet_", "seed_everything", "get_device", "progress", "use_threads", "default_threads",
                 "interactive_plot", "int_slider", "float_slider", "sample_slider", "dropdown", "toggle_buttons", "check",
                 "install_unfinished", "make_shapes", "swirl_painting", "format_table", "QueryCounter", "FixedOutside")


def public_helpers():
    for name in course_utils.__all__:
        obj = getattr(course_utils, name, None)
        if not callable(obj) or inspect.isclass(obj) or name.startswith(NOT_COMPUTING):
            continue
        yield name, obj


def _calls(helper, kwargs):
    """Every way to call ``helper`` with the case's arguments and candidates for its other required parameters."""
    try:
        signature = inspect.signature(helper)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    given = {k: v for k, v in kwargs.items() if k in params}
    if not given or len(given) < min(2, len(kwargs)):
        return      # shares (almost) nothing with the exercise's inputs
    missing = [n for n, p in params.items() if n not in given and p.default is p.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(n not in CANDIDATES for n in missing):
        return
    for values in itertools.product(*(CANDIDATES[n] for n in missing)):
        yield {**given, **dict(zip(missing, values))}


EXERCISES = list(all_exercises())


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_no_public_helper_answers_the_exercise(exercise):
    cases = exercise.cases(0)
    expected = load_expected(exercise.notebook, exercise.function)
    answered = []
    for name, helper in public_helpers():
        for case, exp in zip(cases, expected):
            for kwargs in _calls(helper, case.kwargs):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        out = helper(**{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()})
                except Exception:
                    continue
                for how, reduce in REDUCTIONS.items():
                    try:
                        reduced = reduce(out)
                    except Exception:
                        continue
                    if reduced is not None and compare_output(reduced, exp, exercise.rtol) is None:
                        extra = {k: v for k, v in kwargs.items() if k not in case.kwargs}
                        answered.append(f"{name}({', '.join(kwargs)}{', ' + repr(extra) if extra else ''}), {how}, on case {case.name!r}")
            # one case answered is enough to report this helper
            if any(a.startswith(name + "(") for a in answered):
                break
    assert not answered, (f"exercise {exercise.id} `{exercise.function}` is answered by a public course_utils helper: "
                          + "; ".join(answered[:3]))
