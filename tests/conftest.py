import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("COURSE_QUIET", "1")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# The solution notebooks' functions of 04 and 05, executed once per test module that asks for them.
@pytest.fixture(scope="module")
def nb04():
    from instructor.expected import solution_functions
    return solution_functions("04_occlusion")


@pytest.fixture(scope="module")
def nb05():
    from instructor.expected import solution_functions
    return solution_functions("05_saliency")
