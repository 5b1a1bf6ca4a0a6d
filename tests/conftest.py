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
