"""course_utils.device: the device choice, seeding, and progress bars."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from course_utils import device as dev
from course_utils.device import get_device, progress, seed_everything


# ---------------------------------------------------------------------------- get_device

@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    return monkeypatch


@pytest.mark.parametrize("cuda", [False, True])
def test_get_device_picks_cuda_when_there_is_one(no_env, cuda):
    no_env.setattr(torch.cuda, "is_available", lambda: cuda)
    got = get_device()
    assert isinstance(got, torch.device) and got.type == ("cuda" if cuda else "cpu")
    assert get_device("cpu") == torch.device("cpu")  # asking overrides the automatic choice


def test_get_device_follows_course_device_and_prefer_wins(no_env):
    no_env.setattr(torch.cuda, "is_available", lambda: True)
    no_env.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("cuda") == torch.device("cuda")
    no_env.setenv("COURSE_DEVICE", "")  # set but empty: the automatic choice, as if unset
    assert get_device() == torch.device("cuda")


def test_get_device_rejects_unknown_devices_clearly(no_env):
    with pytest.raises(ValueError, match=r"Unknown device 'gpu': use 'cpu' or 'cuda'"):
        get_device("gpu")
    no_env.setenv("COURSE_DEVICE", "cuda:0")
    with pytest.raises(ValueError, match=r"Unknown device 'cuda:0'"):
        get_device()


def test_get_device_says_when_cuda_is_asked_for_but_missing(no_env):
    no_env.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA device was asked for but none is available"):
        get_device("cuda")
    no_env.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="none is available"):
        get_device()
    assert get_device("cpu") == torch.device("cpu")


# ---------------------------------------------------------------------------- seed_everything

def _draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), torch.randint(0, 10**6, (2,)).tolist()


def test_seed_everything_makes_python_numpy_and_torch_repeat():
    assert seed_everything(7) == 7
    first = _draws()
    assert _draws() != first  # the streams move on ...
    seed_everything(7)
    assert _draws() == first  # ... and the same seed starts them again
    seed_everything(8)
    assert _draws() != first
    assert seed_everything() == 0  # the default seed
    zero = _draws()
    seed_everything(0)
    assert _draws() == zero


def test_seed_everything_takes_numpy_integers_and_large_seeds():
    got = seed_everything(np.int64(7))
    assert got == 7 and type(got) is int
    first = _draws()
    seed_everything(7)
    assert _draws() == first
    for seed in (2**32, 2**64 - 1):  # numpy's own seeds stop at 2**32, PyTorch's at 2**64
        assert seed_everything(seed) == seed
        first = _draws()
        seed_everything(seed)
        assert _draws() == first


def test_seed_everything_seeds_cuda_when_there_is_one(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", seen.append)
    seed_everything(5)
    assert seen and set(seen) == {5}  # (torch.manual_seed seeds CUDA too)


@pytest.mark.parametrize("seed", [-1, np.int64(-3), 1.5, 2.0, "3", None, True, 2**64, 10**30])
def test_seed_everything_rejects_bad_seeds_clearly_and_changes_nothing(seed):
    seed_everything(1)
    state = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer.*got "):
        seed_everything(seed)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])


# ---------------------------------------------------------------------------- progress

def test_progress_wraps_the_loop_and_shows_a_bar(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_QUIET", raising=False)
    bar = progress(range(4), desc="training")
    assert not bar.disable and bar.total == 4
    assert list(bar) == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert "training" in err and "/4" in err
    assert list(progress(iter("ab"), total=2)) == ["a", "b"]


@pytest.mark.parametrize("value, quiet", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_course_quiet_hides_every_bar(monkeypatch, capsys, value, quiet):
    monkeypatch.setenv("COURSE_QUIET", value)
    bar = progress(range(3), desc="quiet?")
    assert bar.disable is quiet
    assert list(bar) == [0, 1, 2]
    assert ("quiet?" in capsys.readouterr().err) is not quiet


def test_progress_disable_argument_wins_over_course_quiet(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUIET", "1")
    assert progress(range(2), disable=False).disable is False
    monkeypatch.setenv("COURSE_QUIET", "0")
    assert progress(range(2), disable=True).disable is True
    capsys.readouterr()


def test_progress_passes_other_tqdm_options_on(monkeypatch):
    import io

    monkeypatch.setenv("COURSE_QUIET", "0")
    out = io.StringIO()
    bar = progress(range(10), desc="epochs", unit="batch", leave=True, file=out)
    assert list(bar) == list(range(10))
    assert bar.leave is True and "epochs" in out.getvalue() and "10/10" in out.getvalue() and "batch" in out.getvalue()
    assert dev.__all__ == ["get_device", "seed_everything", "progress", "default_threads", "use_threads"]


# ---------------------------------------------------------------------------- threads

@pytest.mark.parametrize("cpus, threads", [(1, 1), (2, 1), (4, 2), (8, 4), (64, 4)])
def test_default_threads_leave_cores_free(monkeypatch, cpus, threads):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    assert dev.default_threads(cpus) == threads


def test_course_threads_overrides_and_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert dev.default_threads(2) == 3
    monkeypatch.setenv("COURSE_THREADS", "many")
    with pytest.raises(ValueError, match="COURSE_THREADS must be a positive integer, got 'many'"):
        dev.default_threads()


def test_use_threads_sets_torch_and_rejects_bad_counts():
    before = torch.get_num_threads()
    try:
        assert dev.use_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            dev.use_threads(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_importing_course_utils_applies_the_default(monkeypatch):
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COURSE_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", "import course_utils, torch; print(torch.get_num_threads(), "
                          "course_utils.default_threads())"], env=env, capture_output=True, text=True, check=True)
    got, expected = out.stdout.split()
    assert got == expected


def test_use_threads_limits_the_openmp_and_blas_pools_already_loaded_such_as_scikit_learns_and_numpys():
    # In a fresh process, as notebook 03 does: scikit-learn's t-SNE first, then course_utils.
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COURSE_THREADS", "OMP_NUM_THREADS")}
    env["COURSE_THREADS"] = "1"
    code = ("import numpy, sklearn.manifold, threadpoolctl\n"
            "import course_utils\n"
            "import json\n"
            "print(json.dumps([[p['user_api'], p['num_threads']] for p in threadpoolctl.threadpool_info()]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert "openmp" in {api for api, _ in pools}, pools  # scikit-learn's (and PyTorch's) OpenMP runtime
    assert all(threads == 1 for _, threads in pools), pools  # NumPy's BLAS too, where threadpoolctl finds one
